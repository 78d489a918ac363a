"""Tokenizing: every sample of a skeleton set through a trained encoder, into a TokenSet.

    history, rows = take_validation_rows(history)     # rows the encoder validated on
    tokens = encode(data, encoder, heads, prep=cfg.prep, history=history, encoder_validation=rows)

The encoder comes from ``train_encoder`` or from an earlier tokens file (``load_encoder``).
Its validation rows are recorded only when ``data`` is the set it was trained on (the caller
knows; ``encode`` cannot tell), so a reused encoder's tokens record none.
With ``prep.tta`` = k > 1 every sample is encoded through k fixed views (``encode_views``).
"""

from __future__ import annotations

import numpy as np
import torch

from sugar_core.errors import ConfigError
from sugar_core.skeleton.dataset import SkeletonSet
from sugar_core.skeleton.prep import PrepConfig
from sugar_core.skeleton.transforms import AugParams, repeat_params, tta_params
from sugar_core.tokenize.bank import PreparedBank, encode_bank
from sugar_core.tokenize.config import prep_for
from sugar_core.tokenize.encoder import SkeletonEncoder
from sugar_core.tokenize.network import Heads
from sugar_core.tokenize.run_data import make_bank
from sugar_core.tokenize.store import TokenSet


def encode(
    data: SkeletonSet,
    encoder: SkeletonEncoder,
    heads: Heads,
    prep: PrepConfig | None = None,
    batch_size: int = 128,
    accelerator=None,
    **meta,
) -> TokenSet:
    """Every sample's tokens (Ls, D), pooled feature and text-space projection as a TokenSet.

    Samples are resampled to the encoder's T, so every sample has Ls = cfg.token_length():
    T_s time steps x the token layout's groups (1; 6 body parts; V joints), time-major.
    ``meta`` fills the remaining TokenSet fields (train_split, train_classes, history,
    priors_sha256, encoder_validation).
    """
    ecfg = encoder.cfg
    if data.layout != ecfg.layout:
        raise ConfigError(f"data layout {data.layout!r} but the encoder expects {ecfg.layout!r}")
    c = int(data.samples[0].joints.shape[-1])
    prep = prep_for(ecfg, prep or PrepConfig())
    if c < prep.channels:
        raise ConfigError(f"data has {c} channels per joint, the encoder needs {prep.channels}")
    bank = make_bank(data, np.arange(len(data)), prep)  # prepared on read for a lazy set
    tokens, pooled = encode_views(encoder, bank, batch_size, accelerator)  # (N, Ls, D), (N, D)
    with torch.no_grad():
        w = heads.text.weight.detach().float().cpu().numpy()  # (E, D)
        b = heads.text.bias.detach().float().cpu().numpy()  # (E,)
    proj = pooled @ w.T + b  # (N, E)
    proj /= np.maximum(np.linalg.norm(proj, axis=1, keepdims=True), 1e-12)
    return TokenSet(
        tokens=[t.astype(np.float16) for t in tokens],
        features=pooled.astype(np.float32),
        projected=proj.astype(np.float32),
        labels=data.labels,
        class_names=list(data.class_names),
        sample_ids=data.sample_ids,
        splits={k: v.copy() for k, v in data.splits.items()},
        encoder_config={**ecfg.to_dict(), "prep": bank.prep.to_dict()},
        encoder_state={k: v.detach().cpu() for k, v in encoder.state_dict().items()},
        head_state={k: v.detach().cpu() for k, v in heads.state_dict().items()},
        layout=data.layout,
        **meta,
    )


def take_validation_rows(history: list[dict]) -> tuple[list[dict], np.ndarray | None]:
    """(``history`` without them, the rows): the rows of its data that ``train_encoder``
    validated on and never trained on, from the last history entry (``validation_rows``) where
    the run records them, for ``TokenSet.encoder_validation`` (their own dataset in the tokens
    file, so the history is not written twice). None where a run records none: a refit
    (``validation_rows`` None), no validation part (empty) or a history from before them."""
    if not history or "validation_rows" not in history[-1]:
        return history, None
    last = dict(history[-1])
    rows = last.pop("validation_rows")
    kept = [*history[:-1], last]
    if not rows:
        return kept, None
    return kept, np.asarray(sorted(rows), dtype=np.int64)


class _View:
    """A bank read through one fixed test-time view, shaped like a bank for ``encode_bank``."""

    def __init__(self, bank: PreparedBank, params: AugParams):
        self.bank, self.params, self.prep = bank, params, bank.prep

    def __len__(self) -> int:
        return len(self.bank)

    def batch(self, positions) -> torch.Tensor:
        return self.bank.batch(positions, repeat_params(self.params, len(positions)))


def encode_views(
    encoder: SkeletonEncoder, bank: PreparedBank, batch_size: int, accelerator=None
) -> tuple[np.ndarray, np.ndarray]:
    """``encode_bank`` averaged over the first ``bank.prep.tta`` views of
    ``transforms.TTA_TABLE`` (whole clip, mirrored, shorter crops): tokens (N, Ls, D) and pooled
    features (N, D). The mean is taken on the encoder's outputs, so every linear read-out of
    them (ce head, text head, probe) scores the mean of the views. tta 1: the plain encoding."""
    if bank.prep.tta == 1:
        return encode_bank(encoder, bank, batch_size, accelerator)
    views = [
        encode_bank(encoder, _View(bank, p), batch_size, accelerator)
        for p in tta_params(bank.prep.tta)
    ]
    return np.mean([t for t, _ in views], axis=0), np.mean([f for _, f in views], axis=0)
