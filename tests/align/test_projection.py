import pytest
import torch

from sugar_core.align.bridges import build_bridge, pad_tokens, resample
from sugar_core.align.config import BridgeConfig
from sugar_core.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")


D, D_LLM = 6, 10


def _bridge(kind="tqp", **kw):
    torch.manual_seed(0)
    cfg = BridgeConfig(kind=kind, queries=3, chunk=4, width=8, heads=2, **kw)
    return build_bridge(cfg, D, D_LLM).eval()


def _seq(ls, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(ls, D, generator=g)


@pytest.mark.parametrize("ls", [1, 3, 4, 5, 8, 11])  # shorter than, equal to, longer than S=4
@pytest.mark.parametrize("kind", ["tqp", "qformer", "linear", "pool", "xattn"])
def test_output_shape(kind, ls):
    bridge = _bridge(kind)
    x, mask = pad_tokens([_seq(ls), _seq(2, 1)])
    out = bridge(x, mask)
    assert out.shape == (2, bridge.num_tokens, D_LLM)
    assert torch.isfinite(out).all()
    assert bridge.num_tokens == {"tqp": 3, "qformer": 3, "linear": 3, "pool": 1, "xattn": 3}[kind]


@pytest.mark.parametrize("kind", ["tqp", "qformer", "xattn"])
def test_first_chunk_reaches_the_output(kind):
    """Changing only chunk 1 of a 3-chunk sequence changes the final output (recurrence)."""
    bridge = _bridge(kind)
    seq = _seq(12)
    other = seq.clone()
    other[:4] = _seq(4, 7)  # chunk 1 only
    with torch.no_grad():
        a = bridge(*pad_tokens([seq]))
        b = bridge(*pad_tokens([other]))
    assert (a - b).abs().max() > 1e-3


def test_tqp_steps_share_weights_and_follow_chunks():
    """TQP = the shared Q-Former applied chunk by chunk, each reading the previous output."""
    bridge = _bridge("tqp")
    seq = _seq(10)
    with torch.no_grad():
        h = bridge.inp(seq[None])
        q = bridge.queries
        from sugar_core.align.bridges import sinusoid

        pos = sinusoid(4, 8)
        for start in (0, 4, 8):
            part = h[:, start : start + 4]
            q = bridge.qformer(
                q, part + pos[: part.shape[1]], torch.ones(1, part.shape[1], dtype=bool)
            )
        expected = bridge.out(q)
        got = bridge(*pad_tokens([seq]))
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("kind", ["tqp", "qformer", "linear", "pool", "xattn"])
def test_padding_in_a_batch_changes_nothing(kind):
    """A short sequence padded beside a long one gives what it gives alone, whatever the pad."""
    bridge = _bridge(kind)
    short, long_ = _seq(3), _seq(13, 1)
    with torch.no_grad():
        alone = bridge(*pad_tokens([short]))
        x, mask = pad_tokens([short, long_])
        x[0, 3:] = 1e3  # garbage in the padding
        batched = bridge(x, mask)
    torch.testing.assert_close(batched[:1], alone, atol=1e-5, rtol=1e-4)


def test_last_chunk_padding_is_masked():
    """Tokens past the valid length never matter, also inside the last partial chunk."""
    bridge = _bridge("tqp")
    x, mask = pad_tokens([_seq(6)])
    x2 = torch.cat([x, torch.full((1, 2, D), 50.0)], dim=1)
    mask2 = torch.cat([mask, torch.zeros(1, 2, dtype=torch.bool)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(bridge(x2, mask2), bridge(x, mask))


def test_resample_interpolates_the_valid_part():
    ramp = torch.arange(5, dtype=torch.float32)[:, None].expand(5, 2)  # values 0..4
    x, mask = pad_tokens([ramp, torch.ones(1, 2)])
    out = resample(x, mask, 9)
    torch.testing.assert_close(out[0, :, 0], torch.linspace(0, 4, 9))
    torch.testing.assert_close(out[1], torch.ones(9, 2))  # one token: repeated


def test_gradients_reach_every_bridge_parameter():
    bridge = _bridge("tqp").train()
    x, mask = pad_tokens([_seq(9), _seq(2, 3)])
    bridge(x, mask).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in bridge.parameters())


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"kind": "conv"}, "unknown bridge"),
        ({"width": 10, "heads": 4}, "not divisible"),
        ({"chunk": 0}, "chunk must be"),
    ],
)
def test_bad_config_is_a_config_error(kw, match):
    with pytest.raises(ConfigError, match=match):
        build_bridge(BridgeConfig(**kw), D, D_LLM)


@pytest.mark.parametrize("kind", ["tqp", "pool"])
def test_standardized_bridge_equals_the_inner_bridge_on_standardized_tokens(kind):
    plain, std = _bridge(kind), _bridge(kind, standardize=True)
    assert std.num_tokens == plain.num_tokens
    std.inner.load_state_dict(plain.state_dict())
    mean, scale = torch.linspace(-1, 1, D), torch.linspace(0.5, 2, D)
    std.fit(mean, scale.clone().index_fill_(0, torch.tensor([0]), 0.0))  # channel 0 constant
    assert std.std[0] == 1.0 and "mean" in std.state_dict()
    x, mask = pad_tokens([_seq(7), _seq(3, 1)])
    want = plain((x - mean) / torch.cat([torch.ones(1), scale[1:]]), mask)
    torch.testing.assert_close(std(x, mask), want)
