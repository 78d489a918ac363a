"""Decoding with the frozen LLM: rank every listed class, or generate greedily.

Both start the same way: the prompt (with the action tokens spliced in) runs once per sample
and leaves a key/value cache and the logits of the first answer token.

- ``rank_scores``: the log-likelihood of each candidate ``{name}`` after the prompt. The prompt's
  cache is expanded over the K candidates (rows b*K + k), and all candidate continuations go
  through one batched forward (split into ``max_rows`` rows at a time to bound memory).
- ``continue_greedy``: greedy decoding from the prompt's cache, all rows in lockstep. A row may
  carry forced tokens (the ranked winner's ``{name}``), which are fed before free generation.
"""

from __future__ import annotations

import torch

from .llm import FrozenLLM, Prompt, cache_of, select_rows


@torch.no_grad()
def run_prompt(llm: FrozenLLM, action: torch.Tensor, prompt: Prompt):
    """(cache, logits (B, V) of the first answer token) for action tokens (B, Q_out, D_llm)."""
    out = llm.run(action, prompt, logits_to_keep=1)
    return cache_of(out), out.logits[:, -1].float()


@torch.no_grad()
def rank_scores(
    llm: FrozenLLM, action: torch.Tensor, prompt: Prompt, max_rows: int = 256, state=None
) -> torch.Tensor:
    """Sum of log-probabilities of every candidate's ids after the prompt: (B, K) float32.

    ``state`` = (cache, first logits) from ``run_prompt`` when the caller already has them.
    """
    cache, first = state if state is not None else run_prompt(llm, action, prompt)
    B, K = action.shape[0], len(prompt.candidates)
    dev = first.device
    Lp = prompt.length + action.shape[1]
    Lc = max(len(c) for c in prompt.candidates)
    pad = llm.tokenizer.pad_token_id
    cand = torch.full((K, Lc), pad, dtype=torch.long, device=dev)  # (K, Lc)
    cmask = torch.zeros(K, Lc, dtype=torch.bool, device=dev)
    for k, ids in enumerate(prompt.candidates):
        cand[k, : len(ids)] = torch.tensor(ids, device=dev)
        cmask[k, : len(ids)] = True
    scores = first.log_softmax(-1)[:, cand[:, 0]]  # (B, K): first token from the prompt's logits
    if Lc == 1:
        return scores
    flat = torch.zeros(B * K, device=dev)
    pos = torch.arange(Lp, Lp + Lc - 1, device=dev)[None]  # (1, Lc - 1)
    for start in range(0, B * K, max_rows):
        rows = torch.arange(start, min(start + max_rows, B * K), device=dev)  # (R,)
        b, k = rows // K, rows % K
        sub = select_rows(cache, b)
        out = llm.model(
            input_ids=cand[k, :-1],  # (R, Lc - 1); right padding never reaches earlier tokens
            position_ids=pos.expand(len(rows), -1),
            use_cache=True,
            **{llm.cache_kw: sub},
        )
        logp = out.logits.float().log_softmax(-1)  # (R, Lc - 1, V)
        tok = logp.gather(-1, cand[k, 1:, None])[..., 0]  # (R, Lc - 1)
        flat[rows] = (tok * cmask[k, 1:]).sum(-1)
    return scores + flat.view(B, K)


@torch.no_grad()
def continue_greedy(
    llm: FrozenLLM,
    state,
    start: int,
    forced: list[list[int]],
    max_new_tokens: int,
) -> list[list[int]]:
    """Greedy tokens after a prompt of length ``start`` whose (cache, logits) are ``state``.

    Row b first takes ``forced[b]`` verbatim, then up to ``max_new_tokens`` argmax tokens,
    stopping at an end token (not included). Returns forced + generated ids per row.
    """
    cache, logits = state
    B = len(forced)
    stops = llm.stop_ids()
    pad = llm.tokenizer.pad_token_id
    out_ids: list[list[int]] = [list(f) for f in forced]
    done = [False] * B
    dev = logits.device
    steps = max(map(len, forced)) + max_new_tokens
    for t in range(steps):
        choice = logits.argmax(-1).tolist()
        step = []
        for b in range(B):
            n_forced = len(forced[b])
            if t < n_forced:
                step.append(forced[b][t])
                continue
            if not done[b] and (choice[b] in stops or t - n_forced >= max_new_tokens):
                done[b] = True
            if done[b]:
                step.append(pad)
            else:
                out_ids[b].append(choice[b])
                step.append(choice[b])
        if all(done) or t == steps - 1:
            break
        out = llm.model(
            input_ids=torch.tensor(step, device=dev)[:, None],
            position_ids=torch.full((B, 1), start + t, device=dev),
            use_cache=True,
            logits_to_keep=1,
            **{llm.cache_kw: cache},
        )
        cache, logits = cache_of(out), out.logits[:, -1].float()
    return out_ids
