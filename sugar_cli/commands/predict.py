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

# = sugar_core.skeleton.io.FORMATS, and "auto" (guessed per file, as without --format)
FORMATS = ("ntu", "nw-ucla", "msr", "openpose", "mmpose", "mediapipe", "csv", "pyskl", "npz",
           "numpy", "auto")  # fmt: skip


def _where(a) -> str:
    """The file, and the sample id when the file holds several (array / pickle formats)."""
    return a.file if a.sample_id in a.file else f"{a.file}:{a.sample_id}"


def _table(answers) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="predictions", title_justify="left")
    table.add_column("file / sample", overflow="fold")
    table.add_column("class", style="bold green")
    table.add_column("top-5 (log-likelihood)", overflow="fold")
    table.add_column("description", overflow="fold")
    for a in answers:
        top = ", ".join(f"{c} {s:.2f}" for c, s in a.top5)
        table.add_row(*(escape(x) for x in (_where(a), a.class_name, top, a.description)))
    console.print(table)


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
@common
@json_option("a JSON list of answers")
@handle_errors
def cli(files, aligned, fmt, tokens, llm, describe, max_new_tokens, batch_size, as_json):
    """Name and describe the action in raw skeleton files.

    Each file is read in its own format (ntu .skeleton, nw-ucla .json, msr .txt, numpy /
    npz arrays, pyskl pickles, and one clip of a pose estimator: an OpenPose clip folder, an
    MMPose .json, a MediaPipe .csv/.json, a key point .csv; guessed from the name and content
    unless --format) and its joints are mapped to the encoder's layout. The encoder comes
    from the tokens file the aligned file names (--tokens if it moved); a file whose hash
    differs from the recorded one gets a warning. stdout: one line per sample (file, class,
    description), or --json.

    \b
    Examples:
      sugar predict --model aligned.h5 a001.skeleton a002.skeleton
      sugar predict --model aligned.h5 clips/*.json --json > answers.json
      sugar predict --model demo/aligned.h5 mine.npz --format numpy
      sugar predict --model aligned.h5 --tokens moved/tokens.h5 a01_s01_e01_skeleton3D.txt
      sugar predict --model mine/aligned.h5 new-clip/ other.json
    """
    from sugar_core.pipeline.predict import load_predictor, predict_samples, read_inputs

    raws = read_inputs(files, fmt)
    n = sum(len(r.samples) for r in raws)
    quiet_transformers()
    with console.status("loading the encoder and the LLM"):
        predictor = load_predictor(aligned, tokens=tokens, llm=llm)
    for w in predictor.warnings:
        warn(w)
    with Reporter({"align": "predict"}) as reporter:
        answers = predict_samples(predictor, raws, describe=describe,
                                  max_new_tokens=max_new_tokens, batch_size=batch_size,
                                  callback=reporter)  # fmt: skip
    say(f"{n} sample(s) from {len(raws)} file(s)", VERBOSE)
    if as_json:
        echo_json([a.to_dict() for a in answers])
        return
    if verbosity() > QUIET:
        _table(answers)
    for a in answers:
        click.echo(f"{_where(a)}\t{a.class_name}\t{a.description}")
