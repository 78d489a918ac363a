"""Bridges from a skeleton token sequence to a few LLM input embeddings.

The method's bridge is the Temporal Query Projection (TQP, method.md step 3): one Q-Former block
(self-attention over the queries, cross-attention to a chunk of the sequence, feed-forward)
applied chunk by chunk with shared weights. Learnable queries read chunk 1; the output of each
step is the query set that reads the next chunk; the last output goes through a linear layer
into the LLM's embedding width. Baselines for the ablation:

- ``qformer``: the same block run once over the whole sequence (no chunking),
- ``linear``: every token through one linear layer into the LLM width. Sequences differ in
  length, so each valid part is first resampled (linear interpolation along time) to a fixed
  ``linear_len`` tokens; the LLM then sees as many action tokens for every sample,
- ``pool``: mean over the valid tokens, one linear layer, one action token,
- ``xattn``: cross-attention only: the learned queries read the whole sequence once, with no
  self-attention among them and no chunked recurrence (the paper's "cross-attention" row).

With ``summary = "pool"`` a query or linear bridge's tokens follow one pooled token (the pool
bridge's output, from a layer of its own: ``Summarized``).

TQP's chunks (``chunking``): ``fixed`` runs of ``chunk`` tokens, the last one what is left;
``even``: each sample's valid tokens cut into ceil(n / chunk) runs of near-equal length
(``even_chunks``), so no step reads a short tail alone.

Positions (``time_embedding``): ``chunk`` adds to each token a sine code of its place inside
the chunk being read; ``absolute`` codes its place in the whole sequence and its chunk index.
With ``output_scale = "llm"`` every action token is rescaled to one learned norm, initialised
to the LLM's mean word-embedding norm (``LLMScaled``). With ``standardize`` any bridge first
scales each token channel by the train tokens' mean and standard deviation (kept as buffers,
so they travel with the weights).

Every bridge maps ``x`` (B, Ls, D) with ``mask`` (B, Ls) (True = a real token, False = padding)
to (B, Q_out, D_llm), where Q_out is ``bridge.num_tokens``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sugar_core.align.config import QUERY_BRIDGES, BridgeConfig
from sugar_core.errors import ConfigError


def sinusoid(n: int, width: int, device=None) -> torch.Tensor:
    """Fixed sine/cosine position codes, (n, width)."""
    pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(
        torch.arange(0, width, 2, device=device, dtype=torch.float32) * (-math.log(1e4) / width)
    )
    out = torch.zeros(n, width, device=device)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq)[:, : width // 2]
    return out


def absolute_codes(n: int, width: int, chunk: int, device=None) -> torch.Tensor:
    """Codes of ``time_embedding = "absolute"``, (n, width): token t gets a sine code of t on
    the first ceil(width / 2) channels and one of its chunk index t // chunk on the rest.

    Sine codes, not learned tables: they are fixed functions of t, defined for every length, so
    a sequence longer than any seen in training still gets a distinct code for each token
    (no table to outgrow, no clamp that would give its tail one shared position).
    """
    half = width - width // 2
    index = sinusoid(-(-n // chunk), width // 2, device=device)  # (ceil(n / chunk), width // 2)
    return torch.cat([sinusoid(n, half, device), index.repeat_interleave(chunk, 0)[:n]], 1)


def even_chunks(n: torch.Tensor, size: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(chunk index, place inside the chunk), each (B, length), of ``chunking = "even"``: row
    i's first n_i tokens cut into k_i = ceil(n_i / size) runs, run j starting at
    floor(j n_i / k_i), so lengths differ by at most one (13 tokens, size 4: 3, 3, 3, 4).
    Tokens past n_i get index k_i or more (no chunk)."""
    t = torch.arange(length, device=n.device)[None]  # (1, length)
    n = n.clamp(min=1)[:, None]  # (B, 1)
    k = (n + size - 1) // size
    index = ((t + 1) * k + n - 1) // n - 1  # the j with j n < (t + 1) k <= (j + 1) n
    return index, t - index * n // k


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over valid time steps: x (B, Ls, D), mask (B, Ls) -> (B, D)."""
    w = mask.to(x.dtype)[..., None]
    return (x * w).sum(1) / w.sum(1).clamp(min=1.0)


def resample(x: torch.Tensor, mask: torch.Tensor, length: int) -> torch.Tensor:
    """Resample each sequence's valid part to ``length`` steps by linear interpolation.

    x (B, Ls, D), mask (B, Ls) with valid tokens first -> (B, length, D). A one-token sequence is
    repeated.
    """
    B, Ls, D = x.shape
    n = mask.sum(1).clamp(min=1).to(x.dtype)  # (B,)
    t = torch.linspace(0, 1, length, device=x.device, dtype=x.dtype)[None] * (n[:, None] - 1)
    lo = t.floor().long().clamp(max=Ls - 1)  # (B, length)
    hi = (lo + 1).clamp(max=(n.long() - 1)[:, None])
    w = (t - lo.to(x.dtype))[..., None]
    pick = lambda idx: x.gather(1, idx[..., None].expand(B, length, D))  # noqa: E731
    return pick(lo) * (1 - w) + pick(hi) * w


class QFormerLayer(nn.Module):
    """Pre-norm Q-Former layer: self-attention over queries, cross-attention, feed-forward.

    ``self_attention=False`` leaves the first out: each query reads the context on its own.
    """

    def __init__(
        self, width: int, heads: int, ffn_mult: int, dropout: float, self_attention: bool = True
    ):
        super().__init__()
        self.self_attention = self_attention
        if self_attention:
            self.norm_self = nn.LayerNorm(width)
            self.self_attn = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.norm_cross = nn.LayerNorm(width)
        self.norm_kv = nn.LayerNorm(width)
        self.cross_attn = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.norm_ff = nn.LayerNorm(width)
        self.ff = nn.Sequential(
            nn.Linear(width, ffn_mult * width),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(ffn_mult * width, width),
        )

    def forward(self, q: torch.Tensor, kv: torch.Tensor, kv_pad: torch.Tensor) -> torch.Tensor:
        """q (B, Q, H), kv (B, S, H), kv_pad (B, S) True = ignore; every row keeps one key."""
        if self.self_attention:
            h = self.norm_self(q)
            q = q + self.self_attn(h, h, h, need_weights=False)[0]
        kv = self.norm_kv(kv)
        q = q + self.cross_attn(self.norm_cross(q), kv, kv, key_padding_mask=kv_pad)[0]
        return q + self.ff(self.norm_ff(q))


class QFormer(nn.Module):
    """``depth`` Q-Former layers and a final norm: queries (B, Q, H) read a context (B, S, H)."""

    def __init__(self, cfg: BridgeConfig, self_attention: bool = True):
        super().__init__()
        self.layers = nn.ModuleList(
            QFormerLayer(cfg.width, cfg.heads, cfg.ffn_mult, cfg.dropout, self_attention)
            for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.width)

    def forward(self, q: torch.Tensor, kv: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """q (B, Q, H), kv (B, S, H), valid (B, S) -> (B, Q, H).

        Rows without a single valid key return their queries unchanged, so a short sequence in
        a padded batch gives exactly what it gives alone.
        """
        has = valid.any(1)  # (B,)
        pad = ~valid
        pad[:, 0] &= has  # a fully padded row attends to a dummy key; its result is discarded
        out = q
        for layer in self.layers:
            out = layer(out, kv, pad)
        out = self.norm(out)
        return torch.where(has[:, None, None], out, q)


class TemporalQueryProjection(nn.Module):
    """Learned queries reading the token sequence: TQP (``chunked=True``: chunk by chunk, each
    output the next chunk's queries), one Q-Former over the whole sequence (``chunked=False``),
    or, with ``self_attention=False`` as well, the cross-attention-only bridge ``xattn``."""

    def __init__(
        self,
        cfg: BridgeConfig,
        in_dim: int,
        out_dim: int,
        chunked: bool = True,
        self_attention: bool = True,
    ):
        super().__init__()
        self.chunk = cfg.chunk if chunked else None
        self.even = chunked and cfg.chunking == "even"
        self.absolute = cfg.time_embedding == "absolute"
        self.index_chunk = cfg.chunk  # absolute codes: the chunk index t // chunk, any bridge
        self.num_tokens = cfg.queries
        self.inp = nn.Sequential(nn.Linear(in_dim, cfg.width), nn.LayerNorm(cfg.width))
        self.queries = nn.Parameter(torch.randn(1, cfg.queries, cfg.width) * 0.02)  # (1, Q, H)
        self.qformer = QFormer(cfg, self_attention)  # one set of weights, shared by every chunk
        self.out = nn.Linear(cfg.width, out_dim)

    def positions(self, Ls: int, width: int, device) -> torch.Tensor:
        """(Ls, H) codes added to the tokens, indexed by the token's place in the sequence."""
        if self.absolute:
            return absolute_codes(Ls, width, self.index_chunk, device)
        S = self.chunk or Ls
        return sinusoid(S, width, device=device).repeat(-(-Ls // S), 1)[:Ls]  # place in chunk

    def even_codes(self, mask: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(codes (B, Ls, H), chunk index (B, Ls)) of ``chunking = "even"``: the codes of
        ``positions`` with each row's own chunks (``even_chunks``)."""
        Ls = mask.shape[1]
        index, place = even_chunks(mask.sum(1), self.chunk, Ls)  # (B, Ls) each
        if not self.absolute:
            return sinusoid(self.chunk, width, mask.device)[place.clamp(max=self.chunk - 1)], index
        half = width - width // 2
        steps = sinusoid(int(index.max()) + 1, width // 2, mask.device)[index]  # (B, Ls, H / 2)
        where = sinusoid(Ls, half, mask.device).expand(len(mask), -1, -1)
        return torch.cat([where, steps], -1), index

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, Ls, D = x.shape
        assert mask.shape == (B, Ls), f"mask {tuple(mask.shape)} for tokens {tuple(x.shape)}"
        h = self.inp(x)  # (B, Ls, H)
        if self.even:
            codes, index = self.even_codes(mask, h.shape[-1])
            h, q = h + codes.to(h.dtype), self.queries.expand(B, -1, -1)
            steps = int(index[mask].max()) + 1 if mask.any() else 0
            for step in range(steps):  # each row's chunk ``step`` (none left: q unchanged)
                q = self.qformer(q, h, mask & (index == step))
            return self.out(q)  # (B, Q, D_llm)
        h = h + self.positions(Ls, h.shape[-1], x.device).to(h.dtype)  # (B, Ls, H)
        S = self.chunk or Ls
        q = self.queries.expand(B, -1, -1)  # (B, Q, H)
        # 1. chunk 1 is read by the learnable queries; 2. each next chunk by the previous output
        for start in range(0, Ls, S):
            part, valid = h[:, start : start + S], mask[:, start : start + S]
            if not valid.any():
                break
            q = self.qformer(q, part, valid)
        # 3. the last output goes into the LLM's embedding width
        return self.out(q)  # (B, Q, D_llm)


class LinearBridge(nn.Module):
    """Resample to ``length`` tokens, then one linear layer per token."""

    def __init__(self, in_dim: int, out_dim: int, length: int):
        super().__init__()
        self.num_tokens = length
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.proj(resample(x, mask, self.num_tokens))  # (B, L, D_llm)


class PoolBridge(nn.Module):
    """Mean over the valid tokens, one linear layer: a single action token."""

    num_tokens = 1

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.proj(masked_mean(x, mask))[:, None]  # (B, 1, D_llm)


class Summarized(nn.Module):
    """One pooled token (mean of the valid tokens, its own linear layer) before ``inner``'s."""

    def __init__(self, inner: nn.Module, in_dim: int, out_dim: int):
        super().__init__()
        self.inner = inner
        self.pool = PoolBridge(in_dim, out_dim)
        self.num_tokens = inner.num_tokens + 1

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.pool(x, mask), self.inner(x, mask)], 1)  # (B, 1 + Q, D_llm)


class Standardized(nn.Module):
    """``inner`` applied to per-channel standardised tokens; set the statistics with ``fit``."""

    def __init__(self, inner: nn.Module, dim: int):
        super().__init__()
        self.inner = inner
        self.num_tokens = inner.num_tokens
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Channel statistics (D,) of the training tokens; a constant channel keeps scale 1."""
        self.mean.copy_(mean)
        self.std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.inner((x - self.mean) / self.std, mask)


class LLMScaled(nn.Module):
    """``inner``'s action tokens, each rescaled to the norm ``gain`` (a learned scalar).

    ``gain`` starts at the mean norm of the LLM's word-embedding rows, so the action tokens
    enter the LLM at the scale of its own inputs (a fresh linear layer's outputs are several
    times larger) and keep one common norm however the weights before them move.
    """

    def __init__(self, inner: nn.Module, embed_norm: float):
        super().__init__()
        self.inner = inner
        self.num_tokens = inner.num_tokens
        self.gain = nn.Parameter(torch.tensor(float(embed_norm)))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = self.inner(x, mask)  # (B, Q_out, D_llm)
        norm = y.float().norm(dim=-1, keepdim=True).clamp(min=1e-6)  # (B, Q_out, 1)
        return (y.float() * (self.gain / norm)).to(y.dtype)


def build_bridge(
    cfg: BridgeConfig, in_dim: int, out_dim: int, embed_norm: float | None = None
) -> nn.Module:
    """The bridge ``cfg.kind`` from token width D to LLM width D_llm.

    ``embed_norm``: the LLM's mean word-embedding norm (``FrozenLLM.embedding_norm``), needed
    by ``output_scale = "llm"`` only.
    """
    cfg.check()
    if cfg.output_scale == "llm" and not (embed_norm is not None and embed_norm > 0):
        raise ConfigError(f"bridge output_scale llm needs the LLM's mean word-embedding norm "
                          f"(> 0), got {embed_norm}")  # fmt: skip
    if cfg.kind in QUERY_BRIDGES:
        bridge = TemporalQueryProjection(
            cfg, in_dim, out_dim, chunked=cfg.kind == "tqp", self_attention=cfg.kind != "xattn"
        )
    elif cfg.kind == "linear":
        bridge = LinearBridge(in_dim, out_dim, cfg.linear_len or cfg.queries)
    else:
        bridge = PoolBridge(in_dim, out_dim)
    if cfg.summary == "pool":
        bridge = Summarized(bridge, in_dim, out_dim)
    if cfg.output_scale == "llm":
        bridge = LLMScaled(bridge, embed_norm)
    return Standardized(bridge, in_dim) if cfg.standardize else bridge


def pad_tokens(seqs, device=None, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """A list of (Ls_i, D) arrays -> padded (B, max Ls, D) tensor and (B, max Ls) valid mask."""
    lengths = [int(s.shape[0]) for s in seqs]
    assert min(lengths) > 0, f"empty token sequence in batch (lengths {lengths})"
    x = torch.zeros(len(seqs), max(lengths), int(seqs[0].shape[-1]), dtype=dtype, device=device)
    mask = torch.zeros(len(seqs), max(lengths), dtype=torch.bool, device=device)
    for i, s in enumerate(seqs):
        x[i, : lengths[i]] = torch.as_tensor(s, dtype=dtype)
        mask[i, : lengths[i]] = True
    return x, mask
