"""Array formats: CTR-GCN npz (both layouts, one-hot labels, padding) and sugar's plain npz."""

from __future__ import annotations

import numpy as np
import pytest

from sugar_core.errors import InputFormatError
from sugar_core.skeleton.classes import NTU60
from sugar_core.skeleton.io import ReadOptions, load, read_dataset


def _padded(rng, n, t=12, m=2, v=25):
    """(N, M, T, V, 3) with per-sample lengths and a second body only in odd samples."""
    x = np.zeros((n, m, t, v, 3), np.float32)
    lengths = 4 + np.arange(n) % (t - 4)
    for i in range(n):
        x[i, 0, : lengths[i]] = rng.normal(size=(lengths[i], v, 3))
        if i % 2:
            x[i, 1, : lengths[i]] = rng.normal(size=(lengths[i], v, 3))
    return x, lengths


@pytest.mark.parametrize("layout", ["ntctv", "nctvm"])
def test_ctrgcn_npz(tmp_path, rng, layout):
    x, lengths = _padded(rng, 6)
    y = np.arange(6) % 60
    arrays = {}
    for part, idx in (("train", slice(0, 4)), ("test", slice(4, 6))):
        xs = x[idx]
        if layout == "ntctv":  # (N, T, M*V*C)
            xs = xs.transpose(0, 2, 1, 3, 4).reshape(len(xs), 12, -1)
        else:  # (N, C, T, V, M)
            xs = xs.transpose(0, 4, 2, 3, 1)
        arrays[f"x_{part}"] = xs
        arrays[f"y_{part}"] = np.eye(60)[y[idx]]  # one-hot
    path = tmp_path / "NTU60_CS.npz"
    np.savez(path, **arrays)
    res = load(path, "npz")
    data = res.data
    assert data.layout == "ntu25" and data.class_names == list(NTU60)
    assert list(data.splits) == ["xsub"] and list(data.splits["xsub"]) == [1, 1, 1, 1, 0, 0]
    assert list(data.labels) == list(y)
    for i, s in enumerate(data.samples):
        assert s.length == lengths[i] and s.bodies == 1 + i % 2
        np.testing.assert_array_equal(s.joints, x[i, : s.bodies, : lengths[i]])
    assert data.sample_ids[4] == "test_000000"
    named = read_dataset(path, "npz", ReadOptions(split_name="mine"))
    assert list(named.splits) == ["mine"]


def test_npz_errors(tmp_path, rng):
    path = tmp_path / "a.npz"
    np.savez(path, x_train=np.zeros((2, 4, 75)), y_train=np.zeros(2))
    with pytest.raises(InputFormatError, match="missing array 'x_test'"):
        read_dataset(path, "npz")
    np.savez(
        path,
        x_train=np.zeros((2, 4, 74)),
        y_train=np.zeros(2),
        x_test=np.zeros((1, 4, 74)),
        y_test=np.zeros(1),
    )
    with pytest.raises(Exception, match="pass --layout"):
        read_dataset(path, "npz")
    bad = tmp_path / "b.npz"
    bad.write_text("not a zip")
    with pytest.raises(InputFormatError, match="not an .npz archive"):
        read_dataset(bad, "npz")


def _plain(rng, **over):
    x, lengths = _padded(rng, 5, v=20)
    arrays = dict(
        joints=x,
        lengths=lengths,
        labels=np.array([0, 1, 2, 1, 0]),
        class_names=np.array(["wave", "clap", "kick"]),
        layout=np.array("kinect20"),
        sample_ids=np.array([f"s{i}" for i in range(5)]),
        subjects=np.arange(5) + 1,
        split_xsub=np.array([1, 1, 0, 0, -1], np.int8),
    )
    arrays.update(over)
    return x, lengths, {k: v for k, v in arrays.items() if v is not None}


def test_plain_numpy_format(tmp_path, rng):
    x, lengths, arrays = _plain(rng)
    path = tmp_path / "mine.npz"
    np.savez(path, **arrays)
    data = read_dataset(path, "numpy")
    assert data.class_names == ["wave", "clap", "kick"] and data.layout == "kinect20"
    assert data.sample_ids == ["s0", "s1", "s2", "s3", "s4"]
    assert list(data.splits["xsub"]) == [1, 1, 0, 0, -1]
    assert data.samples[3].meta == {"subject": 4}
    for i, s in enumerate(data.samples):
        np.testing.assert_array_equal(s.joints, x[i, : 1 + i % 2, : lengths[i]])


@pytest.mark.parametrize(
    "over, words",
    [
        ({"labels": np.array([0, 1, 2, 3, 0])}, "sample 3: label 3 outside 0..2"),
        ({"lengths": np.array([4, 5, 99, 4, 4])}, "sample 2: length 99 outside 1..12"),
        ({"layout": np.array("ntu25")}, "layout ntu25 has 25 joints"),
        ({"layout": np.array("blob")}, "unknown joint layout"),
        ({"class_names": np.array(["a", 1], dtype=object)}, "holds Python objects"),
        ({"split_xsub": np.array([1, 2, 0, 0, 0])}, "'split_xsub' must be"),
        ({"joints": None}, "missing array 'joints'"),
        ({"subjects": np.arange(3)}, "'subjects' has 3 entries"),
    ],
)
def test_plain_numpy_errors(tmp_path, rng, over, words):
    _, _, arrays = _plain(rng, **over)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(InputFormatError, match=words.replace("(", r"\(")):
        read_dataset(path, "numpy")
