"""Zero-shot scoring without the LLM: the embedding baseline, chance levels and GZSL figures.

The embedding baseline asks how far the encoder's text-space projection alone gets: each
candidate class is represented by its prototype, the mean of its prior text embeddings (every
masked-in text: motion, motion parts, visual), renormalised; a sample's scores are cosines
between its projected feature and the prototypes. Pure functions of arrays.
"""

from __future__ import annotations

import numpy as np

from sugar_core.priors.prototypes import class_prototypes, cosine_rank

__all__ = ["chance", "class_prototypes", "cosine_rank", "gzsl_baselines", "gzsl_metrics"]


def chance(num_candidates: int) -> dict:
    """Top-1 and top-5 accuracy of a uniform random guess among U candidates."""
    u = int(num_candidates)
    assert u > 0, f"no candidates ({u})"
    return {"top1": 1.0 / u, "top5": min(5, u) / u}


def _mean_class_acc(labels: np.ndarray, pred: np.ndarray, classes) -> float:
    accs = [float((pred[labels == c] == c).mean()) for c in classes if (labels == c).any()]
    return float(np.mean(accs)) if accs else 0.0


def gzsl_metrics(labels, pred, seen: list[int], unseen: list[int]) -> dict:
    """Generalised zero-shot figures: seen accuracy S, unseen accuracy U, harmonic mean H.

    S and U are mean per-class top-1 accuracies over the seen / unseen classes present in
    ``labels`` (the convention of Xian et al., CVPR 2017, which the skeleton ZSL papers follow);
    H = 2SU / (S + U). Per-sample accuracies are reported beside them.
    """
    labels = np.asarray(labels, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    is_seen = np.isin(labels, seen)
    is_unseen = np.isin(labels, unseen)
    s = _mean_class_acc(labels, pred, seen)
    u = _mean_class_acc(labels, pred, unseen)
    h = 2 * s * u / (s + u) if s + u > 0 else 0.0
    return {
        "seen": s,
        "unseen": u,
        "harmonic": h,
        "seen_samples": float((pred[is_seen] == labels[is_seen]).mean()) if is_seen.any() else 0.0,
        "unseen_samples": (
            float((pred[is_unseen] == labels[is_unseen]).mean()) if is_unseen.any() else 0.0
        ),
        "n_seen": int(is_seen.sum()),
        "n_unseen": int(is_unseen.sum()),
        # share of unseen-class samples answered with a seen class: the usual GZSL failure
        "unseen_to_seen_rate": (
            float(np.isin(pred[is_unseen], seen).mean()) if is_unseen.any() else 0.0
        ),
    }


def gzsl_baselines(projected, protos, cand, labels, seen, unseen, reference=None) -> dict:
    """GZSL figures of the embedding baseline over seen + unseen candidates: ``baseline``
    (plain cosines) and, given the model's reference features (R, E), ``baseline_reference``:
    each candidate's mean cosine over them subtracted (``prototypes.reference_offsets``), a
    calibrated stacking measured on training samples only."""
    pred, _, _ = cosine_rank(projected, protos, cand)
    out = {"baseline": gzsl_metrics(labels, pred, seen, unseen)}
    if reference is not None:
        pred, _, _ = cosine_rank(projected, protos, cand, reference=reference)
        out["baseline_reference"] = gzsl_metrics(labels, pred, seen, unseen)
    return out
