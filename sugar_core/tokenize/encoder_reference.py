"""The encoder's plain formulation: every 1x1 layer called as the convolution it is stored as.

``SkeletonEncoder.forward`` computes the same function with fewer layout changes and casts
(1x1 convolutions as batched products, the lift folded with alpha and the topology, pooling
without indices at inference). This module runs the same parameters the straightforward way,
so tests can check the two agree and bench/encoder_speed.py can show the speed before and after.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sugar_core.tokenize.encoder import (
    Block,
    MultiScaleTemporalConv,
    RefinedGraphConv,
    SkeletonEncoder,
)


def graph_conv(m: RefinedGraphConv, x: torch.Tensor) -> torch.Tensor:
    n, _, t, v = x.shape  # (N, C_in, T, V)
    k, c, r = m.k, m.c_out, m.rel
    q, kk = m.qk(x.mean(2, keepdim=True)).view(n, 2, k * r, v).unbind(1)  # (N, K*R, V)
    rel = torch.tanh(q.unsqueeze(-1) - kk.unsqueeze(-2))  # (N, K*R, U, V)
    adj = m.lift(rel).view(n, k, c, v, v) * m.alpha + m.topology  # (N, K, C, U, V)
    val = m.value(x).view(n, k, c, t, v)  # (N, K, C, T, V)
    if k == 1:  # out[n, c, t, u] = sum_k sum_v adj[n, k, c, u, v] * val[n, k, c, t, v]
        out = torch.matmul(val[:, 0], adj[:, 0].transpose(-1, -2))  # (N, C, T, U)
    else:
        adj = adj.permute(0, 2, 1, 4, 3).reshape(n, c, k * v, v)  # (N, C, K*V, U)
        val = val.permute(0, 2, 3, 1, 4).reshape(n, c, t, k * v)  # (N, C, T, K*V)
        out = torch.matmul(val, adj)  # (N, C, T, U)
    return F.relu(m.bn(out) + m.skip(x))


def temporal_conv(m: MultiScaleTemporalConv, x: torch.Tensor) -> torch.Tensor:
    h = m.entry(x)  # (N, C_out, T, V)
    parts = h.split(m.width, dim=1)
    outs = [conv(F.relu(p)) for conv, p in zip(m.dilated, parts)]
    pooled = F.max_pool2d(F.relu(parts[-2]), (3, 1), (m.stride, 1), (1, 0))
    outs += [pooled, parts[-1][:, :, :: m.stride]]
    return m.bn(torch.cat(outs, dim=1))  # (N, C_out, ceil(T / stride), V)


def block(m: Block, x: torch.Tensor) -> torch.Tensor:
    y = temporal_conv(m.tcn, graph_conv(m.gcn, x))
    return F.relu(y if m.skip is None else y + m.skip(x))


def reference_forward(enc: SkeletonEncoder, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, M, T, V, C) -> tokens (N, Ls, D), pooled (N, D), as ``enc(x)`` but the plain way."""
    n, m, t, v, c = x.shape
    h = enc.input_bn(x.permute(0, 1, 3, 4, 2).reshape(n, m * v * c, t))  # (N, MVC, T)
    h = h.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)
    for b in enc.blocks:
        h = block(b, h)  # (N*M, C_b, T_b, V)
    _, d, ls, _ = h.shape
    tokens = h.view(n, m, d, ls, v).mean(dim=(1, 4)).transpose(1, 2)  # (N, Ls, D)
    return tokens, enc.dropout(tokens.mean(1))


class ReferenceEncoder(nn.Module):
    """Wraps an encoder so that calling it runs ``reference_forward`` (same parameters)."""

    def __init__(self, encoder: SkeletonEncoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return reference_forward(self.encoder, x)
