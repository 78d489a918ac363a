"""MMPose / RTMPose predictions: one JSON file per clip, as ``demo/*.py --save-predictions``
writes them::

    {"meta_info": {...},
     "instance_info": [{"frame_id": 1, "instances": [
         {"keypoints": [[x, y], ... 17], "keypoint_scores": [s, ... 17],
          "bbox": [[x1, y1, x2, y2]], "bbox_score": 0.9, "track_id": 0}, ...]}, ...]}

A bare list of such frames is read too, and so is an image's output (``instance_info`` a list
of instances: one frame). Key points are COCO-17 (layout ``coco17``), stored as (x, y, score);
frames are ordered by ``frame_id`` when every frame has one. ``track_id`` (MMPose's pose
tracker) is followed when every instance has one; else people are tracked by nearest neighbour
(``poses.py``). A file is one sample (see ``folders.py`` for the data set).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from sugar_core.errors import InputFormatError
from sugar_core.skeleton.readers import folders
from sugar_core.skeleton.readers.common import ReadOptions
from sugar_core.skeleton.readers.poses import clip_joints, load_json, numbers, with_score

NAME = "mmpose"
WHAT = "MMPose JSON"
SUFFIX = ".json"
V = 17
_SELF = sys.modules[__name__]


def is_clip(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(SUFFIX)


def clips_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_clip(p))


def _frames_of(doc):
    """The list of frames in a document, or None if it is not MMPose's."""
    if isinstance(doc, dict) and isinstance(doc.get("instance_info"), list):
        doc = doc["instance_info"]
    if not isinstance(doc, list) or not doc or not isinstance(doc[0], dict):
        return None
    if "instances" in doc[0]:
        return doc
    if "keypoints" in doc[0]:
        return [{"instances": doc}]  # one image: a list of instances
    return None


def sniff(path: Path) -> bool:
    if not is_clip(path):
        return False
    try:
        return _frames_of(load_json(path)) is not None
    except InputFormatError:
        return False


def _instance(inst, where: str, path: Path):
    if not isinstance(inst, dict) or "keypoints" not in inst:
        raise InputFormatError(path, f"{where}: expected an object with 'keypoints'")
    xy = numbers(inst["keypoints"], 2 * V, path, f"{where}.keypoints", f"{V} [x, y] pairs")
    scores = inst.get("keypoint_scores")
    if scores is not None:
        scores = numbers(scores, V, path, f"{where}.keypoint_scores", f"{V} scores")
    tid = inst.get("track_id")
    tid = int(tid) if isinstance(tid, (int, float)) and not isinstance(tid, bool) else None
    return tid, with_score(xy.reshape(V, 2), scores)


def read_clip(path: Path, opts: ReadOptions) -> np.ndarray:
    """(M, T, 17, 3) x, y, score of one predictions file."""
    frames = _frames_of(load_json(path))
    if frames is None:
        raise InputFormatError(
            path, "not MMPose predictions (expected {'instance_info': [{'frame_id', "
            "'instances': [{'keypoints', 'keypoint_scores'}]}]} or a list of such frames)",
        )  # fmt: skip
    for i, f in enumerate(frames):
        if not isinstance(f, dict) or not isinstance(f.get("instances"), list):
            raise InputFormatError(path, f"frame {i}: expected an object with an 'instances' list")
    ids = [f.get("frame_id") for f in frames]
    if all(isinstance(x, int) for x in ids):
        frames = [f for _, f in sorted(zip(ids, frames), key=lambda p: p[0])]
    dets = [
        [_instance(x, f"frame {i} instance {j}", path) for j, x in enumerate(f["instances"])]
        for i, f in enumerate(frames)
    ]
    return clip_joints(dets, opts.max_bodies, V, 3, path)


# the directory-reader functions (list_inputs, parse, assemble) of a user's class folders
list_inputs, parse, assemble = folders.clip_reader(_SELF)
