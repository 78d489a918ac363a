"""Description faithfulness: nearest-prior shares, by hand and through `sugar eval --priors`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from sugar_cli.commands.eval import cli
from sugar_core.errors import ConfigError
from sugar_core.evaluate.faithfulness import faithfulness, nearest_classes, shares
from sugar_core.predictions import Predictions, write_predictions
from sugar_core.priors.store import Priors, write_priors
from sugar_core.schema import input_record
from tests.helpers.encoders import save_tiny_bert

NAMES = ["drink water", "sit down", "throw", "carry box"]
TEXTS = [
    "a person lifts a cup with one hand",
    "a person bends leg and hip , sit down",
    "a person throws the ball with arm",
    "a person walks , carry the box with two hands",
]


def _priors(encoder) -> Priors:
    emb = encoder.encode(TEXTS)[:, None, :]  # (K, 1, D)
    return Priors(
        class_names=list(NAMES),
        texts=np.array(TEXTS, dtype=object)[:, None],
        text_kinds=["motion"],
        embeddings=emb,
        mask=np.ones((4, 1), dtype=bool),
        descriptions=list(TEXTS),
        encoder_id=encoder.id,
    )


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    from sugar_core.priors.encoders import load_text_encoder

    return load_text_encoder(str(save_tiny_bert(tmp_path_factory.mktemp("bert"))))


def test_nearest_and_shares_by_hand():
    protos = np.eye(3, dtype=np.float32)
    emb = np.array([[0.9, 0.1, 0], [0, 0.2, 0.8], [0.1, 0.7, 0.1]], dtype=np.float32)
    near = nearest_classes(emb, protos)
    assert near.tolist() == [0, 2, 1]
    out = shares(near, named=np.array([0, 2, 0]), labels=np.array([1, 2, 1]))
    assert out == {"n_described": 3, "named": pytest.approx(2 / 3), "true": pytest.approx(2 / 3)}
    assert shares(near[:0], near[:0], near[:0])["named"] is None
    with pytest.raises(ConfigError, match="8-d"):
        nearest_classes(np.zeros((1, 8), np.float32), protos)


def test_faithfulness_counts_named_and_true(encoder):
    pri = _priors(encoder)
    # sample i describes class desc[i], answers pred[i], is truly labels[i]
    desc_cls = [0, 1, 2, 3, 0, 1]
    pred = np.array([0, 1, 2, 0, 0, -1])
    labels = np.array([0, 1, 3, 3, 2, 1])
    descriptions = [TEXTS[c] for c in desc_cls] + [""]
    pred, labels = np.append(pred, 2), np.append(labels, 2)  # an empty description: not counted
    out = faithfulness(descriptions, pred, labels, NAMES, pri, encoder)
    assert out["n_described"] == 6
    assert out["named"] == pytest.approx(4 / 6)  # samples 0, 1, 2, 4 (off-list never matches)
    assert out["true"] == pytest.approx(4 / 6)  # samples 0, 1, 3, 5
    assert out["encoder"] == encoder.id


def test_faithfulness_refuses_another_encoder(encoder):
    pri = _priors(encoder)
    pri.encoder_id = "minilm@0000"
    with pytest.raises(ConfigError, match="same encoder"):
        faithfulness([TEXTS[0]], np.array([0]), np.array([0]), NAMES, pri, encoder)


def _aligned(tmp_path, descriptions, inputs=()):
    n = len(descriptions)
    labels = np.arange(n) % 4
    p = Predictions(
        labels=labels,
        pred=labels.copy(),
        top5=np.stack([np.r_[np.roll(np.arange(4), -int(c)), -1] for c in labels]),
        class_names=list(NAMES),
        sample_ids=[f"s{i}" for i in range(n)],
        raw_text=[f"{{{NAMES[c]}}} {d}" for c, d in zip(labels, descriptions)],
        description=list(descriptions),
    )
    path = tmp_path / "aligned.h5"
    write_predictions(p, path, "aligned", inputs=inputs)
    return path


def test_eval_priors_option_and_auto(tmp_path, encoder):
    from sugar_core.evaluate.report import evaluate_file

    pri_path = tmp_path / "priors.h5"
    write_priors(_priors(encoder), pri_path)
    # answers name their true class; descriptions are right for 3 of 4 samples
    path = _aligned(tmp_path, [TEXTS[0], TEXTS[1], TEXTS[0], TEXTS[3]], input_record([pri_path]))
    res = CliRunner().invoke(cli, [str(path), "--priors", str(pri_path), "--json"])
    assert res.exit_code == 0, res.output
    f = json.loads(res.stdout)["faithfulness"]
    assert f["n_described"] == 4 and f["named"] == pytest.approx(0.75) and f["true"] == 0.75
    assert "nearest to the named class" in res.stderr
    auto = evaluate_file(path, priors="auto")["faithfulness"]
    assert auto["priors"] == str(pri_path) and auto["named"] == pytest.approx(0.75)
    assert "faithfulness" not in evaluate_file(path)  # opt-in: no text encoder loaded


def test_eval_priors_auto_without_record_and_without_descriptions(tmp_path, encoder):
    path = _aligned(tmp_path, [TEXTS[0], TEXTS[1]])
    res = CliRunner().invoke(cli, [str(path), "--priors", "auto"])
    assert res.exit_code != 0 and "give --priors" in res.output
    assert "Traceback" not in res.output
    empty = _aligned(tmp_path, ["", ""])
    res = CliRunner().invoke(cli, [str(empty), "--priors", "auto", "--json"])
    assert res.exit_code == 0, res.output
    assert "no descriptions" in " ".join(res.stderr.split())
    assert "faithfulness" not in json.loads(res.stdout)
