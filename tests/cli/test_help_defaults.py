"""Every default `--help` shows for a config-backed option is the dataclass's own default, a
few of them as known values, and a run without such an option records that default."""

from __future__ import annotations

import importlib
import json
import re

import pytest
from click.testing import CliRunner

from sugar_cli.main import cli as sugar
from sugar_cli.options import dataclass_default
from tests.helpers.hostile import fuzz_files

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


# (command, option) -> the end of its help: the defaults as documented, written out by hand so
# that a wrong lookup in ``dataclass_default`` (which the test above shares) shows up
KNOWN = {
    ("tokenize", "lr"): "Peak learning rate [default: 0.05]",
    ("tokenize", "batch_size"): "[default: 32]",
    ("align", "queries"): "Action tokens given to the LLM [default: 16]",
    ("align", "lora"): "[default: off]",  # the --no-lora flag: LoRA is on
    ("align", "lora_targets"): "[default: q_proj,v_proj]",
    ("align", "calibration"): "[default: none]",
    ("zeroshot", "preset"): "[default: small]",
}


@pytest.mark.parametrize("name, option", list(KNOWN))
def test_some_shown_defaults_are_the_documented_values(name, option):
    command = importlib.import_module(f"sugar_cli.commands.{name}").cli
    param = next(p for p in command.params if p.name == option)
    assert " ".join(param.help.split()).endswith(KNOWN[name, option]), param.help


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return fuzz_files(tmp_path_factory.mktemp("help-defaults"))  # data, priors, tokens, apriors


def _recorded(path) -> dict:
    import h5py

    from sugar_core import schema

    with h5py.File(path, "r") as f:
        return schema.root_info(f)["config"]


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("name", ["tokenize", "align"])
def test_an_option_left_out_records_the_dataclass_default(name, files, tiny_llm_dir, tmp_path):
    """Run with only the options that keep it fast; every other config-backed option must end
    in the written file's ``config`` as the dataclass's default (not a value of the CLI's)."""
    if name == "tokenize":
        given = {"epochs": "1"}
        args = [files / "data.h5", "--priors", files / "priors.h5", "--split", "xsub"]
    else:
        given = {"llm": tiny_llm_dir, "epochs": "1", "queries": "2", "width": "16", "heads": "2",
                 "lora_r": "2"}  # fmt: skip
        args = [files / "tokens.h5", "--priors", files / "apriors.h5"]
    for key, value in given.items():
        args += [f"--{key.replace('_', '-')}", value]
    out = tmp_path / "out.h5"
    r = CliRunner().invoke(sugar, [str(a) for a in [name, *args, "-o", out]])
    assert r.exit_code == 0, r.output
    config = _recorded(out)
    command = importlib.import_module(f"sugar_cli.commands.{name}").cli
    left_out = [p for p in command.params if hasattr(p, "sugar_field") and p.name not in given]
    assert len(left_out) >= 7, [p.name for p in left_out]
    for param in left_out:
        cls, dotted = param.sugar_field
        field, stored = cls(), config
        for part in dotted.split("."):
            field, stored = getattr(field, part), stored[part]
        assert stored == json.loads(json.dumps(field, default=str)), (param.name, stored, field)
