"""The validation part: carved from a split's training part, so the test part decides nothing.

Every choice a run makes (early stopping, the best epoch, a read-out, a threshold) is made on
this part; the test part is read once, at the end. Rules (``rule`` strings):

    auto          subjects for subject splits (xsub, xset) when the training part has at least
                  three subjects, else a stratified share (README: "Validation")
    share:F       a stratified, seeded share F of every class's training samples (0 < F < 1)
    subjects:N    N training subjects, seeded, held out whole (cross-subject protocols)
    none          no validation part (nothing can be chosen on it)

``auto`` holds out ``ceil(0.15 x subjects)`` subjects (MSR Action3D xsub: 1 of 5; NTU-60
xsub: 3 of 20; NTU-120 xsub: 8 of 53) and otherwise a 0.15 share (NW-UCLA xview: about
150 of the 1,020 v01+v02 samples).
"""

from __future__ import annotations

import math

import numpy as np

from sugar_core.errors import ConfigError
from sugar_core.skeleton.dataset import SkeletonSet

AUTO_SHARE = 0.15  # share of samples, or of subjects, that auto holds out
SUBJECT_SPLITS = ("xsub", "xset")


def check_rule(rule: str) -> str:
    """``rule`` if it is well formed, else a ConfigError naming the forms."""
    kind, _, arg = rule.partition(":")
    ok = rule in ("auto", "none")
    if kind == "share":
        ok = _number(arg) is not None and 0.0 < float(arg) < 1.0
    elif kind == "subjects":
        ok = arg.isdigit() and int(arg) >= 1
    if not ok:
        raise ConfigError(
            f"validation rule {rule!r}; expected auto, none, share:F (0 < F < 1) or subjects:N"
        )
    return rule


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def resolve(rule: str, data: SkeletonSet, split: str, train: np.ndarray) -> str:
    """The concrete rule ``auto`` stands for on this data and split."""
    check_rule(rule)
    if rule != "auto":
        return rule
    subjects = np.unique(data.meta_array("subject")[train]) if len(train) else []
    subjects = [s for s in subjects if s >= 0]
    if split in SUBJECT_SPLITS and len(subjects) >= 3:
        return f"subjects:{math.ceil(AUTO_SHARE * len(subjects))}"
    return f"share:{AUTO_SHARE}"


def carve(
    data: SkeletonSet, split: str, train: np.ndarray, rule: str = "auto", seed: int = 0
) -> tuple[np.ndarray, np.ndarray, str]:
    """(fit, validation, concrete rule): ``train`` (indices of the split's training part) cut
    in two by ``rule``; seeded, and blind to everything outside ``train``."""
    rule = resolve(rule, data, split, train)
    train = np.asarray(train, dtype=np.int64)
    if rule == "none":
        return train, np.zeros(0, dtype=np.int64), rule
    rng = np.random.RandomState(seed)
    kind, _, arg = rule.partition(":")
    if kind == "subjects":
        subject = data.meta_array("subject")[train]
        known = np.unique(subject[subject >= 0])
        n = int(arg)
        if n >= len(known):
            raise ConfigError(
                f"validation {rule}: the training part of {split!r} has {len(known)} subjects"
            )
        held = rng.permutation(known)[:n]
        val = train[np.isin(subject, held)]
    else:
        val = stratified_share(train, data.labels[train], float(arg), rng)
    fit = np.setdiff1d(train, val)
    return fit, np.sort(val), rule


def stratified_share(idx: np.ndarray, labels: np.ndarray, share: float, rng) -> np.ndarray:
    """round(share x members) of every class's members of ``idx`` (labels aligned with idx),
    drawn by ``rng`` (a numpy RandomState), sorted."""
    held = []
    for c in np.unique(labels):
        members = idx[labels == c]
        held.extend(rng.permutation(members)[: int(round(share * len(members)))].tolist())
    return np.array(sorted(held), dtype=np.int64)
