"""Epochs set by the data (auto), the measured plan, and class-balanced batch orders."""

from __future__ import annotations

import numpy as np
import pytest

from sugar_core import sampling, schedule
from sugar_core.errors import ConfigError


@pytest.mark.parametrize(
    ("steps_per_epoch", "epochs", "steps"),
    [(3, 400, 1200), (8, 150, 1200), (28, 60, 1680), (1, 1200, 1200)],
)
def test_auto_takes_the_larger_of_min_epochs_and_the_steps_floor(steps_per_epoch, epochs, steps):
    plan = schedule.plan_epochs("auto", steps_per_epoch, min_epochs=60, min_steps=1200)
    assert (plan.epochs, plan.steps) == (epochs, steps)
    assert plan.rule.startswith("auto: at least")


def test_a_number_means_exactly_that_many_epochs():
    plan = schedule.plan_epochs(7, 3, min_epochs=60, min_steps=1200)
    assert (plan.epochs, plan.steps, plan.rule) == (7, 21, "epochs set")


@pytest.mark.parametrize("bad", [0, -1, "many", 2.5, True])
def test_epochs_must_be_auto_or_a_whole_number(bad):
    with pytest.raises(ConfigError, match="auto"):
        schedule.check_epochs(bad)


def test_timed_measures_the_first_steps_and_emits_one_plan_event():
    plan = schedule.Plan(epochs=2, steps_per_epoch=10, rule="epochs set")
    seen = []
    cb = schedule.timed(seen.append, "tokenize", plan)
    for done in range(1, 21):
        cb({"event": "progress", "stage": "tokenize", "part": "train", "done": done, "total": 20})
    plans = [e for e in seen if e["event"] == "plan"]
    assert len(seen) == 21 and len(plans) == 1
    assert plan.seconds_per_step is not None and plans[0]["message"].startswith("20 steps at")
    assert plan.record()["estimated_seconds"] == pytest.approx(20 * plan.seconds_per_step)


def test_balanced_order_gives_every_class_its_share_in_every_batch():
    labels = np.r_[np.zeros(40, int), np.ones(8, int), np.full(4, 2)]  # 40 / 8 / 4
    order = sampling.balanced_order(labels, np.random.default_rng(0))
    assert len(order) == len(labels)
    counts = np.bincount(labels[order], minlength=3)
    assert counts.max() - counts.min() <= 1  # 18 / 17 / 17 instead of 40 / 8 / 4
    for start in range(0, 48, 12):  # batches of 12 hold each class 4 times
        assert set(np.bincount(labels[order[start : start + 12]], minlength=3)) == {4}
    again = sampling.balanced_order(labels, np.random.default_rng(0))
    assert np.array_equal(order, again)
    assert set(order[labels[order] == 2]) == {48, 49, 50, 51}  # the minority repeats


def test_auto_sampler_is_balanced_on_small_or_imbalanced_sets_only():
    even_large = np.repeat(np.arange(10), 100)
    assert sampling.resolve("auto", even_large) == "shuffle"
    assert sampling.resolve("auto", even_large[:300]) == "balanced"  # small
    skewed = np.r_[np.zeros(600, int), np.ones(300, int)]
    assert sampling.resolve("auto", skewed) == "balanced"  # 2:1
    assert sampling.resolve("shuffle", even_large[:300]) == "shuffle"
    with pytest.raises(ConfigError, match="sampler"):
        sampling.check_sampler("random")
