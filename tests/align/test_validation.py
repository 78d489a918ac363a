"""The test part decides nothing in alignment: other test tokens, the same trained model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from sugar_core.align.config import AlignConfig, BridgeConfig, LLMConfig
from sugar_core.align.training import train_alignment
from tests.helpers.align import synthetic_priors, synthetic_tokens

pytestmark = pytest.mark.usefixtures("one_thread")


def _untimed(value):
    """``value`` without wall-clock figures (seconds, the schedule's measured estimate)."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if "seconds" not in k}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _trainable(model) -> dict[str, torch.Tensor]:
    out = {f"bridge.{k}": v for k, v in model.bridge.state_dict().items()}
    out.update({k: p.detach() for k, p in model.llm.named_parameters() if p.requires_grad})
    return out


@pytest.mark.parametrize("standardize", [False, True])
def test_other_test_tokens_train_the_same_model(tiny_llm_dir, standardize):
    cfg = AlignConfig(
        bridge=BridgeConfig(queries=3, chunk=4, width=16, heads=2, standardize=standardize),
        llm=LLMConfig(spec=str(tiny_llm_dir), lora_r=4, max_description_tokens=6),
        epochs=2, lr=5e-3, batch_size=8, token_noise=0.1,
    )  # fmt: skip
    tokens = synthetic_tokens()
    rng = np.random.default_rng(7)
    test = set(tokens.split_indices("xview", "test").tolist())
    noisy = dataclasses.replace(
        tokens,
        tokens=[
            (rng.normal(size=t.shape) * 9).astype(np.float16) if i in test else t
            for i, t in enumerate(tokens.tokens)
        ],
    )
    a = train_alignment(tokens, synthetic_priors(), cfg, "xview")
    b = train_alignment(noisy, synthetic_priors(), cfg, "xview")
    wa, wb = _trainable(a), _trainable(b)
    assert set(wa) == set(wb)
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name
    assert _untimed(a.history) == _untimed(b.history)
