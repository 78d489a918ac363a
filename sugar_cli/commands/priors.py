"""`sugar priors`: write motion and visual text priors per class; `sugar priors show` reads them."""

from __future__ import annotations

import sys
import time

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sugar_cli.console import console, echo_json, handle_errors
from sugar_cli.options import common, json_option
from sugar_core.skeleton.classes import NAMED_LISTS

BACKENDS = ("builtin", "openai", "hf", "file")


class _StageBar:
    """One rich progress bar per stage, on stderr; called as on_progress(stage, done, total)."""

    def __init__(self):
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
        )
        self.tasks: dict[str, int] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total)
        self.bar.update(self.tasks[stage], completed=done, total=total)


def _summary(path: str, priors, report, seconds: float) -> dict:
    k = report.n_classes
    return {
        "output": path,
        "classes": k,
        "backend": report.backend,
        "encoder_id": priors.encoder_id,
        "texts_per_class": int(priors.mask.sum(1).max()),
        "sources": {t: priors.sources[t] for t in ("motion", "visual", "description")},
        "valid_first_try": {t: v / k for t, v in report.valid_first.items()},
        "valid_after_retries": {t: v / k for t, v in report.valid.items()},
        "fallback": report.fallback,
        "questions": report.questions,
        "dropped_frames": report.dropped_frames,
        "seconds": {**{s: round(v, 3) for s, v in report.seconds.items()}, "total": seconds},
        "generation_seconds_per_class": round(report.generation_seconds_per_class, 3),
    }


def _print_summary(s: dict) -> None:
    console.print(
        f"[bold]{s['classes']}[/bold] classes from [cyan]{s['backend']}[/cyan]; "
        f"{s['texts_per_class']} texts per class embedded by {s['encoder_id']}"
    )
    for task, frac in s["valid_after_retries"].items():
        first = s["valid_first_try"].get(task, frac)
        console.print(f"  {task}: valid {frac:.0%} (first try {first:.0%})")
    for task, names in s["fallback"].items():
        what = "derived from motion" if task == "description" else "builtin texts used"
        console.print(f"  [yellow]{task}: {what} for {len(names)}: {', '.join(names)}[/yellow]")
    if s["dropped_frames"]:
        console.print(f"  [yellow]{s['dropped_frames']} frame description(s) dropped[/yellow]")
    console.print(
        f"  time {s['seconds']['total']:.1f} s; generation "
        f"{s['generation_seconds_per_class']:.2f} s per class"
    )


@click.group(
    "priors",
    invoke_without_command=True,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--classes-from", type=click.Path(dir_okay=False), help="A sugar file (data.h5).")
@click.option("--classes", "classes_file", help="A file with one class name a line; - = stdin.")
@click.option("--classes-list", type=click.Choice(list(NAMED_LISTS)), help="A known list.")
@click.option("--backend", type=click.Choice(BACKENDS), default="builtin", show_default=True)
@click.option("--model", help="openai: the server's model name; hf: LLM folder/id [smollm2].")
@click.option(
    "--base-url",
    envvar="OPENAI_BASE_URL",
    default="https://api.openai.com/v1",
    show_default=True,
    help="openai: server root (vLLM, Ollama, llama.cpp: http://HOST:PORT/v1).",
)
@click.option(
    "--api-key-env",
    default="OPENAI_API_KEY",
    show_default=True,
    help="openai: environment variable that holds the key (never stored).",
)
@click.option("--descriptions", type=click.Path(dir_okay=False), help="file: your JSON or CSV.")
@click.option("--dataset", help="builtin: the set that wins for shared names (nw-ucla, ...).")
@click.option("--videos", type=click.Path(file_okay=False), help="Training videos per class.")
@click.option("--clip", default="openai/clip-vit-base-patch32", show_default=True,
              help="CLIP folder for frame choice.")  # fmt: skip
@click.option(
    "--visual-k",
    default=3,
    type=click.IntRange(1),
    show_default=True,
    help="Visual texts (frames) per class.",
)
@click.option("--frames-per-video", default=8, type=click.IntRange(1), show_default=True)
@click.option(
    "--max-videos",
    default=8,
    type=click.IntRange(1),
    show_default=True,
    help="Videos read per class.",
)
@click.option("--text-encoder", default="minilm", show_default=True,
              help="minilm, clip:PATH_OR_ID, or an encoder folder.")  # fmt: skip
@click.option(
    "--retries",
    default=2,
    type=click.IntRange(0),
    show_default=True,
    help="Re-asks after a malformed answer.",
)
@click.option(
    "--allow-fallback",
    type=click.Choice(["builtin"]),
    help="Classes still malformed after retries take the builtin texts instead of failing.",
)
@click.option("--derive-descriptions", is_flag=True,
              help="Derive descriptions from the motion sentence instead of asking.")  # fmt: skip
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Answer cache folder.")
@click.option("--offline", is_flag=True, help="Replay cached answers only; a miss fails.")
@click.option(
    "--concurrency",
    default=4,
    type=click.IntRange(1),
    show_default=True,
    help="openai: requests at once.",
)
@click.option(
    "--timeout",
    default=60.0,
    type=click.FloatRange(0, min_open=True),
    show_default=True,
    help="openai: seconds per request.",
)
@click.option(
    "--batch-size",
    default=8,
    type=click.IntRange(1),
    show_default=True,
    help="hf: prompts per batch.",
)
@click.option("--max-new-tokens", default=160, type=click.IntRange(1), show_default=True)
@click.option(
    "--temperature",
    default=0.0,
    type=click.FloatRange(0),
    show_default=True,
    help="First try (0 = greedy).",
)
@click.option("--seed", default=0, type=click.IntRange(0), show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="The priors file to write  [required, but for `show`].",
)
@common
@json_option("a JSON summary")
@click.pass_context
@handle_errors
def cli(ctx, **opts):
    """Write motion and visual text priors for every class of a dataset.

    Motion texts split each action into six body parts (head, hand, arm, hip, leg, foot);
    visual texts say what it looks like (from kept video frames with a vision-language model,
    or from a text model). Every model answer is cached, so --offline replays a run.

    \b
    Examples:
      sugar priors --classes-from ucla.h5 --backend builtin -o priors.h5
      sugar priors --classes-list nw-ucla --backend hf -o priors.h5
      sugar priors --classes names.txt --backend openai --model gpt-4o-mini -o priors.h5
      sugar priors --classes-list msr --backend openai --base-url http://localhost:8000/v1 \\
          --model Qwen/Qwen2-VL-7B-Instruct --videos train_videos/ -o priors.h5
      sugar priors --classes-from ucla.h5 --backend file --descriptions mine.csv -o priors.h5
      sugar priors show priors.h5 --class "walk around"
    """
    generation = ("classes_from", "classes_file", "classes_list", "output")
    if ctx.invoked_subcommand is not None:
        if any(opts[k] is not None for k in generation):
            raise click.UsageError(
                f"options before '{ctx.invoked_subcommand}' belong to generation; "
                f"write: sugar priors {ctx.invoked_subcommand} ..."
            )
        return
    _generate(**opts)


def _generate(**o) -> None:
    from sugar_core.outputs import check_output
    from sugar_core.priors import classlist
    from sugar_core.priors.backends import BackendConfig
    from sugar_core.priors.build import PriorsConfig, build_priors
    from sugar_core.priors.store import write_priors
    from sugar_core.schema import input_record

    if not o["output"]:
        raise click.UsageError("missing -o/--output (the priors file to write)")
    read = (o["classes_from"], o["descriptions"], o["videos"])
    read += (o["classes_file"],) if o["classes_file"] != "-" else ()
    check_output(o["output"], inputs=read)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own bars say what is happening
    t0 = time.perf_counter()
    stdin = sys.stdin if o["classes_file"] == "-" else None
    classes = classlist.resolve(o["classes_from"], o["classes_file"], o["classes_list"], stdin)
    backend = BackendConfig(
        name=o["backend"],
        model=o["model"],
        base_url=o["base_url"],
        api_key_env=o["api_key_env"],
        timeout=o["timeout"],
        concurrency=o["concurrency"],
        batch_size=o["batch_size"],
        max_new_tokens=o["max_new_tokens"],
        temperature=o["temperature"],
        seed=o["seed"],
        dataset=o["dataset"] or classes.dataset,
        descriptions=o["descriptions"],
    )
    cfg = PriorsConfig(
        backend=backend,
        text_encoder=o["text_encoder"],
        retries=o["retries"],
        fallback=o["allow_fallback"],
        visual_k=o["visual_k"],
        videos=o["videos"],
        clip=o["clip"],
        frames_per_video=o["frames_per_video"],
        max_videos=o["max_videos"],
        descriptions="derive" if o["derive_descriptions"] else "ask",
        cache_dir=o["cache_dir"],
        offline=o["offline"],
    )
    console.print(
        f"priors for {len(classes.names)} classes with backend [cyan]{o['backend']}[/cyan]"
    )
    bar = _StageBar()
    with bar.bar:
        priors, report = build_priors(classes.names, cfg, on_progress=bar)
    inputs = classes.inputs + [p for p in (o["videos"], o["descriptions"]) if p]
    write_priors(priors, o["output"], config=cfg.as_record(), seed=o["seed"],
                 inputs=input_record(inputs))  # fmt: skip
    summary = _summary(o["output"], priors, report, round(time.perf_counter() - t0, 3))
    _print_summary(summary)
    if o["as_json"]:
        echo_json(summary)
    else:
        click.echo(o["output"])


@cli.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--class", "classes", multiple=True, help="Only this class (repeatable).")
@json_option("the texts as JSON, not a table,")
@handle_errors
def show(file, classes, as_json):
    """Print the texts of a priors file, per class.

    \b
    Examples:
      sugar priors show priors.h5
      sugar priors show priors.h5 --class "pick up with one hand" --class throw
      sugar priors show priors.h5 --json | jq '.classes[0].texts'
    """
    from sugar_core.priors.store import read_priors

    priors = read_priors(file)
    if classes:
        priors = priors.select(list(classes))
    rows = []
    for i, name in enumerate(priors.class_names):
        texts = [
            {"kind": priors.text_kinds[j], "text": str(priors.texts[i, j])}
            for j in range(len(priors.text_kinds))
            if priors.mask[i, j]
        ]
        rows.append({"name": name, "description": priors.descriptions[i], "texts": texts})
    if as_json:
        echo_json(
            {
                "file": file,
                "encoder_id": priors.encoder_id,
                "dim": priors.dim,
                "sources": {k: v for k, v in priors.sources.items() if k != "per_class"},
                "classes": rows,
            }
        )
        return
    console.print(f"[bold]{file}[/bold]: {len(rows)} classes, encoder {priors.encoder_id}")
    table = Table(show_lines=True)
    table.add_column("class", style="bold", overflow="fold")
    table.add_column("kind", style="cyan", no_wrap=True)
    table.add_column("text", overflow="fold")
    for row in rows:
        table.add_row(row["name"], "description", row["description"])
        for t in row["texts"]:
            table.add_row("", t["kind"], t["text"])
    Console(file=sys.stdout, soft_wrap=False).print(table)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(cli())
