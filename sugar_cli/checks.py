"""The run checks at the CLI edge: ``--strict`` and the warnings of ``sugar_core.health``.

A stage's warnings (a model that collapsed onto one class, or sits near chance) go to stderr,
shown even with ``-q``, and into ``--json`` as ``warnings``; with ``--strict`` the first one
is an error (exit 1, one line) and the command writes no output file. ``--epochs`` takes a
number or ``auto`` (``sugar_core/schedule.py``).
"""

from __future__ import annotations

import click

from sugar_cli.console import warn


def strict_option(fn):
    return click.option(
        "--strict",
        is_flag=True,
        help="A warning that the model did not learn (one class for most answers, or "
        "near-chance top-1) is an error: exit 1, no output written.",
    )(fn)


def report_warnings(warnings: list[str], strict: bool) -> None:
    """Print every warning on stderr; with ``strict`` the first becomes the error."""
    if strict and warnings:
        extra = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
        raise click.ClickException(f"--strict: {warnings[0]}{extra}")
    for w in warnings:
        warn(w)


class EpochsType(click.ParamType):
    """A whole number >= 1, or ``auto`` (epochs set by the data: sugar_core/schedule.py)."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if text == "auto":
            return "auto"
        if text.isdigit() and int(text) >= 1:
            return int(text)
        self.fail(f"{value!r} is neither a whole number >= 1 nor auto", param, ctx)


EPOCHS = EpochsType()
