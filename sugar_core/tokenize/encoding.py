"""Tokenizing: every sample of a skeleton set through a trained encoder, into a TokenSet.

    tokens = encode(data, encoder, heads, prep=cfg.prep, history=history)

The encoder comes from ``train_encoder`` or from an earlier tokens file (``load_encoder``).
"""

from __future__ import annotations

import numpy as np
import torch

from sugar_core.errors import ConfigError
from sugar_core.skeleton.dataset import SkeletonSet
from sugar_core.skeleton.prep import PrepConfig
from sugar_core.tokenize.bank import PreparedBank, encode_bank
from sugar_core.tokenize.config import prep_for
from sugar_core.tokenize.encoder import SkeletonEncoder
from sugar_core.tokenize.network import Heads
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

    Samples are resampled to the encoder's T, so every sample has Ls = cfg.token_length().
    ``meta`` fills the remaining TokenSet fields (train_split, train_classes, history,
    priors_sha256).
    """
    ecfg = encoder.cfg
    if data.layout != ecfg.layout:
        raise ConfigError(f"data layout {data.layout!r} but the encoder expects {ecfg.layout!r}")
    c = int(data.samples[0].joints.shape[-1])
    prep = prep_for(ecfg, prep or PrepConfig())
    if c < prep.channels:
        raise ConfigError(f"data has {c} channels per joint, the encoder needs {prep.channels}")
    bank = PreparedBank(data, np.arange(len(data)), prep)
    tokens, pooled = encode_bank(encoder, bank, batch_size, accelerator)  # (N, Ls, D), (N, D)
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
