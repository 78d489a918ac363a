"""The four streams (joint, bone, joint-motion, bone-motion), random resampling and the
test-time views, on hand-made sequences."""

import numpy as np
import pytest
import torch

from sugar_core.errors import ConfigError
from sugar_core.skeleton import transforms as tf
from sugar_core.skeleton.prep import STREAMS, PrepConfig, stream_factor


def _ramp(t: int = 4, v: int = 20) -> np.ndarray:
    """(1, 1, T, V, 3): joint j at frame t sits at (t * (j + 1), t^2, j): known differences."""
    x = np.zeros((1, 1, t, v, 3), np.float32)
    for f in range(t):
        for j in range(v):
            x[0, 0, f, j] = (f * (j + 1), f * f, j)
    return x


def test_joint_motion_is_the_next_frame_minus_this_one_and_zero_at_the_end():
    x = _ramp()
    m = tf.to_stream(x, "joint-motion", "msr20")
    assert m.shape == x.shape and m.dtype == np.float32
    # x moves by (j + 1, 2t + 1, 0) from frame t to t + 1
    np.testing.assert_allclose(m[0, 0, 0, 4], [5, 1, 0])
    np.testing.assert_allclose(m[0, 0, 2, 4], [5, 5, 0])
    np.testing.assert_allclose(m[0, 0, :-1], x[0, 0, 1:] - x[0, 0, :-1])
    assert np.all(m[..., -1, :, :] == 0)


def test_bone_motion_is_the_motion_of_the_bones():
    x = _ramp()
    bone = tf.to_stream(x, "bone", "msr20")
    bm = tf.to_stream(x, "bone-motion", "msr20")
    np.testing.assert_allclose(bm, tf.motion(bone))
    # MSR head (index 19) hangs from the neck (index 2): bone x = t * (20 - 3) = 17 t, y = 0
    np.testing.assert_allclose(bone[0, 0, :, 19, 0], 17 * np.arange(4))
    np.testing.assert_allclose(bm[0, 0, :3, 19], [[17, 0, 0]] * 3)
    assert np.all(bm[..., -1, :, :] == 0)
    assert np.all(bm[..., 0, :, get_centre("msr20"), :] == 0)


def get_centre(layout: str) -> int:
    from sugar_core.skeleton.layouts import get_layout

    return get_layout(layout).centre


@pytest.mark.parametrize("stream", STREAMS)
def test_every_stream_keeps_the_shape_and_says_its_channels(stream):
    x = _ramp(t=5)
    out = tf.to_stream(x, stream, "msr20")
    assert out.shape == (1, 1, 5, 20, 3 * stream_factor(stream))
    assert stream_factor(stream) == (2 if stream == "joint+bone" else 1)


def test_motion_is_taken_after_resampling_per_encoder_frame():
    rng = np.random.default_rng(0)
    items = [rng.normal(size=(1, 11, 20, 3)).astype(np.float32) for _ in range(2)]
    joint = tf.prepare_batch(items, PrepConfig(frames=6), "msr20").numpy()  # (B, M, T, V, C)
    moving = tf.prepare_batch(items, PrepConfig(frames=6, stream="joint-motion"), "msr20")
    assert moving.shape == (2, 1, 6, 20, 3)
    np.testing.assert_allclose(moving.numpy(), tf.motion(joint), atol=1e-6)
    bones = tf.prepare_batch(items, PrepConfig(frames=6, stream="bone"), "msr20").numpy()
    bm = tf.prepare_batch(items, PrepConfig(frames=6, stream="bone-motion"), "msr20")
    np.testing.assert_allclose(bm.numpy(), tf.motion(bones), atol=1e-6)


def test_unknown_stream_and_tta_out_of_range_are_refused():
    with pytest.raises(ConfigError, match="bone-motion"):
        PrepConfig(stream="velocity")
    with pytest.raises(ConfigError, match="tta"):
        PrepConfig(tta=9)
    with pytest.raises(ConfigError, match="tta"):
        PrepConfig(tta=0)


def test_random_sampling_reads_one_point_inside_each_segment_of_the_crop():
    cfg = PrepConfig(frames=8, random_sampling=True, crop_min=0.5)
    p = tf.draw_params(3, cfg, torch.Generator().manual_seed(0))
    assert p.crop.shape == (3, 2 + 8)
    offsets = p.crop[:, 2:]
    assert np.all(offsets >= 0) and np.all(offsets < 1) and offsets.std() > 0.1
    # a clip whose value is its frame index shows where each of the T frames was read
    t = 41
    clip = np.broadcast_to(np.arange(t, dtype=np.float32)[None, :, None, None], (1, t, 20, 3))
    for i in range(3):
        out = tf.augment_and_resample(clip.copy(), cfg, "msr20", p, i)[0, :, 0, 0]  # (T,)
        # undo the rotation x scale: x is row 0 of the matrix applied to (f, f, f)
        pos = out / p.rotation[i][0].sum()
        start, stop = p.crop[i, :2] * (t - 1)
        edges = start + (stop - start) * np.arange(9) / 8
        assert np.all(pos >= edges[:-1] - 1e-3) and np.all(pos <= edges[1:] + 1e-3)
        np.testing.assert_allclose(pos, start + (stop - start) * (np.arange(8) + offsets[i]) / 8,
                                   rtol=1e-4, atol=1e-3)  # fmt: skip


def test_random_sampling_off_keeps_the_random_stream_and_even_spacing():
    on = tf.draw_params(4, PrepConfig(frames=8, random_sampling=True), torch.Generator())
    off = tf.draw_params(4, PrepConfig(frames=8), torch.Generator())
    assert off.crop.shape == (4, 2)
    np.testing.assert_array_equal(on.crop[:, :2], off.crop)
    np.testing.assert_array_equal(on.rotation, off.rotation)
    clip = np.arange(9, dtype=np.float32)[None, :, None, None].repeat(20, 2)  # (1, 9, 20, 1)
    np.testing.assert_allclose(tf.resample(clip, 0, 8, 5)[0, :, 0, 0], [0, 2, 4, 6, 8])


def test_tta_views_are_fixed_whole_mirrored_and_cropped():
    views = tf.tta_params(8)
    assert len(views) == 8 and all(v.crop.shape == (1, 2) for v in views)
    assert [bool(v.mirror[0]) for v in views[:2]] == [False, True]
    assert all(np.array_equal(v.rotation[0], np.eye(3)) for v in views)
    np.testing.assert_allclose(views[2].crop[0], [0.0, 0.9], rtol=1e-6)
    rng = np.random.default_rng(1)
    item = rng.normal(size=(1, 12, 20, 3)).astype(np.float32)
    cfg = PrepConfig(frames=6)
    plain = tf.augment_and_resample(item, cfg, "msr20", None)
    whole = tf.augment_and_resample(item, cfg, "msr20", tf.repeat_params(views[0], 1))
    np.testing.assert_allclose(whole, plain, atol=1e-6)  # view 0 is the plain evaluation
    batch = tf.repeat_params(views[1], 3)
    assert batch.crop.shape == (3, 2) and batch.mirror.tolist() == [True] * 3
    with pytest.raises(AssertionError, match="tta"):
        tf.tta_params(9)


def test_tta_encoding_is_the_mean_of_the_views():
    from sugar_core.tokenize.bank import PreparedBank, encode_bank
    from sugar_core.tokenize.config import TokenizeConfig, prep_for
    from sugar_core.tokenize.encoder import SkeletonEncoder
    from sugar_core.tokenize.encoding import encode
    from sugar_core.tokenize.network import Heads
    from tests.helpers.tokenize import tiny_set

    data = tiny_set(n=6, k=3)
    torch.manual_seed(0)
    enc = SkeletonEncoder(
        TokenizeConfig(frames=8, channels=(16, 16), strides=(2, 1)).encoder_config(data)
    ).eval()
    heads = Heads(enc.cfg.dim, 4, None, 0.07).eval()
    plain = encode(data, enc, heads, prep=PrepConfig())
    two = encode(data, enc, heads, prep=PrepConfig(tta=2))
    assert two.encoder_config["prep"]["tta"] == 2
    bank = PreparedBank(data, np.arange(6), prep_for(enc.cfg, PrepConfig()))
    mirrored = tf.repeat_params(tf.tta_params(2)[1], 6)
    with torch.no_grad():
        tok_m, pool_m = enc(bank.batch(np.arange(6), mirrored))  # (B, Ls, D), (B, D)
    np.testing.assert_allclose(two.features, (plain.features + pool_m.numpy()) / 2, atol=1e-5)
    expect = (np.stack(plain.tokens).astype(np.float32) + tok_m.numpy()) / 2
    np.testing.assert_allclose(np.stack(two.tokens).astype(np.float32), expect, atol=2e-3)
    assert not np.allclose(pool_m.numpy(), plain.features, atol=1e-4)  # the views differ
    t1, p1 = encode_bank(enc, bank, 4)
    np.testing.assert_allclose(p1, plain.features, atol=1e-6)
