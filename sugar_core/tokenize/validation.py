"""Judging a stage-1 network while it trains: validation metrics on gathered features, the
health of its read-outs once trained (``health_warnings``), the value early stopping
watches, the best epoch so far, and the closed-form text head that gives a ce-trained encoder
its text-space projection."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from sugar_core import health
from sugar_core.tokenize import probe
from sugar_core.tokenize.bank import PreparedBank, encode_bank
from sugar_core.tokenize.encoder import SkeletonEncoder
from sugar_core.tokenize.network import Heads, Stage1Net

if TYPE_CHECKING:
    from sugar_core.tokenize.config import TokenizeConfig

# validation metrics early stopping may watch, the first one present wins
MONITORED = ("val_text_top1", "val_ce_top1", "val_probe_top1")
READ_OUTS = {"text": "text-prior read-out", "ce": "ce head", "probe": "linear probe"}


def read_outs(
    net: Stage1Net,
    bank: PreparedBank,
    protos: np.ndarray,
    cfg: TokenizeConfig,
    acc,
    train: tuple[PreparedBank, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Predicted classes (rows of ``protos`` (K, E)) of ``bank``'s samples by each read-out the
    run has: ``text`` (nearest class text prototype), ``ce`` (the ce head) and ``probe`` (a
    linear probe fit on ``train`` = (bank, labels))."""
    enc = acc.unwrap_model(net).encoder
    heads = acc.unwrap_model(net).heads
    _, f_val = encode_bank(enc, bank, cfg.eval_batch_size, acc)  # (N, D)
    out = {}
    with torch.no_grad():
        f = torch.from_numpy(f_val).to(heads.text.weight.device)
        if cfg.uses_text:
            z = heads.text(f).float().cpu().numpy()  # (N, E)
            out["text"] = probe.nearest_text(z, protos)
        if heads.cls is not None:
            out["ce"] = heads.cls(f).argmax(1).cpu().numpy()
    if cfg.probe != "none" and train is not None:
        _, f_tr = encode_bank(enc, train[0], cfg.eval_batch_size, acc)
        out["probe"] = probe.linear_probe(f_tr, train[1], f_val, cfg.probe)
    return out


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
    for name, pred in read_outs(net, val_bank, protos, cfg, acc, (train_bank, y_train)).items():
        out[f"{prefix}_{name}_top1"] = probe.top1(pred, y_val)
    return out


def health_warnings(
    net: Stage1Net,
    train_bank: PreparedBank,
    val_bank: PreparedBank,
    y_train: np.ndarray,
    y_val: np.ndarray,
    protos: np.ndarray,
    cfg: TokenizeConfig,
    acc,
) -> list[str]:
    """Warnings (``sugar_core.health``) about each read-out's predictions on the validation
    part: one answer for most samples, or top-1 near chance. Empty without a validation part."""
    if len(val_bank) == 0:
        return []
    fix = (
        f"Likely cause: the encoder is undertrained for {len(train_bank)} training samples; "
        "train longer (--epochs N, or --set min_steps=N with epochs auto) or check the "
        "priors and labels."
    )
    out = []
    for name, pred in read_outs(net, val_bank, protos, cfg, acc, (train_bank, y_train)).items():
        what = f"tokenize: {READ_OUTS[name]} on {len(val_bank)} validation samples"
        out += health.check(pred, y_val, len(protos), what, fix)
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
