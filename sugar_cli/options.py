"""Option bundles shared by the commands, so one option reads and behaves the same everywhere.

Each bundle is a decorator that adds the options and, where it has work to do (threads,
verbosity), does it before the command body runs, so the body receives only what it needs.
Defaults shown by ``--help`` come from the dataclasses: ``dataclass_default`` reads them, and
``tests/cli/test_help_defaults.py`` checks every shown default against them.
"""

from __future__ import annotations

import contextlib
import functools

import click

from sugar_cli.console import set_verbosity


def dataclass_default(cls, dotted: str):
    """The default of a (nested) dataclass field, e.g. ``(AlignConfig, "bridge.queries")``."""
    obj = cls()
    for part in dotted.split("."):
        obj = getattr(obj, part)
    if isinstance(obj, tuple):
        return ",".join(str(v) for v in obj)
    return obj


def shown(cls, dotted: str) -> str:
    """``[default: X]`` text for an option that defaults to None and falls back to a field."""
    value = dataclass_default(cls, dotted)
    if isinstance(value, bool):
        value = "on" if value else "off"
    return f"[default: {value}]"


def show_field_defaults(command: click.Command, cls, fields: dict[str, str]) -> click.Command:
    """Make each option named in ``fields`` (parameter name -> dotted field of ``cls``) show
    the field's default in its help, replacing any default written by hand; records the field
    on the option (``sugar_field``) so a test can check every shown default."""
    import re

    params = {p.name: p for p in command.params}
    for name, dotted in fields.items():
        param = params[name]
        assert param.default is None, f"--{name} must default to None to fall back on {dotted}"
        text = re.sub(r"\s*\[[^\]]*\]\.?$", "", param.help or "").rstrip(".")
        if getattr(param, "is_flag", False) and param.flag_value is False:  # --no-X of an on field
            on = dataclass_default(cls, dotted)
            param.help = f"{text} [default: {'off' if on else 'on'}]".strip()
        else:
            param.help = f"{text} {shown(cls, dotted)}".strip()
        param.sugar_field = (cls, dotted)
    return command


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def common(fn):
    """``--threads``, ``-q/--quiet`` and ``-v/--verbose``: applied before the body runs."""

    @click.option("--threads", type=click.IntRange(1), default=None, help="torch CPU threads.")
    @click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
    @click.option("-v", "--verbose", is_flag=True, help="A line per epoch and more detail.")
    @functools.wraps(fn)
    def wrapper(*args, threads=None, quiet=False, verbose=False, **kwargs):
        if quiet and verbose:
            raise click.UsageError("-q and -v contradict each other; give one")
        set_verbosity(quiet, verbose)
        _set_threads(threads)
        return fn(*args, **kwargs)

    return wrapper


def json_option(what: str = "a JSON summary"):
    return click.option("--json", "as_json", is_flag=True, help=f"Print {what} on stdout.")


def settings_options(fn):
    """``--config FILE|RECIPE`` and ``--set KEY=VALUE`` (repeatable): the strict settings path
    of ``sugar_core.settings``; named options win over ``--set``, which wins over the file."""
    fn = click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="KEY=VALUE",
        help="One setting (dotted keys reach nested ones; VALUE is JSON). Repeatable.",
    )(fn)
    return click.option(
        "--config",
        "config_file",
        metavar="FILE|RECIPE",
        help="JSON settings, or a shipped recipe name (`sugar recipes` lists them).",
    )(fn)


@contextlib.contextmanager
def usage_errors():
    """Settings mistakes found while reading options exit 2 (usage), before any data is read."""
    from sugar_core.errors import SugarError

    try:
        yield
    except SugarError as exc:
        raise click.UsageError(str(exc)) from None
