import numpy as np
import torch

from sugar_core.skeleton import transforms as tf
from sugar_core.skeleton.layouts import get_layout
from sugar_core.skeleton.prep import stream_factor


def _walk(rng, t=10, layout="kinect20"):
    v = get_layout(layout).num_joints
    j = rng.normal(scale=0.2, size=(1, t, v, 3)).astype(np.float32)
    j += np.array([0.5, 0.0, 3.0], np.float32)  # away from the camera origin
    return j


def test_centre_first_frame_puts_origin_at_zero(rng):
    j = _walk(rng)
    out = tf.centre(j, origin=1, mode="first")
    np.testing.assert_allclose(out[0, 0, 1], 0, atol=1e-6)
    np.testing.assert_allclose(out[0, 3] - out[0, 2], j[0, 3] - j[0, 2], atol=1e-5)
    per_frame = tf.centre(j, origin=1, mode="frame")
    np.testing.assert_allclose(per_frame[0, :, 1], 0, atol=1e-6)


def test_centre_keeps_absent_bodies_zero(rng):
    j = np.concatenate([_walk(rng), np.zeros((1, 10, 20, 3), np.float32)])
    out = tf.centre(j, origin=1)
    assert np.all(out[1] == 0)


def test_view_normalise_removes_a_camera_rotation(rng):
    j = tf.centre(_walk(rng), origin=1)
    angle = 0.9
    rot = np.array(
        [[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]],
        np.float32,
    )
    a = tf.view_normalise(j, "kinect20")
    b = tf.view_normalise(j @ rot.T, "kinect20")
    np.testing.assert_allclose(a, b, atol=1e-4)
    f = a[0, 0]
    ix = get_layout("kinect20").index
    right = (f[ix("right shoulder")] + f[ix("right hip")]) / 2
    left = (f[ix("left shoulder")] + f[ix("left hip")]) / 2
    up = f[ix("left shoulder")] + f[ix("right shoulder")] - f[ix("left hip")] - f[ix("right hip")]
    across = right - left
    assert abs(across[2]) < 1e-4 and across[0] > 0  # left-to-right lies along +x
    assert abs(up[0]) < 1e-4 and abs(up[2]) < 1e-4 and up[1] > 0  # hips-to-shoulders is +y


def test_resample_endpoints_and_length(rng):
    j = _walk(rng, t=7)
    out = tf.resample(j, 0.0, 6.0, 13)
    assert out.shape == (1, 13, 20, 3)
    np.testing.assert_allclose(out[:, 0], j[:, 0])
    np.testing.assert_allclose(out[:, -1], j[:, -1])
    np.testing.assert_allclose(out[:, 2], j[:, 1], atol=1e-6)  # 2 * 6 / 12 = frame 1
    single = tf.resample(j[:, :1], 0.0, 0.0, 5)
    assert single.shape == (1, 5, 20, 3)


def test_select_bodies_keeps_the_most_active_and_pads(rng):
    still = np.ones((1, 6, 20, 3), np.float32)
    moving = _walk(rng, t=6)
    out = tf.select_bodies(np.concatenate([still, moving, still]), 1)
    np.testing.assert_array_equal(out, moving)
    padded = tf.select_bodies(moving, 2)
    assert padded.shape == (2, 6, 20, 3) and np.all(padded[1] == 0)


def test_static_prep_drops_empty_frames_and_channels(rng):
    j = np.concatenate([_walk(rng, t=5), np.zeros((1, 3, 20, 3), np.float32)], axis=1)
    j4 = np.concatenate([j, np.ones((1, 8, 20, 1), np.float32)], axis=-1)  # confidence
    cfg = tf.PrepConfig(frames=8, max_bodies=2, view_normalise=False)
    out = tf.static_prep(j4, cfg, "kinect20")
    assert out.shape == (2, 5, 20, 3)


def test_batches_are_reproducible_from_the_generator(rng):
    items = [
        tf.static_prep(_walk(rng, t=t), tf.PrepConfig(frames=9), "kinect20") for t in (5, 12, 30)
    ]
    cfg = tf.PrepConfig(frames=9)
    p1 = tf.draw_params(3, cfg, torch.Generator().manual_seed(4))
    p2 = tf.draw_params(3, cfg, torch.Generator().manual_seed(4))
    a = tf.prepare_batch(items, cfg, "kinect20", p1)
    b = tf.prepare_batch(items, cfg, "kinect20", p2)
    assert a.shape == (3, 1, 9, 20, 3)
    torch.testing.assert_close(a, b)
    plain = tf.prepare_batch(items, cfg, "kinect20")
    assert not torch.allclose(a, plain)


def test_rotation_params_are_rotations_times_scale():
    cfg = tf.PrepConfig(scale=(1.0, 1.0), per_axis_scale=0.0)
    p = tf.draw_params(16, cfg, torch.Generator().manual_seed(0))
    eye = np.einsum("bij,bkj->bik", p.rotation, p.rotation)
    np.testing.assert_allclose(eye, np.broadcast_to(np.eye(3), eye.shape), atol=1e-5)
    assert np.all((p.crop[:, 1] - p.crop[:, 0]) >= cfg.crop_min - 1e-6)
    assert np.all(p.crop >= 0) and np.all(p.crop <= 1 + 1e-6)


def test_mirror_index_swaps_left_and_right():
    layout = get_layout("ntu25")
    idx = tf.mirror_index("ntu25")
    assert layout.joints[idx[layout.index("left hand")]] == "right hand"
    assert idx[layout.index("head")] == layout.index("head")
    np.testing.assert_array_equal(idx[idx], np.arange(25))


def test_bone_stream_subtracts_the_parent_joint(rng):
    x = rng.normal(size=(2, 1, 4, 20, 3)).astype(np.float32)
    bone = tf.to_stream(x, "bone", "msr20")
    # MSR joint 20 (head, index 19) hangs from joint 3 (neck, index 2); 12 (left hand) from 10
    np.testing.assert_allclose(bone[..., 19, :], x[..., 19, :] - x[..., 2, :])
    np.testing.assert_allclose(bone[..., 11, :], x[..., 11, :] - x[..., 9, :])
    centre = get_layout("msr20").centre
    assert np.all(bone[..., centre, :] == 0)
    both = tf.to_stream(x, "joint+bone", "msr20")
    assert both.shape == (2, 1, 4, 20, 6)
    np.testing.assert_array_equal(both[..., :3], x)
    np.testing.assert_array_equal(both[..., 3:], bone)
    assert tf.to_stream(x, "joint", "msr20") is x
    assert stream_factor("joint+bone") == 2 and stream_factor("bone") == 1


def test_prepare_batch_feeds_the_configured_stream(rng):
    cfg = tf.PrepConfig(frames=6, stream="joint+bone")
    items = [rng.normal(size=(1, 9, 20, 3)).astype(np.float32) for _ in range(3)]
    out = tf.prepare_batch(items, cfg, "msr20")
    assert out.shape == (3, 1, 6, 20, 6)
    plain = tf.prepare_batch(items, tf.PrepConfig(frames=6), "msr20")
    torch.testing.assert_close(out[..., :3], plain)
    import pytest

    from sugar_core.errors import ConfigError

    with pytest.raises(ConfigError, match="stream"):
        tf.PrepConfig(stream="motion")
