"""`sugar data info` on the files of trained models: a tokens file's encoder run and an aligned
file's model are summarised from what the files hold, and weight groups fold into one row."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from sugar_cli.commands.data import _grouped, cli
from sugar_core.tokenize.store import read_tokens
from tests.helpers.predict_model import write_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model(tmp_path_factory, tiny_llm_dir, tiny_bert_dir):
    return write_model(tmp_path_factory.mktemp("info-models"), tiny_llm_dir, tiny_bert_dir)[1]


def _info(path, *extra):
    res = CliRunner().invoke(cli, ["info", str(path), *extra])
    assert res.exit_code == 0, res.output
    return res


def test_tokens_summary_matches_the_file(model):
    desc = json.loads(_info(model / "tokens.h5", "--json").stdout)
    s = desc["summary"]
    ts = read_tokens(model / "tokens.h5")
    lengths = [len(t) for t in ts.tokens]
    assert s["n"] == len(ts) and s["classes"] == len(ts.class_names) and s["dim"] == ts.dim
    assert s["tokens_per_sample"] == {
        "min": min(lengths), "median": float(np.median(lengths)), "max": max(lengths)
    }  # fmt: skip
    with h5py.File(model / "tokens.h5") as f:
        last = json.loads(f["history"].asstr()[()])[-1]
        n_values = sum(ds.size for ds in f["encoder"].values())
    assert s["encoder"]["values"] == n_values and s["encoder"]["stream"] == "joint"
    run = s["run"]
    assert run["epochs"] == last["epoch"] and run["test_n"] == last["test_n"]
    assert run["figures"]["test_text_top1"] == last["test_text_top1"]
    assert all(k.endswith("top1") for k in run["figures"])
    assert s["train_split"] == "xsub"
    text = _info(model / "tokens.h5").stderr
    assert f"{len(ts)} samples" in text
    assert f"test_text_top1 {100 * last['test_text_top1']:.1f}" in text
    count = sum(1 for k in desc["datasets"] if k.startswith("encoder/"))
    assert count > 6 and f"encoder/ ({count} arrays)" in text
    assert "encoder/blocks" not in text  # the weights are one row, not one per tensor


def test_aligned_summary_names_the_model(model):
    desc = json.loads(_info(model / "aligned.h5", "--json").stdout)
    s = desc["summary"]
    with h5py.File(model / "aligned.h5") as f:
        config = json.loads(f["align_config"].asstr()[()])
        labels = f["labels"][...]
    md = s["model"]
    assert md["bridge"] == config["bridge"]["kind"] and md["action_tokens"] == 2
    assert md["lora"] is True and md["epochs"] == 1 and md["prompt_classes"] == s["classes"]
    assert md["bridge_values"] > 0 and s["n"] == len(labels) and s["off_list"] == 0
    text = _info(model / "aligned.h5").stderr
    assert f"bridge {md['bridge']} (2 queries" in text and f"{len(labels)} predictions" in text


def test_zeroshot_summary_shows_every_scorer(tmp_path):
    from sugar_core.predictions import Predictions, write_predictions

    labels = np.array([0, 1, 1, 0])
    top5 = np.stack([labels, 1 - labels], 1)
    metrics = {"top1": 0.5, "top5": 1.0, "n": 4, "protocol": "ru2", "baseline": {"top1": 0.75},
               "fused": {"top1": 1.0}, "llm": {"rank": {"top1": 0.5}}, "split": "xview",
               "unseen_split": "ru2", "off_list_rate": 0.25, "seconds": 3}  # fmt: skip
    p = Predictions(labels, np.array([0, 0, 1, -1]), top5, ["a", "b"], list("wxyz"),
                    metrics=metrics)  # fmt: skip
    write_predictions(p, tmp_path / "z.h5", "zeroshot")
    s = json.loads(_info(tmp_path / "z.h5", "--json").stdout)["summary"]
    assert s["off_list"] == 1 and "model" not in s
    assert s["metrics"] == {"top1": 0.5, "top5": 1.0, "n": 4, "protocol": "ru2",
                            "split": "xview", "unseen_split": "ru2", "off_list_rate": 0.25,
                            "baseline_top1": 0.75, "fused_top1": 1.0}  # fmt: skip
    text = _info(tmp_path / "z.h5").stderr
    assert "1 off the list, protocol ru2, split xview, unseen split ru2" in text
    assert "top1 50.0, top5 100.0, baseline_top1 75.0, fused_top1 100.0" in text


def test_small_groups_stay_listed_and_large_ones_fold():
    rows = _grouped(
        {
            "head/a": {"shape": [3], "dtype": "float32"},
            **{f"encoder/w{i}": {"shape": [2, 5], "dtype": "float32"} for i in range(7)},
            "labels": {"shape": [4], "dtype": "int64"},
        }
    )
    assert rows == [
        ("head/a", "(3,)", "float32"),
        ("encoder/ (7 arrays)", "70 values", "float32"),
        ("labels", "(4,)", "int64"),
    ]
