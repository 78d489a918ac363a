"""A skeleton set whose joints stay in the HDF5 file until a sample is used.

    data = open_skeletons("ntu120.h5")                  # lazy when the file is large
    data = open_skeletons("ucla.h5", lazy=True, cache_bytes=64 << 20)
    x = data.samples[7].joints                          # (M, T, V, C), read now (or cached)

Labels, lengths, bodies, ids, meta and splits are read when the file is opened (small); the
joints of a sample are read by its offsets the first time it is asked for, checked for finite
values as ``read_skeletons`` checks the whole file (same message), and kept in a cache bounded
in bytes that forgets the least recently used sample first. A set that fits the cache is held
whole after its first epoch and behaves as an in-memory set; one that does not costs one read
per sample per use. ``subset`` views share the file and the cache.

The HDF5 handle is opened per process, on the first read in that process: a set pickled to a
spawned worker, or inherited by a forked DataLoader worker, opens its own (h5py handles do not
survive a fork); nothing holds a module-level handle, so each ``accelerate launch`` process
reads its own shard through its own handle.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence

import h5py
import numpy as np

from sugar_core import schema
from sugar_core.errors import SchemaError
from sugar_core.skeleton.dataset import TEST, TRAIN, UNUSED, SkeletonSet, read_skeletons
from sugar_core.skeleton.layouts import get_layout
from sugar_core.skeleton.skeleton_file import (
    Header,
    read_frames,
    read_header,
    require_finite_frames,
    sample_joints,
)

DEFAULT_CACHE_BYTES = 384 << 20  # joints kept in memory: NW-UCLA / MSR fit whole, NTU does not
LAZY_ABOVE_BYTES = 256 << 20  # open_skeletons(lazy=None): lazy when the joints are this large


class ByteCache:
    """Arrays by key, least recently used forgotten first, never more than ``max_bytes``."""

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self._items: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: int) -> bool:
        return key in self._items

    def get(self, key: int) -> np.ndarray | None:
        arr = self._items.get(key)
        if arr is not None:
            self._items.move_to_end(key)
        return arr

    def put(self, key: int, arr: np.ndarray) -> None:
        """Keep ``arr``; one larger than the whole cache is not kept."""
        if key in self._items or arr.nbytes > self.max_bytes:
            return
        self._items[key] = arr
        self.nbytes += arr.nbytes
        while self.nbytes > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self.nbytes -= old.nbytes


class SkeletonFile:
    """The joints of one skeletons file, read one sample at a time through a shared cache."""

    def __init__(self, header: Header, cache_bytes: int = DEFAULT_CACHE_BYTES):
        self.header = header
        self.cache = ByteCache(cache_bytes)
        self.reads = 0  # samples read from the file (not from the cache) in this process
        self._where = os.path.abspath(header.path)  # a later chdir must not lose the file
        self._handles: dict[int, h5py.File] = {}  # pid -> handle opened by that process

    def _joints_dataset(self) -> h5py.Dataset:
        pid = os.getpid()
        if pid not in self._handles:  # first read in this process (a forked child starts here)
            try:
                self._handles[pid] = h5py.File(self._where, "r")
            except OSError as exc:  # moved or replaced since it was opened
                raise SchemaError(
                    f"{self.header.path}: cannot be read any more ({exc.__class__.__name__}); "
                    "expected the skeletons file opened at the start of the run"
                ) from None
        return self._handles[pid][schema.JOINTS]

    def joints(self, row: int) -> np.ndarray:
        """(M, T, V, C) of file row ``row``: from the cache, else read, checked and cached."""
        row = int(row)
        arr = self.cache.get(row)
        if arr is None:
            start, stop = int(self.header.offsets[row]), int(self.header.offsets[row + 1])
            block = read_frames(self._joints_dataset(), start, stop, self.header.path)
            require_finite_frames(block, start, self.header.path)
            arr = sample_joints(block, int(self.header.bodies[row]))
            arr.flags.writeable = False  # the same array may come back from the cache later
            self.reads += 1
            self.cache.put(row, arr)
        return arr

    def close(self) -> None:
        """Close the handle this process opened (others belong to their own processes)."""
        handle = self._handles.pop(os.getpid(), None)
        if handle is not None:
            handle.close()

    def __getstate__(self) -> dict:
        # a worker gets the header and an empty cache of the same size, and opens its own handle
        return {"header": self.header, "cache_bytes": self.cache.max_bytes}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["header"], state["cache_bytes"])


class LazySample:
    """One sample of a LazySkeletonSet: label, id, meta, length and bodies without a read;
    ``joints`` (M, T, V, C) float read on access (read-only when it comes from the cache)."""

    __slots__ = ("_file", "_row")

    def __init__(self, file: SkeletonFile, row: int):
        self._file, self._row = file, int(row)

    @property
    def joints(self) -> np.ndarray:
        return self._file.joints(self._row)

    @property
    def label(self) -> int:
        return int(self._file.header.labels[self._row])

    @property
    def sample_id(self) -> str:
        return str(self._file.header.sample_ids[self._row])

    @property
    def meta(self) -> dict[str, int]:
        return {
            k: int(v[self._row]) for k, v in self._file.header.meta.items() if v[self._row] >= 0
        }

    @property
    def length(self) -> int:
        offsets = self._file.header.offsets
        return int(offsets[self._row + 1] - offsets[self._row])

    @property
    def bodies(self) -> int:
        return int(self._file.header.bodies[self._row])


class LazySamples(Sequence):
    """``data.samples`` of a lazy set: position i -> LazySample (a list for a slice)."""

    def __init__(self, file: SkeletonFile, rows: np.ndarray):
        self._file, self._rows = file, rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [LazySample(self._file, r) for r in self._rows[i]]
        return LazySample(self._file, self._rows[i])

    def __iter__(self) -> Iterator[LazySample]:
        return (LazySample(self._file, r) for r in self._rows)


class LazySkeletonSet(SkeletonSet):
    """A SkeletonSet over file rows ``rows`` (N,) whose joints are read on demand.

    Everything the stages use from a SkeletonSet works alike (samples[i].joints, labels,
    lengths, sample_ids, meta_array, split_indices, subset, class_names, layout, splits,
    summary); the per-sample arrays come from the header, not from reading joints.
    """

    def __init__(self, file: SkeletonFile, rows=None, splits: dict | None = None):
        head = file.header
        self.file = file
        self.rows = np.arange(len(head.labels)) if rows is None else np.asarray(rows, np.int64)
        self.samples = LazySamples(file, self.rows)
        self.class_names = list(head.class_names)
        self.layout = head.layout
        self.splits = dict(head.splits) if splits is None else splits
        self.source = head.source

    def __len__(self) -> int:
        return len(self.rows)

    def __eq__(self, other) -> bool:
        return self is other

    __hash__ = object.__hash__

    @property
    def labels(self) -> np.ndarray:
        return self.file.header.labels[self.rows].astype(np.int64)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.file.header.offsets)[self.rows].astype(np.int64)

    @property
    def bodies(self) -> np.ndarray:
        """(N,) int64: each sample's own number of bodies."""
        return self.file.header.bodies[self.rows].astype(np.int64)

    @property
    def sample_ids(self) -> list[str]:
        return [str(x) for x in self.file.header.sample_ids[self.rows]]

    def meta_array(self, key: str) -> np.ndarray:
        values = self.file.header.meta.get(key)
        if values is None:
            return np.full(len(self.rows), -1, dtype=np.int64)
        return values[self.rows].astype(np.int64)

    def subset(self, idx) -> LazySkeletonSet:
        idx = np.asarray(idx, dtype=np.int64)
        splits = {k: v[idx] for k, v in self.splits.items()}
        return LazySkeletonSet(self.file, self.rows[idx], splits)

    def check(self) -> None:
        """The invariants of SkeletonSet.check, from the header (no joints read)."""
        head, v, k = self.file.header, get_layout(self.layout).num_joints, len(self.class_names)
        assert head.shape[2] == v, f"{head.path}: joints {head.shape}, expected (sum T, M, {v}, C)"
        labels = self.labels
        assert not len(labels) or 0 <= labels.min() <= labels.max() < k, (
            f"labels {labels.min()}..{labels.max()} outside 0..{k - 1}"
        )
        for name, arr in self.splits.items():
            assert arr.shape == (len(self.rows),), f"split {name}: shape {arr.shape}"

    def summary(self) -> dict:
        """What SkeletonSet.summary gives, from the header (no joints read)."""
        lengths, labels, n = self.lengths, self.labels, len(self.rows)
        per_class = np.bincount(labels, minlength=len(self.class_names))
        return {
            "kind": "skeletons",
            "n": n,
            "layout": self.layout,
            "channels": int(self.file.header.shape[-1]) if n else 0,
            "max_bodies": int(self.bodies.max()) if n else 0,
            "classes": [
                {"id": i, "name": name, "count": int(per_class[i])}
                for i, name in enumerate(self.class_names)
            ],
            "splits": {
                name: {part: int((arr == code).sum()) for part, code in _PARTS}
                for name, arr in self.splits.items()
            },
            "lengths": {
                "min": int(lengths.min()) if n else 0,
                "median": float(np.median(lengths)) if n else 0.0,
                "mean": float(lengths.mean()) if n else 0.0,
                "max": int(lengths.max()) if n else 0,
            },
            "source": self.source,
        }

    def close(self) -> None:
        self.file.close()


_PARTS = (("train", TRAIN), ("test", TEST), ("unused", UNUSED))


def open_skeletons(
    path: str | os.PathLike,
    lazy: bool | None = None,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
) -> SkeletonSet:
    """A skeletons file as a set: lazy (joints read per sample, cached up to ``cache_bytes``)
    or read whole (``read_skeletons``). ``lazy=None`` reads lazily when the joints take more
    than ``LAZY_ABOVE_BYTES`` uncompressed. Errors are those of ``read_skeletons``."""
    with schema.open_file(path, "skeletons") as f:
        head = read_header(f, path)
    if lazy is None:
        lazy = head.nbytes > LAZY_ABOVE_BYTES
    if not lazy:
        return read_skeletons(path)
    return LazySkeletonSet(SkeletonFile(head, cache_bytes))
