"""``bridge.summary = "pool"``: a pooled token before a query or linear bridge's tokens."""

import numpy as np
import pytest
import torch

from sugar_core.align.bridges import Summarized, build_bridge, pad_tokens
from sugar_core.align.config import AlignConfig, BridgeConfig
from sugar_core.align.inference import predict
from sugar_core.align.store import load_aligned
from sugar_core.errors import ConfigError
from tests.align.test_bridges_time import _small, _train_and_save
from tests.helpers.align import CLASSES

pytestmark = pytest.mark.usefixtures("one_thread")

D, D_LLM = 6, 10
KINDS = ["tqp", "qformer", "xattn", "linear"]


def _cfg(kind: str, **kw) -> BridgeConfig:
    return BridgeConfig(kind=kind, queries=3, chunk=4, width=8, heads=2, **kw)


def _batch(lengths=(1, 3, 13, 25), seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, D, generator=g) for n in lengths]


@pytest.mark.parametrize("kind", KINDS)
def test_the_summary_is_the_pool_token_then_the_bridge_unchanged(kind):
    torch.manual_seed(0)
    plain = build_bridge(_cfg(kind), D, D_LLM).eval()
    torch.manual_seed(0)
    both = build_bridge(_cfg(kind, summary="pool"), D, D_LLM).eval()
    assert isinstance(both, Summarized) and both.num_tokens == plain.num_tokens + 1
    both.inner.load_state_dict(plain.state_dict())  # the same bridge weights
    pool = build_bridge(_cfg("pool"), D, D_LLM).eval()
    pool.load_state_dict(both.pool.state_dict())
    x, mask = pad_tokens(_batch())
    with torch.no_grad():
        out = both(x, mask)
        assert out.shape == (4, plain.num_tokens + 1, D_LLM)
        torch.testing.assert_close(out[:, 1:], plain(x, mask))
        torch.testing.assert_close(out[:, :1], pool(x, mask))
        # the pooled token reads the valid tokens only: padding changes nothing
        alone = both(*pad_tokens(_batch()[1:2]))
    torch.testing.assert_close(out[1:2, :1], alone[:, :1], atol=1e-6, rtol=1e-5)


def test_the_summary_learns_with_the_bridge():
    bridge = build_bridge(_cfg("tqp", summary="pool", output_scale="llm"), D, D_LLM, 3.2)
    x, mask = pad_tokens(_batch())
    bridge(x, mask).square().sum().backward()
    grads = {n: p.grad for n, p in bridge.named_parameters()}
    assert grads["inner.pool.proj.weight"].abs().sum() > 0  # inside the LLM scaling
    assert grads["inner.inner.queries"].abs().sum() > 0


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"summary": "mean"}, "summary 'mean'; choose one of none, pool"),
        ({"kind": "pool", "summary": "pool"}, "the pool bridge is that token alone"),
    ],
)
def test_bad_summaries_are_config_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        BridgeConfig(**kw).check()


def test_summary_reads_from_user_settings():
    cfg = AlignConfig.from_settings({"bridge": {"summary": "pool"}}, "here")
    assert cfg.bridge.summary == "pool" and AlignConfig().bridge.summary == "none"


def test_an_aligned_model_with_a_summary_saves_and_loads(tiny_llm_dir, tmp_path):
    model, seqs, scores = _train_and_save(tiny_llm_dir, tmp_path / "a.h5", _small(summary="pool"))
    back = load_aligned(tmp_path / "a.h5")
    assert back.config.bridge.summary == "pool" and back.bridge.num_tokens == 4
    for name, value in model.bridge.state_dict().items():
        assert torch.equal(back.bridge.state_dict()[name], value), name
    again = predict(back, seqs, CLASSES, describe=False).scores
    np.testing.assert_allclose(again, scores, atol=1e-5)
