"""Calibrated rank scores: the LLM's own preference for some class names, measured and removed.

Rank decoding sums a candidate's token log-probabilities, so a short name, or one the LLM
likes regardless of the action tokens, wins more often than it should (on NW-UCLA, "doffing"
absorbed "donning" one way only). The corrections:

    length     each candidate's sum divided by its number of tokens
    null       minus the candidate's score for a *null* input: the action tokens of one token
               equal to the training tokens' mean (what the model says when it sees nothing
               in particular), i.e. a pointwise-mutual-information score
    reference  minus the candidate's mean score over *reference* inputs: real training
               samples of the trained classes, a class-balanced draw kept with the model
               (``reference_rows``). A name that shares its opening words with a trained one
               ("pick up with two hands" after "pick up with one hand") scores high on every
               real input; a single averaged token does not show that, real samples do.
    length+null  both (null first)

``choose`` picks the one with the best top-1 on a validation part (never the test part);
``prior_share`` is the diagnostic: the softmax of the null scores, each class's share of the
LLM's attention before any evidence.
"""

from __future__ import annotations

import numpy as np

from sugar_core.align.config import CALIBRATIONS
from sugar_core.errors import ConfigError


def check(kind: str) -> str:
    if kind not in CALIBRATIONS:
        raise ConfigError(f"calibration {kind!r}; expected one of {', '.join(CALIBRATIONS)}")
    return kind


def apply(
    scores: np.ndarray,
    kind: str,
    lengths: np.ndarray,
    null: np.ndarray | None,
    reference: np.ndarray | None = None,
):
    """Calibrated scores (N, K) from raw summed log-probabilities ``scores`` (N, K);
    ``lengths`` (K,) tokens per candidate, ``null`` (K,) the null input's raw scores,
    ``reference`` (R, K) the reference inputs' raw scores (their mean is subtracted)."""
    check(kind)
    out = np.asarray(scores, dtype=np.float64)
    if reference is not None:
        reference = np.atleast_2d(np.asarray(reference, dtype=np.float64)).mean(0)  # (K,)
    for name, base in (("null", null), ("reference", reference)):
        if name in kind:
            if base is None:
                raise ValueError(f"{name} calibration needs the {name} input's scores")
            out = out - np.asarray(base, dtype=np.float64)[None, :]
    if "length" in kind:
        out = out / np.maximum(np.asarray(lengths, dtype=np.float64), 1.0)[None, :]
    return out


def prior_share(null: np.ndarray) -> np.ndarray:
    """(K,) softmax of the null input's scores: how much each class wins with no evidence."""
    z = np.asarray(null, dtype=np.float64)
    z = np.exp(z - z.max())
    return z / z.sum()


def choose(scores: np.ndarray, labels: np.ndarray, lengths, null, reference=None):
    """(choice, every candidate's top-1): the calibration with the best top-1 on validation
    ``scores`` (N, K) with true list positions ``labels`` (N,); ties go to the simpler one
    (CALIBRATIONS order); kinds whose inputs are missing (None) are skipped."""
    top1 = {}
    for kind in CALIBRATIONS:
        if ("null" in kind and null is None) or ("reference" in kind and reference is None):
            continue
        pred = apply(scores, kind, lengths, null, reference).argmax(1)
        top1[kind] = float((pred == np.asarray(labels)).mean()) if len(labels) else 0.0
    best = max(top1, key=lambda k: (top1[k], -CALIBRATIONS.index(k)))
    return best, top1


def reference_rows(labels: np.ndarray, rows: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Up to ``n`` of ``rows`` (sorted), class-balanced: a seeded shuffle of each class's rows
    (``labels`` (N,) holds every row's class), then one per class in turn until ``n``."""
    rows, labels = np.asarray(rows, dtype=np.int64), np.asarray(labels)
    if n <= 0 or len(rows) == 0:
        return rows[:0]
    rng = np.random.default_rng(seed)
    by_class = [rng.permutation(rows[labels[rows] == c]) for c in np.unique(labels[rows])]
    order = [r[i] for i in range(max(map(len, by_class))) for r in by_class if i < len(r)]
    return np.sort(np.asarray(order[:n], dtype=np.int64))


def bases(raw: dict) -> tuple:
    """(lengths, null, reference) of a ``predict_split`` ``scores_out`` dict: what ``apply``
    and ``choose`` take after the scores."""
    return raw["lengths"], raw["null"], raw.get("reference")
