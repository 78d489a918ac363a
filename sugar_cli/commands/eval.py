"""`sugar eval`: metrics, per-class report and plots for an aligned or zeroshot file."""

from __future__ import annotations

import click
from rich.table import Table

from sugar_cli.checks import report_warnings, strict_option
from sugar_cli.console import console, echo_json, handle_errors
from sugar_cli.options import json_option
from sugar_core.evaluate.metrics import JSON_KEYS as METRIC_KEYS

JSON_KEYS = (
    *METRIC_KEYS,
    "kind",
    "n_classes",
    "per_class",
    "confused_pairs",
    "confusion",
    "confusion_classes",
    "confusion_off_list",
    "unseen_split",
    "off_list_answers",
    "faithfulness",
    "plots",
    "warnings",
)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _head(m: dict, path: str) -> None:
    head = f"[bold]{path}[/bold] ({m['kind']})"
    for key in ("protocol", "split", "unseen_split"):
        if m.get(key):
            head += f"  {key} [cyan]{m[key]}[/cyan]"
    console.print(head)
    console.print(
        f"n {m['n']}  classes {m['n_classes']}  "
        f"top-1 [bold green]{_pct(m['top1'])}[/bold green]  top-5 {_pct(m['top5'])}  "
        f"mean class acc {_pct(m['mean_class_acc'])}  off-list {_pct(m['off_list_rate'])}"
    )
    stored = m.get("stored_top1")
    if stored is not None and abs(float(stored) - m["top1"]) > 1e-6:
        console.print(
            f"[yellow]note:[/yellow] the file's stored top-1 ({_pct(stored)}) differs from the "
            "one recomputed from its arrays; the recomputed value is shown"
        )


def _per_class(m: dict, max_rows: int) -> None:
    rows = sorted(m["per_class"].items(), key=lambda kv: (kv[1]["f1"], kv[0]))
    if not rows:
        return
    table = Table(title="per class (lowest f1 first)", title_justify="left")
    table.add_column("class")
    for col in ("precision", "recall", "f1", "support"):
        table.add_column(col, justify="right")
    for name, s in rows[:max_rows]:
        table.add_row(
            name, _pct(s["precision"]), _pct(s["recall"]), _pct(s["f1"]), str(s["support"])
        )
    console.print(table)
    if len(rows) > max_rows:
        console.print(f"... {len(rows) - max_rows} more classes (see --json)")


def _report(m: dict, path: str, max_rows: int) -> None:
    _head(m, path)
    _per_class(m, max_rows)
    if m["confused_pairs"]:
        table = Table(title="most confused", title_justify="left")
        table.add_column("count", justify="right")
        table.add_column("true")
        table.add_column("predicted")
        table.add_column("back", justify="right")  # predicted read as true: a bias is one-sided
        for p in m["confused_pairs"]:
            table.add_row(str(p["count"]), p["true"], p["pred"], str(p.get("back", 0)))
        console.print(table)
    for a in m.get("off_list_answers") or []:
        console.print(f"off-list answer x{a['count']}: {a['text'][:80]!r}")
    f = m.get("faithfulness")
    if f and f["n_described"]:
        console.print(
            f"descriptions nearest to the named class's priors [bold]{_pct(f['named'])}[/bold], "
            f"to the true class's {_pct(f['true'])} (n {f['n_described']})"
        )
    for note in m["notes"]:
        console.print(f"[yellow]note:[/yellow] {note}")
    for p in m["plots"]:
        console.print(f"wrote {p}")


@click.command("eval")
@click.argument("file", type=click.Path(dir_okay=False))
@json_option("the metrics as JSON")
@click.option(
    "--plots",
    "plots_dir",
    type=click.Path(file_okay=False),
    help="Write confusion.png and tsne.png into this folder.",
)
@click.option(
    "--features",
    type=click.Path(dir_okay=False),
    help="Tokens file whose pooled features feed the t-SNE (matched by sample id); "
    "default: the file's own features.",
)
@click.option(
    "--before",
    type=click.Path(dir_okay=False),
    help="Tokens file of an encoder trained without knowledge: adds tsne_before_after.png.",
)
@click.option(
    "--max-rows",
    default=40,
    type=click.IntRange(0),
    show_default=True,
    help="Classes shown in the report.",
)
@click.option(
    "--priors",
    help="Priors file (or 'auto': the one the model was trained with) to measure whether the "
    "generated descriptions are nearest to the priors of the class they name (faithfulness).",
)
@strict_option
@handle_errors
def cli(file, as_json, plots_dir, features, before, max_rows, priors, strict):
    """Report accuracy, per-class scores and confusions of an aligned or zeroshot file.

    Metrics are recomputed from the stored predictions, not read from the file. Accuracies
    are fractions in [0, 1] in the JSON. Plots need --plots DIR. Predictions that collapsed
    onto one class or sit near chance are warned about (stderr and `warnings` in the JSON);
    --strict makes that an error.

    \b
    Examples:
      sugar eval aligned.h5
      sugar eval aligned.h5 --json > metrics.json
      sugar eval aligned.h5 --plots figs --features tokens.h5 --before tokens_ce.h5
      sugar eval zs.h5 --json | jq .top1
      sugar eval aligned.h5 --strict -q
      sugar eval aligned.h5 --priors auto     # are the descriptions true?
    """
    from sugar_core.evaluate import evaluate_file
    from sugar_core.outputs import check_output

    if plots_dir:
        check_output(plots_dir, inputs=[file, features, before], folder=True)
    m = evaluate_file(file, plots_dir=plots_dir, features=features, before=before, priors=priors)
    _report(m, file, max_rows)
    report_warnings(m["warnings"], strict)
    if as_json:
        echo_json({k: m.get(k) for k in JSON_KEYS if k in m})
    else:
        for p in m["plots"]:
            click.echo(p)
