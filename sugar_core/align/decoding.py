"""Decoding with the frozen LLM: rank every listed class, or generate greedily.

Both start the same way: the prompt (with the action tokens spliced in) runs once per sample
and leaves a key/value cache and the logits of the first answer token.

- ``rank_scores``: the log-likelihood of each candidate ``{name}`` after the prompt. With the
  model's own attention (``sdpa`` or ``eager``) every candidate's continuation is packed into
  one row per sample and scored in one forward: a block mask lets each packed token see the
  prompt and the earlier tokens of its own candidate only, and position ids restart at the
  prompt's end for each candidate, so each candidate is scored exactly as if alone. Groups of
  candidates keep a forward under ``max_tokens`` packed tokens x samples. Other attention
  kernels (which may ignore custom masks) take the row path: the prompt's cache expanded to one
  row per (sample, candidate), one forward per candidate length, ``max_rows`` rows at a time.
- ``continue_greedy``: greedy decoding from the prompt's cache, all rows in lockstep. A row may
  carry forced tokens (the ranked winner's ``{name}``), fed in one forward before free
  generation.
"""

from __future__ import annotations

import torch

from sugar_core.align.llm import FrozenLLM, Prompt, cache_of, select_rows


@torch.no_grad()
def run_prompt(llm: FrozenLLM, action: torch.Tensor, prompt: Prompt, prefix=None):
    """(cache, logits (B, V) of the first answer token) for action tokens (B, Q_out, D_llm).

    ``prefix``: ``llm.prefix_cache(prompt)``, computed once for many batches.
    """
    out = llm.run(action, prompt, logits_to_keep=1, prefix=prefix)
    return cache_of(out), out.logits[:, -1].float()


PACKABLE = ("sdpa", "eager")  # attention kernels that honour a custom 4D mask


@torch.no_grad()
def rank_scores(
    llm: FrozenLLM,
    action: torch.Tensor,
    prompt: Prompt,
    max_rows: int = 256,
    state=None,
    packed: bool | None = None,
    max_tokens: int = 1024,
) -> torch.Tensor:
    """Sum of log-probabilities of every candidate's ids after the prompt: (B, K) float32.

    The first id of each candidate is scored from the prompt's own last logits; the rest run
    as continuations of the prompt's cache: packed (one row per sample, block mask) or as rows
    (one per sample and candidate, grouped by length); both compute no padding. ``packed``
    None picks packed where the attention kernel allows. ``state`` = (cache, first logits)
    from ``run_prompt`` when the caller already has them; its cache is left as it was.
    """
    cache, first = state if state is not None else run_prompt(llm, action, prompt)
    B, dev = action.shape[0], first.device
    Lp = prompt.length + action.shape[1]
    heads = torch.tensor([c[0] for c in prompt.candidates], device=dev)
    scores = first.log_softmax(-1)[:, heads]  # (B, K)
    kernel = getattr(llm.base_model().config, "_attn_implementation", "")
    if packed if packed is not None else kernel in PACKABLE:
        return _score_packed(llm, cache, prompt, scores, Lp, max_tokens, kernel == "eager")
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


def _score_packed(
    llm: FrozenLLM, cache, prompt: Prompt, scores, Lp: int, max_tokens: int, eager: bool
):
    """Add the log-probabilities of every candidate's ids after the first to ``scores`` (B, K),
    all candidates of a group in one forward per group (see the module docstring). ``eager``:
    the kernel wants an additive float mask instead of a boolean one."""
    B, dev = scores.shape[0], scores.device
    todo = [k for k, ids in enumerate(prompt.candidates) if len(ids) > 1]
    groups, group, size = [], [], 0
    for k in todo:  # consecutive candidates, each group at most max_tokens / B packed tokens
        n = len(prompt.candidates[k]) - 1
        if group and (size + n) * B > max_tokens:
            groups.append(group)
            group, size = [], 0
        group.append(k)
        size += n
    if group:
        groups.append(group)
    for group in groups:
        ids, target, owner, offset = [], [], [], []
        for k in group:
            c = prompt.candidates[k]
            ids += c[:-1]  # fed: all but the last id
            target += c[1:]  # predicted at those positions: all but the first id
            owner += [k] * (len(c) - 1)
            offset += list(range(len(c) - 1))
        L = len(ids)
        own = torch.tensor(owner, device=dev)
        off = torch.tensor(offset, device=dev)
        # token i sees the whole prompt and token j of the same candidate with j <= i
        inner = (own[:, None] == own[None, :]) & (off[None, :] <= off[:, None])  # (L, L)
        allowed = torch.cat([torch.ones(L, Lp, dtype=torch.bool, device=dev), inner], dim=1)
        mask = allowed[None, None].expand(B, 1, L, Lp + L)
        if eager:  # additive form
            mask = torch.zeros(mask.shape, dtype=llm.dtype, device=dev).masked_fill(
                ~mask, torch.finfo(llm.dtype).min
            )
        out = llm.model(
            input_ids=torch.tensor(ids, device=dev)[None].expand(B, -1),  # (B, L)
            position_ids=(Lp + off)[None].expand(B, -1),
            attention_mask=mask,
            use_cache=True,
            **{llm.cache_kw: select_rows(cache, torch.arange(B, device=dev))},  # a copy
        )
        logp = out.logits.float().log_softmax(-1)  # (B, L, V)
        tok = logp.gather(-1, torch.tensor(target, device=dev)[None, :, None].expand(B, -1, 1))
        scores.index_add_(1, own, tok[..., 0])
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

    The forced tokens of all rows go in one forward, right-padded; the padding is masked out
    of every later step and each row keeps its own positions, so a row's tokens are what it
    would get alone. Then all rows step in lockstep, one token each.
    """
    cache, logits = state
    B = len(forced)
    stops = llm.stop_ids()
    pad = llm.tokenizer.pad_token_id
    dev = logits.device
    n_forced = torch.tensor([len(f) for f in forced], device=dev)  # (B,)
    F = int(n_forced.max()) if B else 0
    attn = None  # a 2D mask only while some row carries padding in its cache
    if F:
        ids = torch.full((B, F), pad, dtype=torch.long, device=dev)
        for b, f in enumerate(forced):
            ids[b, : len(f)] = torch.tensor(f, dtype=torch.long, device=dev)
        if bool((n_forced < F).any()):
            valid = (torch.arange(F, device=dev)[None] < n_forced[:, None]).long()  # (B, F)
            attn = torch.cat([torch.ones(B, start, dtype=torch.long, device=dev), valid], dim=1)
        out = llm.model(
            input_ids=ids,
            position_ids=torch.arange(start, start + F, device=dev)[None].expand(B, -1),
            attention_mask=attn,
            use_cache=True,
            **{llm.cache_kw: cache},
        )
        cache = cache_of(out)
        last = out.logits[torch.arange(B, device=dev), (n_forced - 1).clamp(min=0)].float()
        logits = torch.where((n_forced > 0)[:, None], last, logits)  # (B, V)
    out_ids: list[list[int]] = [list(f) for f in forced]
    done = [False] * B
    pos = start + n_forced  # (B,) each row's next position
    for t in range(max_new_tokens + 1):
        choice = logits.argmax(-1).tolist()
        step = []
        for b in range(B):
            if not done[b] and (choice[b] in stops or t >= max_new_tokens):
                done[b] = True
            if done[b]:
                step.append(pad)
            else:
                out_ids[b].append(choice[b])
                step.append(choice[b])
        if all(done):
            break
        if attn is not None:
            attn = torch.cat([attn, torch.ones(B, 1, dtype=torch.long, device=dev)], dim=1)
        out = llm.model(
            input_ids=torch.tensor(step, device=dev)[:, None],
            position_ids=(pos + t)[:, None],
            attention_mask=attn,
            use_cache=True,
            logits_to_keep=1,
            **{llm.cache_kw: cache},
        )
        cache, logits = cache_of(out), out.logits[:, -1].float()
    return out_ids
