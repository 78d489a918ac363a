"""`sugar ensemble`: late fusion of several files' class scores into one predictions file."""

from __future__ import annotations

from pathlib import Path

import click

from sugar_cli.console import echo_json, handle_errors, say
from sugar_cli.options import common, json_option
from sugar_core.evaluate.metrics import JSON_KEYS as METRIC_KEYS


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


@click.command("ensemble")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Predictions file to write (kind ensemble), read by `sugar eval`.",
)
@click.option(
    "--weights",
    default=None,
    metavar="W1,W2,...",
    help="One weight per file, e.g. 1,1,0.5,0.5; default: fitted on the validation part.",
)
@click.option(
    "--norm",
    type=click.Choice(["softmax", "zscore"]),
    default="softmax",
    show_default=True,
    help="Per-file, per-sample normalisation of the scores before the weighted sum.",
)
@click.option(
    "--readout",
    type=click.Choice(["auto", "best", "ce", "text", "probe"]),
    default="auto",
    show_default=True,
    help="Scores of tokens files: ce head, text prototypes (needs --priors), linear probe; "
    "auto: ce where the encoder has the head, else text with --priors, else probe; best: "
    "per file, the one with the best validation top-1.",
)
@click.option(
    "--priors",
    "priors_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The priors file that trained the tokens files (text read-out).",
)
@click.option(
    "--data",
    "data_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The skeletons file the tokens came from; needed only when their validation part "
    "holds out subjects (xsub, xset).",
)
@common
@json_option("the weights, validation and test figures as JSON")
@handle_errors
def cli(files, output, weights, norm, readout, priors_path, data_path, as_json):
    """Fuse the class scores of several files of the same test samples.

    FILES are tokens files (one encoder each, e.g. the joint, bone, joint-motion and
    bone-motion streams), aligned or zeroshot files. All must hold the same split, classes and
    test samples. Each file's scores are normalised per sample (--norm), then summed with
    --weights, or with weights fitted on the validation part the tokens files record (carved
    from the training data: the test part decides nothing), maximising validation top-1;
    ties go to equal weights. Aligned and zeroshot files hold no validation scores, so fusing
    them needs --weights.

    \b
    Examples:
      sugar ensemble joint.h5 bone.h5 joint-motion.h5 bone-motion.h5 -o fused.h5
      sugar ensemble joint.h5 bone.h5 --weights 1,0.5 -o fused.h5 --json
      sugar ensemble joint.h5 bone.h5 --readout text --priors priors.h5 -o fused.h5
      sugar ensemble joint.h5 bone.h5 --readout best --priors priors.h5 -o fused.h5
      sugar ensemble aligned.h5 joint.h5 --weights 1,1 --norm zscore -o fused.h5
      sugar eval fused.h5
    """
    from sugar_core.evaluate.ensemble import fuse, parse_weights, write_ensemble
    from sugar_core.evaluate.sources import load_source
    from sugar_core.outputs import check_output

    inputs = [*files, priors_path, data_path]
    check_output(output, inputs=inputs)
    given = parse_weights(weights, len(files)) if weights is not None else None
    data = None
    if data_path is not None:
        from sugar_core.skeleton.dataset import read_skeletons

        data = read_skeletons(data_path)
    sources = []
    for path in files:
        say(f"reading {path}", markup=False)
        sources.append(load_source(path, readout, priors_path, data))
    result = fuse(sources, given, norm)
    write_ensemble(result, output, inputs=[p for p in inputs if p is not None])
    _report(result, output, as_json)


def _report(result, output: Path, as_json: bool) -> None:
    """A table on stderr; the output path (or the JSON summary) on stdout."""
    m = result.predictions.metrics
    val = result.record.get("validation")
    how = "fitted on validation" if result.fitted else "given"
    say(f"weights ({how}): {', '.join(f'{w:g}' for w in result.weights)}")
    for s, w in zip(result.record["sources"], result.weights, strict=True):
        say(
            f"  {Path(s['path']).name} ({s['kind']}, {s['readout']})  weight {w:g}  "
            f"test top-1 {_pct(s['test_top1'])}",
            markup=False,
        )
    if val:
        say(f"validation top-1 {_pct(val['top1'])} on {val['n']} samples "
            f"(equal weights {_pct(val['equal_weights_top1'])})")  # fmt: skip
    say(f"fused test top-1 [bold green]{_pct(m['top1'])}[/bold green]  top-5 {_pct(m['top5'])}")
    if not as_json:
        click.echo(str(output))
        return
    echo_json(
        {
            "output": str(output),
            **{k: m.get(k) for k in METRIC_KEYS},
            "weights": result.weights,
            "fitted": result.fitted,
            "norm": result.record["norm"],
            "sources": result.record["sources"],
            "validation": val,
        }
    )
