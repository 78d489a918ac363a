"""PYSKL / MMAction2 skeleton annotation pickles, loaded without running foreign code.

Layout of the pickle (PYSKL's data format)::

    {"split": {"xsub_train": [frame_dir, ...], "xsub_val": [...], ...},
     "annotations": [{"frame_dir": str, "label": int, "keypoint": (M, T, V, C),
                      "keypoint_score": (M, T, V) optional, "total_frames": T, ...}, ...]}

A bare list of annotations is accepted too. 2D key points with scores become C = 3
(x, y, score), as PYSKL feeds them to GCNs. Split names ``<name>_train`` / ``<name>_val`` (or
``_test``) become split ``<name>``; bare ``train`` / ``val`` / ``test`` become ``default``.

Unpickling can run arbitrary code, so the pickle goes through ``safe_pickle.load_pickle``, which
admits only numpy arrays and plain builtin data and refuses anything else with an error naming
the file and the class. What the annotations unpack to is bounded by ``common.memory_budget``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from sugar_core.errors import ConfigError, InputFormatError
from sugar_core.skeleton.classes import NTU60, NTU120
from sugar_core.skeleton.dataset import TEST, TRAIN, UNUSED, Sample, SkeletonSet
from sugar_core.skeleton.layouts import get_layout, layout_for_joint_count
from sugar_core.skeleton.readers import ntu
from sugar_core.skeleton.readers.common import (
    EXPANSION,
    Notes,
    ReadOptions,
    Skipped,
    generic_classes,
    memory_budget,
    resolve_classes,
)
from sugar_core.skeleton.readers.safe_pickle import load_pickle

SPLIT_KEY = re.compile(r"^(?:(.+)_)?(train|val|test)$")


def read(path: Path, fmt: str, opts: ReadOptions, notes: Notes):
    """(SkeletonSet, skipped annotations) of one annotation pickle."""
    obj = load_pickle(path)
    if isinstance(obj, list):
        annotations, split = obj, {}
    elif isinstance(obj, dict):
        if "annotations" not in obj:
            found = sorted(str(k)[:40] for k in list(obj)[:6])
            raise InputFormatError(path, f"missing key 'annotations' (found {found})")
        annotations, split = obj["annotations"], obj.get("split") or {}
    else:
        raise InputFormatError(path, f"expected a dict with 'annotations', found {type(obj)}")
    if not isinstance(annotations, list) or not isinstance(split, dict):
        raise InputFormatError(path, "'annotations' must be a list and 'split' a dict")

    samples, skipped = [], []
    budget, used = memory_budget(path), 0  # repeated references could multiply one array
    for i, ann in enumerate(annotations):
        try:
            samples.append(_sample(ann, i, path))
        except InputFormatError as exc:
            if not opts.skip_bad:
                raise
            skipped.append(Skipped.from_error(exc))
            continue
        used += samples[-1].joints.nbytes
        if used > budget:
            raise InputFormatError(
                path, f"annotations up to {i} unpack to more than {budget >> 20} MiB, over "
                f"{EXPANSION}x the file's size (the same arrays referenced again and again?)",
            )  # fmt: skip
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
    names = _class_names(samples, opts, notes, path)
    splits = _splits(split, [s.sample_id for s in samples], path, notes)
    return SkeletonSet(samples, names, layout, splits, source="pyskl"), skipped


def _sample(ann, i: int, path: Path) -> Sample:
    if not isinstance(ann, dict):
        raise InputFormatError(path, f"annotation {i} is a {type(ann).__name__}, not a dict")
    for key in ("frame_dir", "label", "keypoint"):
        if key not in ann:
            raise InputFormatError(path, f"annotation {i}: missing key {key!r}")
    name = ann["frame_dir"]
    if not isinstance(name, (str, int)):
        raise InputFormatError(path, f"annotation {i}: 'frame_dir' is a {type(name).__name__}")
    name = str(name)
    where = f"annotation {i} ({name})"
    kp = ann["keypoint"]
    if not isinstance(kp, np.ndarray) or kp.ndim != 4 or kp.dtype.kind not in "fiu":
        raise InputFormatError(path, f"{where}: 'keypoint' must be a numeric (M, T, V, C) array")
    with np.errstate(over="ignore"):  # past float32 range: inf, refused by readers/checks.py
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
    if total is not None and _whole(total, f"{where}: total_frames", path) != joints.shape[1]:
        raise InputFormatError(
            path, f"{where}: total_frames {total} but 'keypoint' has {joints.shape[1]} frames"
        )
    if joints.shape[0] == 0 or joints.shape[1] == 0:
        raise InputFormatError(path, f"{where}: no bodies or no frames (shape {kp.shape})")
    label = _whole(ann["label"], f"{where}: label", path)
    if label < 0:
        raise InputFormatError(path, f"{where}: negative label {label}")
    meta = ntu.parse_name(name) or {}
    meta.pop("action", None)
    if "camera" in meta:
        meta["view"] = meta["camera"]
    return Sample(np.ascontiguousarray(joints), label, name, meta)


def _whole(value, what: str, path: Path) -> int:
    """An int from an integer or a whole float (as some converters write labels); else an
    InputFormatError naming ``what``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and value == int(value):
        return int(value)
    shown = repr(value)[:40] if isinstance(value, (str, float, np.floating)) else type(value)
    raise InputFormatError(path, f"{what} {shown} is not an integer")


def _default_layout(v: int, path: Path) -> str:
    layout = layout_for_joint_count(v)
    if layout is None:
        raise ConfigError(f"{path}: no default layout has {v} joints; pass --layout")
    return layout.name


def _class_names(samples: list[Sample], opts: ReadOptions, notes: Notes, path) -> list[str]:
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
        names = list(NTU60 if k <= 60 else NTU120) if k <= 120 else generic_classes(k, path)
    else:
        names = generic_classes(k, path)
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
        named = (str(x) for x in members if isinstance(x, (str, int, np.integer)))
        rows = [index[x] for x in named if x in index]
        arr[rows] = TRAIN if m.group(2) == "train" else TEST
    if ignored:
        notes["splits_ignored"] = ignored
    return out
