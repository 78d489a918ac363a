"""The test part decides nothing: validation is carved from the train part only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sugar_core.errors import ConfigError
from sugar_core.skeleton.dataset import Sample, SkeletonSet
from sugar_core.skeleton.validation import carve, check_rule, resolve
from sugar_core.tokenize.config import TokenizeConfig
from sugar_core.tokenize.training import train_encoder
from tests.helpers.tokenize import tiny_priors, tiny_set


def _cfg(**kw) -> TokenizeConfig:
    base = dict(frames=8, channels=(16, 16), strides=(2, 1), epochs=3, batch_size=4,
                eval_every=1, probe="ridge", warmup_epochs=0)  # fmt: skip
    return TokenizeConfig(**{**base, **kw})


def noisy_test_part(data: SkeletonSet, split: str, seed: int = 1) -> SkeletonSet:
    """The same set with every test-part sample's joints replaced by noise."""
    rng = np.random.default_rng(seed)
    test = set(data.split_indices(split, "test").tolist())
    samples = [
        Sample(rng.normal(size=s.joints.shape).astype(np.float32), s.label, s.sample_id,
               dict(s.meta)) if i in test else s
        for i, s in enumerate(data.samples)
    ]  # fmt: skip
    return SkeletonSet(samples, list(data.class_names), data.layout, dict(data.splits), "noisy")


def _untimed(value):
    """``value`` without wall-clock figures (seconds, the schedule's measured estimate)."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if "seconds" not in k}
    return value


def _without_test(history: list[dict]) -> list[dict]:
    return [_untimed({k: v for k, v in h.items() if not k.startswith("test_")}) for h in history]


@pytest.fixture(scope="module")
def data():
    return tiny_set(n=36, k=3)


@pytest.mark.parametrize("rule", ["auto", "share:0.25"])
def test_changing_the_test_part_changes_nothing_before_the_end(data, rule):
    priors = tiny_priors(data.class_names)
    cfg = _cfg(epochs=4, patience=1, validation=rule)
    enc_a, heads_a, hist_a = train_encoder(data, priors, cfg, "xsub")
    noisy = noisy_test_part(data, "xsub")
    test = data.split_indices("xsub", "test")
    assert all(not np.array_equal(data.samples[i].joints, noisy.samples[i].joints) for i in test)
    enc_b, heads_b, hist_b = train_encoder(noisy, priors, cfg, "xsub")
    for a, b in ((enc_a, enc_b), (heads_a, heads_b)):
        for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(x, y), name
    assert _without_test(hist_a) == _without_test(hist_b)
    assert "val_text_top1" in hist_a[0]
    # the test part is read once, at the end (the noise above made it differ in every sample)
    assert [k for h in hist_a[:-1] for k in h if k.startswith("test_")] == []
    last_a, last_b = hist_a[-1], hist_b[-1]
    assert last_a["test_n"] == last_b["test_n"] == len(test)
    assert {"test_probe_top1", "test_text_top1"} <= set(last_a) & set(last_b)
    assert last_a["validation"] == resolve(rule, data, "xsub", data.split_indices("xsub", "train"))


def test_refit_retrains_on_train_and_validation_for_the_selected_epochs(data):
    priors = tiny_priors(data.class_names)
    _, _, hist = train_encoder(data, priors, _cfg(epochs=3, refit=True), "xsub")
    select = [h for h in hist if h["phase"] == "select"]
    refit = [h for h in hist if h["phase"] == "refit"]
    assert len(select) == len(refit) == 3
    assert refit[0]["n_train"] > select[0]["n_train"]  # validation samples join the training
    assert "val_text_top1" in select[-1] and "val_text_top1" not in refit[-1]
    assert hist[-1]["selected_epoch"] == 3 and "refit" in hist[-1]["validation"]
    assert "test_text_top1" in hist[-1]


def test_carve_holds_out_whole_subjects_or_a_stratified_share(data):
    train = data.split_indices("xsub", "train")
    subject = data.meta_array("subject")
    fit, val, rule = carve(data, "xsub", train, "subjects:1", seed=0)
    assert rule == "subjects:1" and len(np.unique(subject[val])) == 1
    assert not set(subject[val]) & set(subject[fit])
    assert sorted(np.concatenate([fit, val]).tolist()) == sorted(train.tolist())
    fit, val, _ = carve(data, "xsub", train, "share:0.25", seed=0)
    for c in range(3):  # every class keeps a quarter of its training samples for validation
        members = train[data.labels[train] == c]
        assert (data.labels[val] == c).sum() == round(0.25 * len(members))
    fit, val, _ = carve(data, "xsub", train, "none")
    assert len(val) == 0 and np.array_equal(fit, train)
    # seeded: the same seed, the same part; blind to anything outside the train part
    assert np.array_equal(carve(data, "xsub", train, "auto", 3)[1],
                          carve(data, "xsub", train, "auto", 3)[1])  # fmt: skip


def test_auto_picks_subjects_for_subject_splits_else_a_share(data):
    train = data.split_indices("xsub", "train")
    assert resolve("auto", data, "xsub", train).startswith("subjects:")
    assert resolve("auto", data, "xview", train).startswith("share:")


@pytest.mark.parametrize("rule", ["share:1.5", "share:x", "subjects:0", "subject:1", "half"])
def test_bad_rules_are_refused(rule):
    with pytest.raises(ConfigError, match="validation rule"):
        check_rule(rule)
    with pytest.raises(ConfigError, match="validation rule"):
        TokenizeConfig(validation=rule)


def test_too_many_subjects_is_refused(data):
    train = data.split_indices("xsub", "train")
    with pytest.raises(ConfigError, match="subjects"):
        carve(data, "xsub", train, "subjects:9")
