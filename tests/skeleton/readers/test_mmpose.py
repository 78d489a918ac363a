"""MMPose / RTMPose predictions reader: --save-predictions files, bare frame lists, an image's
instances, track ids, and bad files named with the frame and key."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sugar_core.errors import InputFormatError
from sugar_core.skeleton.io import ReadOptions, read_file
from sugar_core.skeleton.readers import mmpose
from tests.helpers.poses import write_mmpose


def _poses(rng, m: int, t: int) -> np.ndarray:
    xy = rng.uniform(0, 80, (m, t, 17, 2)) + np.arange(m)[:, None, None, None] * 500.0
    return np.round(np.concatenate([xy, rng.uniform(0.2, 1, (m, t, 17, 1))], -1), 4).astype(
        np.float32
    )


def test_save_predictions_file_with_track_ids(tmp_path, rng):
    joints = _poses(rng, 2, 5)
    path = write_mmpose(tmp_path / "clip.json", joints, track_ids=True)
    doc = json.loads(path.read_text())
    for f in doc["instance_info"]:
        f["instances"].reverse()  # ids, not list order, say who is who
    doc["instance_info"].reverse()  # frame_id, not list order, says when
    path.write_text(json.dumps(doc))
    (s,) = read_file(path, "mmpose")
    assert s.joints.shape == (2, 5, 17, 3)
    np.testing.assert_allclose(s.joints, joints, atol=1e-6)


def test_bare_frame_list_and_one_image(tmp_path, rng):
    joints = _poses(rng, 1, 3)
    path = write_mmpose(tmp_path / "clip.json", joints)
    frames = json.loads(path.read_text())["instance_info"]
    path.write_text(json.dumps(frames))
    np.testing.assert_allclose(mmpose.read_clip(path, ReadOptions()), joints, atol=1e-6)
    path.write_text(json.dumps({"instance_info": frames[0]["instances"]}))
    np.testing.assert_allclose(mmpose.read_clip(path, ReadOptions()), joints[:, :1], atol=1e-6)
    del frames[1]["instances"][0]["keypoint_scores"]  # no scores: listed key points count as 1
    path.write_text(json.dumps(frames))
    assert np.all(mmpose.read_clip(path, ReadOptions())[0, 1, :, 2] == 1.0)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda i: i.update(keypoints=[[1, 2]] * 16), "frame 0 instance 0.keypoints: 32 numbers"),
        (lambda i: i.update(keypoint_scores=[1] * 18), "keypoint_scores: 18 numbers, expected 17"),
        (lambda i: i.pop("keypoints"), "frame 0 instance 0: expected an object with 'keypoints'"),
        (lambda i: i.update(keypoints="none"), "keypoints: not a list of numbers"),
    ],
)  # fmt: skip
def test_bad_instances_name_the_frame_and_key(tmp_path, rng, edit, message):
    path = write_mmpose(tmp_path / "clip.json", _poses(rng, 1, 2))
    doc = json.loads(path.read_text())
    edit(doc["instance_info"][0]["instances"][0])
    path.write_text(json.dumps(doc))
    with pytest.raises(InputFormatError) as exc:
        mmpose.read_clip(path, ReadOptions())
    assert message in str(exc.value) and "clip.json" in str(exc.value), str(exc.value)


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"meta_info": {}}, "not MMPose predictions"),
        ([{"frame_id": 1, "instances": []}, {"frame_id": 2}], "frame 1: expected an object with"),
        ([{"frame_id": 1, "instances": []}], "no person detected in any of its 1 frames"),
    ],
)  # fmt: skip
def test_bad_documents(tmp_path, doc, message):
    path = tmp_path / "x.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputFormatError, match="x.json") as exc:
        mmpose.read_clip(path, ReadOptions())
    assert message in str(exc.value)
    assert mmpose.sniff(path) == isinstance(doc, list)
