"""OpenPose JSON reader: BODY_25 and COCO-18 clip folders, people followed by id or by the
nearest-neighbour tracker, and bad frame files named with what was expected."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sugar_core.errors import InputFormatError
from sugar_core.skeleton.io import ReadOptions, load, read_file
from sugar_core.skeleton.readers import openpose
from tests.helpers.poses import write_openpose


def _people(rng, m: int, t: int, v: int) -> np.ndarray:
    """(m, t, v, 3) people standing apart (person k around x = 300 k), scores in (0.5, 1)."""
    xy = rng.uniform(0, 50, (m, t, v, 2)) + np.arange(m)[:, None, None, None] * [300.0, 0.0]
    return np.concatenate([xy, rng.uniform(0.5, 1, (m, t, v, 1))], -1).astype(np.float32)


def test_body25_clip_with_two_people_tracked_across_swapped_order(tmp_path, rng):
    joints = np.round(_people(rng, 2, 6, 25), 4)
    folder = write_openpose(tmp_path / "clip", joints)
    for t in (2, 4):  # the estimator lists the people the other way round in some frames
        f = folder / f"clip_{t:012d}_keypoints.json"
        doc = json.loads(f.read_text())
        doc["people"].reverse()
        f.write_text(json.dumps(doc))
    (s,) = read_file(folder, "openpose")
    assert s.label == -1 and s.joints.shape == (2, 6, 25, 3)
    np.testing.assert_allclose(s.joints, joints, atol=1e-6)


def test_coco18_person_ids_are_followed_and_max_bodies_keeps_the_longest(tmp_path, rng):
    joints = np.round(_people(rng, 3, 5, 18), 4)
    joints[2, 1:] = 0  # the third person is seen in one frame only
    folder = write_openpose(tmp_path / "c", joints, ids=True)
    clip = openpose.read_clip(folder, ReadOptions(max_bodies=2))
    np.testing.assert_allclose(clip, joints[:2], atol=1e-6)


def test_frames_sort_by_number_not_by_text(tmp_path, rng):
    joints = np.round(_people(rng, 1, 12, 25), 4)
    folder = write_openpose(tmp_path / "c", joints)
    for t in range(12):  # unpadded numbers: text order would put 10 before 2
        (folder / f"c_{t:012d}_keypoints.json").rename(folder / f"frame{t}_keypoints.json")
    np.testing.assert_allclose(openpose.read_clip(folder, ReadOptions()), joints, atol=1e-6)


def _frame(tmp_path, people) -> object:
    folder = tmp_path / "bad"
    folder.mkdir(exist_ok=True)
    (folder / "bad_000000000000_keypoints.json").write_text(json.dumps({"people": people}))
    return folder


@pytest.mark.parametrize(
    "people, message, names",
    [
        ([{"pose_keypoints_2d": [1.0] * 74}], "pose_keypoints_2d has 74 values, expected 75 or 54",
         "file"),
        ([{"face_keypoints_2d": []}], "people[0]: expected an object with 'pose_keypoints_2d'",
         "file"),
        ([{"pose_keypoints_2d": ["a"] * 75}], "not a list of numbers (expected x, y, confidence",
         "file"),
        ([], "no person detected in any of its 1 frames", "folder"),  # the clip, not one frame
    ],
)  # fmt: skip
def test_bad_frames_name_the_file_and_the_key(tmp_path, people, message, names):
    folder = _frame(tmp_path, people)
    with pytest.raises(InputFormatError) as exc:
        openpose.read_clip(folder, ReadOptions())
    assert message in str(exc.value), str(exc.value)
    where = folder / "bad_000000000000_keypoints.json" if names == "file" else folder
    assert str(exc.value).startswith(f"{where}: "), (where, str(exc.value))


def test_not_json_names_the_line_and_mixed_joint_sets_are_refused(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "c_0_keypoints.json").write_text('{"people": [\n{"pose_keypoints_2d": [1, 2,]}]}')
    with pytest.raises(InputFormatError) as exc:
        openpose.read_clip(folder, ReadOptions())
    assert exc.value.line == 2 and "not valid JSON" in str(exc.value)
    (folder / "c_0_keypoints.json").write_text(
        json.dumps({"people": [{"pose_keypoints_2d": [1] * 75}]})
    )
    (folder / "c_1_keypoints.json").write_text(
        json.dumps({"people": [{"pose_keypoints_2d": [1] * 54}]})
    )
    with pytest.raises(InputFormatError, match=r"has 54 values, expected 75 \(25 key points"):
        openpose.read_clip(folder, ReadOptions())
    (folder / "c_1_keypoints.json").write_text(json.dumps({"version": 1.3}))
    with pytest.raises(InputFormatError, match="expected an object with a 'people' list"):
        openpose.read_clip(folder, ReadOptions())


def test_a_folder_of_clip_folders_imports_as_classes(tmp_path, rng):
    for cls, n in (("wave", 2), ("clap", 3)):
        for i in range(n):
            write_openpose(tmp_path / "src" / cls / f"take{i}", np.round(_people(rng, 1, 4, 18), 4))
    got = load(tmp_path / "src", "openpose")
    assert got.data.layout == "coco18" and got.data.class_names == ["clap", "wave"]
    assert got.data.sample_ids[:2] == ["clap/take0", "clap/take1"]
    assert got.files == 5 and got.data.samples[0].joints.shape == (1, 4, 18, 3)
    with pytest.raises(InputFormatError, match="not an OpenPose clip folder"):
        openpose.read_clip(tmp_path / "src", ReadOptions())
