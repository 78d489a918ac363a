"""MediaPipe Pose landmarks: 33 points (layout ``mediapipe33``) with x, y, z and visibility,
one CSV or JSON file per clip, as the MediaPipe examples write them.

CSV, one row per landmark (``landmark``: index 0..32 or name, e.g. ``LEFT_SHOULDER``)::

    frame,landmark,x,y,z,visibility
    0,0,0.512,0.231,-0.402,0.998

CSV, one row per frame (1-based columns, as the popular "body language" examples write)::

    frame,x1,y1,z1,v1,x2,y2,z2,v2,...,x33,y33,z33,v33

JSON: a list of frames (or ``{"frames": [...]}``); a frame is a list of 33 landmark objects
``{"x", "y", "z", "visibility"}``, an object holding them under ``landmarks`` /
``landmark`` / ``pose_landmarks`` (``MessageToDict`` output), a list of such poses (several
people), or null / [] when no pose was found. Samples are (x, y, z, visibility): x and y in
normalised image units (y down), z relative depth. Missing visibility counts as 1.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from pathlib import Path

import numpy as np

from sugar_core.errors import InputFormatError
from sugar_core.skeleton.layouts import get_layout
from sugar_core.skeleton.readers import folders
from sugar_core.skeleton.readers.common import ReadOptions
from sugar_core.skeleton.readers.poses import clip_joints, load_json, numbers

NAME = "mediapipe"
WHAT = "MediaPipe landmarks"
SUFFIX = ""  # .csv or .json
SUFFIXES = (".csv", ".json")
V = 33
NAMES = get_layout("mediapipe33").joints
_SELF = sys.modules[__name__]
_WIDE = re.compile(r"^([xyzv])(\d+)$")


def is_clip(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in SUFFIXES


def clips_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_clip(p))


def _header(path: Path) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return [h.strip().lower() for h in next(csv.reader(fh), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def sniff(path: Path) -> bool:
    if not is_clip(path):
        return False
    if path.suffix.lower() == ".csv":
        head = _header(path)
        return "landmark" in head or ("x1" in head and "v1" in head)
    try:
        return _frames_of(load_json(path)) is not None
    except InputFormatError:
        return False


def landmark_index(token: str) -> int | None:
    """0..32 from an index or a MediaPipe name (``LEFT_SHOULDER``, ``mouth_left``, ...)."""
    token = token.strip()
    if token.isdigit():
        return int(token) if int(token) < V else None
    name = token.lower().replace("_", " ")
    name = {"mouth left": "left mouth", "mouth right": "right mouth"}.get(name, name)
    return NAMES.index(name) if name in NAMES else None


def _frames_of(doc):
    if isinstance(doc, dict) and isinstance(doc.get("frames"), list):
        doc = doc["frames"]
    if not isinstance(doc, list):
        return None
    first = next((f for f in doc if f), None)
    return doc if first is None or _poses(first) is not None else None


def _poses(frame) -> list | None:
    """The poses (each a list of landmark objects) of one frame, or None if not a frame."""
    if isinstance(frame, dict):
        frame = next((frame[k] for k in ("landmarks", "landmark", "pose_landmarks") if k in frame),
                     None)  # fmt: skip
        frame = _poses(frame) if isinstance(frame, (list, dict)) else None
        return frame
    if not isinstance(frame, list):
        return None
    if not frame:
        return []
    if all(isinstance(p, list) for p in frame):  # several poses
        return frame
    if all(isinstance(p, dict) and "x" in p for p in frame):
        return [frame]
    return None


def _pose(lms: list, where: str, path: Path) -> np.ndarray:
    if len(lms) != V:
        raise InputFormatError(path, f"{where}: {len(lms)} landmarks, expected {V}")
    rows = []
    for j, lm in enumerate(lms):
        if not isinstance(lm, dict) or not {"x", "y", "z"} <= lm.keys():
            raise InputFormatError(path, f"{where} landmark {j}: expected x, y, z, visibility")
        rows.append([lm["x"], lm["y"], lm["z"], lm.get("visibility", 1.0)])
    return numbers(rows, 4 * V, path, where, "x, y, z, visibility per landmark").reshape(V, 4)


def _read_json(path: Path) -> list:
    frames = _frames_of(load_json(path))
    if frames is None:
        raise InputFormatError(path, "not MediaPipe landmarks (expected a list of frames, each "
                               "33 {x, y, z, visibility} objects or null)")  # fmt: skip
    out = []
    for i, f in enumerate(frames):
        poses = _poses(f) if f else []
        if poses is None:
            raise InputFormatError(path, f"frame {i}: not a list of 33 landmark objects")
        out.append([(None, _pose(p, f"frame {i} pose {k}", path)) for k, p in enumerate(poses)])
    return out


def _value(row: list[str], col: int, path: Path, line: int, what: str) -> float:
    try:
        x = float(row[col])
    except ValueError:
        raise InputFormatError(path, f"{what} {row[col]!r} is not a number", line) from None
    return x


def _frame_number(row: list[str], col: int, path: Path, line: int) -> int:
    frame = _value(row, col, path, line, "frame")
    if not np.isfinite(frame) or frame != int(frame) or frame < 0:
        raise InputFormatError(path, f"frame {row[col]!r} is not a frame number", line)
    return int(frame)


def _fill(pose: np.ndarray, row: list[str], head: list[str], path: Path, line: int) -> None:
    """Write one CSV row into ``pose`` (33, 4): a whole frame (wide) or one landmark (long)."""

    def get(key: str) -> float:
        return _value(row, head.index(key), path, line, key) if key in head else 1.0

    if "landmark" not in head:  # wide: x1, y1, z1, v1, ..., v33
        pose[:] = [[get(f"{a}{j + 1}") for a in "xyzv"] for j in range(V)]
        return
    j = landmark_index(row[head.index("landmark")])
    if j is None:
        raise InputFormatError(path, f"landmark {row[head.index('landmark')]!r} is not 0..32 "
                               "or a MediaPipe landmark name", line)  # fmt: skip
    pose[j] = [get("x"), get("y"), get("z"), get("visibility")]


def _read_csv(path: Path) -> list:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFormatError(path, f"cannot read as UTF-8 text ({exc})") from None
    rows = list(csv.reader(io.StringIO(text)))
    head = [h.strip().lower() for h in rows[0]] if rows else []
    if "frame" not in head:
        raise InputFormatError(path, f"header has no 'frame' column (found {head[:6]})", 1)
    wide = "landmark" not in head
    cols = ["x", "y", "z"] if not wide else [f"{a}{j + 1}" for j in range(V) for a in "xyz"]
    missing = [c for c in cols if c not in head]
    if missing:
        raise InputFormatError(path, f"header lacks {missing[:4]}: expected frame,landmark,x,y,z,"
                               "visibility or frame,x1,y1,z1,v1,...,v33", 1)  # fmt: skip
    poses: dict[int, np.ndarray] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(head):
            raise InputFormatError(path, f"{len(row)} fields, the header has {len(head)}", line)
        frame = _frame_number(row, head.index("frame"), path, line)
        _fill(poses.setdefault(frame, np.zeros((V, 4), dtype=np.float32)), row, head, path, line)
    if not poses:
        raise InputFormatError(path, "no landmark rows")
    first, last = min(poses), max(poses)
    if last - first >= 10 * len(rows) + 1000:
        raise InputFormatError(path, f"frame numbers {first}..{last} do not fit {len(rows)} rows")
    return [[(None, poses[f])] if f in poses else [] for f in range(first, last + 1)]


def read_clip(path: Path, opts: ReadOptions) -> np.ndarray:
    """(M, T, 33, 4) x, y, z, visibility of one landmarks file."""
    if not is_clip(path):
        raise InputFormatError(path, "not a MediaPipe landmarks file (.csv or .json)")
    frames = _read_csv(path) if path.suffix.lower() == ".csv" else _read_json(path)
    return clip_joints(frames, opts.max_bodies, V, 4, path)


# the directory-reader functions (list_inputs, parse, assemble) of a user's class folders
list_inputs, parse, assemble = folders.clip_reader(_SELF)
