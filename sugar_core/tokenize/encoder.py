"""A CTR-GCN-style skeleton encoder that keeps the time axis.

Each block is a channel-wise topology-refined graph convolution (the shared, learnable
spatial partition plus a per-sample, per-channel correction computed from pairwise joint
relations) followed by a multi-scale temporal convolution (dilated branches, a max-pool branch
and a point branch). Unlike the classifier it is modelled on, nothing pools over time: the
output is a feature sequence (N, Ls, D). By default (``token_layout`` time) joints and bodies
are averaged per time step, Ls = T_s = ceil(T / prod(strides)); ``time-parts`` keeps a token per
time step and body part (Ls = T_s x 6), ``time-joints`` one per time step and joint (Ls = T_s x
V), both time-major. The pooled feature (N, D) is the mean over time and joints in every layout.

    EncoderConfig.small(...)   CPU preset: T=52, widths (64, 64, 128, 128), strides (2, 1, 2, 1)
                               -> Ls = 13 for T=52, D = 128
    EncoderConfig.paper(...)   CTR-GCN-sized: T=64, widths 64 x4, 128 x3, 256 x3, stride 2 at
                               blocks 5 and 8 -> Ls = 16 for T=64, D = 256

Written for the CPU's fast kernels (issue 18, bench/encoder_speed.py): every 1x1 layer runs as
a batched matrix product on the NCHW activations (``pointwise``), the lift is folded with alpha
and the topology and built in the order the aggregation reads it, inference pools without
indices, and under bf16 autocast weights are cast once per call, before any broadcast. The
parameters are those of the plain formulation (``encoder_reference.py``, the tests' yardstick).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sugar_core.accel import compute_dtype
from sugar_core.errors import ConfigError
from sugar_core.skeleton.graph import spatial_partitions
from sugar_core.skeleton.layouts import BODY_PARTS, get_layout, joint_parts
from sugar_core.tokenize.config import EncoderConfig


def _bn(c: int, zero: bool = False) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(c)
    if zero:
        nn.init.zeros_(bn.weight)
    return bn


def pointwise(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv`` (1x1, stride 1, one group) as one batched product on (N, C_in, T*V).

    Same weights and result as ``conv(x)``, without the convolution's layout reorders (NCHW
    1x1 convolutions miss the fast bf16 kernels on CPU); parameters are cast once to the
    compute dtype, before they are broadcast over the batch.
    """
    n, c, t, v = x.shape  # (N, C_in, T, V)
    dt = compute_dtype(x)
    o = conv.out_channels
    w = conv.weight.view(o, c).to(dt).expand(n, o, c)
    b = conv.bias.to(dt).view(1, o, 1).expand(n, o, t * v)
    return torch.baddbmm(b, w, x.reshape(n, c, t * v).to(dt)).view(n, o, t, v)


def temporal_max3(x: torch.Tensor, stride: int) -> torch.Tensor:
    """max_pool2d(x, (3, 1), (stride, 1), (1, 0)): the maximum of three shifted views when no
    gradient is needed (several times faster on CPU), the pooling kernel when one is (its
    index-based backward is faster than the maximum's)."""
    if torch.is_grad_enabled() and x.requires_grad:
        return F.max_pool2d(x, (3, 1), (stride, 1), (1, 0))
    t = x.shape[2]  # (N, C, T, V)
    xp = F.pad(x, (0, 0, 1, 1), value=float("-inf"))
    end = (t - 1) // stride * stride + 1  # one past the last window start
    a, b, c = (xp[:, :, i : i + end : stride] for i in range(3))
    return torch.maximum(torch.maximum(a, b), c)  # (N, C, ceil(T / stride), V)


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
        x = x.to(compute_dtype(x))
        q, kk = pointwise(self.qk, x.mean(2, keepdim=True)).view(n, 2, k * r, v).unbind(1)
        # relations and adjacency built transposed (V before U): the products below take
        # them as they come, and the K partitions move next to each other in the one add
        rel_t = torch.tanh(q.unsqueeze(-2) - kk.unsqueeze(-1))  # (N, K*R, V, U)
        # lift (1x1, K groups) folded with alpha and the topology: one product, one add
        alpha = self.alpha.to(x.dtype)
        w = self.lift.weight.view(k, c, r).to(x.dtype) * alpha  # (K, C, R)
        fixed = self.topology.to(x.dtype) + self.lift.bias.to(x.dtype).view(k, c, 1, 1) * alpha
        fixed_t = fixed.transpose(-1, -2).expand(k, c, v, v).transpose(0, 1).contiguous()
        dyn_t = torch.matmul(w, rel_t.view(n, k, r, v * v)).view(n, k, c, v, v)  # (N, K, C, V, U)
        adj_t = fixed_t + dyn_t.transpose(1, 2)  # (N, C, K, V, U), contiguous: fixed_t's order
        val = pointwise(self.value, x).view(n, k, c, t, v)  # (N, K, C, T, V)
        # out[n, c, t, u] = sum_k sum_v val[n, k, c, t, v] * adj_t[n, c, k, v, u]
        if k == 1:
            out = torch.matmul(val[:, 0], adj_t[:, :, 0])  # (N, C, T, U)
        else:
            val = val.permute(0, 2, 3, 1, 4).reshape(n, c, t, k * v)  # (N, C, T, K*V)
            out = torch.matmul(val, adj_t.reshape(n, c, k * v, v))  # (N, C, T, U)
        skip = x if isinstance(self.skip, nn.Identity) else self.skip[1](pointwise(self.skip[0], x))
        return F.relu(self.bn(out) + skip)


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
        h = self.entry[1](pointwise(self.entry[0], x))  # (N, C_out, T, V)
        parts = h.split(self.width, dim=1)
        outs = [conv(F.relu(p)) for conv, p in zip(self.dilated, parts)]
        pooled = temporal_max3(F.relu(parts[-2]), self.stride)
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
        if self.skip is None:
            return F.relu(y)
        if isinstance(self.skip, nn.Identity):
            return F.relu(y + x)
        conv, bn = self.skip
        return F.relu(y + bn(pointwise(conv, x[:, :, :: conv.stride[0]])))


def part_means(name: str) -> torch.Tensor:
    """(V, P) weights: column p averages the joints of body part p (skeleton/layouts.py)."""
    idx = torch.from_numpy(joint_parts(name))  # (V,)
    onehot = F.one_hot(idx, len(BODY_PARTS)).float()  # (V, P)
    return onehot / onehot.sum(0, keepdim=True)


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
        if cfg.token_layout != "time":  # not a weight: kept out of the state dict
            self.register_buffer("part_weights", part_means(cfg.layout), persistent=False)

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
        if cfg.token_layout == "time":
            tokens = h.view(n, m, d, ls, v).mean(dim=(1, 4)).transpose(1, 2)  # (N, Ls, D)
            return tokens, self.dropout(tokens.mean(1))  # (N, D)
        h = h.view(n, m, d, ls, v).mean(1)  # (N, D, T_s, V)
        pooled = self.dropout(h.mean(dim=(2, 3)))  # (N, D): over time and joints, as above
        if cfg.token_layout == "time-parts":
            h = torch.matmul(h, self.part_weights.to(h.dtype))  # (N, D, T_s, P)
        return h.permute(0, 2, 3, 1).reshape(n, -1, d), pooled  # (N, T_s * P | T_s * V, D)

    def part_streams(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens (N, Ls, D) of a structured layout -> one stream per body part (N, T_s, P, D)."""
        cfg = self.cfg
        if cfg.token_layout == "time":
            raise ConfigError("part streams need token_layout time-parts or time-joints, not time")
        n, _, d = tokens.shape
        if cfg.token_layout == "time-parts":
            return tokens.view(n, -1, len(BODY_PARTS), d)
        joints = tokens.view(n, -1, cfg.num_joints, d)  # (N, T_s, V, D)
        return torch.einsum("nsvd,vp->nspd", joints, self.part_weights.to(tokens.dtype))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
