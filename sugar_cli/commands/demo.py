"""`sugar demo`: the whole pipeline on the embedded synthetic data set (or on real data)."""

from __future__ import annotations

import warnings

import click

from sugar_cli.util import console, handle_errors

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


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")


class _Bars:
    """A rich progress line per (stage, part), fed by run_demo's events."""

    def __init__(self):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
        )
        self.tasks: dict[tuple[str, str], int] = {}

    def __call__(self, ev: dict) -> None:
        stage = ev["stage"]
        if ev["event"] == "note":
            console.print(f"[bold yellow]NOTE:[/bold yellow] {ev['message']}")
        elif ev["event"] == "start":
            console.print(f"[cyan]>[/cyan] {TITLES.get(stage, stage)}")
        elif ev["event"] == "done":
            console.print(f"  {TITLES.get(stage, stage)} done in {ev['seconds']:.1f} s")
        elif ev["event"] == "progress":
            key = (stage, ev["part"])
            if key not in self.tasks:
                self.tasks[key] = self.bar.add_task(f"{stage}: {ev['part']}", total=ev["total"])
            self.bar.update(self.tasks[key], completed=ev["done"], total=ev["total"])


def _table(result) -> None:
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
        console.print(
            f"example answer for {ex['sample_id']} (true: {ex['true']}): "
            f"[bold]{{{ex['pred']}}}[/bold] {ex['description']}"
        )
    llm = result.llm if not result.llm_note else f"{result.llm} (tiny random)"
    console.print(f"LLM: {llm}; total {result.seconds:.0f} s")
    if result.llm_note:
        console.print(f"[bold yellow]NOTE:[/bold yellow] {result.llm_note}")


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
@click.option("--seed", default=0, show_default=True)
@click.option("--threads", type=int, default=None, help="torch CPU threads.")
@handle_errors
def cli(out_dir, data, fmt, split, unseen, llm, text_encoder, fast, per_class, seed, threads):
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
    """
    import torch

    from sugar_core.pipeline.demo import DemoConfig, run_demo

    if threads:
        torch.set_num_threads(threads)
    _quiet_transformers()
    cfg = DemoConfig(
        data=data, format=fmt, split=split, unseen=unseen, llm=llm, text_encoder=text_encoder,
        fast=fast, seed=seed, per_class=per_class,
    )  # fmt: skip
    bars = _Bars()
    with bars.bar:
        result = run_demo(cfg, out_dir, callback=bars)
    _table(result)
    click.echo(out_dir)
