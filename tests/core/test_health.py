"""The collapse and chance checks every stage runs on its validation predictions."""

from __future__ import annotations

import numpy as np

from sugar_core import health
from sugar_core.predictions import Predictions


def _labels(k: int = 10, per: int = 10) -> np.ndarray:
    return np.repeat(np.arange(k), per)  # (k * per,) balanced


def test_one_class_for_every_sample_is_a_collapse_and_near_chance():
    y = _labels()
    pred = np.full_like(y, 3)  # the run: the same class for all 100 clips
    out = health.check(pred, y, 10, "align: LLM answers", "Train longer (--epochs N).",
                       [f"c{i}" for i in range(10)])  # fmt: skip
    assert len(out) == 2
    assert "100 % of 100 predictions are 'c3'" in out[0] and "collapsed" in out[0]
    assert "near chance" in out[1] and "0.100" in out[1]
    assert all(w.startswith("align: LLM answers") and "--epochs N" in w for w in out)


def test_a_learned_read_out_raises_nothing():
    y = _labels()
    pred = y.copy()
    pred[::5] = (pred[::5] + 1) % 10  # 80 % right, answers spread like the truth
    assert health.check(pred, y, 10, "x", "y") == []


def test_a_majority_class_answered_at_its_true_share_is_no_collapse():
    y = np.r_[np.zeros(60, int), np.arange(1, 5).repeat(10)]  # class 0 is 60 % of the truth
    assert not health.collapsed(health.facts(y, y, 5))
    worse = np.zeros_like(y)
    worse[:10] = 1  # 90 % class 0 answers, above 0.5 but under 2 x its 60 %
    assert not health.collapsed(health.facts(worse, y, 5))


def test_two_classes_need_a_near_total_collapse():
    y = np.r_[np.zeros(10, int), np.ones(10, int)]
    f = health.facts(np.zeros(20, int), y, 2)
    assert health.collapsed(f) and health.near_chance(f)
    mostly = np.r_[np.zeros(10, int), np.ones(4, int), np.zeros(6, int)]  # 80 % class 0, 70 % right
    assert not health.collapsed(health.facts(mostly, y, 2))


def test_too_few_predictions_say_nothing():
    y = np.arange(5)
    assert health.check(np.zeros(5, int), y, 5, "x", "y") == []


def test_near_chance_margin_shrinks_with_more_samples():
    small, large = (
        health.facts(np.zeros(10), np.zeros(10), 10),
        health.facts(np.zeros(1000), np.zeros(1000), 10),
    )
    assert small["chance_bound"] > large["chance_bound"] >= 0.1 + health.MARGIN


def test_check_predictions_counts_the_candidates_and_names_off_list_answers():
    y = np.repeat(np.arange(4), 5)
    p = Predictions(labels=y, pred=np.full(20, -1), top5=np.full((20, 5), -1),
                    class_names=list("abcdef"), sample_ids=[str(i) for i in range(20)],
                    candidates=np.arange(4))  # fmt: skip
    out = health.check_predictions(p, "aligned")
    assert "no listed class" in out[0] and "0.250 for 4 classes" in out[1]
    assert "sugar align --epochs N" in out[0]


def test_each_file_kind_gets_its_own_advice():
    y = _labels(k=5, per=8)
    ids = [str(i) for i in range(len(y))]
    p = Predictions(labels=y, pred=np.zeros_like(y), top5=np.zeros((len(y), 5), np.int64),
                    class_names=list("abcde"), sample_ids=ids)  # fmt: skip
    fused = " ".join(health.check_predictions(p, "ensemble"))
    assert "fused sources" in fused and "--weights" in fused and "sugar align" not in fused
    assert "--align-epochs" in " ".join(health.check_predictions(p, "zeroshot"))


def test_a_read_out_far_under_a_simpler_one_lags():
    warn = health.lags(0.38, 0.85, 39, "align: LLM", "text-prior classifier", "Train longer.")
    assert len(warn) == 1 and "47 points under the text-prior classifier's 0.850" in warn[0]
    assert warn[0].endswith("Train longer.")
    assert health.lags(0.60, 0.66, 464, "x", "y", "") == []  # 6 points: within the margin
    assert health.lags(0.50, 0.70, 10, "x", "y", "") == []  # 20 points, not 2 s.e. on 10
    assert health.lags(0.50, 0.70, 200, "x", "y", "") != []  # the same gap on 200 samples
    assert health.lags(0.10, 0.90, 5, "x", "y", "") == []  # too few samples to say anything
