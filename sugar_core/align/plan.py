"""Stage 2 fitted to its data: the sampler, the small-set rule, and whether a validation part
is held out.

    sampler     auto -> balanced below ``SMALL_SET`` (400) training samples or when the
                classes are imbalanced, else shuffle (``sugar_core/sampling.py``)
    below 400   with ``small_data`` on, fields still at their defaults become:
                weight_decay 0 -> 0.01 (AdamW), token_noise 0 -> 0.1 (Gaussian noise at a
                tenth of each token channel's std: augmentation for the bridge)
    anchor      auto -> fitted below 400 with ``small_data`` on, where the caller allows it
                (``anchor_ok``: not zero-shot, tokens with a stage-1 text head in the priors'
                space): the LLM also reads where the sample sits among the priors
                (``anchor.py``; README "Small datasets" has the measured effect); else none
    validation  auto -> a stratified share held out when calibration is auto or below 400
                training samples (where collapse is likely and the fallback read-out can
                help); share -> always; encoder -> always, the rows the tokens file records
                as the encoder's validation part (``encoder_rows``: neither stage trains on
                them, so the text-prior read-out is judged on unseen ground as the LLM is);
                none -> never

The number of epochs is ``sugar_core/schedule.py``'s (training counts the steps), with the
floor of optimiser steps ``step_floor``: the larger of ``min_steps`` and the steps that show
each trained class ``min_samples_per_class`` samples (K x it / samples per step).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from sugar_core import sampling
from sugar_core.align.config import AlignConfig
from sugar_core.errors import ConfigError
from sugar_core.schedule import SMALL_SET

if TYPE_CHECKING:
    from sugar_core.tokenize.store import TokenSet

SMALL_DECAY = 0.01
SMALL_NOISE = 0.1
SMALL_ANCHOR = "fitted"


def fit_to_data(
    cfg: AlignConfig, labels: np.ndarray, anchor_ok: bool = False
) -> tuple[AlignConfig, dict]:
    """(``cfg`` with its sampler resolved and the small-set rule applied, {field: new value}
    of the fields the rule changed, nested ones dotted) for training labels ``labels`` (N,);
    ``anchor_ok``: whether the rule may add the fitted anchor token."""
    cfg = replace(cfg, sampler=sampling.resolve(cfg.sampler, labels))
    small = cfg.small_data and len(labels) < SMALL_SET
    changed = {}
    if cfg.bridge.anchor == "auto":
        anchor = SMALL_ANCHOR if small and anchor_ok else "none"
        cfg = replace(cfg, bridge=replace(cfg.bridge, anchor=anchor))
        if anchor != "none":
            changed["bridge.anchor"] = anchor
    if not small:
        return cfg, changed
    if cfg.weight_decay == AlignConfig.weight_decay:
        changed["weight_decay"] = SMALL_DECAY
    if cfg.token_noise == AlignConfig.token_noise:
        changed["token_noise"] = SMALL_NOISE
    fields = {k: v for k, v in changed.items() if "." not in k}
    return replace(cfg, **fields), changed


def wants_validation(cfg: AlignConfig, n_train: int) -> bool:
    """Whether a validation part of ``n_train`` training samples is held out."""
    if cfg.validation == "auto":
        return cfg.calibration == "auto" or n_train < SMALL_SET
    return cfg.validation in ("share", "encoder")


def encoder_rows(tokens: TokenSet, train: np.ndarray, where: str = "these tokens") -> np.ndarray:
    """(N_v,) the validation part of validation ``encoder``: the rows of ``train`` (the
    alignment's training rows, (N,)) that ``tokens`` record as the encoder's validation part.

    A ConfigError naming ``where`` (the tokens file) when none are recorded, when they hold
    fewer than 2 of the trained classes, or when they leave nothing to train on."""
    recorded = tokens.encoder_validation
    if recorded is None or len(recorded) == 0:
        raise ConfigError(
            f"validation encoder: {where} records no encoder validation rows (written before "
            "they were recorded, an encoder refit on train + validation or reused on other "
            "data, or tokenize validation none); use validation auto or share, or tokenize "
            "again with a validation part and no refit"
        )
    val = np.intersect1d(np.asarray(recorded, dtype=np.int64), train)
    classes = np.unique(tokens.labels[val])
    if len(classes) < 2:
        raise ConfigError(
            f"validation encoder: the encoder validation rows of {where} hold {len(classes)} "
            f"of the trained classes among {len(train)} training rows; at least 2 are needed"
        )
    if len(val) == len(np.unique(train)):
        raise ConfigError(f"validation encoder: every training row of {where} is an encoder "
                          "validation row; nothing is left to train on")  # fmt: skip
    return val


def step_floor(cfg: AlignConfig, classes: int, processes: int = 1) -> int:
    """The auto schedule's floor of optimiser steps for ``classes`` trained classes:
    max(min_steps, ceil(classes x min_samples_per_class / samples per optimiser step))."""
    per_step = cfg.batch_size * cfg.grad_accum * max(1, processes)
    return max(cfg.min_steps, math.ceil(classes * cfg.min_samples_per_class / per_step))
