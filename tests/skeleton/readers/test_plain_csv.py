"""Plain key point CSV reader: joint names or indices, with or without z and score, person ids
or none (nearest-neighbour tracking), and bad rows named by line."""

from __future__ import annotations

import numpy as np
import pytest

from sugar_core.errors import InputFormatError
from sugar_core.skeleton.io import ReadOptions, load
from sugar_core.skeleton.readers import plain_csv
from tests.helpers.poses import write_csv


def _clip(rng, m: int, t: int, v: int, d: int) -> np.ndarray:
    x = rng.uniform(1, 50, (m, t, v, d)) + np.arange(m)[:, None, None, None] * 400.0
    score = rng.uniform(0.3, 1, (m, t, v, 1))
    return np.round(np.concatenate([x, score], -1), 4).astype(np.float32)


def test_named_2d_joints_without_score_get_score_one_and_missing_rows_zero(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(
        "frame,person,joint,x,y\n0,7,left shoulder,10,20\n0,7,nose,11,5\n2,7,nose,12,6\n"
    )
    clip = plain_csv.read_clip(path, ReadOptions())
    assert clip.shape == (1, 3, 17, 3)  # coco17: the smallest 2D layout holding both names
    np.testing.assert_array_equal(clip[0, 0, 5], [10, 20, 1])
    np.testing.assert_array_equal(clip[0, 0, 0], [11, 5, 1])
    assert not clip[0, 1].any() and not clip[0, 0, 1].any()  # an empty frame, an unseen joint


@pytest.mark.parametrize("person", [True, False])
def test_3d_indexed_joints_with_score_by_ids_or_by_tracking(tmp_path, rng, person):
    joints = _clip(rng, 2, 4, 25, 3)
    path = write_csv(tmp_path / "c.csv", joints, None, person=person)
    clip = plain_csv.read_clip(path, ReadOptions())
    np.testing.assert_allclose(clip, joints, atol=1e-6)


def test_layout_from_names_in_a_data_set_and_given_layout(tmp_path, rng):
    for cls in ("a", "b"):
        for i in range(2):
            write_csv(tmp_path / "src" / cls / f"{i}.csv", _clip(rng, 1, 3, 25, 2), "body25")
    data = load(tmp_path / "src", "csv").data
    assert data.layout == "body25" and data.samples[0].joints.shape == (1, 3, 25, 3)
    with pytest.raises(InputFormatError, match="joint 'neck' is not a joint of the layout"):
        load(tmp_path / "src", "csv", ReadOptions(layout="coco17"))
    write_csv(tmp_path / "idx.csv", _clip(rng, 1, 2, 20, 3), None)
    clip = plain_csv.read_clip(tmp_path / "idx.csv", ReadOptions(layout="msr20"))
    assert clip.shape == (1, 2, 20, 4)


@pytest.mark.parametrize(
    "text, message, line",
    [
        ("frame,joint,x,y\n", "header lacks ['person']", 1),
        ("frame,person,joint,x,y\n0,1,0,1,oops\n", "y 'oops' is not a finite number", 2),
        ("frame,person,joint,x,y\n0,1,0,1,nan\n", "y 'nan' is not a finite number", 2),
        ("frame,person,joint,x,y\n0,1,0,1\n", "4 fields, the header has 5", 2),
        ("frame,person,joint,x,y\n0,1,0,1,2\n0,1,0,3,4\n", "of person '1' in frame 0 is given", 3),
        ("frame,person,joint,x,y\n1.5,1,0,1,2\n", "frame '1.5' is not a frame number", 2),
        ("frame,person,joint,x,y\n0,1,tail,1,2\n", "joint names ['tail'] fit no 2D layout", None),
        ("frame,person,joint,x,y\n", "no key point rows after the header", None),
    ],
)  # fmt: skip
def test_bad_rows_name_the_line(tmp_path, text, message, line):
    path = tmp_path / "c.csv"
    path.write_text(text)
    with pytest.raises(InputFormatError) as exc:
        plain_csv.read_clip(path, ReadOptions())
    assert message in str(exc.value) and exc.value.line == line, str(exc.value)


def test_a_joint_index_outside_the_given_layout(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("frame,person,joint,x,y\n0,1,17,1,2\n")
    with pytest.raises(InputFormatError, match="joint '17' is not a joint of the layout"):
        plain_csv.read_clip(path, ReadOptions(layout="coco17"))
