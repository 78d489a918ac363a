"""How stage 1 moves its weights: the learning-rate schedule, the optimizer with its weight-decay
groups, and the moving average of the weights that results may come from (``ema``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch.optim.swa_utils import AveragedModel

if TYPE_CHECKING:
    from collections.abc import Callable

    from sugar_core.tokenize.config import TokenizeConfig


def lr_factor(cfg: TokenizeConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Step -> multiplier of the peak lr: linear warm-up, then cosine, step or constant."""
    total = cfg.epochs * steps_per_epoch
    warm = cfg.warmup_epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if cfg.schedule == "constant":
            return 1.0
        frac = (step - warm) / max(1, total - warm)
        if cfg.schedule == "step":
            return 0.1 ** ((frac >= 0.6) + (frac >= 0.85))
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac)))

    return factor


def make_optimizer(net: torch.nn.Module, cfg: TokenizeConfig) -> torch.optim.Optimizer:
    """SGD (nesterov) or AdamW; no weight decay on norms, biases, topologies, temperature."""
    decay, plain = [], []
    for name, p in net.named_parameters():
        if not p.requires_grad:
            continue
        no_wd = p.ndim <= 1 or "topology" in name or "logit_scale" in name
        (plain if no_wd else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def weight_average(net: torch.nn.Module, decay: float, updates: int = 0) -> AveragedModel:
    """An exponential moving average of ``net``'s weights and batch-norm statistics.

    Call ``update_parameters(net)`` after every optimizer step; the averaged network is
    ``.module`` (frozen, in eval mode). The decay ramps up as (1 + n) / (10 + n) over the
    first updates, so early averages are not dominated by the random initial weights; n counts
    the optimizer steps, so ``updates`` (the steps already taken, when resuming) sets where
    on the ramp the average starts. Integer buffers (batch counts) are copied, not averaged.
    """

    @torch.no_grad()
    def ramped(averaged: list, current: list, n: torch.Tensor) -> None:
        d = min(decay, (1 + int(n)) / (10 + int(n)))
        for avg, now in zip(averaged, current):
            if avg.dtype.is_floating_point:
                avg.lerp_(now, 1.0 - d)
            else:
                avg.copy_(now)

    average = AveragedModel(net, multi_avg_fn=ramped, use_buffers=True)
    average.module.eval().requires_grad_(False)
    # the copy made here counts as the first model averaged, so the next update (step
    # updates + 1) is averaged with n = updates + 1
    average.n_averaged.fill_(updates + 1)
    return average
