"""Array files: CTR-GCN style ``.npz`` (format ``npz``) and sugar's plain format (``numpy``).

``npz``: ``x_train``, ``y_train``, ``x_test``, ``y_test``; x as (N, T, M*V*C) (CTR-GCN's NTU
files: M = 2, V = 25, C = 3) or (N, C, T, V, M); y as (N,) integers or (N, K) one-hot. Frames
padded with zeros at the end and bodies that are all zero are dropped, so each sample keeps its
own length and body count. The file's split is named from its file name (``CS`` / ``CSub`` ->
xsub, ``CV`` -> xview, ``CSet`` / ``CE`` -> xset) unless ``split_name`` says otherwise.

``numpy`` (design.md): ``joints`` (N, M, T, V, C) zero past each length, ``lengths`` (N,),
``labels`` (N,) 0-based, ``class_names`` (K,), ``layout``; optional ``sample_ids`` (N,),
``subjects`` (N,) and ``split_<name>`` (N,) with 1 train, 0 test, -1 unused.

Both are read with ``allow_pickle=False``: strings must be stored as unicode arrays.
"""

from __future__ import annotations

import math
import re
import zipfile
from pathlib import Path

import numpy as np

from sugar_core.errors import ConfigError, InputFormatError
from sugar_core.skeleton.classes import NTU60, NTU120
from sugar_core.skeleton.dataset import TEST, TRAIN, Sample, SkeletonSet
from sugar_core.skeleton.layouts import get_layout
from sugar_core.skeleton.readers.common import (
    EXPANSION,
    Notes,
    ReadOptions,
    generic_classes,
    memory_budget,
    resolve_classes,
)

_SPLIT_WORDS = [(re.compile(p, re.I), s) for p, s in (
    (r"(^|[^a-z])(csub|xsub|cs)([^a-z]|$)", "xsub"),
    (r"(^|[^a-z])(cset|xset|ce)([^a-z]|$)", "xset"),
    (r"(^|[^a-z])(cv|xview)([^a-z]|$)", "xview"),
)]  # fmt: skip


def read(path: Path, fmt: str, opts: ReadOptions, notes: Notes):
    """(SkeletonSet, []) of one array file."""
    arrays = _load(path)
    data = _read_npz(arrays, path, opts, notes) if fmt == "npz" else _read_plain(arrays, path)
    return data, []


def _load(path: Path) -> dict[str, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise InputFormatError(path, f"cannot read ({exc.strerror})") from None
    if not magic.startswith(b"PK\x03\x04"):
        kind = "a single .npy array" if magic == b"\x93NUMPY" else "not a zip file"
        raise InputFormatError(path, f"not an .npz archive ({kind})")
    _check_sizes(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise InputFormatError(
                path,
                "holds Python objects (pickled arrays); store strings as "
                "unicode arrays, e.g. np.array(names, dtype=str)",
            ) from None
        raise InputFormatError(path, f"not an .npz archive ({str(exc)[:60]})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputFormatError(path, f"not an .npz archive ({exc.__class__.__name__})") from None


def _check_sizes(path: Path) -> None:
    """Refuse, from the zip and .npy headers alone, an archive that would unpack past the
    memory budget (``common.memory_budget``) or whose arrays claim more than their members hold:
    np.load allocates what a header declares before it reads a byte."""
    budget, total = memory_budget(path), 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    method = f"compression method {info.compress_type}"
                    raise InputFormatError(path, f"{info.filename}: {method} (np.savez: 0 or 8)")
                total += info.file_size
                if total > budget:
                    raise InputFormatError(path, _too_big(budget))
                if info.filename.endswith(".npy"):
                    _check_member(path, zf, info)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, NotImplementedError) as exc:
        raise InputFormatError(path, f"not an .npz archive ({exc.__class__.__name__})") from None


def _check_member(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """The .npy header of one member must declare no more elements (a zero-length axis
    counting as one) times bytes than the member holds."""
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(version)  # fmt: skip
        if read_header is None:
            raise InputFormatError(path, f"{info.filename}: .npy version {version} not read")
        shape, _, dtype = read_header(fh)
    claimed = math.prod(max(int(d), 1) for d in shape) * max(dtype.itemsize, 1)
    if claimed > info.file_size:
        held = f"the member holds {info.file_size} bytes"
        raise InputFormatError(path, f"{info.filename}: declares shape {shape} ({dtype}); {held}")


def _too_big(budget: int) -> str:
    return (
        f"its arrays unpack to more than {budget >> 20} MiB, over {EXPANSION}x the file's "
        "size (a genuine file unpacks to far less)"
    )


def _need(arrays: dict, key: str, path: Path) -> np.ndarray:
    if key not in arrays:
        raise InputFormatError(path, f"missing array {key!r} (found {', '.join(sorted(arrays))})")
    return arrays[key]


def _trim(x: np.ndarray, length: int | None = None) -> np.ndarray:
    """(M, T, V, C) without all-zero bodies and frames after ``length`` (or trailing zeros)."""
    if length is None:
        busy = np.flatnonzero(np.any(x != 0, axis=(0, 2, 3)))
        length = int(busy[-1]) + 1 if len(busy) else 1
    x = x[:, :length]
    bodies = np.flatnonzero(np.any(x != 0, axis=(1, 2, 3)))
    return np.ascontiguousarray(x[bodies] if len(bodies) else x[:1], dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# CTR-GCN npz


def _read_npz(arrays: dict, path: Path, opts: ReadOptions, notes: Notes) -> SkeletonSet:
    parts = {
        p: (_need(arrays, f"x_{p}", path), _need(arrays, f"y_{p}", path)) for p in ("train", "test")
    }
    layout, v = None, None
    samples, roles, labels_k = [], [], 0
    for part, (x, y) in parts.items():
        if x.dtype.kind not in "fiu" or x.ndim not in (3, 5):
            raise InputFormatError(
                path,
                f"x_{part} has shape {x.shape} ({x.dtype}), expected "
                "(N, T, M*V*C) or (N, C, T, V, M) numbers",
            )
        if x.ndim == 3:
            layout = layout or opts.layout or _guess_layout(x.shape[2], path)
            v = get_layout(layout).num_joints
            if x.shape[2] % (v * 3):
                raise InputFormatError(
                    path, f"x_{part}: {x.shape[2]} values per frame is not M x {v} joints x 3"
                )
            x = x.reshape(x.shape[0], x.shape[1], -1, v, 3).transpose(0, 2, 1, 3, 4)
        else:
            x = x.transpose(0, 4, 2, 3, 1)  # (N, M, T, V, C)
            layout = layout or opts.layout or _guess_layout(x.shape[3] * 3, path)
        if get_layout(layout).num_joints != x.shape[3]:
            raise ConfigError(f"--layout {layout} does not have {x.shape[3]} joints")
        labels = _labels(y, len(x), f"y_{part}", path)
        labels_k = max(labels_k, y.shape[1] if y.ndim == 2 else int(labels.max()) + 1)
        for i in range(len(x)):
            samples.append(Sample(_trim(x[i]), int(labels[i]), f"{part}_{i:06d}", {}))
            roles.append(TRAIN if part == "train" else TEST)
    if opts.classes:
        names = resolve_classes(opts.classes)
    elif get_layout(layout).name == "ntu25" and labels_k in (60, 120):
        names = list(NTU60 if labels_k == 60 else NTU120)
    else:
        names = generic_classes(labels_k, path)
    if len(names) < labels_k:
        raise ConfigError(
            f"--classes {opts.classes} has {len(names)} names, labels need {labels_k}"
        )
    split = opts.split_name or _split_from_name(path.stem)
    notes["split"] = split
    return SkeletonSet(samples, names, layout, {split: np.array(roles, dtype=np.int8)}, "npz")


def _guess_layout(values_per_frame: int, path: Path) -> str:
    for layout, per_body in (("ntu25", 75), ("kinect20", 60)):
        if values_per_frame % per_body == 0:
            return layout
    raise ConfigError(
        f"{path}: cannot tell the joint layout from {values_per_frame} values "
        "per frame; pass --layout"
    )


def _labels(y: np.ndarray, n: int, key: str, path: Path) -> np.ndarray:
    if y.shape[0] != n:
        raise InputFormatError(path, f"{key} has {y.shape[0]} rows, the x array has {n}")
    if y.ndim == 2:
        y = y.argmax(axis=1)
    if y.ndim != 1 or y.dtype.kind not in "fiu" or np.any(y != np.round(y)) or np.any(y < 0):
        raise InputFormatError(path, f"{key} must hold class indices (N,) or one-hot (N, K)")
    return y.astype(np.int64)


def _split_from_name(stem: str) -> str:
    for pattern, split in _SPLIT_WORDS:
        if pattern.search(stem):
            return split
    return "default"


# ---------------------------------------------------------------------------------------------
# sugar's plain format


def _read_plain(arrays: dict, path: Path) -> SkeletonSet:
    joints = _need(arrays, "joints", path)
    lengths = _need(arrays, "lengths", path)
    labels = _need(arrays, "labels", path)
    names = [str(x) for x in np.atleast_1d(_need(arrays, "class_names", path))]
    layout = str(_need(arrays, "layout", path))
    if joints.ndim != 5 or joints.dtype.kind not in "fiu":
        raise InputFormatError(
            path,
            f"'joints' has shape {joints.shape} ({joints.dtype}), expected numbers (N, M, T, V, C)",
        )
    n, _, t, v, _ = joints.shape
    try:
        if get_layout(layout).num_joints != v:
            raise InputFormatError(
                path,
                f"layout {layout} has {get_layout(layout).num_joints} joints, 'joints' has {v}",
            )
    except ConfigError as exc:
        raise InputFormatError(path, str(exc)) from None
    for key, arr in (("lengths", lengths), ("labels", labels)):
        if arr.shape != (n,) or arr.dtype.kind not in "iu":
            raise InputFormatError(
                path, f"{key!r} has shape {arr.shape} ({arr.dtype}), expected ({n},) integers"
            )
    if np.any(lengths < 1) or np.any(lengths > t):
        i = int(np.flatnonzero((lengths < 1) | (lengths > t))[0])
        raise InputFormatError(path, f"sample {i}: length {lengths[i]} outside 1..{t}")
    if np.any(labels < 0) or np.any(labels >= len(names)):
        i = int(np.flatnonzero((labels < 0) | (labels >= len(names)))[0])
        raise InputFormatError(path, f"sample {i}: label {labels[i]} outside 0..{len(names) - 1}")
    ids = [str(x) for x in arrays.get("sample_ids", [f"{i:06d}" for i in range(n)])]
    subjects = arrays.get("subjects")
    extra = {"sample_ids": len(ids)} | ({"subjects": len(subjects)} if subjects is not None else {})
    for key, size in extra.items():
        if size != n:
            raise InputFormatError(path, f"{key!r} has {size} entries, expected {n}")
    splits = {}
    for key in sorted(k for k in arrays if k.startswith("split_")):
        arr = arrays[key]
        if arr.shape != (n,) or not np.all(np.isin(arr, (-1, 0, 1))):
            raise InputFormatError(path, f"{key!r} must be ({n},) with 1 train, 0 test, -1 unused")
        splits[key.removeprefix("split_")] = arr.astype(np.int8)
    samples = []
    for i in range(n):
        meta = {"subject": int(subjects[i])} if subjects is not None else {}
        samples.append(Sample(_trim(joints[i], int(lengths[i])), int(labels[i]), ids[i], meta))
    return SkeletonSet(samples, names, layout, splits, source="numpy")
