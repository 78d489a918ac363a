"""Class and sample planning of a zero-shot run: disjointness, sample parts, layouts, reuse."""

from __future__ import annotations

import numpy as np
import pytest

from sugar_core.errors import ConfigError
from sugar_core.skeleton.classes import named_list
from sugar_core.skeleton.dataset import Sample, SkeletonSet
from sugar_core.skeleton.layouts import get_layout, joint_map
from sugar_core.zeroshot.plan import (
    check_trained_without,
    default_split,
    evaluation_indices,
    plan_classes,
    seen_only,
    shared_layout,
    to_layout,
    training_indices,
)
from sugar_core.zeroshot.splits import SPLITS, UnseenSplit


def _set(names, per_class=4, layout="kinect20", seed=0):
    """per_class samples of each class; even sample index -> train, odd -> test."""
    rng = np.random.default_rng(seed)
    v = get_layout(layout).num_joints
    samples = []
    for k in range(len(names)):
        for j in range(per_class):
            x = rng.normal(size=(1, 6, v, 3)).astype(np.float32)
            samples.append(Sample(x, k, f"c{k}_{j}", {"subject": j}))
    xs = np.array([1 if s.meta["subject"] % 2 == 0 else 0 for s in samples], dtype=np.int8)
    return SkeletonSet(samples, list(names), layout, {"xs": xs}, "test")


def test_same_data_plan_is_disjoint_and_complete():
    names = named_list("nw-ucla")
    plan = plan_classes(SPLITS["nw-ucla-ru5"], names)
    assert plan.unseen == [1, 3, 4, 6, 8]
    assert plan.seen == [0, 2, 5, 7, 9]
    assert plan.seen_in_test == plan.seen
    assert set(plan.seen_names).isdisjoint(plan.unseen_names)


def test_cross_dataset_plan_matches_names():
    train = ["Walk Around", "jump", "sit down"]
    test = list(named_list("nw-ucla"))
    # walk around is unseen in the test list: its training namesake is left out of training
    plan = plan_classes(UnseenSplit("u", "", (3, 5), "user"), train, test)
    assert plan.seen == [1, 2] and plan.seen_names == ["jump", "sit down"]
    fixed = UnseenSplit("u", "", (3, 5), "user", seen=(0, 1))  # a split that insists on it
    with pytest.raises(ConfigError, match="both seen and unseen"):
        plan_classes(fixed, train, test)
    plan = plan_classes(UnseenSplit("u", "", (5, 8), "user"), train, test)
    assert plan.seen == [0, 1, 2]  # every training class: none is named stand up / throw
    assert plan.unseen_names == ["stand up", "throw"]
    assert plan.seen_in_test == [3, 4]  # walk around, sit down exist in the test list


def test_sugar_p1_plan_trains_on_first_sixty():
    plan = plan_classes(SPLITS["sugar-p1-s0"], named_list("ntu120"))
    assert plan.seen == list(range(60))
    assert not set(plan.seen) & set(plan.unseen)


def test_sample_selection_keeps_unseen_out_of_training():
    data = _set(["a", "b", "c", "d"])
    plan = plan_classes(UnseenSplit("u", "", (1, 3), "user"), data.class_names)
    tr = training_indices(data, "xs", plan.seen)
    assert set(data.labels[tr]) == {0, 2}
    assert (data.splits["xs"][tr] == 1).all()
    ev = evaluation_indices(data, "xs", plan.unseen, "test")
    assert set(data.labels[ev]) == {1, 3} and (data.splits["xs"][ev] == 0).all()
    ev_all = evaluation_indices(data, "xs", plan.unseen, "all")
    assert len(ev_all) == 8 and set(ev) < set(ev_all)
    with pytest.raises(ConfigError, match="evaluation part"):
        evaluation_indices(data, "xs", plan.unseen, "val")

    sub = seen_only(data, tr, plan.seen)
    assert sub.class_names == ["a", "c"]
    assert sorted(set(sub.labels.tolist())) == [0, 1]
    assert data.labels[tr].tolist() == [plan.seen[k] for k in sub.labels]  # original untouched


def test_default_split():
    data = _set(["a", "b"])
    assert default_split(data, "") == "xs"
    with pytest.raises(ConfigError, match="no split 'xview'"):
        default_split(data, "xview")
    data.splits["other"] = data.splits["xs"]
    with pytest.raises(ConfigError, match="--split"):
        default_split(data, "")
    data.splits = {}
    assert default_split(data, "") == ""
    assert len(training_indices(data, "", [0])) == 4  # no split: every seen sample trains


def test_layouts_convert_towards_what_maps():
    assert shared_layout("kinect20", "ntu25") == "kinect20"  # test ntu25 -> kinect20
    assert shared_layout("ntu25", "kinect20") == "kinect20"  # train data converted
    with pytest.raises(ConfigError, match="cannot map"):
        shared_layout("ntu25", "kinect20", fixed=True)
    with pytest.raises(ConfigError, match="cannot map"):
        shared_layout("coco17", "ntu25")
    data = _set(["a"], layout="ntu25")
    out = to_layout(data, "kinect20")
    assert out.layout == "kinect20" and out.samples[0].joints.shape == (1, 6, 20, 3)
    idx = joint_map("ntu25", "kinect20")
    np.testing.assert_array_equal(out.samples[0].joints, data.samples[0].joints[:, :, idx])
    assert data.samples[0].joints.shape[2] == 25


def test_reuse_check_refuses_unseen_or_unknown():
    check_trained_without("t.h5", ["a", "b"], ["c"], "encoder")
    with pytest.raises(ConfigError, match=r"t.h5: .*unseen class\(es\) \['B'\]"):
        check_trained_without("t.h5", ["a", "B"], ["b "], "encoder")
    with pytest.raises(ConfigError, match="every class"):
        check_trained_without("t.h5", None, ["c"], "alignment")
