"""Every default `--help` shows for a config-backed option is the dataclass's own default."""

from __future__ import annotations

import importlib
import re

import pytest
from click.testing import CliRunner

from sugar_cli.main import cli as sugar
from sugar_cli.options import dataclass_default

CONFIG_COMMANDS = ("tokenize", "align", "zeroshot")


def _help(name: str) -> str:
    res = CliRunner().invoke(sugar, [name, "--help"], terminal_width=200)
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())  # wrapped lines joined


@pytest.mark.parametrize("name", CONFIG_COMMANDS)
def test_shown_defaults_are_the_dataclass_defaults(name):
    command = importlib.import_module(f"sugar_cli.commands.{name}").cli
    text = _help(name)
    marked = [p for p in command.params if hasattr(p, "sugar_field")]
    assert len(marked) >= 5, [p.name for p in command.params]
    for param in marked:
        cls, dotted = param.sugar_field
        value = dataclass_default(cls, dotted)
        if isinstance(value, bool):
            on = value if param.flag_value is not False else not value
            value = "on" if on else "off"
        help_text = " ".join(param.help.split())
        assert help_text.endswith(f"[default: {value}]"), (param.name, help_text)
        assert help_text in text, param.name
        assert param.default is None, f"--{param.name} must fall back on {dotted}"


@pytest.mark.parametrize("name", CONFIG_COMMANDS)
def test_no_hand_written_default_left(name):
    """A default written as ``[60]`` by hand would drift from the dataclass."""
    command = importlib.import_module(f"sugar_cli.commands.{name}").cli
    for param in command.params:
        bare = re.search(r"\[(?!default:)[^\]]*\]\.?$", param.help or "")
        assert bare is None, (param.name, param.help)
