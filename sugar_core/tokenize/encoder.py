"""A CTR-GCN-style skeleton encoder that keeps the time axis.

Each block is a channel-wise topology-refined graph convolution (the shared, learnable
spatial partition plus a per-sample, per-channel correction computed from pairwise joint
relations) followed by a multi-scale temporal convolution (dilated branches, a max-pool branch
and a point branch). Unlike the classifier it is modelled on, nothing pools over time: the
output is a feature sequence (N, Ls, D) with Ls = ceil(T / prod(strides)); joints and bodies
are averaged per time step.

    EncoderConfig.small(...)   CPU preset: T=52, widths (64, 64, 128, 128), strides (2, 1, 2, 1)
                               -> Ls = 13 for T=52, D = 128
    EncoderConfig.paper(...)   CTR-GCN-sized: T=64, widths 64 x4, 128 x3, 256 x3, stride 2 at
                               blocks 5 and 8 -> Ls = 16 for T=64, D = 256
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sugar_core.skeleton.graph import spatial_partitions
from sugar_core.skeleton.layouts import get_layout
from sugar_core.tokenize.config import EncoderConfig


def _bn(c: int, zero: bool = False) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(c)
    if zero:
        nn.init.zeros_(bn.weight)
    return bn


class RefinedGraphConv(nn.Module):
    """Graph convolution over joints with a per-sample, per-channel refined topology.

    Adjacency = A (learnable, initialised from the layout's spatial partition) + alpha *
    lift(tanh(q_u - k_v)), where q, k are low-width projections of the time-averaged input.
    Mode "sum": K value projections, one per partition, aggregated and summed (CTR-GCN).
    Mode "split": one value projection; output channel c uses partition c mod K (K x cheaper).
    """

    def __init__(
        self, c_in: int, c_out: int, partitions: np.ndarray, rel_reduction: int, mode: str = "sum"
    ):
        super().__init__()
        k, v, _ = partitions.shape
        self.k = k if mode == "sum" else 1  # projections whose aggregates are summed
        self.c_out = c_out
        self.rel = max(8, c_in // rel_reduction)
        self.qk = nn.Conv2d(c_in, 2 * self.k * self.rel, 1)
        self.lift = nn.Conv2d(self.k * self.rel, self.k * c_out, 1, groups=self.k)
        self.value = nn.Conv2d(c_in, self.k * c_out, 1)
        if mode == "sum":
            topo = partitions[:, None].repeat(1, axis=1)  # (K, 1, V, V): shared by channels
        else:
            topo = partitions[np.arange(c_out) % k][None]  # (1, C_out, V, V)
        self.topology = nn.Parameter(torch.from_numpy(np.ascontiguousarray(topo, np.float32)))
        self.alpha = nn.Parameter(torch.zeros(1))
        self.bn = _bn(c_out)
        self.skip = (
            nn.Identity() if c_in == c_out else nn.Sequential(nn.Conv2d(c_in, c_out, 1), _bn(c_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape  # (N, C_in, T, V)
        k, c, r = self.k, self.c_out, self.rel
        q, kk = self.qk(x.mean(2, keepdim=True)).view(n, 2, k * r, v).unbind(1)  # (N, K*R, V)
        rel = torch.tanh(q.unsqueeze(-1) - kk.unsqueeze(-2))  # (N, K*R, V, V)
        adj = self.lift(rel).view(n, k, c, v, v) * self.alpha + self.topology  # (N, K, C, U, V)
        val = self.value(x).view(n, k, c, t, v)  # (N, K, C, T, V)
        # out[n, c, t, u] = sum_k sum_v adj[n, k, c, u, v] * val[n, k, c, t, v]
        if k == 1:
            out = torch.matmul(val[:, 0], adj[:, 0].transpose(-1, -2))  # (N, C, T, U)
        else:
            adj = adj.permute(0, 2, 1, 4, 3).reshape(n, c, k * v, v)  # (N, C, K*V, U)
            val = val.permute(0, 2, 3, 1, 4).reshape(n, c, t, k * v)  # (N, C, T, K*V)
            out = torch.matmul(val, adj)  # (N, C, T, U)
        return F.relu(self.bn(out) + self.skip(x))


class MultiScaleTemporalConv(nn.Module):
    """Temporal convolution with parallel branches: one per dilation, a max-pool, a point.

    One 1x1 convolution feeds every branch (channels split evenly); each branch then applies
    its own temporal operator with the block's stride.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int, dilations):
        super().__init__()
        branches = len(dilations) + 2
        self.width = c_out // branches
        self.stride = stride
        self.entry = nn.Sequential(nn.Conv2d(c_in, c_out, 1), _bn(c_out))
        self.dilated = nn.ModuleList(
            nn.Conv2d(
                self.width,
                self.width,
                (kernel, 1),
                stride=(stride, 1),
                padding=((kernel - 1) * d // 2, 0),
                dilation=(d, 1),
            )
            for d in dilations
        )
        self.bn = _bn(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.entry(x)  # (N, C_out, T, V)
        parts = h.split(self.width, dim=1)
        outs = [conv(F.relu(p)) for conv, p in zip(self.dilated, parts)]
        pooled = F.max_pool2d(F.relu(parts[-2]), (3, 1), (self.stride, 1), (1, 0))
        outs += [pooled, parts[-1][:, :, :: self.stride]]
        return self.bn(torch.cat(outs, dim=1))  # (N, C_out, ceil(T / stride), V)


class Block(nn.Module):
    def __init__(self, c_in, c_out, stride, partitions, cfg: EncoderConfig, residual=True):
        super().__init__()
        self.gcn = RefinedGraphConv(c_in, c_out, partitions, cfg.rel_reduction, cfg.partition_mode)
        self.tcn = MultiScaleTemporalConv(c_out, c_out, stride, cfg.kernel, cfg.dilations)
        if not residual:
            self.skip = None
        elif c_in == c_out and stride == 1:
            self.skip = nn.Identity()
        else:
            self.skip = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=(stride, 1)), _bn(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.tcn(self.gcn(x))
        return F.relu(y if self.skip is None else y + self.skip(x))


class SkeletonEncoder(nn.Module):
    """(N, M, T, V, C) joints -> tokens (N, Ls, D) and pooled features (N, D)."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        layout = get_layout(cfg.layout)
        parts = spatial_partitions(layout)  # (3, V, V)
        m, v, c = cfg.max_bodies, layout.num_joints, cfg.in_channels
        self.input_bn = nn.BatchNorm1d(m * v * c)
        blocks, c_in = [], c
        for i, (width, stride) in enumerate(zip(cfg.channels, cfg.strides)):
            blocks.append(Block(c_in, width, stride, parts, cfg, residual=i > 0))
            c_in = width
        self.blocks = nn.ModuleList(blocks)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, m, t, v, c = x.shape  # (N, M, T, V, C)
        cfg = self.cfg
        assert (m, v, c) == (cfg.max_bodies, cfg.num_joints, cfg.in_channels), (
            f"input (N, M, T, V, C) = {tuple(x.shape)}, encoder expects M={cfg.max_bodies}, "
            f"V={cfg.num_joints}, C={cfg.in_channels}"
        )
        h = self.input_bn(x.permute(0, 1, 3, 4, 2).reshape(n, m * v * c, t))  # (N, MVC, T)
        h = h.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)
        for block in self.blocks:
            h = block(h)  # (N*M, C_b, T_b, V)
        _, d, ls, _ = h.shape
        tokens = h.view(n, m, d, ls, v).mean(dim=(1, 4)).transpose(1, 2)  # (N, Ls, D)
        pooled = self.dropout(tokens.mean(1))  # (N, D)
        return tokens, pooled


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
