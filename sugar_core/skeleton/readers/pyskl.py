"""PYSKL / MMAction2 skeleton annotation pickles, loaded without running foreign code.

Layout of the pickle (PYSKL's data format)::

    {"split": {"xsub_train": [frame_dir, ...], "xsub_val": [...], ...},
     "annotations": [{"frame_dir": str, "label": int, "keypoint": (M, T, V, C),
                      "keypoint_score": (M, T, V) optional, "total_frames": T, ...}, ...]}

A bare list of annotations is accepted too. 2D key points with scores become C = 3
(x, y, score), as PYSKL feeds them to GCNs. Split names ``<name>_train`` / ``<name>_val`` (or
``_test``) become split ``<name>``; bare ``train`` / ``val`` / ``test`` become ``default``.

Unpickling can run arbitrary code, so ``SafeUnpickler`` admits only numpy array and scalar
reconstruction and plain builtin data types; any other class is refused with an error naming the
file and the class.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np

from sugar_core.errors import ConfigError, InputFormatError
from sugar_core.skeleton.classes import NTU60, NTU120
from sugar_core.skeleton.dataset import TEST, TRAIN, UNUSED, Sample, SkeletonSet
from sugar_core.skeleton.layouts import get_layout, layout_for_joint_count
from sugar_core.skeleton.readers import ntu
from sugar_core.skeleton.readers.common import (
    Notes,
    ReadOptions,
    Skipped,
    generic_classes,
    resolve_classes,
)

_NUMPY = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # protocol-2 pickles rebuild byte strings with it
}  # fmt: skip
# data types only: builtins such as eval, exec, getattr or __import__ would run code
_BUILTINS = {
    "set",
    "frozenset",
    "complex",
    "slice",
    "range",
    "bytearray",
    "bytes",
    "str",
    "int",
    "float",
    "bool",
    "list",
    "dict",
    "tuple",
}
SPLIT_KEY = re.compile(r"^(?:(.+)_)?(train|val|test)$")


class SafeUnpickler(pickle.Unpickler):
    """An Unpickler that admits numpy arrays / scalars and builtin data types, nothing else."""

    def __init__(self, fh, path: str | Path):
        super().__init__(fh)
        self.path = path

    def find_class(self, module: str, name: str):
        if (module, name) in _NUMPY or (module == "builtins" and name in _BUILTINS):
            return super().find_class(module, name)
        raise InputFormatError(
            self.path,
            f"refusing to unpickle {module}.{name}: only numpy arrays and plain "
            "Python data are allowed (loading other classes can run code)",
        )


def load_pickle(path: Path):
    try:
        with open(path, "rb") as fh:
            return SafeUnpickler(fh, path).load()
    except InputFormatError:
        raise
    except OSError as exc:
        raise InputFormatError(path, f"cannot read ({exc.strerror})") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as exc:
        raise InputFormatError(
            path, f"not a readable pickle ({exc.__class__.__name__}: {str(exc)[:60]})"
        ) from None


def read(path: Path, fmt: str, opts: ReadOptions, notes: Notes):
    """(SkeletonSet, skipped annotations) of one annotation pickle."""
    obj = load_pickle(path)
    if isinstance(obj, list):
        annotations, split = obj, {}
    elif isinstance(obj, dict):
        if "annotations" not in obj:
            raise InputFormatError(path, f"missing key 'annotations' (found {sorted(obj)[:6]})")
        annotations, split = obj["annotations"], obj.get("split") or {}
    else:
        raise InputFormatError(path, f"expected a dict with 'annotations', found {type(obj)}")
    if not isinstance(annotations, list) or not isinstance(split, dict):
        raise InputFormatError(path, "'annotations' must be a list and 'split' a dict")

    samples, skipped = [], []
    for i, ann in enumerate(annotations):
        try:
            samples.append(_sample(ann, i, path))
        except InputFormatError as exc:
            if not opts.skip_bad:
                raise
            skipped.append(Skipped.from_error(exc))
    if not samples:
        raise InputFormatError(path, f"none of the {len(annotations)} annotations could be read")
    shapes = {s.joints.shape[2:] for s in samples}
    if len(shapes) > 1:
        raise InputFormatError(path, f"annotations mix joint shapes (V, C): {sorted(shapes)}")
    v = samples[0].joints.shape[2]
    layout = opts.layout or _default_layout(v, path)
    if get_layout(layout).num_joints != v:
        raise ConfigError(
            f"--layout {layout} has {get_layout(layout).num_joints} joints, the key points have {v}"
        )
    names = _class_names(samples, opts, notes)
    splits = _splits(split, [s.sample_id for s in samples], path, notes)
    return SkeletonSet(samples, names, layout, splits, source="pyskl"), skipped


def _sample(ann, i: int, path: Path) -> Sample:
    if not isinstance(ann, dict):
        raise InputFormatError(path, f"annotation {i} is a {type(ann).__name__}, not a dict")
    for key in ("frame_dir", "label", "keypoint"):
        if key not in ann:
            raise InputFormatError(path, f"annotation {i}: missing key {key!r}")
    name = str(ann["frame_dir"])
    where = f"annotation {i} ({name})"
    kp = ann["keypoint"]
    if not isinstance(kp, np.ndarray) or kp.ndim != 4 or kp.dtype.kind not in "fiu":
        raise InputFormatError(path, f"{where}: 'keypoint' must be a numeric (M, T, V, C) array")
    joints = kp.astype(np.float32)
    score = ann.get("keypoint_score")
    if score is not None:
        if not isinstance(score, np.ndarray) or score.shape != kp.shape[:3]:
            raise InputFormatError(
                path,
                f"{where}: 'keypoint_score' shape "
                f"{getattr(score, 'shape', None)} != {kp.shape[:3]}",
            )
        if joints.shape[-1] == 2:
            joints = np.concatenate([joints, score.astype(np.float32)[..., None]], axis=-1)
    total = ann.get("total_frames")
    if total is not None and int(total) != joints.shape[1]:
        raise InputFormatError(
            path, f"{where}: total_frames {total} but 'keypoint' has {joints.shape[1]} frames"
        )
    if joints.shape[0] == 0 or joints.shape[1] == 0:
        raise InputFormatError(path, f"{where}: no bodies or no frames (shape {kp.shape})")
    try:
        label = int(ann["label"])
    except (TypeError, ValueError):
        raise InputFormatError(path, f"{where}: label {ann['label']!r} is not an integer") from None
    if label < 0:
        raise InputFormatError(path, f"{where}: negative label {label}")
    meta = ntu.parse_name(name) or {}
    meta.pop("action", None)
    if "camera" in meta:
        meta["view"] = meta["camera"]
    return Sample(np.ascontiguousarray(joints), label, name, meta)


def _default_layout(v: int, path: Path) -> str:
    layout = layout_for_joint_count(v)
    if layout is None:
        raise ConfigError(f"{path}: no default layout has {v} joints; pass --layout")
    return layout.name


def _class_names(samples: list[Sample], opts: ReadOptions, notes: Notes) -> list[str]:
    k = max(s.label for s in samples) + 1
    if opts.classes:
        names = resolve_classes(opts.classes)
        if k > len(names):
            raise ConfigError(
                f"--classes {opts.classes} has {len(names)} names, labels reach {k - 1}"
            )
        notes["class_list"] = opts.classes
        return names
    if all(ntu.parse_name(s.sample_id) for s in samples):  # NTU sample names: NTU classes
        names = list(NTU60 if k <= 60 else NTU120) if k <= 120 else generic_classes(k)
    else:
        names = generic_classes(k)
    notes["class_list"] = (
        "ntu60"
        if names == list(NTU60)
        else (
            "ntu120"
            if names == list(NTU120)
            else f"generic ({k} classes; pass --classes to name them)"
        )
    )
    return names


def _splits(split: dict, ids: list[str], path: Path, notes: Notes) -> dict[str, np.ndarray]:
    index = {name: i for i, name in enumerate(ids)}
    out: dict[str, np.ndarray] = {}
    ignored = []
    for key, members in split.items():
        m = SPLIT_KEY.match(str(key))
        if m is None or not isinstance(members, (list, tuple, np.ndarray)):
            ignored.append(str(key))
            continue
        name = m.group(1) or "default"
        arr = out.setdefault(name, np.full(len(ids), UNUSED, dtype=np.int8))
        rows = [index[str(x)] for x in members if str(x) in index]
        arr[rows] = TRAIN if m.group(2) == "train" else TEST
    if ignored:
        notes["splits_ignored"] = ignored
    return out
