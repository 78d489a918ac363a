"""PYSKL annotation pickles: conversion, splits, class lists, and the restricted unpickler."""

from __future__ import annotations

import pickle
from collections import OrderedDict

import numpy as np
import pytest

from sugar_core.errors import InputFormatError
from sugar_core.skeleton.classes import NTU60, NTU120
from sugar_core.skeleton.io import ReadOptions, load, read_dataset
from tests.helpers.readers import pyskl_annotations, write_pickle

NTU_NAMES = ["S001C001P001R001A001", "S001C002P002R001A002", "S002C003P003R002A003"]


class Sneaky:
    """Unpickling this would call ``eval``; the reader must refuse before that happens."""

    def __reduce__(self):
        return (eval, ("1 + 1",))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_reads_3d_ntu_pickle_with_splits(tmp_path, rng, protocol):
    anns = pyskl_annotations(rng, NTU_NAMES, [0, 1, 2])
    split = {
        "xsub_train": NTU_NAMES[:2],
        "xsub_val": NTU_NAMES[2:],
        "xview_train": NTU_NAMES[1:],
        "xview_val": NTU_NAMES[:1],
        "notes": "ignored",
    }
    path = write_pickle(tmp_path / "ntu.pkl", {"split": split, "annotations": anns}, protocol)
    res = load(path, "pyskl")
    data = res.data
    assert data.layout == "ntu25" and data.class_names == list(NTU60)
    assert data.sample_ids == NTU_NAMES and list(data.labels) == [0, 1, 2]
    for s, a in zip(data.samples, anns):
        np.testing.assert_array_equal(s.joints, a["keypoint"])
    assert data.samples[2].meta == {
        "setup": 2,
        "camera": 3,
        "subject": 3,
        "repetition": 2,
        "view": 3,
    }
    assert list(data.splits["xsub"]) == [1, 1, 0] and list(data.splits["xview"]) == [0, 1, 1]
    assert res.notes["splits_ignored"] == ["notes"]


def test_2d_keypoints_gain_the_score_channel_and_generic_names(tmp_path, rng):
    anns = pyskl_annotations(rng, ["clip_a", "clip_b"], [0, 3], two_d=True)
    path = write_pickle(
        tmp_path / "gym.pkl",
        {"split": {"train": ["clip_a"], "val": ["clip_b"]}, "annotations": anns},
    )
    res = load(path, "pyskl")
    data = res.data
    assert data.layout == "coco17" and data.samples[0].joints.shape[-1] == 3
    np.testing.assert_array_equal(data.samples[1].joints[..., 2], anns[1]["keypoint_score"])
    assert data.class_names == ["class 0", "class 1", "class 2", "class 3"]
    assert "generic" in res.notes["class_list"]
    assert list(data.splits["default"]) == [1, 0]
    names = tmp_path / "names.txt"
    names.write_text("a\nb\nc\nd\ne\n")
    assert read_dataset(path, "pyskl", ReadOptions(classes=str(names))).class_names[4] == "e"


def test_ntu120_from_labels_and_bare_list(tmp_path, rng):
    anns = pyskl_annotations(rng, NTU_NAMES[:2], [0, 100])
    data = read_dataset(write_pickle(tmp_path / "l.pkl", anns), "pyskl")
    assert data.class_names == list(NTU120) and data.splits == {}


@pytest.mark.parametrize(
    "obj, words",
    [
        (Sneaky(), "refusing to unpickle builtins.eval"),
        ({"annotations": [OrderedDict(a=1)]}, "refusing to unpickle collections.OrderedDict"),
        ({"annotations": [], "extra": Sneaky}, f"refusing to unpickle {__name__}.Sneaky"),
        ({"split": {}}, "missing key 'annotations'"),
        ([{"frame_dir": "x", "label": 1}], "annotation 0: missing key 'keypoint'"),
        (
            [
                {
                    "frame_dir": "x",
                    "label": 1,
                    "keypoint": np.zeros((1, 4, 25, 3)),
                    "total_frames": 5,
                }
            ],
            "total_frames 5 but 'keypoint' has 4 frames",
        ),
        (
            [{"frame_dir": "x", "label": "a", "keypoint": np.zeros((1, 4, 25, 3))}],
            "label 'a' is not an integer",
        ),
        (
            [{"frame_dir": "x", "label": 0, "keypoint": np.zeros((4, 25, 3))}],
            "numeric (M, T, V, C) array",
        ),
    ],
)
def test_refusals_and_malformed_annotations(tmp_path, obj, words):
    path = write_pickle(tmp_path / "bad.pkl", obj)
    with pytest.raises(InputFormatError) as err:
        read_dataset(path, "pyskl")
    assert words in err.value.reason and err.value.path == str(path)


def test_eval_payload_never_runs(tmp_path, monkeypatch):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(Sneaky()))
    calls = []
    monkeypatch.setattr("builtins.eval", lambda *a: calls.append(a))
    with pytest.raises(InputFormatError):
        read_dataset(path, "pyskl")
    assert calls == []


def test_not_a_pickle_and_skip_bad(tmp_path, rng):
    path = tmp_path / "x.pkl"
    path.write_bytes(b"\x80\x05garbage")
    with pytest.raises(InputFormatError, match="not a readable pickle"):
        read_dataset(path, "pyskl")
    anns = pyskl_annotations(rng, NTU_NAMES, [0, 1, 2])
    del anns[1]["keypoint"]
    path = write_pickle(tmp_path / "some.pkl", {"annotations": anns})
    res = load(path, "pyskl", ReadOptions(skip_bad=True))
    assert res.data.sample_ids == [NTU_NAMES[0], NTU_NAMES[2]]
    assert len(res.skipped) == 1 and "annotation 1" in res.skipped[0].reason
