"""Everything a human reads: one stderr console, progress, verbosity, errors as one line.

stdout carries data only (a path, or JSON with ``--json``). On a terminal, long work shows
rich progress bars; in a log or a pipe the same progress becomes a plain line at most every
``HEARTBEAT`` seconds (so short commands print none, and an error stays one line).
``-q`` keeps only warnings and errors; ``-v`` adds a line per epoch and per note's detail.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import time

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
from sugar_core.outputs import reason
from sugar_core.redact import scrub

console = Console(stderr=True)
QUIET, NORMAL, VERBOSE = 0, 1, 2
HEARTBEAT = 10.0  # seconds between plain progress lines off a terminal
_level = [NORMAL]


class _Heartbeat:
    """Says whether a plain progress line is due (the first only after HEARTBEAT seconds)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and not console.is_terminal
        self.last = time.monotonic()

    def due(self) -> bool:
        now = time.monotonic()
        if not self.enabled or _level[0] < NORMAL or (now - self.last < HEARTBEAT):
            return False
        self.last = now
        return True


def set_verbosity(quiet: bool = False, verbose: bool = False) -> None:
    _level[0] = QUIET if quiet else VERBOSE if verbose else NORMAL


def verbosity() -> int:
    return _level[0]


def say(message: str, level: int = NORMAL, markup: bool = True) -> None:
    """A line for humans on stderr, shown when the verbosity is at least ``level``. Text
    from data (paths, class names) goes with ``markup=False``, printed as it is."""
    if _level[0] >= level:
        console.print(message, markup=markup, highlight=False, soft_wrap=not markup)


def warn(message: str) -> None:
    """Shown even with ``-q``."""
    console.print(f"[bold yellow]warning:[/bold yellow] {message}")


def handle_errors(fn):
    """The one error boundary of every command: each failure ends as one ``Error:`` line.

    Exit 1 for library errors (SugarError: user mistakes and bad files, said as they are), OS
    errors (a full disk, no permission, a name too long, a closed pipe: the path named where
    known) and anything unexpected; exit 130 for Ctrl-C. An unexpected error is a bug or an
    environment problem: one line says so, and ``-v`` shows its traceback instead. Secrets
    (bearer tokens, API keys, credentials in URLs) are scrubbed from every line.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            console.print("[red]interrupted[/red]; no output file was written")
            sys.exit(130)
        except Exception as exc:
            line = error_line(exc)
            if line is None:
                raise
            raise click.ClickException(scrub(line)) from None

    return wrapper


def error_line(exc: Exception) -> str | None:
    """The one line that reports ``exc``; None where the traceback should show (-v)."""
    if isinstance(exc, SugarError):
        return str(exc)
    if isinstance(exc, BrokenPipeError):
        with contextlib.suppress(Exception):  # no second error when Python flushes stdout
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return "the reader of stdout went away before the output was written (broken pipe)"
    if isinstance(exc, OSError):
        where = exc.filename or ""
        return f"{where}: {reason(exc)}" if where else reason(exc)
    if isinstance(exc, MemoryError):
        return "out of memory; try a smaller --batch-size or fewer --workers"
    if _level[0] >= VERBOSE:
        return None
    text = " ".join(str(exc).split())[:200]
    return (
        f"unexpected {exc.__class__.__name__}: {text} "
        "(run again with -v to see where; please report it)"
    )


def echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def _bar(disable: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=disable or _level[0] == QUIET or not console.is_terminal,
    )


@contextlib.contextmanager
def progress(description: str, total: int | None, disable: bool = False):
    """One progress bar; yields ``advance(n=1, info=None, total=None)``. Off a terminal it
    prints a plain line at most every HEARTBEAT seconds."""
    bar = _bar(disable)
    beat = _Heartbeat(not disable)
    done, first_total = [0], total
    with bar:
        task = bar.add_task(description, total=total, info="")

        def advance(n: int = 1, info: str | None = None, total: int | None = None):
            fields = {"info": info} if info is not None else {}
            bar.update(task, advance=n, total=total, **fields)  # total None: unchanged
            done[0] += n
            if beat.due():
                size = total or first_total
                console.print(f"{description} {done[0]}/{size or '?'} {info or ''}".rstrip())

        yield advance


class Reporter:
    """Renders ``sugar_core.events``: a bar per (stage, part), lines for start/done/notes.

    Use as a context manager around the library call and pass the instance as its callback.
    """

    def __init__(self, titles: dict[str, str] | None = None):
        self.titles = titles or {}
        self.bar = _bar(False)
        self.tasks: dict[tuple, int] = {}
        self.val: dict[str, str] = {}  # stage -> the last validation figures
        self.beat = _Heartbeat(True)

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def title(self, stage: str) -> str:
        return self.titles.get(stage, stage)

    def __call__(self, ev: dict) -> None:
        kind, stage = ev.get("event"), ev.get("stage", "")
        if kind == "note":  # shown even with -q: it changes how to read the results
            console.print(f"[bold yellow]NOTE:[/bold yellow] {ev['message']}")
        elif kind == "start":
            plan = f": {ev['plan']}" if ev.get("plan") else ""
            say(f"[cyan]>[/cyan] {self.title(stage)}{plan}")
        elif kind == "plan":
            say(f"  {self.title(stage)}: {ev['message']}", markup=False)
        elif kind == "done":
            say(f"  {self.title(stage)} done in {ev['seconds']:.1f} s")
        elif kind == "epoch":
            self._epoch(stage, ev)
        elif kind == "progress":
            self._progress(stage, ev)

    def _epoch(self, stage: str, ev: dict) -> None:
        """A line per epoch in logs (or with -v): loss, train accuracy, validation figures."""
        vals = [f"{k[4:]} {v:.3f}" for k, v in ev.items() if k.startswith("val_") and k != "val_n"]
        if vals:
            self.val[stage] = " | val " + ", ".join(vals)
        if console.is_terminal and _level[0] < VERBOSE:
            return
        loss = f" loss {ev['loss']:.4f}" if "loss" in ev else ""
        acc = f" train acc {ev['train_acc']:.3f}" if "train_acc" in ev else ""
        say(f"{self.title(stage)} epoch {ev.get('epoch')}:{loss}{acc}{self.val.get(stage, '')}")

    def _progress(self, stage: str, ev: dict) -> None:
        part, phase = ev.get("part", ""), ev.get("phase")
        key = (stage, phase, part)
        if phase and phase != stage:  # an inner stage of a protocol (zero-shot, demo)
            label = f"{self.title(stage)}: {self.title(phase)}"
            label += f" {part}" if part and part not in phase else ""
        else:
            label = f"{self.title(stage)}: {part}" if part else self.title(stage)
        if key not in self.tasks:
            self.tasks[key] = self.bar.add_task(label, total=ev["total"], info="")
        info = ev.get("info", "") + self.val.get(stage, "")
        self.bar.update(self.tasks[key], completed=ev["done"], total=ev["total"], info=info)
        if self.beat.due():
            console.print(f"{label} {ev['done']}/{ev['total'] or '?'} {info}".rstrip())
