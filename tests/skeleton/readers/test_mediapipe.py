"""MediaPipe Pose landmarks reader: JSON frame lists (with null frames and several poses), long
and wide CSV, and bad files named with the line or frame."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sugar_core.errors import InputFormatError
from sugar_core.skeleton.io import ReadOptions, read_file
from sugar_core.skeleton.readers import mediapipe
from tests.helpers.poses import write_mediapipe_csv, write_mediapipe_json


def _landmarks(rng, t: int) -> np.ndarray:
    x = rng.uniform(0.05, 0.95, (1, t, 33, 4))
    return np.round(x, 4).astype(np.float32)  # (1, T, 33, 4) x, y, z, visibility


def test_json_frames_with_a_missing_pose(tmp_path, rng):
    joints = _landmarks(rng, 4)
    joints[0, 2] = 0  # no pose found in frame 2: written as null
    path = write_mediapipe_json(tmp_path / "clip.json", joints)
    assert json.loads(path.read_text())[2] is None
    (s,) = read_file(path, "mediapipe")
    assert s.joints.shape == (1, 4, 33, 4)
    np.testing.assert_allclose(s.joints, joints, atol=1e-6)


def test_json_message_to_dict_form_and_several_poses(tmp_path, rng):
    a, b = _landmarks(rng, 2), _landmarks(rng, 2) + np.float32(5)
    keys = ("x", "y", "z", "visibility")

    def pose(j):
        return [dict(zip(keys, map(float, lm))) for lm in j]

    frames = [{"landmark": pose(a[0, 0])}, [pose(a[0, 1]), pose(b[0, 1])]]
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"frames": frames}))
    clip = mediapipe.read_clip(path, ReadOptions())
    assert clip.shape == (2, 2, 33, 4)
    np.testing.assert_allclose(clip[0], a[0], atol=1e-6)
    np.testing.assert_allclose(clip[1, 1], b[0, 1], atol=1e-6)


@pytest.mark.parametrize("wide", [False, True])
def test_csv_long_with_names_and_indices_and_wide(tmp_path, rng, wide):
    joints = _landmarks(rng, 3)
    path = write_mediapipe_csv(tmp_path / "c.csv", joints, wide=wide)
    assert mediapipe.sniff(path)
    np.testing.assert_allclose(mediapipe.read_clip(path, ReadOptions()), joints, atol=1e-6)


def test_landmark_names_follow_mediapipe_spelling():
    assert mediapipe.landmark_index("LEFT_SHOULDER") == 11
    assert mediapipe.landmark_index("mouth_right") == 10
    assert mediapipe.landmark_index("33") is None and mediapipe.landmark_index("tail") is None


@pytest.mark.parametrize(
    "text, message, line",
    [
        ("frame,landmark,x,y,z\n0,elbow,1,2,3\n", "landmark 'elbow' is not 0..32", 2),
        ("frame,landmark,x,y,z\n0,1,1,2,3\n0,2,1,b,3\n", "y 'b' is not a number", 3),
        ("frame,landmark,x,y\n0,1,1,2\n", "header lacks ['z']", 1),
        ("landmark,x,y,z\n", "header has no 'frame' column", 1),
        ("frame,landmark,x,y,z\n0,1,1,2\n", "4 fields, the header has 5", 2),
        ("frame,landmark,x,y,z\n1e999,1,1,2,3\n", "frame '1e999' is not a frame number", 2),
    ],
)  # fmt: skip
def test_bad_csv_names_the_line(tmp_path, text, message, line):
    path = tmp_path / "c.csv"
    path.write_text(text)
    with pytest.raises(InputFormatError) as exc:
        mediapipe.read_clip(path, ReadOptions())
    assert message in str(exc.value) and exc.value.line == line, str(exc.value)


@pytest.mark.parametrize(
    "doc, message",
    [
        ([[{"x": 0, "y": 0, "z": 0}] * 32], "frame 0 pose 0: 32 landmarks, expected 33"),
        ([[{"x": 0, "y": 0}] * 33], "landmark 0: expected x, y, z, visibility"),
        ({"people": []}, "not MediaPipe landmarks"),
        ([None, []], "no person detected in any of its 2 frames"),
    ],
)  # fmt: skip
def test_bad_json(tmp_path, doc, message):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputFormatError) as exc:
        mediapipe.read_clip(path, ReadOptions())
    assert message in str(exc.value), str(exc.value)
