"""`sugar demo`: the whole pipeline on the embedded synthetic data set (or on real data)."""

from __future__ import annotations

import click

from sugar_cli.console import QUIET, Reporter, console, echo_json, handle_errors, say, verbosity
from sugar_cli.models import quiet_transformers
from sugar_cli.options import common, json_option, settings_options

FORMATS = ("ntu", "nw-ucla", "msr", "pyskl", "npz", "numpy")  # = sugar_core.skeleton.io.FORMATS
TITLES = {
    "import": "import",
    "priors": "priors",
    "tokenize": "tokenize (encoder)",
    "align": "align (TQP + LoRA)",
    "eval": "eval",
    "zeroshot": "zero-shot",
    "sample": "sample GIF",
}


def _table(result) -> None:
    if verbosity() == QUIET:
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"sugar demo: {result.out_dir}", title_justify="left")
    table.add_column("stage", style="bold")
    table.add_column("file")
    table.add_column("result", overflow="fold")
    table.add_column("s", justify="right")
    for row in result.rows:
        table.add_row(TITLES.get(row.stage, row.stage), row.file, row.result, f"{row.seconds:.0f}")
    # a terminal wraps to its width; logs and pipes keep one line per stage
    wide = console if console.is_terminal else Console(stderr=True, width=200)
    wide.print(table)
    ex = result.metrics.get("example")
    if ex:
        say(
            f"example answer for {ex['sample_id']} (true: {ex['true']}): "
            f"[bold]{{{ex['pred']}}}[/bold] {ex['description']}"
        )
    llm = result.llm if not result.llm_note else f"{result.llm} (tiny random)"
    say(f"LLM: {llm}; total {result.seconds:.0f} s")


@click.command("demo")
@click.option(
    "-o",
    "--output",
    "out_dir",
    default="demo-out",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for every file the pipeline writes.",
)
@click.option("--data", type=click.Path(exists=True), help="Run on a raw data set instead.")
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), help="Format of --data.")
@click.option("--split", help="Train/test split [synthetic: xsub; else the data's only one].")
@click.option("--unseen-split", "unseen", help="Zero-shot split (registry name or file).")
@click.option("--llm", help="smollm2, a model folder or hub id [smollm2 if installed].")
@click.option(
    "--text-encoder",
    default="minilm",
    show_default=True,
    help="Embeds the priors: minilm, clip:PATH, or a folder.",
)
@click.option("--fast", is_flag=True, help="Minimal settings: tiny encoder and LLM, one epoch.")
@click.option("--per-class", type=int, help="Synthetic samples per class [40; --fast 8].")
@click.option(
    "--seed",
    default=0,
    type=click.IntRange(0),
    show_default=True,
    help="Data, weights and the zero-shot split.",
)
@settings_options
@common
@json_option("the run's summary (summary.json)")
@handle_errors
def cli(out_dir, data, fmt, split, unseen, llm, text_encoder, fast, per_class, seed, config_file,
        sets, as_json):  # fmt: skip
    """Run the whole pipeline on built-in data and print what it found.

    Generates six synthetic actions (waving, clapping, kicking, squatting, jumping, bowing),
    then runs every stage through its library, each writing its usual file into the output
    folder: data.h5, priors.h5, tokens.h5, aligned.h5, zs.h5, confusion.png, tsne.png,
    sample.gif and summary.json. The zero-shot step holds out two of the six classes. The LLM
    is SmolLM2-135M when its package is installed, else a tiny random one (with a notice).
    A results table goes to stderr; stdout gets the output folder.

    \b
    Examples:
      sugar demo
      sugar demo -o /tmp/demo --seed 1
      sugar demo --fast -o /tmp/quick
      sugar demo --data ../data/nw-ucla/all_sqe --format nw-ucla -o ucla-demo
      sugar demo --data msr_dir --format msr --split xsub --unseen-split msr-r5-s1
      sugar demo --set tokenize.epochs=20 --set align.bridge.kind=pool
    """
    from sugar_core import settings
    from sugar_core.outputs import check_output
    from sugar_core.pipeline.demo import DemoConfig, run_demo

    check_output(out_dir, inputs=[data], folder=True)
    quiet_transformers()
    user, _ = settings.layered(config_file, sets, command="demo")
    cfg = DemoConfig(
        data=data, format=fmt, split=split, unseen=unseen, llm=llm, text_encoder=text_encoder,
        fast=fast, seed=seed, per_class=per_class, settings=user,
    )  # fmt: skip
    with Reporter(TITLES) as reporter:
        result = run_demo(cfg, out_dir, callback=reporter)
    _table(result)
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(out_dir)
