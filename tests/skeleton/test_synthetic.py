"""The embedded demo dataset: shapes, determinism, splits, physics, separability, priors."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from PIL import Image, ImageSequence

from sugar_core.errors import ConfigError
from sugar_core.priors.store import MOTION_PARTS
from sugar_core.skeleton.dataset import read_skeletons, write_skeletons
from sugar_core.skeleton.kinematics import FEET, PARENT, J
from sugar_core.skeleton.render import animate
from sugar_core.skeleton.synthetic import SYNTHETIC_CLASSES, make_synthetic
from tests.conftest import REPO


@pytest.fixture(scope="module")
def data():
    return make_synthetic(n_per_class=12, subjects=6, seed=3)


def test_shapes_and_names(data):
    assert data.class_names == ["waving", "clapping", "kicking", "squatting", "jumping", "bowing"]
    assert len(data) == 72 and data.layout == "ntu25"
    assert np.bincount(data.labels).tolist() == [12] * 6
    for s in data.samples:
        m, t, v, c = s.joints.shape
        assert (m, v, c) == (1, 25, 3) and 40 <= t <= 80, s.joints.shape
        assert s.joints.dtype == np.float32 and np.isfinite(s.joints).all()
        assert 1 <= s.meta["subject"] <= 6
    assert len(set(data.sample_ids)) == len(data)
    assert len(set(data.lengths.tolist())) > 10  # lengths vary


def test_deterministic_given_seed(data):
    again = make_synthetic(n_per_class=12, subjects=6, seed=3)
    for a, b in zip(data.samples, again.samples):
        np.testing.assert_array_equal(a.joints, b.joints)
    for name in data.splits:
        np.testing.assert_array_equal(data.splits[name], again.splits[name])
    other = make_synthetic(n_per_class=12, subjects=6, seed=4)
    assert not np.array_equal(data.samples[0].joints[:, :40], other.samples[0].joints[:, :40])


@pytest.mark.parametrize("split", ["xsub", "random"])
def test_every_class_in_both_parts(data, split):
    for part in ("train", "test"):
        idx = data.split_indices(split, part)
        assert set(data.labels[idx]) == set(range(6)), (split, part)
    assert (data.splits[split] >= 0).all()


def test_xsub_separates_subjects(data):
    subj = data.meta_array("subject")
    train = set(subj[data.split_indices("xsub", "train")])
    test = set(subj[data.split_indices("xsub", "test")])
    assert train and test and not train & test


def test_metres_y_up_feet_on_floor(data):
    for s in data.samples[::5]:
        x = s.joints[0]  # (T, V, 3)
        height = x[:, J["head"], 1] - x[:, FEET, 1].min(1)
        assert 0.9 < np.median(height) < 2.0, np.median(height)  # y up, metres
        assert 2.0 < x[:, J["spine base"], 2].mean() < 4.2  # in front of the sensor
        floor = x[:, FEET, 1].min()
        lowest = x[:, FEET, 1].min(1)  # (T,)
        if data.class_names[s.label] != "jumping":
            assert np.all(lowest - floor < 0.06)  # feet stay on the floor (noise aside)


def test_bone_lengths_constant_over_time(data):
    for s in data.samples[::7]:
        x = s.joints[0].astype(np.float64)
        for j in range(1, 25):
            length = np.linalg.norm(x[:, j] - x[:, PARENT[j]], axis=-1)  # (T,)
            assert length.std() < 0.03, (s.sample_id, j, length.std())  # sensor noise only


def test_jumping_leaves_the_floor_and_others_do_not(data):
    def lift(s):
        feet = s.joints[0][:, FEET, 1].min(1)
        return feet.max() - feet.min()

    labels = data.labels
    jumps = [lift(s) for s, y in zip(data.samples, labels) if y == 4]
    rest = [lift(s) for s, y in zip(data.samples, labels) if y not in (2, 4)]
    assert min(jumps) > 0.1 and max(rest) < 0.08


def _features(joints: np.ndarray) -> np.ndarray:
    """Orientation-free hand-made features of one take (1, T, 25, 3)."""
    x = joints[0].astype(np.float64)  # (T, V, 3)
    y = x[..., 1] - x[:, FEET, 1].min()  # height above the lowest foot
    root = x[:, J["spine base"]]
    flat = np.linalg.norm((x - root[:, None])[..., [0, 2]], axis=-1)  # (T, V) horizontal reach
    keys = [J[n] for n in ("head", "left hand", "right hand", "left knee", "right knee")]
    keys += [J["left foot"], J["right foot"], J["spine shoulder"], J["spine base"]]
    hands = np.linalg.norm(x[:, J["left hand"]] - x[:, J["right hand"]], axis=-1)
    parts = [y[:, keys].mean(0), y[:, keys].std(0), y[:, keys].max(0), y[:, keys].min(0)]
    parts += [flat[:, keys].mean(0), flat[:, keys].max(0)]
    parts += [[hands.mean(), hands.min(), hands.std()]]
    return np.concatenate([np.ravel(p) for p in parts])


def test_classes_are_distinguishable():
    data = make_synthetic(n_per_class=20, subjects=6, seed=0)
    feats = np.stack([_features(s.joints) for s in data.samples])
    tr, te = data.split_indices("xsub", "train"), data.split_indices("xsub", "test")
    mu, sd = feats[tr].mean(0), feats[tr].std(0) + 1e-6
    z = (feats - mu) / sd
    centroids = np.stack([z[tr][data.labels[tr] == k].mean(0) for k in range(6)])
    pred = np.argmin(((z[te][:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    acc = (pred == data.labels[te]).mean()
    assert acc > 0.75, acc  # chance is 1/6


def test_kinect20_layout():
    d = make_synthetic(n_per_class=2, subjects=2, seed=0, layout="kinect20")
    assert d.layout == "kinect20"
    assert all(s.joints.shape[2] == 20 for s in d.samples)
    full = make_synthetic(n_per_class=2, subjects=2, seed=0)
    # kinect20's hip centre is ntu25's spine base
    np.testing.assert_array_equal(d.samples[0].joints[..., 0, :], full.samples[0].joints[..., 0, :])


def test_bad_arguments():
    with pytest.raises(ConfigError, match="n_per_class"):
        make_synthetic(n_per_class=1)
    with pytest.raises(ConfigError, match="subjects"):
        make_synthetic(subjects=1)
    with pytest.raises(ConfigError, match="coco17"):
        make_synthetic(n_per_class=2, subjects=2, layout="coco17")


def test_fast():
    start = time.perf_counter()
    make_synthetic(n_per_class=50, subjects=10, seed=1)  # 300 takes
    assert time.perf_counter() - start < 5.0  # ~0.6 s on a laptop core; slack for busy CI


def test_round_trip_and_gif(data, tmp_path):
    path = tmp_path / "syn.h5"
    write_skeletons(data, path, config={"source": "synthetic"}, seed=3)
    back = read_skeletons(path)
    assert back.class_names == data.class_names and set(back.splits) == {"xsub", "random"}
    s = back.samples[10]
    np.testing.assert_array_equal(s.joints, data.samples[10].joints)
    gif = tmp_path / "clip.gif"
    assert animate(s.joints, back.layout, gif, title=back.class_names[s.label]) == s.length
    with Image.open(gif) as im:
        assert sum(1 for _ in ImageSequence.Iterator(im)) == s.length


def test_builtin_priors_cover_the_classes():
    path = REPO / "sugar_core/priors/builtin/synthetic.json"
    entries = json.loads(path.read_text(encoding="utf-8"))
    assert tuple(entries) == SYNTHETIC_CLASSES
    for name, e in entries.items():
        assert tuple(e["motion"]) == MOTION_PARTS, name
        assert all(isinstance(t, str) and t for t in e["motion"].values()), name
        assert len(e["visual"]) >= 3 and all(v.endswith(".") for v in e["visual"]), name
        assert e["description"].endswith(".") and e["description"].count(".") == 1, name
    from sugar_core.priors import builtin_data

    if "synthetic" in builtin_data.BUILTIN_SETS:
        assert list(builtin_data.load_builtin("synthetic")) == list(SYNTHETIC_CLASSES)
