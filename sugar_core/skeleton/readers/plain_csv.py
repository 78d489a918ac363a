"""A plain CSV of key points (format ``csv``): one file per clip, one row per key point::

    frame,person,joint,x,y,score
    0,1,left shoulder,312.5,140.2,0.93

Columns (header required, any order): ``frame`` (integer), ``person`` (an id; or empty: then a
person's rows of a frame come together, a joint listed again starts the next person, and people
are tracked by nearest neighbour), ``joint`` (0-based index, or a joint name of a sugar layout
such as ``left shoulder``), ``x``, ``y``, and optional ``z`` and ``score``. A row per key
point that was seen; frames between the first and the last with no row are empty. The layout
is ``--layout`` when given, else the smallest layout holding every joint name (coco17, coco18,
body25, mediapipe33 in 2D; coco17, kinect20, ntu25, mediapipe33 with z), else the joint count
(largest index + 1). Samples are (x, y[, z], score) with score 1
where the column is absent (see ``poses.py``).
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import numpy as np

from sugar_core.errors import InputFormatError
from sugar_core.skeleton.layouts import get_layout
from sugar_core.skeleton.readers import folders
from sugar_core.skeleton.readers.common import ReadOptions
from sugar_core.skeleton.readers.poses import BY_SHAPE, clip_joints

NAME = "csv"
WHAT = "key point CSV"
SUFFIX = ".csv"
REQUIRED = ("frame", "person", "joint", "x", "y")
_SELF = sys.modules[__name__]


def is_clip(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(SUFFIX)


def clips_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_clip(p))


def sniff(path: Path) -> bool:
    if not is_clip(path):
        return False
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            head = {h.strip().lower() for h in next(csv.reader(fh), [])}
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return set(REQUIRED) <= head


def _layout_of(names: set[str], dims: int, given: str | None, path: Path) -> tuple[str, ...] | None:
    """The joint names of the clip's layout, or None when joints are indices (no layout)."""
    if given:
        return get_layout(given).joints
    if not names:
        return None
    fits = [get_layout(n).joints for (v, d), n in sorted(BY_SHAPE.items()) if d == dims]
    joints = next((j for j in fits if names <= set(j)), None)
    if joints is None:
        raise InputFormatError(path, f"joint names {sorted(names)[:4]} fit no {dims}D layout "
                               "(coco17, coco18, body25, mediapipe33, kinect20, ntu25); pass "
                               "--layout or use 0-based indices")  # fmt: skip
    return joints


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFormatError(path, f"cannot read as UTF-8 text ({exc})") from None
    reader = csv.reader(io.StringIO(text))
    try:
        head = [h.strip().lower() for h in next(reader, [])]
        rows = [(reader.line_num, r) for r in reader if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise InputFormatError(path, f"not a readable CSV ({exc})", reader.line_num) from None
    missing = [c for c in REQUIRED if c not in head]
    if missing:
        raise InputFormatError(path, f"header lacks {missing}: expected frame,person,joint,x,y"
                               f"[,z][,score], found {head[:8]}", 1)  # fmt: skip
    if not rows:
        raise InputFormatError(path, "no key point rows after the header")
    return head, rows


def _number(token: str, path: Path, line: int, what: str) -> float:
    try:
        x = float(token)
    except ValueError:
        x = float("nan")
    if not np.isfinite(x):
        raise InputFormatError(path, f"{what} {token!r} is not a finite number", line)
    return x


def read_clip(path: Path, opts: ReadOptions) -> np.ndarray:
    """(M, T, V, D + 1) coordinates and score of one key point CSV."""
    head, rows = _rows(path)
    col = {h: i for i, h in enumerate(head)}
    axes = ["x", "y"] + (["z"] if "z" in col else [])
    tokens = {r[col["joint"]].strip() for _, r in rows if len(r) == len(head)}
    joints = _layout_of({t for t in tokens if not t.isdigit()}, len(axes), opts.layout, path)
    idx = {n: i for i, n in enumerate(joints)} if joints else {}
    parsed = []
    for line, r in rows:
        if len(r) != len(head):
            raise InputFormatError(path, f"{len(r)} fields, the header has {len(head)}", line)
        j = r[col["joint"]].strip()
        j = int(j) if j.isdigit() else idx.get(j, -1)
        if j < 0 or (joints and j >= len(joints)):
            raise InputFormatError(path, f"joint {r[col['joint']]!r} is not a joint of the "
                                   "layout (a name or a 0-based index)", line)  # fmt: skip
        frame = _number(r[col["frame"]], path, line, "frame")
        if frame != int(frame) or frame < 0:
            raise InputFormatError(path, f"frame {r[col['frame']]!r} is not a frame number", line)
        values = [_number(r[col[a]], path, line, a) for a in axes]
        score = _number(r[col["score"]], path, line, "score") if "score" in col else 1.0
        parsed.append((line, int(frame), r[col["person"]].strip(), j, values + [score]))
    return _assemble(parsed, len(joints) if joints else None, len(axes) + 1, path, opts)


def _assemble(parsed: list, v: int | None, c: int, path: Path, opts: ReadOptions) -> np.ndarray:
    v = v or 1 + max(p[3] for p in parsed)
    first, last = min(p[1] for p in parsed), max(p[1] for p in parsed)
    if last - first >= 10 * len(parsed) + 1000:
        raise InputFormatError(path, f"frames {first}..{last} are far more than its rows")
    people: list[dict[str, np.ndarray]] = [{} for _ in range(last - first + 1)]
    anonymous = [0] * len(people)  # per frame: rows without a person id, the current one
    for line, frame, person, j, values in parsed:
        f = frame - first
        if not person:  # a person's rows come together: a joint seen again starts the next one
            person = f"#{anonymous[f]}"
            if person in people[f] and people[f][person][j].any():
                anonymous[f] += 1
                person = f"#{anonymous[f]}"
        pose = people[f].setdefault(person, np.zeros((v, c), dtype=np.float32))
        if pose[j].any():
            raise InputFormatError(path, f"joint {j} of person {person!r} in frame {frame} "
                                   "is given twice", line)  # fmt: skip
        pose[j] = values
    frames = [[(None if p[0] == "#" else p, pose) for p, pose in f.items()] for f in people]
    return clip_joints(frames, opts.max_bodies, v, c, path)


# the directory-reader functions (list_inputs, parse, assemble) of a user's class folders
list_inputs, parse, assemble = folders.clip_reader(_SELF)
