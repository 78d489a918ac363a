"""Combining zero-shot scorers, as pure functions of score matrices (N samples x U candidates).

- ``normalise``: per-sample (row) scores on a common scale. ``z``: (s - row mean) / row std.
  ``softmax``: row log-softmax of s / t, with t = 1 for the LLM's log-probabilities and
  ``COSINE_T`` for cosines (their range [-1, 1] would otherwise give near-uniform rows).
- ``fuse``: w * LLM + (1 - w) * baseline after normalising each; w = 1 is the LLM alone,
  w = 0 the baseline alone. With ``softmax`` the sum of log-probabilities is a weighted
  product of the two distributions.
- ``choose_weight``: the w of ``WEIGHTS`` with the best top-1 on validation scores (the
  pseudo-unseen classes, never the test ones); ties go to the w nearest 0.5 (neither alone).
- ``conse``: ConSE transfer (Norouzi et al., ICLR 2014): a sample's seen-class probabilities
  (softmax of its rank scores over the seen list), kept for the ``top`` most likely seen
  classes and renormalised, weight the seen classes' prior prototypes; the candidate scores
  are cosines between that mixture and each unseen class's prototype.
- ``rank_arrays``: (pred, top5, scores) from a score matrix, as the other predictors store them.
"""

from __future__ import annotations

import numpy as np

NORMS = ("z", "softmax")
COSINE_T = 0.05  # softmax temperature of cosine scores (our choice, CLIP-like)
WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))  # the LLM's weights tried: 0, 0.1, .. 1


def _log_softmax(s: np.ndarray) -> np.ndarray:
    z = s - s.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def normalise(scores: np.ndarray, how: str, temperature: float = 1.0) -> np.ndarray:
    """(N, U) per-row normalised ``scores`` (module docstring)."""
    s = np.asarray(scores, dtype=np.float64)
    assert s.ndim == 2, f"scores must be (N, U), got {s.shape}"
    if how == "z":
        sd = s.std(axis=1, keepdims=True)
        return (s - s.mean(axis=1, keepdims=True)) / np.where(sd > 1e-12, sd, 1.0)
    if how == "softmax":
        return _log_softmax(s / temperature)
    raise ValueError(f"unknown normalisation {how!r}; choose one of {NORMS}")


def fuse(llm: np.ndarray, cosine: np.ndarray, weight: float, how: str) -> np.ndarray:
    """(N, U) ``weight`` * normalised LLM scores + (1 - ``weight``) * normalised cosines."""
    assert np.shape(llm) == np.shape(cosine), f"LLM {np.shape(llm)} vs baseline {np.shape(cosine)}"
    assert 0.0 <= weight <= 1.0, f"fuse weight {weight} outside [0, 1]"
    a = normalise(llm, how, 1.0)
    b = normalise(cosine, how, COSINE_T if how == "softmax" else 1.0)
    return weight * a + (1.0 - weight) * b


def top1(scores: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose best column is ``labels`` (N,) (positions into the columns)."""
    labels = np.asarray(labels)
    return float((np.asarray(scores).argmax(1) == labels).mean()) if len(labels) else 0.0


def choose_weight(llm, cosine, labels, how: str) -> tuple[float, dict[str, float]]:
    """(the weight of ``WEIGHTS`` with the best validation top-1, {weight: top-1})."""
    table = {f"{w:.1f}": top1(fuse(llm, cosine, w, how), labels) for w in WEIGHTS}
    best = max(WEIGHTS, key=lambda w: (table[f"{w:.1f}"], -abs(w - 0.5), -w))
    return float(best), table


def conse(seen_scores: np.ndarray, seen_protos: np.ndarray, unseen_protos: np.ndarray, top: int):
    """(N, U) ConSE scores from seen-class rank scores (N, K_s) and unit prototypes of the
    seen (K_s, E) and unseen (U, E) classes; ``top`` seen classes kept (0 = all)."""
    p = np.exp(_log_softmax(np.asarray(seen_scores, dtype=np.float64)))  # (N, K_s)
    if 0 < top < p.shape[1]:
        cut = -np.sort(-p, axis=1)[:, top - 1 : top]  # (N, 1) the top-th largest
        p = np.where(p >= cut, p, 0.0)
    p = p / p.sum(axis=1, keepdims=True)
    mix = p @ np.asarray(seen_protos, dtype=np.float64)  # (N, E)
    mix /= np.maximum(np.linalg.norm(mix, axis=1, keepdims=True), 1e-12)
    return mix @ np.asarray(unseen_protos, dtype=np.float64).T  # (N, U)


def rank_arrays(scores: np.ndarray, candidates) -> dict[str, np.ndarray]:
    """{pred (N,), top5 (N, 5), scores (N, 5)} as class ids (-1 / NaN pad) from (N, U)."""
    s = np.asarray(scores, dtype=np.float64)
    n, u = s.shape
    order = np.argsort(-s, axis=1, kind="stable")[:, : min(5, u)]  # (N, <= 5)
    cand = np.asarray(candidates, dtype=np.int64)
    top5 = np.full((n, 5), -1, dtype=np.int64)
    val = np.full((n, 5), np.nan, dtype=np.float32)
    top5[:, : order.shape[1]] = cand[order]
    val[:, : order.shape[1]] = np.take_along_axis(s, order, axis=1)
    return {"pred": top5[:, 0].copy(), "top5": top5, "scores": val}
