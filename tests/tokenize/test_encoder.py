import numpy as np
import pytest
import torch

from sugar_core.errors import ConfigError
from sugar_core.tokenize.config import EncoderConfig
from sugar_core.tokenize.encoder import SkeletonEncoder


@pytest.mark.parametrize("layout,v", [("ntu25", 25), ("kinect20", 20), ("coco17", 17)])
@pytest.mark.parametrize("preset", ["small", "paper"])
def test_token_shapes_per_preset_and_layout(preset, layout, v):
    frames = 12 if preset == "paper" else 20  # keep the paper preset cheap
    cfg = EncoderConfig.preset_named(
        preset, layout, frames=frames, max_bodies=2, in_channels=2 if layout == "coco17" else 3
    )
    enc = SkeletonEncoder(cfg).eval()
    x = torch.randn(3, 2, frames, v, cfg.in_channels)
    with torch.no_grad():
        tokens, pooled = enc(x)
    ls = cfg.token_length()
    assert ls == -(-frames // cfg.total_stride)
    assert tokens.shape == (3, ls, cfg.dim) and pooled.shape == (3, cfg.dim)
    torch.testing.assert_close(pooled, tokens.mean(1))


@pytest.mark.parametrize(
    "strides,frames,ls",
    [((1, 1), 52, 52), ((2, 1), 52, 26), ((2, 2), 52, 13), ((2, 2), 50, 13), ((4, 1), 10, 3)],
)
def test_ls_follows_the_strides(strides, frames, ls):
    cfg = EncoderConfig("kinect20", frames=frames, channels=(16, 16), strides=strides)
    assert cfg.token_length() == ls
    with torch.no_grad():
        tokens, _ = SkeletonEncoder(cfg).eval()(torch.randn(2, 1, frames, 20, 3))
    assert tokens.shape[1] == ls


def test_wrong_input_shape_names_the_expectation():
    enc = SkeletonEncoder(EncoderConfig("kinect20", channels=(16,), strides=(1,)))
    with pytest.raises(AssertionError, match="V=20"):
        enc(torch.randn(2, 1, 8, 25, 3))


def test_bad_config_is_a_config_error():
    with pytest.raises(ConfigError, match="equal length"):
        EncoderConfig("ntu25", channels=(64, 64), strides=(1,))
    with pytest.raises(ConfigError, match="divisible"):
        EncoderConfig("ntu25", channels=(30,), strides=(1,))
    with pytest.raises(ConfigError, match="unknown joint layout"):
        EncoderConfig("nope")


def test_config_round_trip():
    cfg = EncoderConfig.small("ntu25", max_bodies=2)
    assert EncoderConfig.from_dict(cfg.to_dict()) == cfg


def test_graph_conv_uses_the_skeleton_graph():
    """With the refinement off (alpha = 0), a joint's output depends only on its neighbours
    within the receptive field: a far joint does not change after one graph layer."""
    cfg = EncoderConfig("kinect20", frames=4, channels=(16,), strides=(1,), partition_mode="sum")
    enc = SkeletonEncoder(cfg).eval()
    gcn = enc.blocks[0].gcn
    x = torch.randn(1, 3, 4, 20)
    y0 = gcn(x)
    x2 = x.clone()
    x2[:, :, :, 19] += 5.0  # right foot
    y1 = gcn(x2)
    changed = (y1 - y0).abs().sum(dim=(0, 1, 2)) > 1e-5
    # right foot (19) and its neighbour right ankle (18) change; the head (3) does not
    assert changed[19] and changed[18] and not changed[3]
    np.testing.assert_array_equal(changed.numpy().nonzero()[0], [18, 19])
