"""The in-memory skeleton set every reader produces, and its lossless HDF5 form (kind skeletons).

A ``Sample`` holds one sequence as ``joints`` (M, T, V, C) float32 with its own body count M and
length T. A ``SkeletonSet`` holds samples plus what they share: class names, the joint layout
and named splits. On disk, frames of all samples are concatenated (sum T, M_max, V, C) with
offsets, so variable lengths and body counts survive the round trip exactly.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from sugar_core import guards, schema
from sugar_core.errors import SchemaError
from sugar_core.skeleton.layouts import get_layout

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


def write_skeletons(
    data: SkeletonSet,
    path: str | os.PathLike,
    config: dict | None = None,
    seed: int | None = None,
    inputs=(),
) -> None:
    """Write a SkeletonSet to ``path`` atomically (kind skeletons)."""
    data.check()
    n = len(data.samples)
    if n == 0:
        raise SchemaError(f"{path}: refusing to write a skeleton file with no samples")
    m = max(s.bodies for s in data.samples)
    v = get_layout(data.layout).num_joints
    c = data.samples[0].joints.shape[-1]
    lengths = data.lengths
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    joints = np.zeros((int(offsets[-1]), m, v, c), dtype=np.float32)
    for i, s in enumerate(data.samples):
        joints[offsets[i] : offsets[i + 1], : s.bodies] = s.joints.transpose(1, 0, 2, 3)
    with schema.create(path, "skeletons", config=config, seed=seed, inputs=inputs) as f:
        f.attrs["layout"] = data.layout
        f.attrs["source"] = data.source
        f.create_dataset(schema.JOINTS, data=joints, chunks=True, compression="lzf")
        f.create_dataset(schema.OFFSETS, data=offsets)
        f.create_dataset(schema.LENGTHS, data=lengths)
        f.create_dataset(schema.BODIES, data=np.array([s.bodies for s in data.samples]))
        f.create_dataset(schema.LABELS, data=data.labels)
        schema.write_strings(f, schema.CLASS_NAMES, data.class_names)
        schema.write_strings(f, schema.SAMPLE_IDS, data.sample_ids)
        meta = f.create_group(schema.META)
        for key in schema.META_FIELDS:
            meta.create_dataset(key, data=data.meta_array(key))
        sp = f.create_group(schema.SPLITS)
        for name, arr in data.splits.items():
            sp.create_dataset(name, data=np.asarray(arr, dtype=np.int8))


def read_skeletons(path: str | os.PathLike) -> SkeletonSet:
    """Read a skeletons file back into the exact SkeletonSet that was written."""
    with schema.open_file(path, "skeletons") as f:
        n = f[schema.LABELS].shape[0]
        for name in (schema.OFFSETS, schema.LENGTHS, schema.BODIES, schema.SAMPLE_IDS):
            want = n + 1 if name == schema.OFFSETS else n
            if f[name].shape[0] != want:
                raise SchemaError(
                    f"{path}: dataset {name!r} expected length {want}, found {f[name].shape[0]}"
                )
        layout = str(f.attrs.get("layout", ""))
        get_layout(layout)
        joints = f[schema.JOINTS][...]
        guards.require_finite(joints, f"{path}: dataset {schema.JOINTS!r}")
        offsets = f[schema.OFFSETS][...]
        bodies = f[schema.BODIES][...]
        labels = f[schema.LABELS][...]
        ids = schema.read_strings(f, schema.SAMPLE_IDS)
        names = [str(x) for x in schema.read_strings(f, schema.CLASS_NAMES)]
        if n and (labels.min() < 0 or labels.max() >= len(names)):
            raise SchemaError(
                f"{path}: dataset {schema.LABELS!r} holds {labels.min()}..{labels.max()}, "
                f"expected 0..{len(names) - 1} ({len(names)} classes)"
            )
        if offsets[0] != 0 or np.any(np.diff(offsets) < 0):
            raise SchemaError(f"{path}: dataset {schema.OFFSETS!r} is not a rising 0-based run")
        if offsets[-1] != joints.shape[0]:
            raise SchemaError(
                f"{path}: offsets end at {offsets[-1]} but {schema.JOINTS!r} has "
                f"{joints.shape[0]} frames"
            )
        meta = {k: f[schema.META][k][...] for k in f.get(schema.META, {})}
        splits = {k: f[schema.SPLITS][k][...].astype(np.int8) for k in f.get(schema.SPLITS, {})}
        source = str(f.attrs.get("source", ""))
    samples = []
    for i in range(n):
        j = joints[offsets[i] : offsets[i + 1], : bodies[i]].transpose(1, 0, 2, 3)
        m = {k: int(v[i]) for k, v in meta.items() if v[i] >= 0}
        samples.append(Sample(np.ascontiguousarray(j), int(labels[i]), str(ids[i]), m))
    return SkeletonSet(samples, names, layout, splits, source)
