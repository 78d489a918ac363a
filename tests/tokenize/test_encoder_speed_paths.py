"""The fast encoder formulation computes the plain one's function: same parameters, same
outputs and gradients in fp32 (random weights, alpha != 0), and bf16 autocast stays close."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sugar_core.accel import compute_dtype
from sugar_core.tokenize import encoder_reference as reference
from sugar_core.tokenize.config import EncoderConfig
from sugar_core.tokenize.encoder import SkeletonEncoder, pointwise, temporal_max3


def _random_encoder(preset: str, seed: int = 0) -> SkeletonEncoder:
    """A seeded encoder with the parts its initialisation leaves inert made random: alpha
    (0 at init, which would hide the refined topology), BN scales, shifts and statistics."""
    torch.manual_seed(seed)
    cfg = EncoderConfig.preset_named(preset, "kinect20", frames=16, max_bodies=2)
    enc = SkeletonEncoder(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in enc.named_parameters():
            if name.endswith("alpha"):
                p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
        for mod in enc.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.weight.copy_(1 + torch.randn(mod.weight.shape, generator=gen) * 0.1)
                mod.bias.copy_(torch.randn(mod.bias.shape, generator=gen) * 0.1)
                mod.running_mean.copy_(torch.randn(mod.running_mean.shape, generator=gen) * 0.1)
                mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=gen) + 0.5)
    return enc


def _close(a: torch.Tensor, b: torch.Tensor, tol: float) -> None:
    """Equal to ``tol`` relative to the larger tensor's scale (elementwise, absolute)."""
    scale = max(a.abs().max().item(), b.abs().max().item(), 1e-12)
    assert (a - b).abs().max().item() <= tol * scale, (a - b).abs().max().item() / scale


@pytest.mark.parametrize("preset", ["small", "paper"])
def test_every_block_matches_the_plain_one_at_inference(preset):
    """Block by block: with random BN statistics nothing renormalises the activations in eval
    mode, so rounding differences grow with depth; each block agrees to float rounding."""
    enc = _random_encoder(preset).eval()
    h = torch.randn(6, 3, 16, 20, generator=torch.Generator().manual_seed(1))  # (N*M, C, T, V)
    with torch.no_grad():
        for b in enc.blocks:
            out, ref = b(h), reference.block(b, h)
            _close(out, ref, 1e-5)
            h = ref


@pytest.mark.parametrize("preset", ["small", "paper"])
def test_fast_forward_matches_the_plain_one_in_fp32(preset):
    enc = _random_encoder(preset).train()
    x = torch.randn(3, 2, 16, 20, 3, generator=torch.Generator().manual_seed(1))
    tokens, pooled = enc(x)
    ref_tokens, ref_pooled = reference.reference_forward(enc, x)
    assert tokens.dtype == torch.float32
    _close(tokens, ref_tokens, 1e-5)
    _close(pooled, ref_pooled, 1e-5)


@pytest.mark.parametrize("preset", ["small", "paper"])
def test_gradients_match_the_plain_ones_in_fp64(preset):
    """In float64 rounding is out of the way: any difference would be a different function."""
    enc = _random_encoder(preset).double().train()
    x = torch.randn(3, 2, 16, 20, 3, generator=torch.Generator().manual_seed(1)).double()
    tokens, _ = enc(x)
    ref_tokens, _ = reference.reference_forward(enc, x)
    _close(tokens, ref_tokens, 1e-10)
    params = [p for p in enc.parameters()]
    grads = torch.autograd.grad(tokens.square().sum(), params)
    ref_grads = torch.autograd.grad(ref_tokens.square().sum(), params)
    scale = max(g.abs().max().item() for g in ref_grads)
    for (name, _), g, r in zip(enc.named_parameters(), grads, ref_grads):
        assert (g - r).abs().max().item() <= 1e-9 * scale, name


def test_bf16_autocast_stays_close_to_fp32():
    enc = _random_encoder("small").eval()
    x = torch.randn(4, 2, 16, 20, 3, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref, _ = enc(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            tokens, _ = enc(x)
    assert tokens.dtype == torch.bfloat16
    _close(tokens.float(), ref, 0.05)


def test_pointwise_is_the_1x1_convolution():
    conv = nn.Conv2d(6, 10, 1)
    x = torch.randn(2, 6, 7, 5)
    torch.testing.assert_close(pointwise(conv, x), conv(x))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = pointwise(conv, x)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), conv(x), atol=0.05, rtol=0.05)


@pytest.mark.parametrize("stride,frames", [(1, 9), (2, 9), (2, 10), (3, 11)])
def test_temporal_max3_is_the_max_pool(stride, frames):
    x = torch.randn(2, 4, frames, 5)
    ref = F.max_pool2d(x, (3, 1), (stride, 1), (1, 0))
    with torch.no_grad():  # the shifted-view path
        torch.testing.assert_close(temporal_max3(x, stride), ref)
    xg = x.clone().requires_grad_()  # the pooling-kernel path, gradient included
    temporal_max3(xg, stride).sum().backward()
    xr = x.clone().requires_grad_()
    ref_out = F.max_pool2d(xr, (3, 1), (stride, 1), (1, 0))
    ref_out.sum().backward()
    torch.testing.assert_close(xg.grad, xr.grad)


def test_state_dict_keys_are_unchanged():
    """Stored encoders (tokens files) keep loading: the parameters are the same modules."""
    enc = SkeletonEncoder(EncoderConfig.small("kinect20"))
    keys = set(enc.state_dict())
    assert "blocks.0.gcn.value.weight" in keys and "blocks.0.gcn.lift.bias" in keys
    assert "blocks.0.tcn.entry.0.weight" in keys and "blocks.2.skip.0.weight" in keys


def test_compute_dtype_follows_autocast():
    x = torch.zeros(2, 3)
    assert compute_dtype(x) == torch.float32
    assert compute_dtype(x.double()) == torch.float64
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert compute_dtype(x) == torch.bfloat16
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=False):
        assert compute_dtype(x) == torch.float32
