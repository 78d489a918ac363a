"""What a sugar file holds, without loading its big arrays (what `sugar data info` shows).

Every kind: its root attributes and the shape / dtype of each dataset. Skeleton files also get
counts per class and split, length and body statistics and the layout, computed from the small
per-sample datasets only, so a multi-GB NTU file is described in well under a second.
"""

from __future__ import annotations

import os
from collections import Counter

import h5py
import numpy as np

from sugar_core import schema
from sugar_core.skeleton.dataset import TEST, TRAIN, UNUSED


def describe(path: str | os.PathLike) -> dict:
    """A JSON-ready description of any sugar file (validated on open)."""
    with schema.open_file(path) as f:
        info = {"path": str(path), **schema.root_info(f), "datasets": _datasets(f)}
        info["kind"] = info.pop("sugar_kind")
        if info["kind"] == "skeletons":
            info["summary"] = _skeleton_summary(f)
    return info


def _datasets(f: h5py.File) -> dict[str, dict]:
    out: dict[str, dict] = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            dtype = "string" if h5py.check_string_dtype(obj.dtype) else str(obj.dtype)
            out[name] = {"shape": list(obj.shape), "dtype": dtype}

    f.visititems(visit)
    return out


def _skeleton_summary(f: h5py.File) -> dict:
    labels = f[schema.LABELS][...]
    lengths = f[schema.LENGTHS][...]
    bodies = f[schema.BODIES][...]
    names = [str(x) for x in schema.read_strings(f, schema.CLASS_NAMES)]
    per_class = Counter(int(x) for x in labels)
    splits = {}
    for name, ds in f.get(schema.SPLITS, {}).items():
        arr = ds[...]
        splits[name] = {
            "train": int((arr == TRAIN).sum()),
            "test": int((arr == TEST).sum()),
            "unused": int((arr == UNUSED).sum()),
        }
    meta = {}
    for key, ds in f.get(schema.META, {}).items():
        arr = ds[...]
        known = arr[arr >= 0]
        if len(known):
            meta[key] = {"known": int(len(known)), "distinct": int(len(np.unique(known)))}
    joints = f[schema.JOINTS]
    n = len(labels)
    return {
        "n": n,
        "layout": str(f.attrs.get("layout", "")),
        "source": str(f.attrs.get("source", "")),
        "channels": int(joints.shape[-1]),
        "max_bodies": int(joints.shape[1]),
        "bodies": {str(k): int(v) for k, v in sorted(Counter(bodies.tolist()).items())},
        "classes": [
            {"id": i, "name": name, "count": per_class.get(i, 0)} for i, name in enumerate(names)
        ],
        "splits": splits,
        "lengths": {
            "min": int(lengths.min()) if n else 0,
            "median": float(np.median(lengths)) if n else 0.0,
            "mean": float(lengths.mean()) if n else 0.0,
            "max": int(lengths.max()) if n else 0,
            "frames": int(lengths.sum()),
        },
        "meta": meta,
    }
