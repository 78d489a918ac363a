"""Unseen classes decide nothing before the final scoring: other unseen samples and other
unseen priors give the same seen-only encoder and alignment, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sugar_core.skeleton.dataset import Sample, SkeletonSet
from sugar_core.zeroshot.protocol import run_zeroshot
from sugar_core.zeroshot.splits import UnseenSplit
from tests.helpers.zeroshot import tiny_config, tiny_data, tiny_priors

UNSEEN = (1, 4)
SPLIT = UnseenSplit("tiny-u2", "", UNSEEN, "user")
TIMING = ("seconds", "train_seconds_this_run")

pytestmark = pytest.mark.usefixtures("one_thread")


def _other_unseen(data: SkeletonSet, seed: int = 5) -> SkeletonSet:
    rng = np.random.default_rng(seed)
    samples = [
        Sample(rng.normal(size=s.joints.shape).astype(np.float32), s.label, s.sample_id,
               dict(s.meta)) if s.label in UNSEEN else s
        for s in data.samples
    ]  # fmt: skip
    return SkeletonSet(samples, list(data.class_names), data.layout, dict(data.splits), "other")


def _history(h: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in TIMING} for e in h]


def test_unseen_samples_and_priors_change_nothing_before_scoring(tiny_llm_dir):
    cfg = tiny_config(tiny_llm_dir, decodes=("rank",), baseline=False)
    priors_b = tiny_priors()
    priors_b.embeddings[list(UNSEEN)] = np.random.default_rng(3).normal(
        size=priors_b.embeddings[list(UNSEEN)].shape
    )
    priors_b.descriptions[1] = "a person does something else entirely."
    a = run_zeroshot(tiny_data(), tiny_priors(), SPLIT, cfg)
    b = run_zeroshot(_other_unseen(tiny_data()), priors_b, SPLIT, cfg)
    for name, w in a.tokens.encoder_state.items():
        assert torch.equal(w, b.tokens.encoder_state[name]), name
    pa = dict(a.model.bridge.named_parameters())
    for name, w in b.model.bridge.named_parameters():
        assert torch.equal(pa[name], w), name
    assert _history(a.tokens.history) == _history(b.tokens.history)
    assert _history(a.model.history) == _history(b.model.history)
    # the final scoring did read them: the unseen samples' tokens differ
    idx = [i for i, y in enumerate(a.tokens.labels) if y in UNSEEN]
    assert any(not np.array_equal(a.tokens.tokens[i], b.tokens.tokens[i]) for i in idx)


def test_new_options_choose_from_seen_classes_only(tiny_llm_dir):
    """List sampling, knowledge in the prompt, pseudo-unseen choices, fusion and ConSE: the
    unseen classes' samples and priors still change nothing before the final scoring, the
    choices made on the pseudo-unseen classes included."""
    from tests.zeroshot.test_options import options

    cfg = options(tiny_llm_dir)
    priors_b = tiny_priors()
    rng = np.random.default_rng(4)
    priors_b.embeddings[list(UNSEEN)] = rng.normal(size=priors_b.embeddings[list(UNSEEN)].shape)
    priors_b.descriptions[1] = "a person does something else entirely."
    priors_b.texts[4, 0] = "a different motion sentence."
    a = run_zeroshot(tiny_data(), tiny_priors(), SPLIT, cfg)
    b = run_zeroshot(_other_unseen(tiny_data()), priors_b, SPLIT, cfg)
    pa = dict(a.model.bridge.named_parameters())
    for name, w in b.model.bridge.named_parameters():
        assert torch.equal(pa[name], w), name
    assert a.model.llm.trainable_state().keys() == b.model.llm.trainable_state().keys()
    for name, w in a.model.llm.trainable_state().items():
        assert torch.equal(w, b.model.llm.trainable_state()[name]), name
    assert _history(a.model.history) == _history(b.model.history)
    assert a.model.class_notes == b.model.class_notes
    assert a.metrics["pseudo_unseen"] == b.metrics["pseudo_unseen"]  # same choices, same figures
    # the final scoring did read the unseen priors: the baseline's cosines differ
    assert not np.allclose(a.arrays["baseline"]["scores"], b.arrays["baseline"]["scores"])
