"""The order training samples are drawn in: a plain shuffle, or class-balanced batches.

    shuffle    a seeded permutation of the training part (every sample once per epoch)
    balanced   every class equally often per epoch (a class's members cycled in seeded
               permutations: minority classes repeat, majority classes are sub-sampled),
               laid out round-robin over the classes, so each batch holds every class in
               near-equal numbers
    auto       balanced when the training part is small (< ``schedule.SMALL_SET`` samples)
               or imbalanced (largest class > ``IMBALANCE`` x the smallest), else shuffle

Small sets are where a batch can miss whole classes and where a majority class drags a
contrastive or cross-entropy objective toward answering it (issue 21).
"""

from __future__ import annotations

import numpy as np

from sugar_core.errors import ConfigError
from sugar_core.schedule import SMALL_SET

SAMPLERS = ("auto", "shuffle", "balanced")
IMBALANCE = 1.5


def check_sampler(kind: str) -> str:
    if kind not in SAMPLERS:
        raise ConfigError(f"sampler {kind!r}; expected one of {', '.join(SAMPLERS)}")
    return kind


def resolve(kind: str, labels: np.ndarray) -> str:
    """``shuffle`` or ``balanced``: the concrete sampler ``kind`` stands for on ``labels``."""
    check_sampler(kind)
    if kind != "auto":
        return kind
    counts = np.bincount(np.asarray(labels, dtype=np.int64))
    counts = counts[counts > 0]
    if len(counts) < 2:
        return "shuffle"
    small = len(labels) < SMALL_SET
    return "balanced" if small or counts.max() > IMBALANCE * counts.min() else "shuffle"


def balanced_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N,) positions into ``labels`` (N,): each class about N / K times, round-robin."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    k, n = len(classes), len(labels)
    per = -(-n // k)  # slots per class
    columns = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        laps = -(-per // len(members))
        columns.append(np.concatenate([rng.permutation(members) for _ in range(laps)])[:per])
    grid = np.stack(columns)  # (K, per)
    rounds = [grid[rng.permutation(k), r] for r in range(per)]
    return np.concatenate(rounds)[:n]
