"""bench/zeroshot.py: the alignment settings its runs are built from (--align-set)."""

from __future__ import annotations

import argparse
import sys

import pytest

from sugar_core.errors import ConfigError
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import zeroshot  # noqa: E402


def _args(*align_set: str) -> argparse.Namespace:
    return argparse.Namespace(
        align_epochs=3, seed=2, precision="fp32", max_description_tokens=8,
        knowledge="description", prompt="list-first", list_sampling=True,
        align_set=list(align_set),
    )  # fmt: skip


def test_the_flags_reach_the_alignment_config():
    cfg = zeroshot._align_config(_args())
    assert (cfg.epochs, cfg.seed, cfg.list_sampling) == (3, 2, True)
    assert cfg.llm.knowledge == "description" and cfg.llm.prompt == "list-first"
    assert cfg.bridge.anchor == "auto"  # the default; zero-shot resolves auto to none


def test_align_set_adds_dotted_keys_and_keeps_the_flags():
    cfg = zeroshot._align_config(_args("bridge.anchor=fitted", "llm.max_description_tokens=4"))
    assert cfg.bridge.anchor == "fitted" and cfg.llm.max_description_tokens == 4
    assert cfg.llm.knowledge == "description" and cfg.epochs == 3


@pytest.mark.parametrize("item", ["bridge.anchor=sideways", "nope=1", "epochs"])
def test_a_bad_align_set_is_refused(item):
    with pytest.raises(ConfigError):
        zeroshot._align_config(_args(item))


def test_the_script_refuses_a_bad_align_set_before_any_work(capsys):
    with pytest.raises(SystemExit) as stop:
        zeroshot.main(["--align-set", "bridge.anchor=sideways", "--workdir", "/nonexistent/x"])
    assert stop.value.code == 2 and "sideways" in capsys.readouterr().err
