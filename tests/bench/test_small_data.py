"""bench/small_data.py: the configs its runs are built from (--align-set as --set takes it)."""

from __future__ import annotations

import sys

import pytest

from sugar_core.align.config import AlignConfig
from sugar_core.errors import ConfigError
from sugar_core.tokenize.config import TokenizeConfig
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import small_data  # noqa: E402


def test_no_align_set_is_every_default_with_the_seed():
    tok, align = small_data.configs(3, "default")
    assert tok == TokenizeConfig(seed=3) and align == AlignConfig(seed=3)


def test_align_set_takes_top_level_and_dotted_keys():
    _, align = small_data.configs(
        0, "default", ["min_samples_per_class=200", "bridge.anchor=fitted"]
    )
    assert align.min_samples_per_class == 200 and align.bridge.anchor == "fitted"
    assert align.bridge.kind == AlignConfig().bridge.kind  # the rest of the section kept


def test_tiny_budget_caps_both_stages_and_keeps_the_align_set():
    tok, align = small_data.configs(0, "tiny", ["llm.max_description_tokens=4"])
    assert tok.min_steps == 20 and tok.min_epochs == 1 and align.min_steps == 4
    assert align.llm.max_description_tokens == 4  # the item wins over the budget's cap


@pytest.mark.parametrize("item", ["no_such_field=1", "bridge.anchor=sideways", "min_steps"])
def test_a_bad_align_set_is_refused_as_the_cli_refuses_it(item):
    with pytest.raises(ConfigError):
        small_data.configs(0, "default", [item])


def test_the_script_refuses_a_bad_align_set_before_any_work(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["small_data.py", "--align-set", "no_such_field=1"])
    with pytest.raises(SystemExit) as stop:
        small_data.main()
    assert stop.value.code == 2 and "no_such_field" in capsys.readouterr().err
