"""`sugar predict`: name and describe the action in raw skeleton files with an aligned model."""

from __future__ import annotations

import click

from sugar_cli.console import (
    QUIET,
    VERBOSE,
    Reporter,
    console,
    echo_json,
    handle_errors,
    say,
    verbosity,
    warn,
)
from sugar_cli.models import quiet_transformers
from sugar_cli.options import common, json_option
from sugar_core.align.config import CALIBRATIONS

PRIORS_BACKENDS = ("builtin", "hf", "openai", "file")  # = sugar_core.priors.backends.BACKENDS
# = sugar_core.skeleton.io.FORMATS, and "auto" (guessed per file, as without --format)
FORMATS = ("ntu", "nw-ucla", "msr", "openpose", "mmpose", "mediapipe", "csv", "pyskl", "npz",
           "numpy", "auto")  # fmt: skip


def _where(a) -> str:
    """The file, and the sample id when the file holds several (array / pickle formats)."""
    return a.file if a.sample_id in a.file else f"{a.file}:{a.sample_id}"


def _table(answers) -> None:
    from rich.markup import escape
    from rich.table import Table

    new = set(answers[0].new_classes or []) if answers else set()
    mark = lambda c: f"{c} (new)" if c in new else c  # noqa: E731
    baseline = any(a.baseline for a in answers)
    table = Table(title="predictions", title_justify="left")
    table.add_column("file / sample", overflow="fold")
    table.add_column("class", style="bold green")
    table.add_column("top-5 (log-likelihood)", overflow="fold")
    if baseline:
        calibrated = any(a.baseline_calibration == "reference" for a in answers)
        what = "cosine minus its reference mean" if calibrated else "cosine"
        table.add_column(f"embedding baseline ({what})", overflow="fold")
    table.add_column("description", overflow="fold")
    for a in answers:
        cells = [_where(a), mark(a.class_name), ", ".join(f"{mark(c)} {s:.2f}" for c, s in a.top5)]
        if baseline:
            cells.append(", ".join(f"{mark(c)} {s:.2f}" for c, s in a.baseline or [])[:200])
        table.add_row(*(escape(x) for x in (*cells, a.description)))
    console.print(table)


def _candidates(aligned, model_names, given, o: dict, callback):
    """The candidate list with the classes named at prediction time and their priors."""
    from sugar_core.pipeline.class_priors import make_class_priors, priors_settings
    from sugar_core.pipeline.new_classes import build_candidates, model_priors

    trained, recorded, warnings = model_priors(aligned, o["priors_path"])
    for w in warnings:
        warn(w)
    encoder_id = trained.encoder_id if trained is not None else ""
    cfg = priors_settings(
        recorded,
        encoder_id,
        o["priors_backend"],
        model=o["priors_model"],
        base_url=o["priors_base_url"],
        descriptions=o["priors_descriptions"],
    )
    make = lambda cs: make_class_priors(cs, cfg, encoder_id, callback=callback)  # noqa: E731
    cands = build_candidates(model_names, given, trained, make, only_new=o["only_new"])
    new = cands.new_names
    say(f"{len(cands.names)} candidate classes, {len(new)} new: {', '.join(new)}", markup=False)
    return cands


@click.command("predict")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option(
    "--model",
    "aligned",
    required=True,
    type=click.Path(dir_okay=False),
    help="aligned.h5 written by `sugar align` (or `sugar demo`).",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="Format of FILES [default: from each file's name or content].",
)
@click.option(
    "--tokens",
    type=click.Path(dir_okay=False),
    help="The tokens file holding the encoder, if it moved since `sugar align`.",
)
@click.option("--llm", help="Where to load the model's LLM from, if not where it was trained.")
@click.option(
    "--describe/--no-describe",
    default=True,
    show_default=True,
    help="Also generate a description of the winning class.",
)
@click.option("--max-new-tokens", default=48, type=click.IntRange(1), show_default=True)
@click.option(
    "--batch-size",
    default=16,
    type=click.IntRange(1),
    show_default=True,
    help="Samples per LLM forward.",
)
@click.option(
    "--calibration",
    type=click.Choice(CALIBRATIONS),
    help="How rank scores are corrected [default: the model's own, chosen by `sugar align`]; "
    "reference (minus each name's mean score over training samples kept with the model) suits "
    "names that share words with trained ones.",
)
@click.option(
    "--classes",
    "classes_file",
    type=click.Path(dir_okay=False),
    help="Classes to name beyond the trained ones: one a line, `name` or `name: description`.",
)
@click.option(
    "--class",
    "class_opts",
    multiple=True,
    metavar='"NAME[: DESCRIPTION]"',
    help="One class to name beyond the trained ones. Repeatable.",
)
@click.option(
    "--only-new",
    is_flag=True,
    help="Rank only the classes of --class/--classes [default: trained classes + those].",
)
@click.option(
    "--priors",
    "priors_path",
    type=click.Path(dir_okay=False),
    help="The priors file the model was trained with, if it moved since `sugar align`.",
)
@click.option(
    "--priors-backend",
    type=click.Choice(PRIORS_BACKENDS),
    help="Makes priors for new classes [default: the model's priors backend, else builtin].",
)
@click.option("--priors-model", help="hf: LLM folder/id; openai: the server's model name.")
@click.option("--priors-base-url", help="openai: the server root (e.g. http://HOST:PORT/v1).")
@click.option(
    "--priors-descriptions",
    type=click.Path(dir_okay=False),
    help="file: your JSON or CSV texts (as for `sugar priors --backend file`).",
)
@common
@json_option("a JSON list of answers")
@handle_errors
def cli(files, aligned, fmt, tokens, llm, describe, max_new_tokens, batch_size, as_json,
        classes_file, class_opts, **o):  # fmt: skip
    """Name and describe the action in raw skeleton files.

    Each file is read in its own format (ntu .skeleton, nw-ucla .json, msr .txt, numpy /
    npz arrays, pyskl pickles, and one clip of a pose estimator: an OpenPose clip folder, an
    MMPose .json, a MediaPipe .csv/.json, a key point .csv; guessed from the name and content
    unless --format) and its joints are mapped to the encoder's layout. The encoder comes
    from the tokens file the aligned file names (--tokens if it moved); a file whose hash
    differs from the recorded one gets a warning. stdout: one line per sample (file, class,
    description), or --json.

    Actions never in training: --class / --classes add classes to the action list (by
    default beside the trained ones; --only-new ranks only those). Their priors are made by
    the priors backend (the model's own unless --priors-backend) and cached; a description
    is the class's description text and, for hf / openai, context for their prompts. A name
    with no prior gets a note and is scored with its name (and description) only. The
    embedding baseline (cosine of the encoder's text-space feature to each class's prior) is
    shown beside the LLM's ranking; where the rank calibration is reference (the default of
    zero-shot models) it is corrected the same way, each class's mean cosine over the
    model's reference samples subtracted. --json answers then say which classes were new.

    \b
    Examples:
      sugar predict --model aligned.h5 a001.skeleton a002.skeleton
      sugar predict --model aligned.h5 clips/*.json --json > answers.json
      sugar predict --model demo/aligned.h5 mine.npz --format numpy
      sugar predict --model aligned.h5 --tokens moved/tokens.h5 a01_s01_e01_skeleton3D.txt
      sugar predict --model mine/aligned.h5 new-clip/ other.json
      sugar predict --model aligned.h5 --classes my-classes.txt clips/*.json --json
      sugar predict --model aligned.h5 --class "wave: a person waves one hand" \\
          --class "clap: both hands meet in front of the chest" --only-new a.json
      sugar predict --model aligned.h5 --classes mine.txt --priors-backend hf a.json
      sugar predict --model aligned.h5 --classes mine.txt --only-new --calibration reference a.json
    """
    from sugar_core.pipeline.new_classes import gather_classes
    from sugar_core.pipeline.predict import load_predictor, predict_samples, read_inputs

    given = gather_classes(classes_file, class_opts)  # a bad list fails before any model loads
    for key in ("only_new", "priors_path", "priors_backend", "priors_model", "priors_base_url",
                "priors_descriptions"):  # fmt: skip
        if o[key] and not given:
            flag = "--" + key.replace("_path", "").replace("_", "-")
            raise click.UsageError(f"{flag} needs classes: give --class or --classes")
    raws = read_inputs(files, fmt)
    n = sum(len(r.samples) for r in raws)
    quiet_transformers()
    with console.status("loading the encoder and the LLM"):
        predictor = load_predictor(aligned, tokens=tokens, llm=llm)
    for w in predictor.warnings:
        warn(w)
    with Reporter({"align": "predict", "priors": "priors"}) as reporter:
        cands = None
        if given:
            cands = _candidates(aligned, predictor.model.class_names, given, o, reporter)
        answers = predict_samples(predictor, raws, describe=describe,
                                  max_new_tokens=max_new_tokens, batch_size=batch_size,
                                  callback=reporter, candidates=cands,
                                  calibration=o["calibration"])  # fmt: skip
    say(f"{n} sample(s) from {len(raws)} file(s)", VERBOSE)
    for note in cands.notes if cands is not None else []:  # shown even with -q
        say(f"note: {note}", QUIET, markup=False)
    if as_json:
        echo_json([a.to_dict() for a in answers])
        return
    if verbosity() > QUIET:
        _table(answers)
    for a in answers:
        click.echo(f"{_where(a)}\t{a.class_name}\t{a.description}")
