"""bench/step_memory.py: one training step's peak memory per batch size, in fresh processes."""

from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import step_memory  # noqa: E402


def test_bigger_batches_hold_more_and_the_slope_is_written(tmp_path, capsys):
    out = step_memory.main(["--layout", "kinect20", "--bodies", "1", "--frames", "16",
                            "--batches", "2", "48", "--threads", "1",
                            "--json", str(tmp_path / "m.json")])  # fmt: skip
    small, big = out["rows"]
    assert small["batch"] == 2 and big["batch"] == 48
    assert big["step_mb"] - big["base_mb"] > small["step_mb"] - small["base_mb"] > 0
    assert out["mb_per_clip"] > 0
    assert json.loads((tmp_path / "m.json").read_text())["rows"] == out["rows"]
    assert "MB per clip" in capsys.readouterr().out


def test_a_failing_step_names_the_batch_and_a_bad_batch_is_refused():
    with pytest.raises(SystemExit, match="batch 2: the step failed"):
        step_memory.main(["--layout", "no-such-layout", "--batches", "2", "--threads", "1"])
    with pytest.raises(SystemExit, match="at least 1"):
        step_memory.main(["--batches", "0"])
