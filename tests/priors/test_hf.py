"""The hf backend on a tiny random LLaMA: batching, left padding, retries, failure reports.

The model's answers are gibberish by construction; these tests check the plumbing.
"""

from __future__ import annotations

import pytest
import torch

from sugar_core.errors import BackendError
from sugar_core.priors.backends import BackendConfig
from sugar_core.priors.backends.hf import HFBackend
from sugar_core.priors.build import PriorsConfig, build_priors
from tests.helpers.encoders import tiny_text_encoder
from tests.helpers.llm import load_tiny_llama

PROMPTS = [
    "a person walks",
    "describe the action of an arm that lifts a cup to the head in six parts",
    "throw",
    "a person picks up the box with two hands and then sits down",
    "hip",
]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(tiny_llm_dir):
    return load_tiny_llama(tiny_llm_dir)


def hf(tiny, **kw) -> HFBackend:
    model, tok = tiny
    opts = dict(name="hf", model="tiny", max_new_tokens=6)
    opts.update(kw)
    return HFBackend(BackendConfig(**opts), model=model, tokenizer=tok)


def test_batched_left_padded_generation_matches_one_by_one(tiny):
    batched = hf(tiny, batch_size=3).complete(PROMPTS)
    single = hf(tiny, batch_size=1).complete(PROMPTS)
    assert len(batched) == len(PROMPTS) and all(isinstance(a, str) for a in batched)
    assert batched == single
    assert tiny[1].padding_side == "left"


def test_chat_template_is_used_when_present(tiny, tiny_llm_dir):
    start, end = "<|im_start|>", "<|im_end|>\n"  # ChatML
    assert hf(tiny).render("hello") == f"{start}user\nhello{end}{start}assistant\n"
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert hf(tiny).render(chat) == (
        f"{start}system\nbe brief{end}{start}user\nhi{end}{start}assistant\n"
    )
    model, _ = tiny
    _, plain_tok = load_tiny_llama(tiny_llm_dir, chat=False)
    plain = HFBackend(BackendConfig(name="hf"), model=model, tokenizer=plain_tok)
    assert plain.render("hello") == "hello"
    assert plain.render(chat) == "be brief\n\nhi"
    assert len(plain.complete(["a person", "walks"])) == 2


def test_retries_sample_reproducibly_without_touching_global_rng(tiny):
    b = hf(tiny, max_new_tokens=12)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = b.complete(PROMPTS[:2], attempt=1)
    assert torch.rand(1) == before  # the caller's random stream is untouched
    assert b.complete(PROMPTS[:2], attempt=1) == first
    greedy = b.complete(PROMPTS[:2], attempt=0)
    assert greedy == b.complete(PROMPTS[:2], attempt=0)


def test_gibberish_is_retried_then_reported_by_class(tiny, tmp_path):
    b = hf(tiny)
    calls = []
    real = b.complete

    def counting(prompts, attempt=0):
        calls.append((len(prompts), attempt))
        return real(prompts, attempt)

    b.complete = counting
    cfg = PriorsConfig(retries=2, cache_dir=str(tmp_path))
    with pytest.raises(BackendError) as err:
        build_priors(["walk around", "throw"], cfg, b, tiny_text_encoder())
    assert calls == [(2, 0), (2, 1), (2, 2)]
    msg = str(err.value)
    assert msg.startswith("motion answers from hf:tiny")
    assert "after 3 tries for 2 of 2 classes" in msg and "'walk around'" in msg and "'throw'" in msg


def test_gibberish_with_builtin_fallback_still_writes_priors(tiny, tmp_path):
    cfg = PriorsConfig(retries=1, fallback="builtin", cache_dir=str(tmp_path))
    priors, report = build_priors(["walk around", "throw"], cfg, hf(tiny), tiny_text_encoder())
    assert report.fallback["motion"] == ["walk around", "throw"]
    assert report.valid["motion"] == 0
    assert priors.sources["motion"] == "builtin-fallback"
    assert priors.texts[0, 1].startswith("head faces the walking direction")


def test_loads_a_model_folder_lazily(tiny_llm_dir):
    b = HFBackend(BackendConfig(name="hf", model=str(tiny_llm_dir), max_new_tokens=4))
    assert b._model is None  # nothing loaded until the first question
    assert b.id.startswith(f"hf:{tiny_llm_dir}|max_new_tokens=4")
    assert len(b.complete(["a person walks"])) == 1
    assert b._model is not None
