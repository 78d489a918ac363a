"""Who trains and who is tested in a zero-shot run: classes, samples, layouts, reuse checks.

``plan_classes`` turns an unseen split into seen / unseen class lists for the training data and
the test data (the same file, or another one for cross-dataset transfer, matched by class
name). ``training_indices`` and ``evaluation_indices`` pick samples; ``seen_only`` cuts the
training data down to seen classes with labels renumbered, so the training stages are handed
nothing of an unseen class, not even its name. Pure functions of sets (a lazy one stays lazy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from sugar_core.errors import ConfigError
from sugar_core.skeleton.dataset import TRAIN, Sample, SkeletonSet
from sugar_core.skeleton.layouts import joint_map
from sugar_core.skeleton.lazy_set import LazySkeletonSet, SkeletonFile
from sugar_core.zeroshot.config import EVAL_PARTS
from sugar_core.zeroshot.splits import UnseenSplit


def norm_name(name: str) -> str:
    """Class names compare ignoring case and repeated spaces."""
    return re.sub(r"\s+", " ", name.strip().lower())


@dataclass(frozen=True)
class ClassPlan:
    """Class ids on both sides of a zero-shot run."""

    seen: list[int]  # ids into the training data's class list: the only classes trained on
    unseen: list[int]  # ids into the test data's class list: evaluated zero-shot
    seen_in_test: list[int]  # ids into the test data's class list of seen classes (for GZSL)
    train_names: list[str]  # (K,) training data's class names
    test_names: list[str]  # (K_t,) test data's class names

    @property
    def seen_names(self) -> list[str]:
        return [self.train_names[i] for i in self.seen]

    @property
    def unseen_names(self) -> list[str]:
        return [self.test_names[i] for i in self.unseen]


def plan_classes(split: UnseenSplit, train_names: list[str], test_names: list[str] | None = None):
    """Seen and unseen classes for a split whose ids index ``test_names`` (default: training).

    Cross-dataset (``test_names`` given): seen = every training class whose name is not an
    unseen name, unless the split fixes its seen ids (then they index the training data).
    """
    cross = test_names is not None
    test_names = list(test_names if cross else train_names)
    split.check(len(test_names))
    unseen = list(split.unseen)
    unseen_norm = {norm_name(test_names[i]) for i in unseen}
    if not cross:
        seen = split.seen_ids(len(train_names))
    elif split.seen is not None:
        split_seen = [i for i in split.seen if i < len(train_names)]
        if len(split_seen) != len(split.seen):
            raise ConfigError(
                f"split {split.name!r} fixes seen ids up to {max(split.seen)} but the training "
                f"data has {len(train_names)} classes"
            )
        seen = split_seen
    else:
        seen = [k for k, n in enumerate(train_names) if norm_name(n) not in unseen_norm]
    leak = sorted({train_names[k] for k in seen if norm_name(train_names[k]) in unseen_norm})
    if leak:
        raise ConfigError(f"split {split.name!r}: classes {leak[:5]} would be both seen and unseen")
    if not seen:
        raise ConfigError(f"split {split.name!r} leaves no seen class to train on")
    seen_norm = {norm_name(train_names[k]) for k in seen}
    seen_in_test = [k for k, n in enumerate(test_names) if norm_name(n) in seen_norm]
    return ClassPlan(seen, unseen, seen_in_test, list(train_names), test_names)


def default_split(data: SkeletonSet, split: str, name: str = "data") -> str:
    """The data split to use: the one named, else the data's only split, else "" (no split)."""
    if split:
        if split not in data.splits:
            have = ", ".join(data.splits) or "none"
            raise ConfigError(f"{name}: no split {split!r}; available: {have}")
        return split
    if len(data.splits) == 1:
        return next(iter(data.splits))
    if not data.splits:
        return ""
    raise ConfigError(
        f"{name} has several splits ({', '.join(data.splits)}); choose one with --split"
    )


def _part(data: SkeletonSet, split: str, part: str) -> np.ndarray:
    """Boolean (N,) mask of a split's part; with no split, every sample is in every part."""
    if not split:
        return np.ones(len(data), dtype=bool)
    code = {"train": TRAIN, "test": 0}[part]
    return data.splits[split] == code


def training_indices(data: SkeletonSet, split: str, seen: list[int]) -> np.ndarray:
    """(N_tr,) samples that may train: the split's train part, seen classes only."""
    idx = np.flatnonzero(_part(data, split, "train") & np.isin(data.labels, seen))
    if len(idx) == 0:
        raise ConfigError(f"no training samples of seen classes in split {split or '(all)'!r}")
    return idx


def evaluation_indices(data: SkeletonSet, split: str, classes: list[int], part: str) -> np.ndarray:
    """(N_ev,) samples of ``classes`` to evaluate: the split's test part, or all of them.

    ``part`` "all" takes every sample of the classes (the usual ZSL protocol: unseen classes are
    never trained on, so their training-part samples are unseen too).
    """
    if part not in EVAL_PARTS:
        raise ConfigError(f"unknown evaluation part {part!r}; choose from {', '.join(EVAL_PARTS)}")
    keep = np.isin(data.labels, classes)
    if part == "test":
        keep &= _part(data, split, "test")
    return np.flatnonzero(keep)


def seen_only(data: SkeletonSet, idx: np.ndarray, seen: list[int]) -> SkeletonSet:
    """Samples ``idx`` (all of seen classes) relabelled 0..K_s-1 with only the seen names.

    A lazy set (``skeleton.lazy_set``) gives a lazy view: its joints stay in the file."""
    if isinstance(data, LazySkeletonSet):
        return _lazy_seen_only(data, idx, seen)
    remap = {k: i for i, k in enumerate(seen)}
    picked = [data.samples[i] for i in np.asarray(idx, dtype=np.int64)]
    bad = sorted({s.label for s in picked if s.label not in remap})
    assert not bad, f"classes {bad} are not seen but were picked for training"
    # new Sample objects: the caller's set keeps its own labels (arrays are shared, read-only use)
    samples = [Sample(s.joints, remap[s.label], s.sample_id, dict(s.meta)) for s in picked]
    return SkeletonSet(
        samples=samples,
        class_names=[data.class_names[k] for k in seen],
        layout=data.layout,
        splits={},
        source=data.source,
    )


def _lazy_seen_only(data: LazySkeletonSet, idx, seen: list[int]) -> LazySkeletonSet:
    """``seen_only`` of a lazy set: the file's header with the seen names and labels (other
    classes -1), over the picked rows; the joints come through the set's own cache."""
    head = data.file.header
    remap = np.full(len(head.class_names), -1, dtype=np.int64)
    remap[seen] = np.arange(len(seen))
    rows = data.rows[np.asarray(idx, dtype=np.int64)]
    bad = sorted({int(c) for c in head.labels[rows] if remap[c] < 0})
    assert not bad, f"classes {bad} are not seen but were picked for training"
    names = [head.class_names[k] for k in seen]
    file = SkeletonFile(replace(head, labels=remap[head.labels], class_names=names))
    file.cache = data.file.cache  # the same rows' joints: one cache, one bound
    return LazySkeletonSet(file, rows, splits={})


# ---------------------------------------------------------------------------------------------
# layouts


def _mappable(src: str, dst: str) -> bool:
    try:
        joint_map(src, dst)
    except ConfigError:
        return False
    return True


def shared_layout(train_layout: str, test_layout: str, fixed: bool = False) -> str:
    """The layout both sides are expressed in: the training one when the test data maps onto
    it, else the test one (training data converted before training). ``fixed``: the encoder is
    already trained, so only the training layout will do."""
    if _mappable(test_layout, train_layout):
        return train_layout
    if not fixed and _mappable(train_layout, test_layout):
        return test_layout
    raise ConfigError(
        f"cannot map {test_layout} joints onto the encoder's {train_layout} layout"
        + ("" if fixed else f" nor {train_layout} onto {test_layout}")
    )


def to_layout(data: SkeletonSet, layout: str) -> SkeletonSet:
    """The set re-expressed in another joint layout (a new set; the input is left alone)."""
    if data.layout == layout:
        return data
    idx = joint_map(data.layout, layout)
    samples = [
        Sample(np.ascontiguousarray(s.joints[:, :, idx, :]), s.label, s.sample_id, dict(s.meta))
        for s in data.samples
    ]
    out = SkeletonSet(samples, list(data.class_names), layout, dict(data.splits), data.source)
    return out


# ---------------------------------------------------------------------------------------------
# reused artifacts


def check_trained_without(
    path: str, trained_names: list[str] | None, unseen_names: list[str], what: str
) -> None:
    """Refuse an encoder / alignment that saw an unseen class (or does not say what it saw).

    trained_names: the class names it was trained on; None = all classes of its data (no
    seen-only record), which a zero-shot test cannot trust.
    """
    if trained_names is None:
        raise ConfigError(
            f"{path}: this {what} was trained on every class of its data (no seen-class record); "
            "a zero-shot test needs one trained on seen classes only: let sugar zeroshot train "
            "it and keep it with --save-tokens / --save-aligned"
        )
    unseen = {norm_name(n) for n in unseen_names}
    both = [n for n in trained_names if norm_name(n) in unseen]
    if both:
        more = f" and {len(both) - 5} more" if len(both) > 5 else ""
        raise ConfigError(
            f"{path}: this {what} was trained on unseen class(es) {both[:5]}{more}; "
            "it cannot be used to test them zero-shot"
        )
