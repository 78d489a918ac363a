"""What the pose-estimator readers share: how a clip's detections become one sample.

Every reader of a pose estimator's output (``openpose``, ``mmpose``, ``mediapipe``, ``csv``)
produces the same sample shape: joints (M, T, V, C) float32 with C = coordinates + 1, the last
channel the key point's confidence. So 2D key points are (x, y, score) (C = 3, as PYSKL and
ST-GCN feed them to a GCN) and 3D ones (x, y, z, score) (C = 4; MediaPipe's visibility is its
score). Where a file gives no score, a key point it lists has score 1; a key point it does not
list, or a person absent from a frame, is all zeros (score 0: the mask). Coordinates stay as the
file wrote them (pixels, or MediaPipe's normalised image units); pre-processing centres them.

People: a file's own person / track ids are followed when every detection has one (numeric ids
in their order, others in order of appearance); otherwise
``track`` links detections frame to frame by nearest neighbour (mean distance between the key
points two poses both have, greedy, cheapest pair first). The ``max_bodies`` tracks seen in the
most frames are kept, in order of first appearance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sugar_core.errors import ConfigError, InputFormatError
from sugar_core.skeleton.layouts import get_layout

# (joint count, coordinate channels) -> layout, when nothing else names it
BY_SHAPE = {
    (17, 2): "coco17", (18, 2): "coco18", (25, 2): "body25", (33, 2): "mediapipe33",
    (20, 3): "kinect20", (25, 3): "ntu25", (33, 3): "mediapipe33", (17, 3): "coco17",
}  # fmt: skip
NEW_TRACK = 1.0  # a detection further than this many pose sizes from every track starts one

Detection = tuple  # (track id or None, pose (V, C) float32)


def layout_for(v: int, c: int, given: str | None, path) -> str:
    """The layout of a clip with ``v`` joints and ``c`` channels (coordinates + score)."""
    if given:
        if get_layout(given).num_joints != v:
            raise ConfigError(f"{path}: --layout {given} has {get_layout(given).num_joints} "
                              f"joints, the file has {v}")  # fmt: skip
        return given
    name = BY_SHAPE.get((v, c - 1))
    if name is None:
        raise ConfigError(
            f"{path}: no known layout has {v} joints with {c - 1} coordinates; pass --layout"
        )
    return name


def _present(pose: np.ndarray) -> np.ndarray:
    return np.any(pose[:, :-1] != 0, axis=-1) & (pose[:, -1] > 0)  # (V,)


def _cost(a: np.ndarray, b: np.ndarray) -> float:
    """Mean image-plane distance over the key points both poses have, in units of ``a``'s
    size; inf when they share none."""
    both = _present(a) & _present(b)
    if not both.any():
        return np.inf
    pts = a[_present(a), :2]
    size = max(float(np.ptp(pts, axis=0).max()), 1e-6)
    return float(np.linalg.norm(a[both, :2] - b[both, :2], axis=-1).mean()) / size


def _link(frames: list[list[Detection]]) -> list[list[int]]:
    """Track index of every detection (per frame), by nearest neighbour."""
    last: list[np.ndarray] = []  # each track's latest pose
    out = []
    for dets in frames:
        pairs = sorted(
            (_cost(last[k], pose), i, k)
            for i, (_, pose) in enumerate(dets)
            for k in range(len(last))
        )
        ids = [-1] * len(dets)
        taken: set[int] = set()
        for cost, i, k in pairs:
            if cost <= NEW_TRACK and ids[i] < 0 and k not in taken:
                ids[i] = k
                taken.add(k)
        for i, (_, pose) in enumerate(dets):
            if ids[i] < 0:
                ids[i] = len(last)
                last.append(pose)
            else:
                last[ids[i]] = pose
        out.append(ids)
    return out


def _by_id(frames: list[list[Detection]], tids: list) -> list[list[int]]:
    """Track index of every detection from the file's ids: numeric ids in their order, others
    in order of appearance."""
    uniq = list(dict.fromkeys(tids))
    try:
        uniq = sorted(uniq, key=float)
    except (TypeError, ValueError):
        pass
    order = {tid: j for j, tid in enumerate(uniq)}
    return [[order[tid] for tid, _ in f] for f in frames]


def track(frames: list[list[Detection]], max_bodies: int, v: int, c: int) -> np.ndarray:
    """(M, T, V, C) joints from T frames of detections (see the module docstring)."""
    t = len(frames)
    dets = [d for f in frames for d in f]
    if all(tid is not None for tid, _ in dets):
        ids = _by_id(frames, [tid for tid, _ in dets])
    else:
        ids = _link(frames)
    n = 1 + max((k for f in ids for k in f), default=-1)
    seen = np.zeros(n, dtype=np.int64)
    for f in ids:
        for k in set(f):
            seen[k] += 1
    keep = sorted(np.argsort(-seen, kind="stable")[:max_bodies])
    slot = {int(k): j for j, k in enumerate(keep)}
    joints = np.zeros((max(1, len(keep)), t, v, c), dtype=np.float32)  # (M, T, V, C)
    for f, (frame, fids) in enumerate(zip(frames, ids)):
        for (_, pose), k in zip(frame, fids):
            if k in slot and not joints[slot[k], f].any():  # a repeated id keeps its first pose
                joints[slot[k], f] = pose
    return joints


def clip_joints(frames: list[list[Detection]], max_bodies: int, v: int, c: int, path: Path):
    """``track`` for a clip, refusing one in which nobody is ever detected."""
    if not frames:
        raise InputFormatError(path, "no frames")
    if not any(frames):
        raise InputFormatError(path, f"no person detected in any of its {len(frames)} frames")
    return track(frames, max_bodies, v, c)


def with_score(xyz: np.ndarray, score: np.ndarray | None) -> np.ndarray:
    """(V, D) coordinates and (V,) scores (None: 1 where a key point is listed) -> (V, D + 1)."""
    if score is None:
        score = np.ones(len(xyz), dtype=np.float32)
    return np.concatenate([xyz, score[:, None]], axis=-1).astype(np.float32)


def load_json(path: Path):
    """The JSON document in ``path``; InputFormatError naming the file and line if it is not."""
    import json

    try:
        return json.loads(path.read_bytes())
    except OSError as exc:
        raise InputFormatError(path, f"cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, f"not valid JSON ({exc.msg})", exc.lineno) from None
    except UnicodeDecodeError:
        raise InputFormatError(path, "not a JSON text file (undecodable bytes)") from None
    except RecursionError:
        raise InputFormatError(path, "JSON nested too deeply") from None


def numbers(values, n: int, path: Path, where: str, what: str) -> np.ndarray:
    """``values`` as a float32 array of ``n`` finite numbers, else an error saying ``what``."""
    try:
        arr = np.asarray(values, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError):
        raise InputFormatError(path, f"{where}: not a list of numbers (expected {what})") from None
    if arr.size != n:
        raise InputFormatError(path, f"{where}: {arr.size} numbers, expected {n} ({what})")
    return arr
