"""OpenPose JSON: one file per frame, one folder per clip (``--write_json``).

Each frame file (``<clip>_000000000012_keypoints.json``) holds::

    {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": [x, y, c, ...], ...}]}

``pose_keypoints_2d`` has 25 triplets (BODY_25, layout ``body25``) or 18 (COCO-18, layout
``coco18``); every frame of a clip must use the same. Frames are ordered by the last number in
their file names. A ``person_id`` of 0 or more (OpenPose's tracking) is followed; -1, the
default, leaves people to the nearest-neighbour tracker (``poses.py``). Other key point sets
(face, hands) are ignored. A clip folder is one sample (see ``folders.py`` for the data set).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from sugar_core.errors import InputFormatError
from sugar_core.skeleton.readers import folders
from sugar_core.skeleton.readers.common import ReadOptions
from sugar_core.skeleton.readers.poses import clip_joints, load_json, numbers

NAME = "openpose"
WHAT = "OpenPose JSON"
SUFFIX = ""  # a clip is a folder of frame files
CLIP_IS_FOLDER = True
JOINTS = {75: 25, 54: 18}  # numbers in pose_keypoints_2d -> key points (BODY_25, COCO-18)
_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")
_SELF = sys.modules[__name__]


def frame_files(folder: Path) -> list[Path]:
    """The frame files of a clip folder, in frame order."""
    files = [p for p in folder.glob("*.json") if p.is_file()]

    def key(p: Path):
        m = _LAST_NUMBER.search(p.stem)
        return (int(m.group(1)) if m else -1, p.name)

    return sorted(files, key=key)


def is_clip(path: Path) -> bool:
    return path.is_dir() and bool(frame_files(path))


def clips_in(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and is_clip(d))


def sniff(path: Path) -> bool:
    """True if ``path`` is a clip folder whose first frame file has OpenPose's ``people``."""
    if not is_clip(path):
        return False
    try:
        doc = load_json(frame_files(path)[0])
    except InputFormatError:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("people"), list)


def _person(p, i: int, path: Path, v: int | None):
    where = f"people[{i}]"
    if not isinstance(p, dict) or "pose_keypoints_2d" not in p:
        raise InputFormatError(path, f"{where}: expected an object with 'pose_keypoints_2d'")
    values = p["pose_keypoints_2d"]
    n = len(values) if isinstance(values, list) else -1
    if n not in JOINTS or (v is not None and JOINTS[n] != v):
        want = f"{3 * v} ({v} key points, as the clip's first frame)" if v else "75 or 54"
        raise InputFormatError(
            path, f"{where}.pose_keypoints_2d has {n} values, expected {want}: x, y, confidence "
            "per key point (BODY_25 or COCO-18)",
        )  # fmt: skip
    pose = numbers(values, n, path, f"{where}.pose_keypoints_2d", "x, y, confidence triplets")
    pid = p.get("person_id")
    pid = pid[0] if isinstance(pid, list) and pid else pid
    tid = int(pid) if isinstance(pid, (int, float)) and pid >= 0 else None
    return tid, pose.reshape(JOINTS[n], 3)


def read_clip(folder: Path, opts: ReadOptions) -> np.ndarray:
    """(M, T, V, 3) x, y, confidence of one clip folder."""
    files = frame_files(folder) if folder.is_dir() else []
    if not files:
        raise InputFormatError(folder, "not an OpenPose clip folder (no frame .json files in it)")
    frames, v = [], None
    for f in files:
        doc = load_json(f)
        if not isinstance(doc, dict) or not isinstance(doc.get("people"), list):
            raise InputFormatError(f, "expected an object with a 'people' list (OpenPose JSON)")
        dets = [_person(p, i, f, v) for i, p in enumerate(doc["people"])]
        v = v or (dets[0][1].shape[0] if dets else None)
        frames.append(dets)
    return clip_joints(frames, opts.max_bodies, v or 25, 3, folder)


# the directory-reader functions (list_inputs, parse, assemble) of a user's class folders
list_inputs, parse, assemble = folders.clip_reader(_SELF)
