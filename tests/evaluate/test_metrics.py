"""Metrics on hand-made arrays with known values, the text report, and the plots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sugar_core.evaluate.metrics import OFF_LIST, compute_metrics
from sugar_core.evaluate.report import format_report

NAMES = ["wave", "clap", "kick", "jump"]


def _pad(rows):
    return np.array([list(r) + [-1] * (5 - len(r)) for r in rows], dtype=np.int64)


@pytest.fixture
def example():
    # 6 samples over classes wave(0) x3, clap(1) x2, kick(2) x1; jump(3) never occurs.
    labels = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, -1, 1, 0, 3])
    top5 = _pad([[0, 1], [0], [2, 1, 0], [1], [0, 3], [3, 1]])
    return labels, pred, top5


def test_known_values(example):
    labels, pred, top5 = example
    m = compute_metrics(labels, pred, top5, NAMES)
    assert m["n"] == 6
    assert m["top1"] == pytest.approx(3 / 6)
    # hits in top5: rows 0,1,2 (0 is third),3 ; row 4 (clap not in [0,3]) miss; row 5 miss
    assert m["top5"] == pytest.approx(4 / 6)
    # per-class recall: wave 2/3, clap 1/2, kick 0/1
    assert m["mean_class_acc"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert m["off_list_rate"] == pytest.approx(1 / 6)
    assert m["n_classes"] == 3
    assert set(m["per_class"]) == {"wave", "clap", "kick"}
    wave = m["per_class"]["wave"]
    assert wave["support"] == 3
    assert wave["recall"] == pytest.approx(2 / 3)
    assert wave["precision"] == pytest.approx(2 / 3)  # one clap predicted as wave
    assert m["per_class"]["kick"]["f1"] == 0.0
    json.dumps(m)  # JSON-ready


def test_off_list_counts_as_wrong():
    labels = np.array([1, 1])
    m = compute_metrics(labels, np.array([-1, -1]), _pad([[], []]), NAMES)
    assert m["top1"] == 0.0 and m["top5"] == 0.0
    assert m["off_list_rate"] == 1.0
    assert m["confused_pairs"] == [{"true": "clap", "pred": OFF_LIST, "count": 2, "back": 0}]
    assert m["confusion"] == [[0]] and m["confusion_off_list"] == [2]


def test_top5_counts_the_prediction_itself():
    # the generated answer is right even though the ranking missed it: top5 >= top1
    m = compute_metrics([2], [2], _pad([[0, 1, 3]]), NAMES)
    assert m["top1"] == 1.0 and m["top5"] == 1.0


def test_confusion_and_pairs(example):
    labels, pred, top5 = example
    m = compute_metrics(labels, pred, top5, NAMES)
    assert m["confusion_classes"] == ["wave", "clap", "kick"]
    # jump (3) is not evaluated: the kick->jump prediction lands in the off-list column
    assert m["confusion"] == [[2, 0, 0], [1, 1, 0], [0, 0, 0]]
    assert m["confusion_off_list"] == [1, 0, 1]
    cm = np.array(m["confusion"])
    assert (cm.sum(1) + np.array(m["confusion_off_list"]) == [3, 2, 1]).all()
    pairs = {(p["true"], p["pred"]): p["count"] for p in m["confused_pairs"]}
    assert pairs == {("wave", OFF_LIST): 1, ("clap", "wave"): 1, ("kick", "jump"): 1}


def test_candidates_extend_the_evaluated_classes(example):
    labels, pred, top5 = example
    m = compute_metrics(labels, pred, top5, NAMES, candidates=np.array([0, 1, 2, 3]))
    assert m["n_classes"] == 4
    assert m["per_class"]["jump"]["support"] == 0
    assert m["per_class"]["jump"]["precision"] == 0.0  # predicted once, never right
    assert np.array(m["confusion"]).shape == (4, 4)
    assert m["confusion_off_list"] == [1, 0, 0, 0]


def test_pairs_count_the_way_back_so_a_one_sided_bias_shows():
    names = ["donning", "doffing", "sit"]
    labels = np.array([0] * 5 + [1] * 5 + [2] * 2)
    pred = np.array([1, 1, 1, 1, 0] + [0, 1, 1, 1, 1] + [2, 1])
    m = compute_metrics(labels, pred, pred[:, None], names)
    pairs = {(p["true"], p["pred"]): (p["count"], p["back"]) for p in m["confused_pairs"]}
    assert pairs[("donning", "doffing")] == (4, 1)
    assert pairs[("doffing", "donning")] == (1, 4)
    assert pairs[("sit", "doffing")] == (1, 0)


def test_pairs_are_ranked_and_capped():
    rng = np.random.default_rng(0)
    names = [f"c{i}" for i in range(30)]
    labels = rng.integers(0, 30, 500)
    pred = (labels + rng.integers(1, 4, 500)) % 30
    m = compute_metrics(labels, pred, pred[:, None], names)
    counts = [p["count"] for p in m["confused_pairs"]]
    assert len(counts) == 10 and counts == sorted(counts, reverse=True)
    assert m["top1"] == 0.0


def test_off_list_answers_from_raw_text(example):
    labels, pred, top5 = example
    raw = ["wave", "wave", " dancing ", "clap", "wave", "jump"]
    m = compute_metrics(labels, pred, top5, NAMES, raw_text=raw)
    assert m["off_list_answers"] == [{"text": "dancing", "count": 1}]


def test_empty_is_zero_not_nan():
    m = compute_metrics(np.zeros(0, int), np.zeros(0, int), np.zeros((0, 5), int), NAMES)
    assert m["n"] == 0 and m["top1"] == 0.0 and m["per_class"] == {}


def test_bad_arrays_raise():
    with pytest.raises(AssertionError, match="pred shape"):
        compute_metrics([0, 1], [0], _pad([[0], [1]]), NAMES)
    with pytest.raises(AssertionError, match="labels span"):
        compute_metrics([7], [0], _pad([[0]]), NAMES)


def test_format_report(example):
    labels, pred, top5 = example
    m = compute_metrics(labels, pred, top5, NAMES)
    m.update(protocol="ntu60-55/5", split="xsub")
    text = format_report(m)
    assert "protocol ntu60-55/5, split xsub" in text
    assert "top-1  50.0%" in text
    assert "clap -> wave" in text
    # lowest f1 first
    assert text.index("kick") < text.index("wave  ")


# ---------------------------------------------------------------------------------------------
# plots


def _valid_png(path):
    from PIL import Image

    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        return im.format, im.size


def test_plot_confusion_png(tmp_path):
    from sugar_core.evaluate.plots import plot_confusion

    out = tmp_path / "sub" / "confusion.png"
    plot_confusion([[5, 1, 0], [2, 3, 0], [0, 0, 0]], ["a", "b", "c"], out)
    fmt, size = _valid_png(out)
    assert fmt == "PNG" and min(size) > 100
    with pytest.raises(AssertionError, match="confusion shape"):
        plot_confusion([[1, 2]], ["a", "b"], tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


@pytest.mark.parametrize("n", [1, 3, 6, 40])
def test_tsne_handles_small_n(tmp_path, n):
    from sugar_core.evaluate.plots import embed_2d, plot_tsne

    rng = np.random.default_rng(n)
    labels = np.arange(n) % 3
    feats = rng.normal(size=(n, 16)) + 3 * np.eye(16)[labels]
    xy = embed_2d(feats)
    assert xy.shape == (n, 2) and np.isfinite(xy).all()
    plot_tsne(feats, labels, ["x", "y", "z"], tmp_path / "t.png", title="t")
    assert _valid_png(tmp_path / "t.png")[0] == "PNG"


def test_tsne_is_deterministic():
    from sugar_core.evaluate.plots import embed_2d

    feats = np.random.default_rng(0).normal(size=(30, 10))
    assert np.allclose(embed_2d(feats), embed_2d(feats))


def test_separation_ranks_clustered_above_random():
    from sugar_core.evaluate.plots import separation

    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    noise = rng.normal(size=(60, 8))
    assert separation(noise + 5 * np.eye(8)[labels], labels) > separation(noise, labels) + 0.3
    assert separation(noise[:2], labels[:2]) is None
