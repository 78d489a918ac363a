"""Shared CLI glue: stderr console, progress bars, turning library errors into exit codes."""

from __future__ import annotations

import contextlib
import functools
import json
import sys

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sugar_core.errors import SugarError

console = Console(stderr=True)


def handle_errors(fn):
    """Turn library errors (user mistakes) into a one-line message and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SugarError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            console.print("[red]interrupted[/red]; no output file was written")
            sys.exit(130)

    return wrapper


@contextlib.contextmanager
def progress(description: str, total: int | None, disable: bool = False):
    """A rich progress bar on stderr; yields ``advance(n=1, **fields)``."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=disable or not console.is_terminal,
        transient=False,
    )
    with bar:
        task = bar.add_task(description, total=total, info="")

        def advance(n: int = 1, info: str | None = None, total: int | None = None):
            fields = {"info": info} if info is not None else {}
            bar.update(task, advance=n, total=total, **fields)  # total None: unchanged

        yield advance


def echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def embedder(spec: str, priors_encoder: str):
    """The text encoder for the closest-by-embedding rule, or None (with a note) if unavailable."""
    from sugar_core.errors import SugarError
    from sugar_core.priors.encoders import load_text_encoder

    if spec == "auto":
        spec = priors_encoder.split("@", 1)[0] or "minilm"
    if spec == "none":
        return None
    try:
        return load_text_encoder(spec).encode
    except (SugarError, OSError) as exc:
        console.print(f"[yellow]note:[/yellow] no embedding matcher ({exc}); exact rules only")
        return None
