"""Calibrated rank scores: the LLM's own preference for some class names, measured and removed.

Rank decoding sums a candidate's token log-probabilities, so a short name, or one the LLM
likes regardless of the action tokens, wins more often than it should (on NW-UCLA, "doffing"
absorbed "donning" one way only). Two corrections, alone or together:

    length   each candidate's sum divided by its number of tokens
    null     minus the candidate's score for a *null* input: the action tokens of one token
             equal to the training tokens' mean (what the model says when it sees nothing
             in particular), i.e. a pointwise-mutual-information score

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


def apply(scores: np.ndarray, kind: str, lengths: np.ndarray, null: np.ndarray | None):
    """Calibrated scores (N, K) from raw summed log-probabilities ``scores`` (N, K);
    ``lengths`` (K,) tokens per candidate, ``null`` (K,) the null input's raw scores."""
    check(kind)
    out = np.asarray(scores, dtype=np.float64)
    if "null" in kind:
        if null is None:
            raise ValueError("null calibration needs the null input's scores")
        out = out - np.asarray(null, dtype=np.float64)[None, :]
    if "length" in kind:
        out = out / np.maximum(np.asarray(lengths, dtype=np.float64), 1.0)[None, :]
    return out


def prior_share(null: np.ndarray) -> np.ndarray:
    """(K,) softmax of the null input's scores: how much each class wins with no evidence."""
    z = np.asarray(null, dtype=np.float64)
    z = np.exp(z - z.max())
    return z / z.sum()


def choose(scores: np.ndarray, labels: np.ndarray, lengths, null) -> tuple[str, dict]:
    """The calibration with the best top-1 on validation ``scores`` (N, K) with true list
    positions ``labels`` (N,); ties go to the simpler one (CALIBRATIONS order). Returns the
    choice and every candidate's top-1."""
    top1 = {}
    for kind in CALIBRATIONS:
        if "null" in kind and null is None:
            continue
        pred = apply(scores, kind, lengths, null).argmax(1)
        top1[kind] = float((pred == np.asarray(labels)).mean()) if len(labels) else 0.0
    best = max(top1, key=lambda k: (top1[k], -CALIBRATIONS.index(k)))
    return best, top1
