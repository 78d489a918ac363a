"""A skeletons file read in parts: everything but the joints, and one sample's joints at a time.

``read_header`` reads the small datasets (offsets, bodies, labels, ids, meta, splits) and makes
every check ``read_skeletons`` makes except the finite-values one, with the same messages.
``read_frames`` reads frames of the joints dataset (a damaged chunk: a SchemaError naming the
file and frames); ``require_finite_frames`` makes the finite-values check on some frames with
the message a whole-file check gives (index into the file); ``sample_joints`` turns a sample's
frames into its (M, T, V, C) joints. ``read_skeletons`` (whole file) and ``lazy_set`` (sample
by sample) share them.
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np

from sugar_core import guards, schema
from sugar_core.errors import SchemaError
from sugar_core.skeleton.layouts import get_layout


@dataclass
class Header:
    """A skeletons file without its joints: N samples, K classes, joints stored (sum T, M, V, C)."""

    path: str
    layout: str
    source: str
    offsets: np.ndarray  # (N + 1,) int64: frames of sample i are joints[offsets[i]:offsets[i+1]]
    bodies: np.ndarray  # (N,) int64: the sample's own M (<= the stored M)
    labels: np.ndarray  # (N,) int64, 0-based
    sample_ids: np.ndarray  # (N,) str
    class_names: list[str]  # (K,)
    meta: dict[str, np.ndarray]  # field -> (N,) int64, -1 = unknown
    splits: dict[str, np.ndarray]  # name -> (N,) int8
    shape: tuple[int, int, int, int]  # (sum T, M, V, C) of the joints dataset
    dtype: np.dtype  # of the joints dataset (float32 when sugar wrote it)

    @property
    def nbytes(self) -> int:
        """Size of the joints dataset once read, uncompressed and padded to the stored M."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def read_header(f: h5py.File, path) -> Header:
    """Everything but the joints of the open skeletons file ``f``, checked (SchemaError)."""
    n = f[schema.LABELS].shape[0]
    for name in (schema.OFFSETS, schema.LENGTHS, schema.BODIES, schema.SAMPLE_IDS):
        want = n + 1 if name == schema.OFFSETS else n
        if f[name].shape[0] != want:
            raise SchemaError(
                f"{path}: dataset {name!r} expected length {want}, found {f[name].shape[0]}"
            )
    layout = str(f.attrs.get("layout", ""))
    get_layout(layout)
    joints = f[schema.JOINTS]
    offsets = f[schema.OFFSETS][...]
    labels = f[schema.LABELS][...]
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
    return Header(
        path=str(path),
        layout=layout,
        source=str(f.attrs.get("source", "")),
        offsets=offsets,
        bodies=f[schema.BODIES][...],
        labels=labels,
        sample_ids=schema.read_strings(f, schema.SAMPLE_IDS),
        class_names=names,
        meta={k: f[schema.META][k][...] for k in f.get(schema.META, {})},
        splits={k: f[schema.SPLITS][k][...].astype(np.int8) for k in f.get(schema.SPLITS, {})},
        shape=tuple(int(d) for d in joints.shape),
        dtype=joints.dtype,
    )


def read_frames(joints: h5py.Dataset, start: int, stop: int, path) -> np.ndarray:
    """Frames ``start:stop`` of the joints dataset (T, M, V, C); SchemaError naming the file
    and the frames where HDF5 cannot read them (a damaged chunk)."""
    try:
        return joints[start:stop]
    except OSError as exc:
        raise SchemaError(
            f"{path}: dataset {schema.JOINTS!r} frames {start}..{stop} cannot be read ({exc}); "
            "the file is damaged: import or copy it again"
        ) from None


def require_finite_frames(block: np.ndarray, start: int, path) -> None:
    """SchemaError if ``block`` (frames ``start``.. of the joints dataset) holds NaN or inf,
    worded as ``guards.require_finite`` words it for the whole dataset (index into the file)."""
    found = guards.non_finite(block)
    if found is None:
        return
    _, first = found
    where = [first[0] + int(start), *first[1:]]
    text = guards.describe(found, block).rsplit(" at ", 1)[0]
    raise SchemaError(f"{path}: dataset {schema.JOINTS!r}: {text} at {where}")


def sample_joints(block: np.ndarray, bodies: int) -> np.ndarray:
    """Frames of one sample as stored (T, M_stored, V, C) -> its joints (M, T, V, C)."""
    return np.ascontiguousarray(block[:, :bodies].transpose(1, 0, 2, 3))
