"""Seeds and spreads of the benchmark scripts (bench/_common.py, bench/new_classes_nwucla.py)."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import new_classes_nwucla  # noqa: E402
from _common import seed_list, spread  # noqa: E402


def test_seed_list_reads_commas_and_refuses_anything_else():
    assert seed_list("0,1,2") == [0, 1, 2] and seed_list("7") == [7]
    for bad in ("", "a,b", "0;1", "1.5"):
        with pytest.raises(SystemExit, match="expected whole numbers"):
            seed_list(bad)


def test_spread_is_mean_and_sample_std_and_says_one_seed():
    assert spread([0.5, 0.7, 0.9]) == "70.0 +- 20.0"
    assert spread([0.25]) == "25.0 (1 seed)"
    assert spread([None, 0.123, None, 0.125], percent=False, digits=3) == "0.124 +- 0.001"
    assert spread([]) == "-" and spread([None]) == "-"


def _run(seed: int, llm: float, base: float, base_new: float | None = None) -> dict:
    row = dict(candidates="new only", calibration="reference", chance_top1=0.5,
               llm_top1=llm, baseline_top1=base, answered_new=1.0)  # fmt: skip
    if base_new is not None:  # runs before the key lack it
        row["baseline_answered_new"] = base_new
    return {"seed": seed, "rows": [row, {**row, "calibration": "none", "llm_top1": 0.5}]}


def test_new_classes_summary_keeps_every_seed_per_row():
    rows = new_classes_nwucla.summarise([_run(0, 0.9, 0.8), _run(1, 0.7, 0.6, 0.25)])
    assert [(r["candidates"], r["calibration"]) for r in rows] == [
        ("new only", "reference"), ("new only", "none")]  # fmt: skip
    assert rows[0]["seeds"] == [0, 1] and rows[0]["llm_top1"] == [0.9, 0.7]
    assert rows[0]["baseline_top1"] == [0.8, 0.6] and rows[1]["llm_top1"] == [0.5, 0.5]
    assert spread(rows[0]["llm_top1"]) == "80.0 +- 14.1"
    assert rows[0]["baseline_answered_new"] == [None, 0.25]
    assert spread(rows[0]["baseline_answered_new"]) == "25.0 (1 seed)"
