"""The joint sets 2D pose estimators write, as plain data, and how they map onto other layouts.

``layouts.py`` turns these tuples into ``Layout`` objects (this module imports nothing from it,
so the two never form a circle). Joint names follow the coco17 spelling wherever a joint is
the same point ("left shoulder", "nose"), so a mapping to coco17 is a lookup by name; left and
right twins start with "left" / "right" so mirroring finds them.

- ``body25``: OpenPose BODY_25 (COCO joints plus neck, mid hip and three points per foot);
- ``coco18``: OpenPose COCO-18 (COCO joints in OpenPose order plus neck), ST-GCN's Kinetics;
- ``mediapipe33``: MediaPipe Pose / BlazePose landmarks (face, hands and feet points).

Bones are trees rooted at the layout's centre so the graph partitions and bone vectors are
well defined (MediaPipe's own drawing connections hold cycles; here the face hangs from the
nose and the shoulders from the nose, as coco17 does).

``NTU25_FROM`` says how an ntu25 (Kinect v2) joint is made from a pose layout where no joint
of the same name exists: the first recipe whose joints the source layout has, averaged. Rows
marked by more than one joint are approximations (Kinect's spine has no 2D counterpart).
"""

from __future__ import annotations

import numpy as np

BODY25_JOINTS = (
    "nose", "neck", "right shoulder", "right elbow", "right wrist", "left shoulder",
    "left elbow", "left wrist", "mid hip", "right hip", "right knee", "right ankle", "left hip",
    "left knee", "left ankle", "right eye", "left eye", "right ear", "left ear",
    "left big toe", "left small toe", "left heel", "right big toe", "right small toe",
    "right heel",
)  # fmt: skip
BODY25_BONES = (
    (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11), (8, 12),
    (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19), (19, 20),
    (14, 21), (11, 22), (22, 23), (11, 24),
)  # fmt: skip

COCO18_JOINTS = (
    "nose", "neck", "right shoulder", "right elbow", "right wrist", "left shoulder",
    "left elbow", "left wrist", "right hip", "right knee", "right ankle", "left hip",
    "left knee", "left ankle", "right eye", "left eye", "right ear", "left ear",
)  # fmt: skip
COCO18_BONES = (
    (4, 3), (3, 2), (7, 6), (6, 5), (13, 12), (12, 11), (10, 9), (9, 8), (11, 5), (8, 2),
    (5, 1), (2, 1), (0, 1), (15, 0), (14, 0), (17, 15), (16, 14),
)  # fmt: skip

MEDIAPIPE33_JOINTS = (
    "nose", "left eye inner", "left eye", "left eye outer", "right eye inner", "right eye",
    "right eye outer", "left ear", "right ear", "left mouth", "right mouth", "left shoulder",
    "right shoulder", "left elbow", "right elbow", "left wrist", "right wrist", "left pinky",
    "right pinky", "left index", "right index", "left thumb", "right thumb", "left hip",
    "right hip", "left knee", "right knee", "left ankle", "right ankle", "left heel",
    "right heel", "left foot index", "right foot index",
)  # fmt: skip
MEDIAPIPE33_BONES = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (0, 9), (0, 10), (0, 11),
    (0, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (12, 14), (14, 16), (16, 18),
    (16, 20), (16, 22), (11, 23), (12, 24), (23, 25), (25, 27), (27, 29), (27, 31), (24, 26),
    (26, 28), (28, 30), (28, 32),
)  # fmt: skip

# ntu25 joint -> recipes (tuples of source joint names, averaged), first one that fits wins
NTU25_FROM: dict[str, tuple[tuple[str, ...], ...]] = {
    "spine base": (("mid hip",), ("left hip", "right hip")),
    "spine mid": (
        ("neck", "mid hip"),
        ("left shoulder", "right shoulder", "left hip", "right hip"),
    ),
    "neck": (("neck", "nose"), ("left shoulder", "right shoulder", "nose")),
    "head": (("left ear", "right ear"),),
    "spine shoulder": (("neck",), ("left shoulder", "right shoulder")),
}
for _side in ("left", "right"):
    NTU25_FROM.update({
        f"{_side} hand": ((f"{_side} pinky", f"{_side} index"), (f"{_side} wrist",)),
        f"{_side} foot": ((f"{_side} big toe",), (f"{_side} foot index",), (f"{_side} ankle",)),
        f"{_side} hand tip": ((f"{_side} index",), (f"{_side} wrist",)),
        f"{_side} thumb": ((f"{_side} thumb",), (f"{_side} wrist",)),
    })  # fmt: skip

# the pose layouts a mapping starts from, and where each may go
POSE_LAYOUTS = ("body25", "coco18", "mediapipe33", "coco17")
POSE_TARGETS = ("coco17", "ntu25")


def mean_weights(src: tuple[str, ...], dst: tuple[str, ...], recipes: dict) -> np.ndarray | None:
    """(V_dst, V_src) weights, each row the mean of the source joints that make a destination
    joint: the first recipe in ``recipes`` whose joints ``src`` has, else the same name.
    None if some destination joint cannot be made."""
    w = np.zeros((len(dst), len(src)), dtype=np.float32)
    for row, joint in enumerate(dst):
        options = tuple(recipes.get(joint, ())) + ((joint,),)
        pick = next((names for names in options if all(n in src for n in names)), None)
        if pick is None:
            return None
        for n in pick:
            w[row, src.index(n)] = 1.0 / len(pick)
    return w
