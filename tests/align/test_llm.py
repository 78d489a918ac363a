import pytest
import torch

from sugar_core.align.bridges import build_bridge, pad_tokens
from sugar_core.align.config import BridgeConfig, LLMConfig
from sugar_core.align.decoding import continue_greedy, rank_scores, run_prompt
from sugar_core.align.llm import FrozenLLM, fingerprint, pad_answers
from sugar_core.errors import ConfigError
from tests.helpers.align import CLASSES
from tests.helpers.llm import load_tiny_llama

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def make_llm(tiny_llm_dir):
    """``make_llm(lora=True, chat=True, **llm_config)``: a FrozenLLM on a fresh copy of the
    tiny LLM, its LoRA B matrices random."""

    def make(lora=True, chat=True, **kw):
        model, tok = load_tiny_llama(tiny_llm_dir, chat)
        llm = FrozenLLM(model, tok, LLMConfig(spec="tiny", lora=lora, lora_r=4, **kw))
        if lora:  # LoRA B starts at zero; make the adapters matter for the checks below
            g = torch.Generator().manual_seed(1)
            for n, p in llm.named_parameters():
                if "lora_B" in n:
                    p.data = torch.randn(p.shape, generator=g) * 0.3
        return llm

    return make


def _action(llm, b=3, q=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, q, llm.width, generator=g)


def test_prompt_splits_at_the_placeholder_and_uses_the_chat_template(make_llm):
    llm = make_llm()
    p = llm.prompt(CLASSES)
    tok = llm.tokenizer
    before, after = tok.decode(p.prefix), tok.decode(p.suffix)
    assert before.startswith("<|im_start|>user\nGiven a sequence of action tokens ")
    assert after.startswith(", please choose the most compatible action from: [pick up, pick up w")
    assert after.endswith("and describe the action.<|im_end|>\n<|im_start|>assistant\n")
    assert [tok.decode(c) for c in p.candidates] == ["{" + c + "}" for c in CLASSES]
    ans = llm.answer_ids(p, 2, "a person sits.")
    assert ans[: len(p.candidates[2])] == p.candidates[2] and ans[-1] == tok.eos_token_id
    assert tok.decode(ans[:-1]) == "{sit down}. a person sits"


def test_list_first_prompt_puts_the_action_list_in_the_shared_prefix(make_llm):
    llm = make_llm(prompt="list-first")
    paper, first, tok = make_llm().prompt(CLASSES), llm.prompt(CLASSES), llm.tokenizer
    before, after = tok.decode(first.prefix), tok.decode(first.suffix)
    assert before.startswith("<|im_start|>user\nChoose the most compatible action from: [pick up,")
    assert before.endswith("Given a sequence of action tokens ")
    assert after == ", name the action and describe it.<|im_end|>\n<|im_start|>assistant\n"
    assert len(first.suffix) < len(paper.suffix) and first.candidates == paper.candidates


def test_unknown_prompt_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown prompt 'short'"):
        LLMConfig(prompt="short").check()


def test_prompt_without_chat_template(make_llm):
    llm = make_llm(chat=False)
    p = llm.prompt(CLASSES[:2])
    assert llm.tokenizer.decode(p.suffix).endswith("and describe the action.\nAnswer: ")


def test_train_keeps_the_llm_in_eval_and_frozen(make_llm):
    llm = make_llm()
    llm.train()
    assert llm.training and not any(m.training for m in llm.model.modules())
    trainable = [n for n, p in llm.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert not any(p.requires_grad for p in make_llm(lora=False).parameters())


@pytest.mark.parametrize("lora", [True, False])
def test_only_bridge_and_lora_get_gradients(lora, make_llm):
    llm = make_llm(lora=lora)
    bridge = build_bridge(BridgeConfig(queries=2, chunk=3, width=16, heads=2), 5, llm.width)
    p = llm.prompt(CLASSES)
    x, mask = pad_tokens([torch.randn(7, 5), torch.randn(2, 5)])
    target, tmask = pad_answers([llm.answer_ids(p, 0, "a b c"), llm.answer_ids(p, 3, "a b")])
    loss = llm(bridge(x, mask), p, target, tmask)
    loss.backward()
    for n, prm in llm.named_parameters():
        assert (prm.grad is not None) == ("lora_" in n), n
    assert all(prm.grad is not None for prm in bridge.parameters())


def test_loss_ignores_padding_of_short_answers(make_llm):
    llm = make_llm()
    p = llm.prompt(CLASSES)
    act = _action(llm, 2)
    long_, short = llm.answer_ids(p, 1, "a b c d e f"), llm.answer_ids(p, 2, "a")
    pad = torch.tensor([long_, short + [0] * (len(long_) - len(short))])
    mask = torch.tensor(
        [[True] * len(long_), [True] * len(short) + [False] * (len(long_) - len(short))]
    )
    with torch.no_grad():
        both = llm(act, p, pad, mask)
        only_short = llm(act[1:], p, torch.tensor([short]), torch.ones(1, len(short), dtype=bool))
        only_long = llm(act[:1], p, torch.tensor([long_]), torch.ones(1, len(long_), dtype=bool))
    n_l, n_s = len(long_), len(short)
    torch.testing.assert_close(both, (only_long * n_l + only_short * n_s) / (n_l + n_s))


@pytest.mark.parametrize("lora", [True, False])
def test_shared_prefix_gives_the_same_loss_and_gradients(lora, make_llm):
    llm = make_llm(lora=lora)
    p = llm.prompt(CLASSES)
    act = _action(llm, 3).requires_grad_(True)
    target, tmask = pad_answers([llm.answer_ids(p, k, "a person b") for k in (0, 2, 3)])
    results = []
    for share in (True, False):
        llm.cfg.share_prefix = share
        act.grad = None
        loss = llm(act, p, target, tmask)
        loss.backward()
        results.append((loss.detach(), act.grad.clone()))
    torch.testing.assert_close(results[0][0], results[1][0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(results[0][1], results[1][1], atol=1e-5, rtol=1e-4)


def _brute_force(llm, act, p):
    """log P(candidate ids | prompt) by one full forward per (sample, class)."""
    out = torch.zeros(act.shape[0], len(p.candidates))
    for b in range(act.shape[0]):
        for k, ids in enumerate(p.candidates):
            ids_t = torch.tensor(ids)
            emb = torch.cat([llm.splice(act[b : b + 1], p), llm.embed(ids_t)[None]], dim=1)
            logp = llm.model(inputs_embeds=emb).logits[0].log_softmax(-1)
            start = emb.shape[1] - len(ids)
            out[b, k] = sum(logp[start - 1 + j, t] for j, t in enumerate(ids))
    return out


@pytest.mark.parametrize(
    "max_rows, share, prompt",
    [(256, True, "paper"), (5, True, "paper"), (256, False, "paper"), (5, True, "list-first")],
)
def test_rank_by_rows_matches_brute_force(max_rows, share, prompt, make_llm):
    llm = make_llm(share_prefix=share, prompt=prompt)
    p = llm.prompt(CLASSES)
    act = _action(llm)
    with torch.no_grad():
        fast = rank_scores(llm, act, p, max_rows=max_rows, packed=False)
        slow = _brute_force(llm, act, p)
    torch.testing.assert_close(fast, slow, atol=1e-4, rtol=1e-4)
    assert fast.shape == (3, len(CLASSES))


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("max_tokens", [1024, 12])  # 12: several groups of candidates
def test_packed_rank_matches_brute_force_and_keeps_the_cache(attention, max_tokens, make_llm):
    llm = make_llm(prompt="list-first")
    llm.base_model().set_attn_implementation(attention)
    assert llm.base_model().config._attn_implementation == attention
    p = llm.prompt(CLASSES)
    act = _action(llm)
    state = run_prompt(llm, act, p)
    before = [lay.keys.clone() for lay in state[0].layers]
    with torch.no_grad():
        fast = rank_scores(llm, act, p, state=state, packed=True, max_tokens=max_tokens)
        slow = _brute_force(llm, act, p)
    torch.testing.assert_close(fast, slow, atol=1e-4, rtol=1e-4)
    assert all(torch.equal(b, lay.keys) for b, lay in zip(before, state[0].layers))


def test_rank_leaves_the_prompt_cache_usable(make_llm):
    llm = make_llm()
    p = llm.prompt(CLASSES)
    act = _action(llm, 2)
    state = run_prompt(llm, act, p)
    rank_scores(llm, act, p, state=state)
    L = p.length + act.shape[1]
    after_rank = continue_greedy(llm, state, L, [[], []], 6)
    fresh = continue_greedy(llm, run_prompt(llm, act, p), L, [[], []], 6)
    assert after_rank == fresh


def test_a_kept_prefix_cache_serves_many_batches_unchanged(make_llm):
    llm = make_llm(prompt="list-first")
    p = llm.prompt(CLASSES)
    with torch.no_grad():
        prefix = llm.prefix_cache(p)
    before = [(lay.keys.clone(), lay.values.clone()) for lay in prefix.layers]
    L = p.length + 2
    for b, seed in ((3, 0), (1, 1), (2, 2)):  # batches of other sizes reuse the same cache
        act = _action(llm, b, seed=seed)
        kept, fresh = run_prompt(llm, act, p, prefix), run_prompt(llm, act, p)
        torch.testing.assert_close(kept[1], fresh[1])
        with torch.no_grad():
            torch.testing.assert_close(
                rank_scores(llm, act, p, state=kept), rank_scores(llm, act, p, state=fresh)
            )
        assert continue_greedy(llm, kept, L, [[]] * b, 5) == continue_greedy(
            llm, fresh, L, [[]] * b, 5
        )
    for (k0, v0), lay in zip(before, prefix.layers):
        assert torch.equal(k0, lay.keys) and torch.equal(v0, lay.values)


def test_greedy_in_lockstep_equals_one_row_at_a_time(make_llm):
    llm = make_llm()
    p = llm.prompt(CLASSES)
    act = _action(llm, 3)
    L = p.length + act.shape[1]
    forced = [p.candidates[1], [], p.candidates[2]]  # different lengths, one free row
    together = continue_greedy(llm, run_prompt(llm, act, p), L, forced, 7)
    for b in range(3):
        alone = continue_greedy(llm, run_prompt(llm, act[b : b + 1], p), L, [forced[b]], 7)
        assert together[b] == alone[0]
        assert together[b][: len(forced[b])] == forced[b]
        assert len(together[b]) <= len(forced[b]) + 7


def _manual_greedy(llm, emb, ids: list[int], steps: int) -> list[int]:
    """Argmax tokens appended to ``ids`` by re-running the whole sequence each step (no cache)."""
    with torch.no_grad():
        for _ in range(steps):
            nxt = int(llm.model(inputs_embeds=emb).logits[0, -1].argmax())
            if nxt in llm.stop_ids():
                break
            ids.append(nxt)
            emb = torch.cat([emb, llm.embed(torch.tensor([[nxt]]))], dim=1)
    return ids


def test_greedy_matches_a_manual_argmax_loop(make_llm):
    llm = make_llm(lora=False)
    p = llm.prompt(CLASSES)
    act = _action(llm, 1)
    got = continue_greedy(llm, run_prompt(llm, act, p), p.length + 2, [[]], 5)[0]
    assert got == _manual_greedy(llm, llm.splice(act, p), [], 5)


def test_forced_tokens_then_greedy_match_a_manual_loop(make_llm):
    llm = make_llm()
    p = llm.prompt(CLASSES)
    act = _action(llm, 1)
    forced = p.candidates[1]
    got = continue_greedy(llm, run_prompt(llm, act, p), p.length + 2, [forced], 5)[0]
    emb = torch.cat([llm.splice(act, p), llm.embed(torch.tensor([forced]))], dim=1)
    assert got == _manual_greedy(llm, emb, list(forced), 5)


def test_fingerprint_sees_one_changed_weight(tiny_llm_dir):
    a, _ = load_tiny_llama(tiny_llm_dir)
    b, _ = load_tiny_llama(tiny_llm_dir)
    assert fingerprint(a) == fingerprint(b)
    with torch.no_grad():
        b.model.layers[1].mlp.up_proj.weight[0, 0] += 1e-3
    assert fingerprint(a) != fingerprint(b)


def test_bad_lora_targets_are_a_config_error(tiny_llm_dir):
    model, tok = load_tiny_llama(tiny_llm_dir)
    with pytest.raises(ConfigError, match="LoRA targets"):
        FrozenLLM(model, tok, LLMConfig(lora_targets=["no_such_proj"]))
