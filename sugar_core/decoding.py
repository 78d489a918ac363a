"""Decoding with the frozen LLM: rank every listed class, or generate greedily.

Both start the same way: the prompt (with the action tokens spliced in) runs once per sample
and leaves a key/value cache and the logits of the first answer token.

- ``rank_scores``: the log-likelihood of each candidate ``{name}`` after the prompt. The prompt's
  cache is expanded over the candidates (one row per sample and candidate) and the candidate
  continuations go through batched forwards, one per candidate length (so no padding is
  computed), split into ``max_rows`` rows at a time to bound memory.
- ``continue_greedy``: greedy decoding from the prompt's cache, all rows in lockstep. A row may
  carry forced tokens (the ranked winner's ``{name}``), which are fed before free generation.
"""

from __future__ import annotations

import torch

from .llm import FrozenLLM, Prompt, cache_of, select_rows


@torch.no_grad()
def run_prompt(llm: FrozenLLM, action: torch.Tensor, prompt: Prompt, prefix=None):
    """(cache, logits (B, V) of the first answer token) for action tokens (B, Q_out, D_llm).

    ``prefix``: ``llm.prefix_cache(prompt)``, computed once for many batches.
    """
    out = llm.run(action, prompt, logits_to_keep=1, prefix=prefix)
    return cache_of(out), out.logits[:, -1].float()


@torch.no_grad()
def rank_scores(
    llm: FrozenLLM, action: torch.Tensor, prompt: Prompt, max_rows: int = 256, state=None
) -> torch.Tensor:
    """Sum of log-probabilities of every candidate's ids after the prompt: (B, K) float32.

    The first id of each candidate is scored from the prompt's own last logits; the rest run
    as continuations of the prompt's cache, expanded to one row per (sample, candidate).
    Candidates are grouped by length, so no padding token is ever computed. ``state`` =
    (cache, first logits) from ``run_prompt`` when the caller already has them.
    """
    cache, first = state if state is not None else run_prompt(llm, action, prompt)
    B, dev = action.shape[0], first.device
    Lp = prompt.length + action.shape[1]
    heads = torch.tensor([c[0] for c in prompt.candidates], device=dev)
    scores = first.log_softmax(-1)[:, heads]  # (B, K)
    by_length: dict[int, list[int]] = {}
    for k, ids in enumerate(prompt.candidates):
        by_length.setdefault(len(ids), []).append(k)
    for length, ks in sorted(by_length.items()):
        if length == 1:
            continue
        ids = torch.tensor([prompt.candidates[k] for k in ks], device=dev)  # (K_l, L)
        ks_t = torch.tensor(ks, device=dev)
        pos = torch.arange(Lp, Lp + length - 1, device=dev)[None]  # (1, L - 1)
        n_rows = B * len(ks)
        for start in range(0, n_rows, max_rows):
            rows = torch.arange(start, min(start + max_rows, n_rows), device=dev)  # (R,)
            b, j = rows // len(ks), rows % len(ks)
            out = llm.model(
                input_ids=ids[j, :-1],  # (R, L - 1)
                position_ids=pos.expand(len(rows), -1),
                use_cache=True,
                **{llm.cache_kw: select_rows(cache, b)},
            )
            logp = out.logits.float().log_softmax(-1)  # (R, L - 1, V)
            scores[b, ks_t[j]] += logp.gather(-1, ids[j, 1:, None])[..., 0].sum(-1)
    return scores


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
