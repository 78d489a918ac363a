"""Pieces of the stage-1 training loop (sugar_core/tokenize.py): schedule, optimizer, data
parts, epoch plans, validation, best-epoch tracking, resumption checks."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from sugar_core.errors import ConfigError
from sugar_core.skeleton.transforms import AugParams, draw_params
from sugar_core.tokenize.network import Stage1Net, encode_bank
from sugar_core.tokenize import probe

if TYPE_CHECKING:
    from sugar_core.tokenize.training import TokenizeConfig

# fields that may differ between a run and its resumption without changing the result
RESUME_FREE = ("workers", "eval_batch_size")


def lr_factor(cfg: TokenizeConfig, steps_per_epoch: int):
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


def make_optimizer(net: Stage1Net, cfg: TokenizeConfig) -> torch.optim.Optimizer:
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


def split_parts(data, split, classes, cfg) -> tuple[np.ndarray, np.ndarray]:
    labels = data.labels
    train = data.split_indices(split, "train")
    val = data.split_indices(split, "test")
    train = train[np.isin(labels[train], classes)]
    val = val[np.isin(labels[val], classes)]
    if cfg.val_holdout > 0:
        rs = np.random.RandomState(cfg.seed)
        held = []
        for c in classes:
            members = train[labels[train] == c]
            k = int(round(cfg.val_holdout * len(members)))
            held.extend(rs.permutation(members)[:k].tolist())
        val = np.array(sorted(held), dtype=np.int64)
        train = np.setdiff1d(train, val)
    if len(train) < 2:
        raise ConfigError(f"split {split!r} has {len(train)} training samples of these classes")
    return train, val


def epoch_plan(n, cfg, gen, world) -> tuple[list[tuple[np.ndarray, np.ndarray]], AugParams]:
    """One epoch's global batches as (bank positions, rows into params), and the params."""
    perm = torch.randperm(n, generator=gen).numpy()
    params = draw_params(n, cfg.prep, gen)
    plan = []
    for s in range(0, n, cfg.batch_size):
        pos = perm[s : s + cfg.batch_size]
        if len(pos) < 2 * world:
            break  # too few to split across processes with batch norm
        plan.append((pos, np.arange(s, s + len(pos))))
    return plan, params


def subset_params(params, rows):
    return type(params)(params.crop[rows], params.rotation[rows], params.mirror[rows])


def evaluate(net, train_bank, val_bank, y_train, y_val, protos, cfg, acc) -> dict:
    """Validation metrics (text-prior, ce head, linear probe) on gathered features."""
    out = {"val_n": int(len(val_bank))}
    if len(val_bank) == 0:
        return out
    enc = acc.unwrap_model(net).encoder
    heads = acc.unwrap_model(net).heads
    _, f_val = encode_bank(enc, val_bank, cfg.eval_batch_size, acc)
    with torch.no_grad():
        f = torch.from_numpy(f_val).to(heads.text.weight.device)
        if cfg.uses_text:
            z = heads.text(f).float().cpu().numpy()
            out["val_text_top1"] = probe.top1(probe.nearest_text(z, protos), y_val)
        if heads.cls is not None:
            out["val_ce_top1"] = probe.top1(heads.cls(f).argmax(1).cpu().numpy(), y_val)
    if cfg.probe != "none":
        _, f_tr = encode_bank(enc, train_bank, cfg.eval_batch_size, acc)
        pred = probe.linear_probe(f_tr, y_train, f_val, cfg.probe)
        out["val_probe_top1"] = probe.top1(pred, y_val)
    return out


def monitor(entry: dict, cfg: TokenizeConfig):
    for key in ("val_text_top1", "val_ce_top1", "val_probe_top1"):
        if key in entry:
            return entry[key]
    return None


def track_best(best, entry, cfg, model, epoch):
    value = monitor(entry, cfg)
    stale = 0 if best is None else best.get("stale", 0)
    if value is None:
        return best, stale
    if best is None or value > best["value"]:
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return {
            "value": value,
            "epoch": epoch + 1,
            "state": state if cfg.patience else None,
            "stale": 0,
        }, 0
    best = dict(best, stale=stale + 1)
    return best, stale + 1


def fit_text_head(encoder, heads, bank, y, protos, cfg, acc):
    """ce objective: least-squares text head mapping pooled features to class prototypes."""
    _, feats = encode_bank(encoder, bank, cfg.eval_batch_size, acc)
    w, b = probe.fit_linear_map(feats, protos[y], ridge=1.0)
    with torch.no_grad():
        heads.text.weight.copy_(torch.from_numpy(w.T))
        heads.text.bias.copy_(torch.from_numpy(b))


def check_resumable(saved: dict, now: dict, run_dir) -> None:
    diff = sorted(
        k for k in set(saved) | set(now) if k not in RESUME_FREE and saved.get(k) != now.get(k)
    )
    if diff:
        raise ConfigError(
            f"{Path(run_dir) / 'checkpoint.pt'}: cannot resume, settings differ in {diff}; "
            "use the original settings or a fresh --run-dir"
        )
