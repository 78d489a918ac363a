"""NW-UCLA JSON reader: labels, views, the xview split, and malformed files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sugar_core.errors import InputFormatError
from sugar_core.skeleton.classes import NW_UCLA
from sugar_core.skeleton.io import ReadOptions, read_dataset, read_file
from sugar_core.skeleton.readers import ucla
from tests.conftest import shared_path
from tests.helpers.readers import ucla_doc, write_ucla_dir


def test_reads_labels_meta_and_xview(tmp_path, rng):
    expected = write_ucla_dir(tmp_path, rng)
    data = read_dataset(tmp_path, "nw-ucla")
    assert data.class_names == list(NW_UCLA) and data.layout == "kinect20"
    assert len(data) == 7
    by_id = {s.sample_id: s for s in data.samples}
    for name, joints in expected.items():
        np.testing.assert_array_equal(by_id[name].joints, joints)
    s = by_id["a12_s02_e03_v03"]
    assert s.label == 9 and s.meta == {"subject": 2, "repetition": 3, "view": 3, "camera": 3}
    assert by_id["a08_s03_e01_v01"].label == 6  # action 8 is the seventh class
    views = data.meta_array("view")
    np.testing.assert_array_equal(data.splits["xview"], np.where(views == 3, 0, 1))


def test_fast_road_matches_json(tmp_path, rng):
    doc = ucla_doc(rng, "a01_s01_e01_v01", 9, 1)
    text = json.dumps(doc, indent=1).encode()  # newlines and indentation inside the array
    fast = ucla._parse_fast(text)
    assert fast is not None
    careful = ucla._parse_careful(text, tmp_path / "x.json")
    np.testing.assert_array_equal(fast[1], careful[1])
    assert fast[0]["label"] == 1 and fast[0]["file_name"] == "a01_s01_e01_v01"


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda d: d.pop("skeletons"), "missing key 'skeletons'"),
        (lambda d: d.pop("label"), "missing key 'label'"),
        (lambda d: d.update(label=11), "'label' is 11"),
        (lambda d: d.update(label=2), "disagrees with action a01"),
        (lambda d: d["skeletons"][1].pop(), "not a T x 20 x 3 array"),
        (lambda d: d["skeletons"][0][0].__setitem__(1, "x"), "not a T x 20 x 3 array"),
        (lambda d: d.update(skeletons=[[[1.0, 2.0]] * 20]), "has shape (1, 20, 2)"),
    ],
)
def test_malformed_documents(tmp_path, rng, edit, words):
    doc = ucla_doc(rng, "a01_s01_e01_v01", 4, 1)
    edit(doc)
    path = tmp_path / "a01_s01_e01_v01.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputFormatError, match=words.replace("(", r"\(").replace(")", r"\)")):
        read_file(path, "nw-ucla")


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "a01_s01_e01_v01.json"
    path.write_text('{"file_name": "a01_s01_e01_v01",\n "skeletons": [[[1, 2, 3]]\n "label": 1}')
    with pytest.raises(InputFormatError) as err:
        read_file(path, "nw-ucla")
    assert err.value.line == 3 and "not valid JSON" in err.value.reason


def test_foreign_names_only_for_single_files(tmp_path, rng):
    (tmp_path / "clip.json").write_text(json.dumps(ucla_doc(rng, "clip", 3, 4)))
    (sample,) = read_file(tmp_path / "clip.json", "nw-ucla")
    assert sample.label == 3 and sample.meta == {}
    with pytest.raises(InputFormatError, match="not an NW-UCLA name"):
        read_dataset(tmp_path, "nw-ucla")


@pytest.mark.integration
def test_real_nw_ucla():
    data = read_dataset(shared_path("nw-ucla", "all_sqe"), "nw-ucla", ReadOptions(workers=2))
    assert len(data) == 1484 and len(data.class_names) == 10
    assert (data.splits["xview"] == 1).sum() == 1020 and (data.splits["xview"] == 0).sum() == 464
    assert np.bincount(data.labels).tolist() == [150, 152, 141, 173, 148, 149, 142, 142, 145, 142]
    assert data.lengths.min() == 1 and data.lengths.max() == 201
