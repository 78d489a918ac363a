"""Judging a stage-1 network while it trains: validation metrics on gathered features, the
value early stopping watches, the best epoch so far, and the closed-form text head that gives a
ce-trained encoder its text-space projection."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from sugar_core.tokenize import probe
from sugar_core.tokenize.bank import PreparedBank, encode_bank
from sugar_core.tokenize.encoder import SkeletonEncoder
from sugar_core.tokenize.network import Heads, Stage1Net

if TYPE_CHECKING:
    from sugar_core.tokenize.config import TokenizeConfig

# validation metrics early stopping may watch, the first one present wins
MONITORED = ("val_text_top1", "val_ce_top1", "val_probe_top1")


def evaluate(
    net: Stage1Net,
    train_bank: PreparedBank,
    val_bank: PreparedBank,
    y_train: np.ndarray,
    y_val: np.ndarray,
    protos: np.ndarray,
    cfg: TokenizeConfig,
    acc,
    prefix: str = "val",
) -> dict:
    """Metrics (text-prior, ce head, linear probe) of ``val_bank`` on gathered features, keyed
    ``{prefix}_...`` (``test`` for the one evaluation of the test part at the end).

    ``protos`` (K, E) are the class text prototypes; labels are 0..K-1 rows into them.
    """
    out = {f"{prefix}_n": int(len(val_bank))}
    if len(val_bank) == 0:
        return out
    enc = acc.unwrap_model(net).encoder
    heads = acc.unwrap_model(net).heads
    _, f_val = encode_bank(enc, val_bank, cfg.eval_batch_size, acc)  # (N_val, D)
    with torch.no_grad():
        f = torch.from_numpy(f_val).to(heads.text.weight.device)
        if cfg.uses_text:
            z = heads.text(f).float().cpu().numpy()  # (N_val, E)
            out[f"{prefix}_text_top1"] = probe.top1(probe.nearest_text(z, protos), y_val)
        if heads.cls is not None:
            out[f"{prefix}_ce_top1"] = probe.top1(heads.cls(f).argmax(1).cpu().numpy(), y_val)
    if cfg.probe != "none":
        _, f_tr = encode_bank(enc, train_bank, cfg.eval_batch_size, acc)
        pred = probe.linear_probe(f_tr, y_train, f_val, cfg.probe)
        out[f"{prefix}_probe_top1"] = probe.top1(pred, y_val)
    return out


def monitor(entry: dict) -> float | None:
    """The value early stopping watches in a history entry (None: not validated)."""
    for key in MONITORED:
        if key in entry:
            return entry[key]
    return None


def track_best(
    best: dict | None, entry: dict, cfg: TokenizeConfig, model: torch.nn.Module, epoch: int
) -> tuple[dict | None, int]:
    """(best, epochs since it) after ``entry``; with patience the best weights are kept."""
    value = monitor(entry)
    stale = 0 if best is None else best.get("stale", 0)
    if value is None:
        return best, stale
    if best is None or value > best["value"]:
        state = None
        if cfg.patience:
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return {"value": value, "epoch": epoch + 1, "state": state, "stale": 0}, 0
    best = dict(best, stale=stale + 1)
    return best, stale + 1


def fit_text_head(
    encoder: SkeletonEncoder,
    heads: Heads,
    bank: PreparedBank,
    y: np.ndarray,
    protos: np.ndarray,
    cfg: TokenizeConfig,
    acc,
) -> None:
    """ce objective: least-squares text head mapping pooled features to class prototypes."""
    _, feats = encode_bank(encoder, bank, cfg.eval_batch_size, acc)  # (N, D)
    w, b = probe.fit_linear_map(feats, protos[y], ridge=1.0)
    with torch.no_grad():
        heads.text.weight.copy_(torch.from_numpy(w.T))
        heads.text.bias.copy_(torch.from_numpy(b))
