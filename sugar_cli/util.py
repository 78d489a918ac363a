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


def read_settings(config_file, sets: tuple[str, ...] = ()) -> dict:
    """Settings from an optional JSON file, then ``--set KEY=VALUE`` items (later wins).

    KEY may be dotted (``prep.mirror=0.5``) to reach a nested object. VALUE is read as JSON
    (``true``, ``0.5``, ``[1, 2]``) and kept as a plain string when it is not JSON.
    """
    from pathlib import Path

    from sugar_core.errors import ConfigError, InputFormatError

    d: dict = {}
    if config_file:
        try:
            d = json.loads(Path(config_file).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputFormatError(config_file, "no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputFormatError(config_file, f"cannot read ({exc.__class__.__name__})") from None
        except json.JSONDecodeError as exc:
            raise InputFormatError(config_file, f"not JSON: {exc.msg}", line=exc.lineno) from None
        if not isinstance(d, dict):
            raise InputFormatError(config_file, "expected a JSON object of settings")
    for item in sets:
        key, eq, raw = item.partition("=")
        path = key.strip().split(".")
        if not eq or not all(path):
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, for example prep.mirror=0.5")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = d
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is not an object of settings")
        node[path[-1]] = value
    return d
