"""What a stage-1 run reads: its classes with their texts, and the banks of its parts.

``make_bank`` builds the bank of some samples of a set. An in-memory set's bank prepares every
sample once, up front (``bank.PreparedBank``); a lazy set's (``skeleton.lazy_set``) prepares a
sample each time a batch asks for it, from joints the set reads from the file or keeps in its
bounded cache, so a run's memory does not grow with the data. The deterministic preparation is
the same function on the same joints, so both banks give the same batches, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from sugar_core.errors import ConfigError
from sugar_core.priors.store import Priors
from sugar_core.skeleton.dataset import SkeletonSet
from sugar_core.skeleton.lazy_set import LazySkeletonSet, SkeletonFile
from sugar_core.skeleton.transforms import PrepConfig, static_prep
from sugar_core.tokenize.bank import PreparedBank, text_table

if TYPE_CHECKING:
    from sugar_core.tokenize.config import TokenizeConfig


def run_classes(data: SkeletonSet, priors: Priors, cfg: TokenizeConfig, train_classes):
    """(class ids, texts (K, P', E), mask (K, P'), class id -> row or -1) of the run."""
    k_all = len(data.class_names)
    classes = list(range(k_all)) if train_classes is None else sorted(set(train_classes))
    bad = [c for c in classes if not 0 <= c < k_all]
    if bad or not classes:
        raise ConfigError(f"train classes {bad or classes} outside 0..{k_all - 1}")
    pri = priors.select([data.class_names[c] for c in classes])
    texts, mask = text_table(pri, cfg.text_kinds)  # (K, P', E), (K, P')
    remap = np.full(k_all, -1, dtype=np.int64)
    remap[classes] = np.arange(len(classes))
    return classes, texts, mask, remap


class PreparedOnRead(Sequence):
    """Bank position p -> ``static_prep`` of file row ``rows[p]``, computed on each access."""

    def __init__(self, file: SkeletonFile, rows: np.ndarray, prep: PrepConfig, layout: str):
        self.file, self.rows, self.prep, self.layout = file, rows, prep, layout

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, p) -> np.ndarray:
        return static_prep(self.file.joints(self.rows[p]), self.prep, self.layout)


class LazyBank(PreparedBank):
    """A PreparedBank of a lazy set: items are prepared when a batch is built (see module)."""

    def __init__(self, data: LazySkeletonSet, indices: np.ndarray, prep: PrepConfig):
        self.prep = prep
        self.layout = data.layout
        self.indices = np.asarray(indices, dtype=np.int64)
        self.items = PreparedOnRead(data.file, data.rows[self.indices], prep, data.layout)


def make_bank(data: SkeletonSet, indices, prep: PrepConfig) -> PreparedBank:
    """The bank of samples ``indices`` of ``data``: prepared on read for a lazy set."""
    if isinstance(data, LazySkeletonSet):
        return LazyBank(data, indices, prep)
    return PreparedBank(data, indices, prep)
