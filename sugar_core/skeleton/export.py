"""Writing a SkeletonSet back out as raw files: sugar's plain ``numpy`` format (design.md).

The inverse of ``readers/arrays.py`` for format ``numpy``: ``joints`` (N, M, T, V, C) zero past
each sample's own length and body count, ``lengths``, ``labels``, ``class_names``, ``layout``,
``sample_ids``, ``subjects`` when known and one ``split_<name>`` per split. Strings are stored
as unicode arrays, so the file loads with ``allow_pickle=False``. Used by the example pipelines
and tests to hand the synthetic set to ``sugar data import --format numpy`` and ``sugar predict``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sugar_core.schema import atomic_path
from sugar_core.skeleton.dataset import SkeletonSet


def numpy_arrays(data: SkeletonSet) -> dict[str, np.ndarray]:
    """The arrays of the ``numpy`` format for ``data`` (see the module docstring)."""
    n = len(data.samples)
    assert n > 0, "no samples to write"
    m = max(s.bodies for s in data.samples)
    t = int(data.lengths.max())
    v, c = data.samples[0].joints.shape[2:]
    joints = np.zeros((n, m, t, v, c), dtype=np.float32)  # (N, M, T, V, C)
    for i, s in enumerate(data.samples):
        joints[i, : s.bodies, : s.length] = s.joints
    out = {
        "joints": joints,
        "lengths": data.lengths,
        "labels": data.labels,
        "class_names": np.array(data.class_names, dtype=str),
        "layout": np.array(data.layout, dtype=str),
        "sample_ids": np.array(data.sample_ids, dtype=str),
    }
    subjects = data.meta_array("subject")
    if np.all(subjects >= 0):
        out["subjects"] = subjects
    for name, arr in data.splits.items():
        out[f"split_{name}"] = np.asarray(arr, dtype=np.int8)
    return out


def write_numpy(data: SkeletonSet, path: str | os.PathLike) -> Path:
    """Write ``data`` as one ``.npz`` in the ``numpy`` format, atomically; return the path."""
    path = Path(path)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a name
            np.savez_compressed(fh, **numpy_arrays(data))
    return path
