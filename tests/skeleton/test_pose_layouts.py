"""The pose estimators' layouts (body25, coco18, mediapipe33): graphs the encoder can use,
left/right twins, mappings to coco17 and ntu25, and 2D confidence kept out of the geometry."""

from __future__ import annotations

import numpy as np
import pytest

from sugar_core.errors import ConfigError
from sugar_core.skeleton.graph import bone_pairs, hop_distance, spatial_partitions
from sugar_core.skeleton.layouts import convert, get_layout, joint_map
from sugar_core.skeleton.prep import PrepConfig
from sugar_core.skeleton.render import project
from sugar_core.skeleton.transforms import (
    augment_and_resample,
    draw_params,
    mirror_index,
    static_prep,
)

POSE = ("body25", "coco18", "mediapipe33")


@pytest.mark.parametrize("name", POSE)
def test_bones_form_one_tree_from_the_centre(name):
    lay = get_layout(name)
    v = lay.num_joints
    assert len(set(lay.joints)) == v and len(lay.bones) == v - 1
    assert (hop_distance(v, lay.bones, lay.centre) >= 0).all()
    assert spatial_partitions(lay).shape == (3, v, v) and bone_pairs(lay).shape == (v, 2)
    mirror = mirror_index(name)
    assert sorted(mirror) == list(range(v)) and (mirror != np.arange(v)).sum() >= 12
    assert lay.image


@pytest.mark.parametrize("name", POSE)
def test_mapping_to_coco17_is_by_joint_name(name):
    src, coco = get_layout(name), get_layout("coco17")
    idx = joint_map(name, "coco17")
    assert [src.joints[i] for i in idx] == list(coco.joints)
    x = np.random.default_rng(0).normal(size=(1, 2, src.num_joints, 3)).astype(np.float32)
    np.testing.assert_array_equal(convert(x, name, "coco17"), x[..., idx, :])


def test_mapping_to_ntu25_averages_joints_it_lacks():
    mp, ntu = get_layout("mediapipe33"), get_layout("ntu25")
    x = np.random.default_rng(1).normal(size=(2, 3, 33, 4)).astype(np.float32)
    y = convert(x, "mediapipe33", "ntu25")
    assert y.shape == (2, 3, 25, 4)
    hips = x[..., [mp.index("left hip"), mp.index("right hip")], :].mean(-2)
    np.testing.assert_allclose(y[..., ntu.index("spine base"), :], hips, rtol=1e-5)
    np.testing.assert_array_equal(
        y[..., ntu.index("left knee"), :], x[..., mp.index("left knee"), :]
    )
    body = convert(np.ones((1, 1, 25, 3), np.float32), "body25", "ntu25")
    np.testing.assert_allclose(body, 1.0, rtol=1e-6)  # every row's weights sum to one
    with pytest.raises(ConfigError, match="body25/coco18/mediapipe33->coco17"):
        joint_map("body25", "ntu25")  # averaged: through convert only


def test_2d_confidence_is_carried_not_rotated_or_centred():
    rng = np.random.default_rng(2)
    joints = np.concatenate(
        [rng.uniform(100, 200, (1, 10, 25, 2)), rng.uniform(0.2, 1, (1, 10, 25, 1))], -1
    ).astype(np.float32)
    cfg = PrepConfig(frames=8, channels=3, rotate_deg=(30.0, 30.0, 30.0))
    prepped = static_prep(joints, cfg, "body25")
    np.testing.assert_array_equal(prepped[..., 2], joints[..., 2])
    assert abs(prepped[0, 0, 8, :2]).max() == 0  # centred on mid hip, coordinates only
    import torch

    params = draw_params(1, cfg, torch.Generator().manual_seed(0))
    out = augment_and_resample(prepped, cfg, "body25", params)
    ref = augment_and_resample(prepped, cfg, "body25", None)
    np.testing.assert_allclose(out[..., 2].mean(), ref[..., 2].mean(), atol=0.1)
    assert out[..., 2].min() >= 0.2 - 1e-6 and out[..., 2].max() <= 1 + 1e-6


def test_drawing_flips_y_and_leaves_missed_key_points_out():
    joints = np.zeros((1, 1, 18, 3), np.float32)
    joints[0, 0, 1] = [10, 20, 0.9]
    xy = project(joints, get_layout("coco18"))
    assert xy[0, 0, 1].tolist() == [10, -20]
    assert np.isnan(xy[0, 0, 0]).all()  # nose not found: (0, 0) is not drawn
