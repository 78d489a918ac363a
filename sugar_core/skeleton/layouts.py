"""Joint layouts as data: joint names, bones, centre joint, and mappings between layouts.

Bones are undirected 0-based joint pairs. ``centre`` is the joint the graph is rooted at (the
spatial partition of ST-GCN / CTR-GCN measures hop distance to it); ``origin`` is the joint
sequences are centred on during pre-processing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sugar_core.errors import ConfigError
from sugar_core.skeleton import pose_layouts as pose


@dataclass(frozen=True)
class Layout:
    name: str
    joints: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]
    centre: int  # graph root
    origin: int  # centring joint
    description: str
    dims: int = 3  # coordinate channels (x y z, or image x y); channels past them are scores
    image: bool = False  # image coordinates (y points down), as 2D pose estimators write them

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        return self.joints.index(joint)


def _pairs(one_based: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((a - 1, b - 1) for a, b in one_based)


NTU25 = Layout(
    name="ntu25",
    joints=(
        "spine base",
        "spine mid",
        "neck",
        "head",
        "left shoulder",
        "left elbow",
        "left wrist",
        "left hand",
        "right shoulder",
        "right elbow",
        "right wrist",
        "right hand",
        "left hip",
        "left knee",
        "left ankle",
        "left foot",
        "right hip",
        "right knee",
        "right ankle",
        "right foot",
        "spine shoulder",
        "left hand tip",
        "left thumb",
        "right hand tip",
        "right thumb",
    ),  # fmt: skip
    # Kinect v2 skeleton (1-based); hand tip and thumb both hang from the hand.
    bones=_pairs(
        [
            (1, 2),
            (2, 21),
            (3, 21),
            (4, 3),
            (5, 21),
            (6, 5),
            (7, 6),
            (8, 7),
            (9, 21),
            (10, 9),
            (11, 10),
            (12, 11),
            (13, 1),
            (14, 13),
            (15, 14),
            (16, 15),
            (17, 1),
            (18, 17),
            (19, 18),
            (20, 19),
            (22, 8),
            (23, 8),
            (24, 12),
            (25, 12),
        ]
    ),  # fmt: skip
    centre=20,  # spine shoulder
    origin=1,  # spine mid
    description="Kinect v2, 25 joints (NTU RGB+D 60/120, PKU-MMD)",
)

KINECT20 = Layout(
    name="kinect20",
    joints=(
        "hip centre",
        "spine",
        "shoulder centre",
        "head",
        "left shoulder",
        "left elbow",
        "left wrist",
        "left hand",
        "right shoulder",
        "right elbow",
        "right wrist",
        "right hand",
        "left hip",
        "left knee",
        "left ankle",
        "left foot",
        "right hip",
        "right knee",
        "right ankle",
        "right foot",
    ),  # fmt: skip
    # Kinect v1 SDK order; bones as CTR-GCN's NW-UCLA feeder defines them (1-based).
    bones=_pairs(
        [
            (1, 2),
            (2, 3),
            (4, 3),
            (5, 3),
            (6, 5),
            (7, 6),
            (8, 7),
            (9, 3),
            (10, 9),
            (11, 10),
            (12, 11),
            (13, 1),
            (14, 13),
            (15, 14),
            (16, 15),
            (17, 1),
            (18, 17),
            (19, 18),
            (20, 19),
        ]
    ),  # fmt: skip
    centre=2,  # shoulder centre
    origin=1,  # spine
    description="Kinect v1 SDK, 20 joints (NW-UCLA)",
)

MSR20 = Layout(
    name="msr20",
    joints=(
        "left shoulder",
        "right shoulder",
        "shoulder centre",
        "spine",
        "left hip",
        "right hip",
        "hip centre",
        "left elbow",
        "right elbow",
        "left wrist",
        "right wrist",
        "left hand",
        "right hand",
        "left knee",
        "right knee",
        "left ankle",
        "right ankle",
        "left foot",
        "right foot",
        "head",
    ),  # fmt: skip
    # Bones from the dataset's drawskt.m (1-based child-parent pairs).
    bones=_pairs(
        [
            (20, 3),
            (1, 3),
            (2, 3),
            (1, 8),
            (8, 10),
            (10, 12),
            (2, 9),
            (9, 11),
            (11, 13),
            (3, 4),
            (4, 7),
            (7, 5),
            (7, 6),
            (5, 14),
            (14, 16),
            (16, 18),
            (6, 15),
            (15, 17),
            (17, 19),
        ]
    ),  # fmt: skip
    centre=2,  # shoulder centre
    origin=3,  # spine
    description="MSR Action3D, 20 joints in its own order (not the SDK order)",
)

COCO17 = Layout(
    name="coco17",
    joints=(
        "nose",
        "left eye",
        "right eye",
        "left ear",
        "right ear",
        "left shoulder",
        "right shoulder",
        "left elbow",
        "right elbow",
        "left wrist",
        "right wrist",
        "left hip",
        "right hip",
        "left knee",
        "right knee",
        "left ankle",
        "right ankle",
    ),  # fmt: skip
    bones=(
        (15, 13),
        (13, 11),
        (16, 14),
        (14, 12),
        (11, 5),
        (12, 6),
        (9, 7),
        (7, 5),
        (10, 8),
        (8, 6),
        (5, 0),
        (6, 0),
        (1, 0),
        (3, 1),
        (2, 0),
        (4, 2),
    ),  # fmt: skip
    centre=0,  # nose
    origin=0,
    description="COCO keypoints, 17 joints (2D pose estimators, PYSKL 2D annotations)",
    dims=2,
    image=True,
)
# 2D pose estimators' own joint sets (names and bones in pose_layouts.py)
BODY25 = Layout(
    "body25",
    pose.BODY25_JOINTS,
    pose.BODY25_BONES,
    centre=1,
    origin=8,
    description="OpenPose BODY_25, 25 joints (x, y, confidence)",
    dims=2,
    image=True,
)
COCO18 = Layout(
    "coco18",
    pose.COCO18_JOINTS,
    pose.COCO18_BONES,
    centre=1,
    origin=1,
    description="OpenPose COCO-18, 18 joints (x, y, confidence)",
    dims=2,
    image=True,
)
MEDIAPIPE33 = Layout("mediapipe33", pose.MEDIAPIPE33_JOINTS, pose.MEDIAPIPE33_BONES, centre=0,
                     origin=0, description="MediaPipe Pose, 33 landmarks (x, y, z, visibility)",
                     image=True)  # fmt: skip

LAYOUTS: dict[str, Layout] = {
    x.name: x for x in (NTU25, KINECT20, MSR20, COCO17, BODY25, COCO18, MEDIAPIPE33)
}


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ConfigError(f"unknown joint layout {name!r}; known: {', '.join(LAYOUTS)}") from None


def layout_for_joint_count(v: int) -> Layout | None:
    """The default layout for a joint count (20 -> kinect20), or None if ambiguous/unknown."""
    return {25: NTU25, 20: KINECT20, 17: COCO17, 18: COCO18, 33: MEDIAPIPE33}.get(v)


# ---------------------------------------------------------------------------------------------
# mappings between layouts: index arrays into the source joints, one per destination joint

_BY_NAME = {
    # destination kinect20 joint name -> joint name in the source layout
    ("ntu25", "kinect20"): {
        "hip centre": "spine base",
        "spine": "spine mid",
        "shoulder centre": "spine shoulder",
    },
    ("msr20", "kinect20"): {},
}


def joint_map(src: str, dst: str) -> np.ndarray:
    """Indices ``idx`` (V_dst,) such that ``x[..., idx, :]`` re-expresses ``src`` joints in ``dst``.

    Supported: identity, ntu25 -> kinect20, msr20 -> kinect20, kinect20 -> msr20,
    ntu25 -> msr20, and the pose layouts (body25, coco18, mediapipe33) -> coco17 by joint name.
    Mappings that average joints (pose layouts -> ntu25) go through ``convert`` only.
    """
    if src == dst:
        return np.arange(get_layout(src).num_joints)
    if (src, dst) in _BY_NAME:
        s, d = get_layout(src), get_layout(dst)
        rename = _BY_NAME[(src, dst)]
        return np.array([s.index(rename.get(j, j)) for j in d.joints], dtype=np.int64)
    if (src, dst) == ("kinect20", "msr20"):
        fwd = joint_map("msr20", "kinect20")
        return np.argsort(fwd)
    if (src, dst) == ("ntu25", "msr20"):
        return joint_map("ntu25", "kinect20")[joint_map("kinect20", "msr20")]
    w = _pose_weights(src, dst)
    if w is not None and np.all(w.max(axis=1) == 1.0):
        return w.argmax(axis=1)
    raise ConfigError(
        f"no joint mapping from {src!r} to {dst!r}; supported: ntu25->kinect20, "
        "msr20<->kinect20, ntu25->msr20, body25/coco18/mediapipe33->coco17, "
        "body25/coco18/mediapipe33/coco17->ntu25 (some joints averaged)"
    )


def _pose_weights(src: str, dst: str) -> np.ndarray | None:
    """(V_dst, V_src) weights from a pose estimator's layout (pose_layouts.py), or None."""
    if src not in pose.POSE_LAYOUTS or dst not in pose.POSE_TARGETS or src == dst:
        return None
    recipes = pose.NTU25_FROM if dst == "ntu25" else {}
    return pose.mean_weights(get_layout(src).joints, get_layout(dst).joints, recipes)


def convert(joints: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Re-express joints (..., V_src, C) in layout ``dst`` (..., V_dst, C); a destination joint
    that the source lacks but can be made from a few of its joints (a 2D layout's spine in
    ntu25) is their mean."""
    v = get_layout(src).num_joints
    assert joints.shape[-2] == v, f"expected {v} joints for {src}, got shape {joints.shape}"
    w = _pose_weights(src, dst)
    if w is None or np.all(w.max(axis=1) == 1.0):
        return joints[..., joint_map(src, dst), :]
    return np.einsum("uv,...vc->...uc", w, joints).astype(joints.dtype)  # (..., V_dst, C)


# ---------------------------------------------------------------------------------------------
# body parts: the six the motion priors describe (priors/store.py MOTION_PARTS, same order)

BODY_PARTS = ("head", "hand", "arm", "hip", "leg", "foot")
# joint name with its side ("left " / "right ") removed -> part; the trunk counts as hip (spine
# base and mid) and head (neck, shoulder centre), so every joint of every layout has one part
_PART_JOINTS = {
    "head": "head|neck|spine shoulder|shoulder centre|nose|eye|eye inner|eye outer|ear|mouth",
    "hand": "wrist|hand|hand tip|thumb|pinky|index",
    "arm": "shoulder|elbow",
    "hip": "hip|mid hip|hip centre|spine|spine base|spine mid",
    "leg": "knee",
    "foot": "ankle|foot|foot index|big toe|small toe|heel",
}
_PART_OF = {j: part for part, js in _PART_JOINTS.items() for j in js.split("|")}


def joint_parts(name: str) -> np.ndarray:
    """(V,) index into BODY_PARTS of each joint of layout ``name``; ConfigError naming the
    joints no part claims, or a part no joint belongs to."""
    layout = get_layout(name)
    bare = [j.removeprefix("left ").removeprefix("right ") for j in layout.joints]
    unknown = [j for j, b in zip(layout.joints, bare) if b not in _PART_OF]
    if unknown:
        raise ConfigError(f"layout {name!r} has no body-part map for joints {unknown}; "
                          f"known joint names: {sorted(_PART_OF)}")  # fmt: skip
    idx = np.array([BODY_PARTS.index(_PART_OF[b]) for b in bare], dtype=np.int64)
    empty = [p for i, p in enumerate(BODY_PARTS) if not (idx == i).any()]
    if empty:
        raise ConfigError(f"layout {name!r} has no joint for body part(s) {empty}")
    return idx
