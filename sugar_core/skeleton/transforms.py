"""Pre-processing and augmentation of skeleton sequences, as the field does it.

Per sample, on (M, T, V, C) arrays:
  1. ``select_bodies``: keep the M most active bodies (motion energy), zero-pad to M;
  2. ``centre``: subtract the origin joint of the first frame (or of every frame);
  3. ``view_normalise`` (optional): rotate so the first frame's shoulders/hips span x and the
     hips-to-shoulders direction is y (the body faces the camera);
  4. ``body_scale`` (optional): divide by the first frame's torso length;
  5. ``temporal_resample``: random crop of the valid frames resized to T (training) or the
     whole sequence resized to T (evaluation), by linear interpolation; with
     ``random_sampling`` the crop is cut in T equal segments and one random point of each is
     read (uniform-segment sampling) instead of T evenly spaced points;
  6. ``rotate_scale``: random rotation about each axis and scaling (training only);
  7. ``to_stream``: joint coordinates, bone vectors (joint minus parent), their motion (frame
     differences, taken here, after step 5, so motion is per encoder frame) or joints and bones
     side by side as channels.

Test-time augmentation (``prep.tta``, encoding only) reads a sample through ``tta_params``: up to
eight fixed views (whole clip, mirrored, shorter crops) whose encodings are averaged.

``PrepConfig`` holds the choices; ``prepare`` runs them for one sample, ``prepare_batch`` for a
list of samples with per-sample random parameters drawn from a ``torch.Generator`` (so a run is
reproducible from its seed and the generator's state).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from sugar_core.skeleton.graph import bone_pairs
from sugar_core.skeleton.layouts import get_layout
from sugar_core.skeleton.prep import PrepConfig

# ---------------------------------------------------------------------------------------------
# single steps (numpy, one sample)


def valid_frames(joints: np.ndarray) -> np.ndarray:
    """Indices of frames where any body has a non-zero joint (M, T, V, C) -> (T',)."""
    return np.flatnonzero(np.abs(joints).reshape(joints.shape[0], joints.shape[1], -1).max((0, 2)))


def select_bodies(joints: np.ndarray, m: int) -> np.ndarray:
    """(M_in, T, V, C) -> (m, T, V, C): the m bodies with most motion, zero-padded."""
    m_in, t, v, c = joints.shape
    if m_in > m:
        energy = np.abs(np.diff(joints, axis=1)).sum(axis=(1, 2, 3)) if t > 1 else np.zeros(m_in)
        keep = np.sort(np.argsort(-energy, kind="stable")[:m])
        joints = joints[keep]
    elif m_in < m:
        joints = np.concatenate([joints, np.zeros((m - m_in, t, v, c), joints.dtype)])
    return joints


def centre(joints: np.ndarray, origin: int, mode: str = "first") -> np.ndarray:
    """Subtract the origin joint (of body 0, frame 0 or each frame); zero (absent) joints stay 0."""
    if mode == "none":
        return joints
    present = np.abs(joints).sum(-1, keepdims=True) > 0  # (M, T, V, 1)
    if mode == "first":
        ref = joints[0, 0, origin][None, None, None]  # (1, 1, 1, C)
    else:
        ref = joints[0, :, origin][None, :, None]  # (1, T, 1, C)
    return np.where(present, joints - ref, 0.0).astype(np.float32)


def _joint_index(layout, *names: str) -> list[int]:
    return [layout.index(n) for n in names if n in layout.joints]


def facing_rotation(frame: np.ndarray, layout_name: str) -> np.ndarray:
    """(3, 3) rotation taking a (V, 3) frame to body axes: x across (left->right), y up."""
    layout = get_layout(layout_name)
    left = _joint_index(layout, "left shoulder", "left hip")
    right = _joint_index(layout, "right shoulder", "right hip")
    upper = _joint_index(layout, "left shoulder", "right shoulder")
    lower = _joint_index(layout, "left hip", "right hip")
    if len(left) < 2 or len(right) < 2:
        return np.eye(3, dtype=np.float32)
    across = frame[right].mean(0) - frame[left].mean(0)
    up = frame[upper].mean(0) - frame[lower].mean(0)
    if np.linalg.norm(up) < 1e-6 or np.linalg.norm(across) < 1e-6:
        return np.eye(3, dtype=np.float32)
    y = up / np.linalg.norm(up)
    x = across - (across @ y) * y
    if np.linalg.norm(x) < 1e-6:
        return np.eye(3, dtype=np.float32)
    x = x / np.linalg.norm(x)
    z = np.cross(x, y)
    return np.stack([x, y, z]).astype(np.float32)  # rows: new axes in old coordinates


def view_normalise(joints: np.ndarray, layout_name: str) -> np.ndarray:
    """Rotate (M, T, V, 3) so frame 0 of body 0 faces the camera (see ``facing_rotation``)."""
    if joints.shape[-1] != 3:
        return joints
    first = valid_frames(joints[:1])
    if len(first) == 0:
        return joints
    rot = facing_rotation(joints[0, first[0]], layout_name)
    return (joints @ rot.T).astype(np.float32)


def body_scale(joints: np.ndarray, layout_name: str) -> np.ndarray:
    """Divide by the frame-0 distance between the hip and shoulder midpoints."""
    layout = get_layout(layout_name)
    upper = _joint_index(layout, "left shoulder", "right shoulder")
    lower = _joint_index(layout, "left hip", "right hip")
    frames = valid_frames(joints[:1])
    if len(upper) < 2 or len(lower) < 2 or len(frames) == 0:
        return joints
    f = joints[0, frames[0]]
    torso = float(np.linalg.norm(f[upper].mean(0) - f[lower].mean(0)))
    return joints / torso if torso > 1e-6 else joints


def resample(
    joints: np.ndarray, start: float, stop: float, frames: int, offsets: np.ndarray | None = None
) -> np.ndarray:
    """Linear interpolation of (M, T, V, C) at ``frames`` points spread over [start, stop]:
    evenly (both ends included), or with ``offsets`` (frames,) in [0, 1) one point inside each
    of ``frames`` equal segments of [start, stop] (uniform-segment sampling)."""
    t = joints.shape[1]
    if t == 1:
        return np.repeat(joints, frames, axis=1)
    if offsets is None:
        pos = np.linspace(start, stop, frames)
    else:
        pos = start + (stop - start) * (np.arange(frames) + offsets) / frames
    pos = np.clip(pos, 0, t - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, t - 1)
    w = (pos - lo).astype(np.float32)[None, :, None, None]
    return joints[:, lo] * (1 - w) + joints[:, hi] * w


# ---------------------------------------------------------------------------------------------
# the pipeline


def static_prep(joints: np.ndarray, cfg: PrepConfig, layout_name: str) -> np.ndarray:
    """Steps 1-4 (deterministic): (M_in, T, V, C_in) -> (M, T', V, C) over valid frames only.

    Steps 2-4 move the layout's coordinate channels only (``Layout.dims``): a 2D pose's
    confidence channel (x, y, score) is carried through unchanged."""
    joints = np.asarray(joints, dtype=np.float32)[..., : cfg.channels]
    joints = select_bodies(joints, cfg.max_bodies)
    keep = valid_frames(joints)
    joints = joints[:, keep] if len(keep) else joints[:, :1]
    layout = get_layout(layout_name)
    coords, scores = joints[..., : layout.dims], joints[..., layout.dims :]
    coords = centre(coords, layout.origin, cfg.centre)
    if cfg.view_normalise:
        coords = view_normalise(coords, layout_name)
    if cfg.body_scale:
        coords = body_scale(coords, layout_name)
    joints = np.concatenate([coords, scores], axis=-1) if scores.shape[-1] else coords
    return np.ascontiguousarray(joints, dtype=np.float32)


@dataclass
class AugParams:
    """Random draws for a batch of B samples (all float32 numpy)."""

    # (B, 2) start, stop as fractions of the valid length; with prep.random_sampling (B, 2 + T):
    # then the T offsets in [0, 1) that place each frame inside its segment of the crop
    crop: np.ndarray
    rotation: np.ndarray  # (B, 3, 3)
    mirror: np.ndarray  # (B,) bool


def _rotation(angles: torch.Tensor) -> torch.Tensor:
    """(B, 3) radians about x, y, z -> (B, 3, 3) rotation Rz @ Ry @ Rx."""
    cx, cy, cz = torch.cos(angles).unbind(1)
    sx, sy, sz = torch.sin(angles).unbind(1)
    one, zero = torch.ones_like(cx), torch.zeros_like(cx)
    rx = torch.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], 1).view(-1, 3, 3)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], 1).view(-1, 3, 3)
    rz = torch.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], 1).view(-1, 3, 3)
    return rz @ ry @ rx


def draw_params(b: int, cfg: PrepConfig, gen: torch.Generator) -> AugParams:
    """Per-sample random crop, rotation x scale and mirror flags for a batch of ``b``."""
    u = torch.rand(b, 8, generator=gen, dtype=torch.float64)
    length = cfg.crop_min + (1.0 - cfg.crop_min) * u[:, 0]
    start = (1.0 - length) * u[:, 1]
    crop = torch.stack([start, start + length], 1)
    limits = torch.tensor(cfg.rotate_deg, dtype=torch.float64) * (np.pi / 180)
    angles = (2 * u[:, 2:5] - 1) * limits
    lo, hi = cfg.scale
    iso = lo + (hi - lo) * u[:, 5:6]
    jitter = 1 + cfg.per_axis_scale * (2 * torch.rand(b, 3, generator=gen, dtype=torch.float64) - 1)
    rot = _rotation(angles) * (iso * jitter)[:, :, None]  # scale applied after rotating
    mirror = u[:, 6] < cfg.mirror
    if cfg.random_sampling:  # drawn last: runs without it keep their random stream
        offsets = torch.rand(b, cfg.frames, generator=gen, dtype=torch.float64)
        crop = torch.cat([crop, offsets], 1)  # (B, 2 + T)
    return AugParams(
        crop.numpy().astype(np.float32), rot.numpy().astype(np.float32), mirror.numpy()
    )


# test-time views: (crop start, crop stop, mirrored); the first k are used (prep.tta = k)
TTA_TABLE = (
    (0.0, 1.0, False),
    (0.0, 1.0, True),
    (0.0, 0.9, False),
    (0.1, 1.0, False),
    (0.0, 0.9, True),
    (0.1, 1.0, True),
    (0.05, 0.95, False),
    (0.05, 0.95, True),
)


def tta_params(k: int) -> list[AugParams]:
    """The first ``k`` fixed test-time views (``TTA_TABLE``), each as AugParams of one row
    (no rotation, no scaling); ``repeat_params`` widens a view to a batch."""
    assert 1 <= k <= len(TTA_TABLE), f"tta {k} views, expected 1..{len(TTA_TABLE)}"
    return [
        AugParams(
            np.array([[start, stop]], np.float32), np.eye(3, dtype=np.float32)[None], np.array([m])
        )
        for start, stop, m in TTA_TABLE[:k]
    ]


def repeat_params(params: AugParams, b: int) -> AugParams:
    """A one-row AugParams repeated for a batch of ``b`` samples."""
    return AugParams(
        *(np.repeat(a, b, axis=0) for a in (params.crop, params.rotation, params.mirror))
    )


def mirror_index(layout_name: str) -> np.ndarray:
    """(V,) joint permutation that swaps every left joint with its right twin."""
    layout = get_layout(layout_name)
    idx = np.arange(layout.num_joints)
    for i, name in enumerate(layout.joints):
        for a, b in (("left", "right"), ("right", "left")):
            if name.startswith(a):
                twin = b + name[len(a) :]
                if twin in layout.joints:
                    idx[i] = layout.index(twin)
    return idx


def augment_and_resample(
    joints: np.ndarray, cfg: PrepConfig, layout_name: str, params: AugParams | None, i: int = 0
) -> np.ndarray:
    """(M, T', V, C) prepared sample -> (M, T, V, C): crop/resize, then rotate/scale/mirror.

    ``params=None`` is evaluation: the whole sequence resized to T, no augmentation.
    """
    t = joints.shape[1]
    if params is None:
        return resample(joints, 0.0, t - 1, cfg.frames)
    start, stop = params.crop[i, :2] * (t - 1)
    offsets = params.crop[i, 2:] if params.crop.shape[1] > 2 else None  # random_sampling
    out = resample(joints, float(start), float(stop), cfg.frames, offsets)
    d = min(get_layout(layout_name).dims, out.shape[-1])  # coordinates; scores stay as they are
    if d == 3:
        out[..., :3] = out[..., :3] @ params.rotation[i].T
    else:
        out[..., :d] = out[..., :d] * np.diag(params.rotation[i])[:d]
    if params.mirror[i]:
        out = out[:, :, mirror_index(layout_name)] * np.array([-1, 1, 1][: out.shape[-1]])
    return out.astype(np.float32)


def prepare_batch(
    prepped: list[np.ndarray],
    cfg: PrepConfig,
    layout_name: str,
    params: AugParams | None = None,
) -> torch.Tensor:
    """Statically prepared samples (each (M, T', V, C)) -> (B, M, T, V, C) float32 tensor."""
    out = np.stack(
        [augment_and_resample(x, cfg, layout_name, params, i) for i, x in enumerate(prepped)]
    )
    return torch.from_numpy(to_stream(out, cfg.stream, layout_name))


def to_stream(joints: np.ndarray, stream: str, layout_name: str) -> np.ndarray:
    """(..., T, V, C) resampled joints -> the stream's features (``prep.STREAMS``):

    bone          joint minus its parent joint (the centre's bone is zero)
    joint-motion  x[t + 1] - x[t] of the joints along T, the last frame zero
    bone-motion   the same differences of the bone vectors
    joint+bone    joints and bones concatenated along channels (..., T, V, 2C)

    Motion is taken on the T frames the encoder reads (after temporal resampling), so it is
    the change per encoder frame whatever the clip's own frame rate and length."""
    if stream == "joint":
        return joints
    if stream == "joint-motion":
        return motion(joints)
    bone = joints - joints[..., _parents(layout_name), :]
    if stream == "bone-motion":
        return motion(bone)
    out = bone if stream == "bone" else np.concatenate([joints, bone], axis=-1)
    return np.ascontiguousarray(out, dtype=np.float32)


def motion(x: np.ndarray) -> np.ndarray:
    """(..., T, V, C) -> frame differences x[t + 1] - x[t] along T, the last frame zero."""
    out = np.zeros_like(x, dtype=np.float32)
    out[..., :-1, :, :] = x[..., 1:, :, :] - x[..., :-1, :, :]
    return out


@cache
def _parents(layout_name: str) -> np.ndarray:
    """(V,) parent joint of every joint (the centre is its own), computed once per layout."""
    parent = bone_pairs(get_layout(layout_name))[:, 1]
    parent.flags.writeable = False
    return parent
