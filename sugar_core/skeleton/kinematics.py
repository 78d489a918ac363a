"""A kinematic body on the ntu25 layout: rest pose, bone rotations, forward kinematics.

Body frame: x to the person's left, y up, z forward (where the person faces), metres.
Every non-root joint j has a rest offset from its parent and a *bone rotation* R_j, which turns
the bone parent->j (and everything hanging below j) about the parent joint, relative to the
parent bone's frame:

    G_j = G_parent @ R_j          p_j = p_parent + G_j @ offset_j

so a shoulder angle goes on the elbow's entry (it turns the upper arm), an elbow angle on the
wrist's, a hip angle on the knee's, lumbar flexion on spine mid's.

Angle conventions with the standard right-handed rotations ``rx``, ``ry``, ``rz``:
forward flexion of a hanging limb is ``rx(-a)``, knee flexion ``rx(+a)``, leaning the trunk
forward ``rx(+a)``, raising the left arm sideways ``rz(+a)`` and the right one ``rz(-a)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sugar_core.skeleton.layouts import NTU25

# parent of each ntu25 joint (0-based), -1 for the root (spine base)
PARENT = np.array(
    [-1, 0, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 1, 7, 7, 11, 11]
)  # fmt: skip
# joints in an order where every parent comes before its children
ORDER = (0, 1, 20, 2, 3, 4, 5, 6, 7, 21, 22, 8, 9, 10, 11, 23, 24, 12, 13, 14, 15, 16, 17, 18, 19)

# named joint indices used by the action scripts
J = {name: i for i, name in enumerate(NTU25.joints)}
FEET = (J["left ankle"], J["left foot"], J["right ankle"], J["right foot"])

# rest offsets (body frame, metres) of a 1.75 m adult standing upright, arms hanging
_REST = {
    "spine mid": (0.0, 0.26, 0.0),
    "spine shoulder": (0.0, 0.24, 0.0),
    "neck": (0.0, 0.07, 0.0),
    "head": (0.0, 0.14, 0.01),
    "left shoulder": (0.17, -0.03, 0.0),
    "left elbow": (0.0, -0.28, 0.0),
    "left wrist": (0.0, -0.25, 0.0),
    "left hand": (0.0, -0.07, 0.0),
    "left hand tip": (0.0, -0.08, 0.0),
    "left thumb": (0.0, -0.03, 0.04),
    "left hip": (0.09, -0.04, 0.0),
    "left knee": (0.0, -0.43, 0.0),
    "left ankle": (0.0, -0.42, 0.0),
    "left foot": (0.0, -0.05, 0.11),
}
# which proportion scale each bone follows (subjects differ in these)
GROUPS = {
    "spine mid": "torso",
    "spine shoulder": "torso",
    "neck": "torso",
    "head": "head",
    "shoulder": "shoulders",
    "elbow": "arm",
    "wrist": "arm",
    "hand": "hand",
    "hand tip": "hand",
    "thumb": "hand",
    "hip": "hips",
    "knee": "leg",
    "ankle": "leg",
    "foot": "foot",
}
GROUP_NAMES = ("torso", "head", "shoulders", "arm", "hand", "hips", "leg", "foot")


def rest_offsets() -> np.ndarray:
    """(V, 3) offsets of each joint from its parent; the right side mirrors the left in x."""
    off = np.zeros((NTU25.num_joints, 3))
    for name, xyz in _REST.items():
        off[J[name]] = xyz
        if name.startswith("left "):
            off[J["right " + name[5:]]] = (-xyz[0], xyz[1], xyz[2])
    return off


def bone_group(joint: str) -> str:
    return GROUPS[joint.removeprefix("left ").removeprefix("right ")]


def _plane_rotation(a, axis: int, i: int, j: int) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    m = np.zeros(a.shape + (3, 3))
    m[..., axis, axis] = 1.0
    m[..., i, i] = c
    m[..., i, j] = -s
    m[..., j, i] = s
    m[..., j, j] = c
    return m


def rx(a) -> np.ndarray:
    """Rotations about x for angles (...,) -> (..., 3, 3)."""
    return _plane_rotation(a, 0, 1, 2)


def ry(a) -> np.ndarray:
    """Rotations about y (up) for angles (...,) -> (..., 3, 3)."""
    return _plane_rotation(a, 1, 2, 0)


def rz(a) -> np.ndarray:
    """Rotations about z for angles (...,) -> (..., 3, 3)."""
    return _plane_rotation(a, 2, 0, 1)


@dataclass
class Pose:
    """Bone rotations over time for one sequence of T frames.

    rot (V, T, 3, 3): bone rotation of each joint (identity = rest); root (T, 3): root position
    in the body frame (the root's own entry in ``rot`` turns the whole body).
    """

    rot: np.ndarray
    root: np.ndarray
    turned: set = field(default_factory=set)  # joints whose rotation is not the identity

    @classmethod
    def rest(cls, t: int) -> Pose:
        rot = np.broadcast_to(np.eye(3), (NTU25.num_joints, t, 3, 3)).copy()
        return cls(rot, np.zeros((t, 3)), set())

    def turn(self, joint: str, r: np.ndarray) -> None:
        """Compose a further rotation (T, 3, 3) onto ``joint``'s bone (applied after the ones
        already there, in the parent's frame)."""
        j = J[joint]
        self.rot[j] = r @ self.rot[j]
        self.turned.add(j)


def forward(pose: Pose, offsets: np.ndarray) -> np.ndarray:
    """Joint positions (T, V, 3) of a pose for per-joint offsets (V, 3)."""
    v, t = pose.rot.shape[:2]
    assert offsets.shape == (v, 3), f"offsets shape {offsets.shape}, expected ({v}, 3)"
    g = [None] * v  # (T, 3, 3) global frame of each bone
    p = np.empty((t, v, 3))
    g[0] = pose.rot[0]
    p[:, 0] = pose.root
    for j in ORDER[1:]:
        par = PARENT[j]
        g[j] = g[par] @ pose.rot[j] if j in pose.turned else g[par]  # (T, 3, 3)
        p[:, j] = p[:, par] + (g[j].reshape(-1, 3) @ offsets[j]).reshape(t, 3)  # (T, 3)
    return p
