"""The embedding baseline, chance levels and GZSL figures on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from sugar_core.errors import ConfigError, SchemaError
from sugar_core.priors.prototypes import reference_offsets
from sugar_core.priors.store import Priors
from sugar_core.zeroshot.baseline import chance, class_prototypes, cosine_rank, gzsl_metrics


def _priors(emb, mask, names=None):
    k, p, _ = emb.shape
    names = names or [f"class {i}" for i in range(k)]
    texts = np.array([[f"t{i}{j}" if mask[i, j] else "" for j in range(p)] for i in range(k)])
    return Priors(names, texts.astype(object), ["motion"] * p, emb, mask, ["d"] * k)


def test_prototype_is_renormalised_mean_over_masked_texts_only():
    emb = np.zeros((2, 3, 2), dtype=np.float32)
    emb[0, 0] = [1, 0]
    emb[0, 1] = [0, 1]
    emb[0, 2] = np.nan  # masked out: must not leak in
    emb[1, :] = [0, 1]
    mask = np.array([[True, True, False], [True, True, True]])
    pr = _priors(emb, mask)
    protos = class_prototypes(pr, ["class 1", "class 0"])  # order follows the names
    np.testing.assert_allclose(protos[0], [0, 1])
    np.testing.assert_allclose(protos[1], [2**-0.5, 2**-0.5], rtol=1e-6)


def test_prototype_errors():
    emb = np.ones((2, 1, 2), dtype=np.float32)
    with pytest.raises(SchemaError, match="no text"):
        class_prototypes(_priors(emb, np.array([[True], [False]])), ["class 0", "class 1"])
    emb[1] = np.nan
    with pytest.raises(SchemaError, match="non-finite"):
        class_prototypes(_priors(emb, np.ones((2, 1), bool)), ["class 0", "class 1"])
    with pytest.raises(SchemaError, match="no entry"):
        class_prototypes(_priors(emb, np.ones((2, 1), bool)), ["nope"])


def test_cosine_rank_orders_candidates_and_pads():
    protos = np.eye(3, dtype=np.float32)  # candidates 7, 2, 5 point along x, y, z
    cand = np.array([7, 2, 5])
    x = np.array([[0.1, 3.0, 1.0], [2.0, 0.0, 0.5]], dtype=np.float32)
    pred, top, scores = cosine_rank(x, protos, cand)
    assert pred.tolist() == [2, 7]
    assert top.tolist() == [[2, 5, 7, -1, -1], [7, 5, 2, -1, -1]]
    assert np.isnan(scores[:, 3:]).all() and (np.diff(scores[:, :3], axis=1) <= 0).all()
    with pytest.raises(ConfigError, match="text space"):
        cosine_rank(np.ones((1, 4), np.float32), protos, cand)


@pytest.mark.parametrize("u, top5", [(2, 1.0), (5, 1.0), (10, 0.5), (24, 5 / 24)])
def test_chance(u, top5):
    assert chance(u) == pytest.approx({"top1": 1 / u, "top5": top5})


def test_gzsl_harmonic_mean_of_class_means():
    # seen 0 (2 samples, 1 right), seen 1 (1 right); unseen 2 (2 samples: 1 right, 1 -> seen 0)
    labels = np.array([0, 0, 1, 2, 2])
    pred = np.array([0, 1, 1, 2, 0])
    g = gzsl_metrics(labels, pred, seen=[0, 1], unseen=[2])
    assert g["seen"] == pytest.approx(0.75)  # (1/2 + 1) / 2
    assert g["unseen"] == pytest.approx(0.5)
    assert g["harmonic"] == pytest.approx(2 * 0.75 * 0.5 / 1.25)
    assert g["seen_samples"] == pytest.approx(2 / 3)
    assert g["unseen_to_seen_rate"] == pytest.approx(0.5)
    assert g["n_seen"] == 3 and g["n_unseen"] == 2
    assert gzsl_metrics(labels, np.full(5, -1), [0, 1], [2])["harmonic"] == 0.0


def test_reference_calibration_lets_a_class_far_from_training_win():
    """Each candidate's mean cosine over the reference features is subtracted: a trained class
    near every training sample stops winning inputs that resemble the new class more than
    training samples do."""
    protos = np.array([[1.0, 0.0], [0.6, 0.8]], np.float32)  # trained class, new class
    reference = np.array([[1.0, 0.1], [0.9, -0.1], [2.0, 0.0]], np.float32)  # norms vary
    sample = np.array([[0.9, 0.436]], np.float32)  # closer to the trained class by cosine
    pred, _, _ = cosine_rank(sample, protos, np.array([3, 7]))
    assert pred[0] == 3
    unit = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    offsets = (unit @ protos.T).mean(0)
    np.testing.assert_allclose(reference_offsets(reference, protos), offsets, rtol=1e-6)
    pred, top, scores = cosine_rank(sample, protos, np.array([3, 7]), reference=reference)
    assert pred[0] == 7 and list(top[0, :2]) == [7, 3]
    cos = sample @ protos.T / np.linalg.norm(sample)
    np.testing.assert_allclose(scores[0, :2], (cos - offsets)[0, [1, 0]], rtol=1e-5)
    with pytest.raises(ConfigError, match="3-d"):
        reference_offsets(np.ones((2, 3)), protos)
