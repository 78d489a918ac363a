"""Writers of the pose formats (openpose, mmpose, mediapipe, csv) for tests: small clips built
in the tests, and the NW-UCLA round trip (kinect20 joints carried onto each format's layout)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from sugar_core.skeleton.layouts import get_layout

DECIMALS = 4  # the writers round as pose estimators print: the round trip is equal to this

# a pose layout's joint -> the kinect20 joint standing in for it (same name otherwise)
FROM_KINECT = {"nose": "head", "neck": "shoulder centre", "mid hip": "hip centre"}
for _s in ("left", "right"):
    FROM_KINECT.update({f"{_s} {j}": "head" for j in ("eye", "ear", "eye inner", "eye outer",
                                                      "mouth")})  # fmt: skip
    FROM_KINECT.update({f"{_s} {j}": f"{_s} hand" for j in ("pinky", "index", "thumb")})
    FROM_KINECT.update({f"{_s} {j}": f"{_s} foot" for j in ("big toe", "small toe", "foot index")})
    FROM_KINECT[f"{_s} heel"] = f"{_s} ankle"


def kinect_index(layout: str) -> list[int]:
    """The kinect20 joint standing in for each joint of ``layout``."""
    src = get_layout("kinect20").joints
    return [src.index(FROM_KINECT.get(j, j)) for j in get_layout(layout).joints]


def from_kinect(joints: np.ndarray, layout: str, dims: int) -> np.ndarray:
    """(M, T, 20, 3) kinect20 joints -> (M, T, V, dims + 1) in ``layout`` with score 1, rounded
    to DECIMALS."""
    out = joints[..., kinect_index(layout), :dims]
    score = np.ones(out.shape[:-1] + (1,), dtype=np.float32)
    return np.round(np.concatenate([out, score], axis=-1), DECIMALS).astype(np.float32)


def _r(x) -> float:
    return round(float(x), DECIMALS)


def write_openpose(folder: Path, joints: np.ndarray, ids: bool = False) -> Path:
    """(M, T, V, 3) -> one ``<name>_<frame>_keypoints.json`` per frame in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(joints.shape[1]):
        people = [
            {"person_id": [m if ids else -1],
             "pose_keypoints_2d": [_r(x) for x in joints[m, t].ravel()],
             "face_keypoints_2d": [], "hand_left_keypoints_2d": []}
            for m in range(joints.shape[0]) if joints[m, t].any()
        ]  # fmt: skip
        doc = {"version": 1.3, "people": people}
        (folder / f"{folder.name}_{t:012d}_keypoints.json").write_text(json.dumps(doc))
    return folder


def write_mmpose(path: Path, joints: np.ndarray, track_ids: bool = False) -> Path:
    """(M, T, 17, 3) -> MMPose's --save-predictions JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = []
    for t in range(joints.shape[1]):
        instances = []
        for m in range(joints.shape[0]):
            if not joints[m, t].any():
                continue
            inst = {"keypoints": [[_r(x), _r(y)] for x, y in joints[m, t, :, :2]],
                    "keypoint_scores": [_r(s) for s in joints[m, t, :, 2]],
                    "bbox": [[0.0, 0.0, 1.0, 1.0]], "bbox_score": 1.0}  # fmt: skip
            if track_ids:
                inst["track_id"] = m
            instances.append(inst)
        frames.append({"frame_id": t + 1, "instances": instances})
    doc = {"meta_info": {"dataset_name": "coco"}, "instance_info": frames}
    path.write_text(json.dumps(doc, indent="\t"))
    return path


def write_mediapipe_json(path: Path, joints: np.ndarray) -> Path:
    """(1, T, 33, 4) -> a list of frames of landmark objects (null where nobody)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = ("x", "y", "z", "visibility")
    frames = [
        {"landmarks": [dict(zip(keys, map(_r, lm))) for lm in joints[0, t]]}
        if joints[0, t].any() else None
        for t in range(joints.shape[1])
    ]  # fmt: skip
    path.write_text(json.dumps(frames))
    return path


def write_mediapipe_csv(path: Path, joints: np.ndarray, wide: bool = False) -> Path:
    """(1, T, 33, 4) -> frame,landmark,x,y,z,visibility rows (or one wide row per frame)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        if wide:
            w.writerow(["frame"] + [f"{a}{j + 1}" for j in range(33) for a in "xyzv"])
            for t in range(joints.shape[1]):
                w.writerow([t] + [_r(x) for x in joints[0, t].ravel()])
            return path
        w.writerow(["frame", "landmark", "x", "y", "z", "visibility"])
        names = [n.upper().replace(" ", "_") for n in get_layout("mediapipe33").joints]
        for t in range(joints.shape[1]):
            for j in range(33):
                w.writerow([t, names[j] if j % 2 else j, *map(_r, joints[0, t, j])])
    return path


def write_csv(path: Path, joints: np.ndarray, layout: str | None, person: bool = True) -> Path:
    """(M, T, V, D + 1) -> frame,person,joint,x,y[,z],score rows; joints named by ``layout``
    (None: 0-based indices); an empty person column when ``person`` is False."""
    d = joints.shape[-1] - 1
    names = get_layout(layout).joints if layout else None
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["frame", "person", "joint", "x", "y"] + (["z"] if d == 3 else []) + ["score"])
        for t in range(joints.shape[1]):
            for m in range(joints.shape[0]):
                if not joints[m, t].any():
                    continue
                for j in range(joints.shape[2]):
                    w.writerow([t, m + 1 if person else "", names[j] if names else j,
                                *map(_r, joints[m, t, j])])  # fmt: skip
    return path
