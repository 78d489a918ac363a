"""Northwestern-UCLA in the JSON form distributed with CTR-GCN (``all_sqe``).

One file per sequence, ``aAA_sSS_eEE_vVV.json``::

    {"file_name": "a01_s01_e00_v01", "skeletons": [T][20][3], "label": 1..10}

Joints are Kinect v1 SDK order (layout ``kinect20``), one body. The standard protocol is
cross-view: views 1 and 2 train, view 3 tests (split ``xview``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from sugar_core.errors import InputFormatError
from sugar_core.skeleton.classes import NW_UCLA
from sugar_core.skeleton.dataset import TEST, TRAIN, UNUSED, Sample, SkeletonSet
from sugar_core.skeleton.readers.common import Notes, ReadOptions, list_files
from sugar_core.skeleton.readers.text import parse_decimals

SUFFIX = ".json"
WHAT = "NW-UCLA JSON"
V = 20
NAME = re.compile(r"^a(\d\d)_s(\d\d)_e(\d\d)_v(\d\d)$")
# original action id -> 1-based label (ids 7 and 10 do not occur)
ACTION_TO_LABEL = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 8: 7, 9: 8, 11: 9, 12: 10}
XVIEW_TRAIN_VIEWS = (1, 2)


def list_inputs(src: Path, opts: ReadOptions, notes: Notes) -> list[Path]:
    return list_files(src, SUFFIX, WHAT)


def parse(path: Path, opts: ReadOptions, strict: bool) -> Sample:
    """One JSON sequence as a Sample (1, T, 20, 3); label from the ``label`` field."""
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise InputFormatError(path, f"cannot read ({exc.strerror})") from None
    fast = _parse_fast(buf)
    doc, joints = fast if fast is not None else _parse_careful(buf, path)
    label = doc["label"]
    if not isinstance(label, int) or isinstance(label, bool) or not 1 <= label <= len(NW_UCLA):
        raise InputFormatError(path, f"'label' is {label!r}, expected an integer 1..{len(NW_UCLA)}")

    name = str(doc.get("file_name") or path.stem)
    m = NAME.match(name) or NAME.match(path.stem)
    meta: dict[str, int] = {}
    if m is not None:
        action, subject, rep, view = (int(g) for g in m.groups())
        if ACTION_TO_LABEL.get(action) != label:
            raise InputFormatError(
                path, f"'label' {label} disagrees with action a{action:02d} in the file name"
            )
        meta = {"subject": subject, "repetition": rep, "view": view, "camera": view}
    elif strict:
        raise InputFormatError(path, "file name is not an NW-UCLA name (aAA_sSS_eEE_vVV.json)")
    return Sample(joints[None], label - 1, path.stem, meta)


def _parse_careful(buf: bytes, path: Path) -> tuple[dict, np.ndarray]:
    try:
        doc = json.loads(buf)
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, f"not valid JSON ({exc.msg})", exc.lineno) from None
    except UnicodeDecodeError:
        raise InputFormatError(path, "not a JSON text file (undecodable bytes)") from None
    except RecursionError:
        raise InputFormatError(path, "not an NW-UCLA file (JSON nested too deeply)") from None
    if not isinstance(doc, dict):
        raise InputFormatError(path, f"expected a JSON object, found {type(doc).__name__}")
    for key in ("skeletons", "label"):
        if key not in doc:
            raise InputFormatError(
                path, f"missing key {key!r} (expected file_name, skeletons, label)"
            )
    try:
        with np.errstate(over="ignore"):  # past float32 range: inf, refused below
            joints = np.asarray(doc["skeletons"], dtype=np.float32)
    except (ValueError, TypeError):
        raise InputFormatError(
            path, "'skeletons' is not a T x 20 x 3 array of numbers (ragged, or text in it)"
        ) from None
    if joints.ndim != 3 or joints.shape[1:] != (V, 3) or joints.shape[0] == 0:
        raise InputFormatError(path, f"'skeletons' has shape {joints.shape}, expected (T, {V}, 3)")
    if not np.isfinite(joints).all():
        raise InputFormatError(path, "'skeletons' holds a value that is not a finite number")
    return doc, joints


def _parse_fast(buf: bytes) -> tuple[dict, np.ndarray] | None:
    """Cut the ``skeletons`` array out of the text and parse its numbers at once; the small rest
    goes through ``json``. None if anything differs from a clean (T, 20, 3) file."""
    key = buf.find(b'"skeletons"')
    p = buf.find(b"[", key)
    if key < 0 or p < 0 or buf[key + 11 : p].strip() != b":":
        return None
    a = np.frombuffer(buf, dtype=np.uint8)
    region = a[p:]
    depth = np.cumsum((region == 91).astype(np.int8) - (region == 93))  # '[' +1, ']' -1
    closed = np.flatnonzero(depth == 0)
    if len(closed) == 0:
        return None
    end = p + int(closed[0]) + 1  # one past the matching ']'
    region = a[p:end]
    punct = (region == 91) | (region == 93) | (region == 44)  # [ ] ,
    sep = punct | (region == 32) | (region == 10) | (region == 13) | (region == 9)
    edges = np.diff(sep.view(np.int8))
    starts = p + 1 + np.flatnonzero(edges == -1)
    ends = p + 1 + np.flatnonzero(edges == 1)
    frames, rest = divmod(len(starts), V * 3)
    if rest or frames == 0 or len(ends) != len(starts):
        return None
    frame = b"[" + b",".join([b"[,,]"] * V) + b"]"
    if region[punct].tobytes() != b"[" + b",".join([frame] * frames) + b"]":
        return None  # not exactly T lists of 20 lists of 3 numbers
    values = parse_decimals(buf, starts, ends)
    if values is None:
        return None
    try:
        doc = json.loads(buf[:p] + b"null" + buf[end:])
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(doc, dict) or "label" not in doc or doc.get("skeletons", 0) is not None:
        return None
    return doc, values.astype(np.float32).reshape(frames, V, 3)


def assemble(samples: list[Sample], opts: ReadOptions, notes: Notes) -> SkeletonSet:
    views = np.array([s.meta.get("view", -1) for s in samples])
    xview = np.where(np.isin(views, XVIEW_TRAIN_VIEWS), TRAIN, np.where(views > 0, TEST, UNUSED))
    return SkeletonSet(
        samples, list(NW_UCLA), "kinect20", {"xview": xview.astype(np.int8)}, source="nw-ucla"
    )
