"""The fusion and ConSE arithmetic on hand-built score matrices."""

from __future__ import annotations

import numpy as np
import pytest

from sugar_core.zeroshot import fusion

LLM = np.array([[-1.0, -3.0, -2.0], [-4.0, -1.0, -1.0]])  # (N=2, U=3) log-probabilities
COS = np.array([[0.1, 0.5, 0.3], [0.2, 0.2, 0.8]])  # (2, 3) cosines


def test_z_normalises_each_row():
    z = fusion.normalise(LLM, "z")
    assert np.allclose(z.mean(1), 0) and np.allclose(z.std(1), 1)
    row = LLM[0]
    assert np.allclose(z[0], (row - row.mean()) / row.std())
    assert np.allclose(fusion.normalise(np.ones((1, 3)), "z"), 0)  # a flat row stays finite


def test_softmax_is_a_row_log_softmax_at_its_temperature():
    s = fusion.normalise(COS, "softmax", 0.05)
    assert np.allclose(np.exp(s).sum(1), 1)
    e = np.exp(COS[1] / 0.05)
    assert np.allclose(s[1], np.log(e / e.sum()))
    with pytest.raises(ValueError, match="normalisation"):
        fusion.normalise(COS, "rank")


@pytest.mark.parametrize("how", fusion.NORMS)
def test_fuse_is_the_weighted_sum_and_its_ends_are_each_scorer(how):
    t = fusion.COSINE_T if how == "softmax" else 1.0
    a, b = fusion.normalise(LLM, how), fusion.normalise(COS, how, t)
    assert np.allclose(fusion.fuse(LLM, COS, 0.3, how), 0.3 * a + 0.7 * b)
    assert (fusion.fuse(LLM, COS, 1.0, how).argmax(1) == LLM.argmax(1)).all()
    assert (fusion.fuse(LLM, COS, 0.0, how).argmax(1) == COS.argmax(1)).all()


def test_choose_weight_picks_the_best_and_breaks_ties_toward_the_middle():
    labels = np.array([0, 2])  # the LLM is right on row 0, the baseline on row 1
    w, table = fusion.choose_weight(LLM, COS, labels, "z")
    assert len(table) == 11 and table["1.0"] == 0.5 and table["0.0"] == 0.5
    assert table[f"{w:.1f}"] == max(table.values()) == 1.0
    good = [float(k) for k, v in table.items() if v == 1.0]
    assert abs(w - 0.5) == min(abs(g - 0.5) for g in good)
    w_flat, _ = fusion.choose_weight(COS, COS, np.array([1, 0]), "z")  # all tie: 0.5
    assert w_flat == 0.5


def test_conse_mixes_seen_prototypes_by_their_probabilities():
    seen = np.array([[np.log(0.7), np.log(0.2), np.log(0.1)]])  # (1, K_s=3)
    sp = np.eye(3)  # seen prototypes: unit axes
    up = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]) @ np.eye(3)  # unseen = seen axes
    mix = np.array([0.7, 0.2, 0.1]) / np.linalg.norm([0.7, 0.2, 0.1])
    assert np.allclose(fusion.conse(seen, sp, up, 0), mix[None])
    top2 = np.array([0.7, 0.2, 0.0]) / 0.9
    assert np.allclose(fusion.conse(seen, sp, up, 2), (top2 / np.linalg.norm(top2))[None])
    assert fusion.conse(seen, sp, up, 1).argmax() == 0


def test_rank_arrays_map_columns_to_class_ids():
    out = fusion.rank_arrays(COS, [7, 3, 9])
    assert out["pred"].tolist() == [3, 9]
    assert out["top5"][0].tolist() == [3, 9, 7, -1, -1]
    assert (
        np.allclose(out["scores"][1, :3], [0.8, 0.2, 0.2]) and np.isnan(out["scores"][:, 3:]).all()
    )
