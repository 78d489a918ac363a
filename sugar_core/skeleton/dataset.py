"""The in-memory skeleton set every reader produces, and its lossless HDF5 form (kind skeletons).

A ``Sample`` holds one sequence as ``joints`` (M, T, V, C) float32 with its own body count M and
length T. A ``SkeletonSet`` holds samples plus what they share: class names, the joint layout
and named splits. On disk, frames of all samples are concatenated (sum T, M_max, V, C) with
offsets, so variable lengths and body counts survive the round trip exactly. ``SkeletonWriter``
writes that form sample by sample (an import streams through it); ``write_skeletons`` writes an
in-memory set through it.
"""

from __future__ import annotations

import json
import os
from array import array
from collections import Counter
from dataclasses import dataclass, field

import h5py
import numpy as np

from sugar_core import guards, schema
from sugar_core.errors import SchemaError
from sugar_core.skeleton.layouts import get_layout
from sugar_core.skeleton.skeleton_file import read_frames, read_header, sample_joints

TRAIN, TEST, UNUSED = 1, 0, -1


@dataclass
class Sample:
    joints: np.ndarray  # (M, T, V, C) float32
    label: int  # 0-based
    sample_id: str
    meta: dict[str, int] = field(default_factory=dict)  # subject / view / camera / setup / ...

    @property
    def length(self) -> int:
        return int(self.joints.shape[1])

    @property
    def bodies(self) -> int:
        return int(self.joints.shape[0])


@dataclass
class SkeletonSet:
    samples: list[Sample]
    class_names: list[str]
    layout: str
    splits: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (N,) int8
    source: str = ""  # reader name

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> np.ndarray:
        return np.array([s.label for s in self.samples], dtype=np.int64)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([s.length for s in self.samples], dtype=np.int64)

    @property
    def sample_ids(self) -> list[str]:
        return [s.sample_id for s in self.samples]

    def meta_array(self, key: str) -> np.ndarray:
        return np.array([s.meta.get(key, -1) for s in self.samples], dtype=np.int64)

    def split_indices(self, split: str, part: str) -> np.ndarray:
        """Indices of the ``part`` ('train' | 'test') of a named split."""
        if split not in self.splits:
            raise SchemaError(
                f"no split {split!r} in this data; available: {', '.join(self.splits) or 'none'}"
            )
        code = {"train": TRAIN, "test": TEST}[part]
        return np.flatnonzero(self.splits[split] == code)

    def subset(self, idx) -> SkeletonSet:
        idx = np.asarray(idx, dtype=np.int64)
        return SkeletonSet(
            samples=[self.samples[i] for i in idx],
            class_names=list(self.class_names),
            layout=self.layout,
            splits={k: v[idx] for k, v in self.splits.items()},
            source=self.source,
        )

    def check(self) -> None:
        """Assert the invariants every reader must meet."""
        v = get_layout(self.layout).num_joints
        k = len(self.class_names)
        for s in self.samples:
            assert s.joints.ndim == 4 and s.joints.shape[2] == v, (
                f"{s.sample_id}: joints shape {s.joints.shape}, expected (M, T, {v}, C)"
            )
            assert s.joints.dtype == np.float32, f"{s.sample_id}: dtype {s.joints.dtype}"
            assert 0 <= s.label < k, f"{s.sample_id}: label {s.label} outside 0..{k - 1}"
        for name, arr in self.splits.items():
            assert arr.shape == (len(self.samples),), f"split {name}: shape {arr.shape}"

    def summary(self) -> dict:
        """Counts per class and split, length statistics, layout: what `sugar data info` shows."""
        lengths = self.lengths
        per_class = Counter(int(x) for x in self.labels)
        splits = {}
        for name, arr in self.splits.items():
            splits[name] = {
                "train": int((arr == TRAIN).sum()),
                "test": int((arr == TEST).sum()),
                "unused": int((arr == UNUSED).sum()),
            }
        channels = int(self.samples[0].joints.shape[-1]) if self.samples else 0
        return {
            "kind": "skeletons",
            "n": len(self.samples),
            "layout": self.layout,
            "channels": channels,
            "max_bodies": max((s.bodies for s in self.samples), default=0),
            "classes": [
                {"id": i, "name": n, "count": per_class.get(i, 0)}
                for i, n in enumerate(self.class_names)
            ],
            "splits": splits,
            "lengths": {
                "min": int(lengths.min()) if len(lengths) else 0,
                "median": float(np.median(lengths)) if len(lengths) else 0.0,
                "mean": float(lengths.mean()) if len(lengths) else 0.0,
                "max": int(lengths.max()) if len(lengths) else 0,
            },
            "source": self.source,
        }


# ---------------------------------------------------------------------------------------------
# HDF5

BATCH_FRAMES = 8192  # frames a writer gathers before one HDF5 write (NTU, 2 bodies: ~5 MB)
CHUNK_BYTES = 1 << 16  # aim of one joints chunk (one body column): a sample reads a few of them


class SkeletonWriter:
    """Writes a skeletons file sample by sample, in memory flat in the number of samples.

    ``append`` takes one sample's joints (M, T, V, C) at a time and holds at most one batch
    (``batch_frames`` frames, overshot by the last sample's length) before writing it to the
    resizable ``joints`` dataset; of each written sample only its length and body count stay.
    ``finish`` then writes the per-sample arrays of the assembled set (offsets, lengths, bodies,
    labels, ids, meta, splits: small) and the layout; the caller owns the file (``schema.create``
    makes the write atomic).

    Bodies M: the largest body count is known only after the last sample, so ``joints`` widens
    instead: it is resizable in M too, starts at the first sample's count and grows when a
    sample brings more people; the slots earlier frames never had read back as the fill value,
    zero, as the padding of the in-memory writer did. No first pass over the inputs and no
    format maximum are needed.
    """

    def __init__(self, f: h5py.File, batch_frames: int = BATCH_FRAMES):
        self.f = f
        self.batch_frames = batch_frames
        self.pending: list[np.ndarray] = []  # joints (M, T, V, C) not written yet
        self.pending_frames = 0
        self.written = 0  # frames in ``joints``
        self.writes = 0  # HDF5 writes of joints so far (one per batch)
        self.lengths = array("q")  # T of every appended sample, in order
        self.bodies = array("q")  # M of every appended sample
        self.joints: h5py.Dataset | None = None

    def append(self, joints: np.ndarray, sample_id: str = "") -> None:
        """Queue one sample's joints (M, T, V, C) float32; write the batch once it is full."""
        m, t, v, c = joints.shape
        if self.joints is None:
            rows = 1 << max(4, (CHUNK_BYTES // (v * c * 4)).bit_length() - 1)
            self.joints = self.f.create_dataset(
                schema.JOINTS, shape=(0, m, v, c), maxshape=(None, None, v, c),
                dtype=np.float32, chunks=(rows, 1, v, c), compression="lzf", fillvalue=0.0,
            )  # fmt: skip
        elif (v, c) != self.joints.shape[2:]:
            raise SchemaError(
                f"{self.f.filename}: sample {len(self.lengths)} {sample_id!r} has joints "
                f"(M, T, V, C) {joints.shape}; earlier samples have V, C = {self.joints.shape[2:]}"
            )
        self.pending.append(joints)
        self.pending_frames += t
        self.lengths.append(t)
        self.bodies.append(m)
        if self.pending_frames >= self.batch_frames:
            self.flush()

    def flush(self) -> None:
        """Write the queued samples as one block (M widened first if one of them needs it)."""
        if not self.pending:
            return
        _, m, v, c = self.joints.shape
        m = max(m, max(j.shape[0] for j in self.pending))
        block = np.zeros((self.pending_frames, m, v, c), dtype=np.float32)  # (sum T, M, V, C)
        row = 0
        for j in self.pending:
            block[row : row + j.shape[1], : j.shape[0]] = j.transpose(1, 0, 2, 3)
            row += j.shape[1]
        end = self.written + self.pending_frames
        self.joints.resize((end, m, v, c))
        self.joints[self.written : end] = block
        self.written, self.writes = end, self.writes + 1
        self.pending, self.pending_frames = [], 0

    def finish(self, data: SkeletonSet, rows=None, config: dict | None = None) -> None:
        """Write the set-level datasets of ``data`` (its samples in file order).

        rows: for each sample of ``data``, the index of its ``append`` (default: the same
        index); a rising subset leaves the others out (their frames are moved up in place).
        config: replaces the file's ``config`` attribute (known only at the end of an import).
        """
        self.flush()
        n = len(data.samples)
        if n == 0 or self.joints is None:
            raise SchemaError(
                f"{self.f.filename}: refusing to write a skeleton file with no samples"
            )
        rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
        if len(rows) != len(self.lengths) or np.any(rows != np.arange(len(rows))):
            self._keep(rows)
        lengths, bodies = data.lengths, np.array([s.bodies for s in data.samples], np.int64)
        if not (np.array_equal(lengths, self.lengths) and np.array_equal(bodies, self.bodies)):
            raise SchemaError(f"{self.f.filename}: the samples differ from the joints written")
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        f = self.f
        if config is not None:  # encoded as schema.create encodes it
            f.attrs["config"] = json.dumps(config, sort_keys=True, default=str)
        f.attrs["layout"] = data.layout
        f.attrs["source"] = data.source
        f.create_dataset(schema.OFFSETS, data=offsets)
        f.create_dataset(schema.LENGTHS, data=lengths)
        f.create_dataset(schema.BODIES, data=bodies)
        f.create_dataset(schema.LABELS, data=data.labels)
        schema.write_strings(f, schema.CLASS_NAMES, data.class_names)
        schema.write_strings(f, schema.SAMPLE_IDS, data.sample_ids)
        meta = f.create_group(schema.META)
        for key in schema.META_FIELDS:
            meta.create_dataset(key, data=data.meta_array(key))
        sp = f.create_group(schema.SPLITS)
        for name, arr in data.splits.items():
            sp.create_dataset(name, data=np.asarray(arr, dtype=np.int8))

    def _keep(self, rows: np.ndarray) -> None:
        """Keep only the appended samples ``rows`` (rising): move their frames up, shrink."""
        if len(rows) and (
            np.any(np.diff(rows) <= 0) or rows[0] < 0 or rows[-1] >= len(self.lengths)
        ):
            raise SchemaError(f"{self.f.filename}: samples to keep must be a rising subset")
        lengths = np.asarray(self.lengths, dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        dst = 0
        for r in rows:
            src, t = int(starts[r]), int(lengths[r])
            for a in range(0, t if src != dst else 0, self.batch_frames):
                b = min(t, a + self.batch_frames)  # read before write: dst < src, moving up
                self.joints[dst + a : dst + b] = self.joints[src + a : src + b]
            dst += t
        _, _, v, c = self.joints.shape
        kept_bodies = np.asarray(self.bodies, dtype=np.int64)[rows]
        self.joints.resize((dst, int(kept_bodies.max(initial=1)), v, c))
        self.written = dst
        self.lengths, self.bodies = array("q", lengths[rows]), array("q", kept_bodies)


def write_skeletons(
    data: SkeletonSet,
    path: str | os.PathLike,
    config: dict | None = None,
    seed: int | None = None,
    inputs=(),
) -> None:
    """Write a SkeletonSet to ``path`` atomically (kind skeletons), through ``SkeletonWriter``."""
    data.check()
    if not data.samples:
        raise SchemaError(f"{path}: refusing to write a skeleton file with no samples")
    with schema.create(path, "skeletons", config=config, seed=seed, inputs=inputs) as f:
        writer = SkeletonWriter(f)
        for s in data.samples:
            writer.append(s.joints, s.sample_id)
        writer.finish(data)


def read_skeletons(path: str | os.PathLike) -> SkeletonSet:
    """Read a skeletons file back into the exact SkeletonSet that was written (all in memory;
    ``lazy_set.open_skeletons`` reads large files sample by sample instead)."""
    with schema.open_file(path, "skeletons") as f:
        head = read_header(f, path)
        joints = read_frames(f[schema.JOINTS], 0, head.shape[0], path)
        guards.require_finite(joints, f"{path}: dataset {schema.JOINTS!r}")
    samples = []
    for i in range(len(head.labels)):
        j = sample_joints(joints[head.offsets[i] : head.offsets[i + 1]], head.bodies[i])
        m = {k: int(v[i]) for k, v in head.meta.items() if v[i] >= 0}
        samples.append(Sample(j, int(head.labels[i]), str(head.sample_ids[i]), m))
    return SkeletonSet(samples, head.class_names, head.layout, head.splits, head.source)
