"""The shell pipelines in examples/: run on tiny settings, every file they write has its kind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sugar_core import schema
from sugar_core.skeleton.synthetic import SYNTHETIC_CLASSES
from tests.conftest import REPO

KINDS = {
    "data.h5": "skeletons",
    "priors.h5": "priors",
    "tokens.h5": "tokens",
    "aligned.h5": "aligned",
    "zs.h5": "zeroshot",
}
# tiny encoder and bridge for the zero-shot step (its CLI takes a JSON of settings); no LoRA
# here: importing peft alone costs ~7 CPU seconds per command (LoRA is tested in tests/align/)
TINY_ZEROSHOT = {
    "tokenize": {"frames": 12, "channels": [8, 8], "strides": [2, 2], "batch_size": 8,
                 "probe": "none", "warmup_epochs": 0},
    "align": {"bridge": {"queries": 2, "chunk": 2, "width": 16, "heads": 2},
              "llm": {"lora": False, "max_description_tokens": 4}, "batch_size": 8},
}  # fmt: skip


@pytest.mark.slow  # ~45 CPU seconds: eight `sugar` processes, each importing torch
def test_synthetic_pipeline_script(tmp_path, tiny_llm_dir, tiny_bert_dir):
    (tmp_path / "zs.json").write_text(json.dumps(TINY_ZEROSHOT))
    out = tmp_path / "out"
    env = dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        PYTHON=sys.executable,
        PER_CLASS="6",
        EPOCHS="1",
        ALIGN_EPOCHS="1",
        LLM=str(tiny_llm_dir),
        TEXT_ENCODER=str(tiny_bert_dir),
        THREADS="1",
        OMP_NUM_THREADS="1",
        TOKENIZE_ARGS="--batch-size 8 --eval-every 0",
        ALIGN_ARGS="--queries 2 --chunk 2 --width 16 --heads 2 --no-lora "
        "--max-description-tokens 4 --max-new-tokens 4",
        ZEROSHOT_ARGS=f"--config {tmp_path / 'zs.json'}",
    )
    res = subprocess.run(
        ["bash", str(REPO / "examples" / "pipeline_synthetic.sh"), str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().splitlines()[-1] == str(out)
    for name, kind in KINDS.items():
        assert schema.kind_of(out / name) == kind, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["kind"] == "aligned" and metrics["split"] == "xsub"
    zs = json.loads((out / "zs-metrics.json").read_text())
    assert sorted(zs["unseen"]) == ["bowing", "kicking"] and "baseline" in zs
    answers = json.loads((out / "answers.json").read_text())
    assert len(answers) == 6 and all(a["class"] in SYNTHETIC_CLASSES for a in answers)
    assert (out / "plots" / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "sample.gif").read_bytes()[:3] == b"GIF"


def test_every_example_is_valid_bash_with_usage_notes():
    scripts = sorted((REPO / "examples").glob("*.sh"))
    assert {p.name for p in scripts} >= {"pipeline_synthetic.sh", "pipeline_nw_ucla.sh"}
    for p in scripts:
        assert subprocess.run(["bash", "-n", str(p)]).returncode == 0, p.name
        text = p.read_text()
        assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
        assert "Usage:" in text and os.access(p, os.X_OK), p.name
