"""Training on seen classes only: the ordinary stages, handed a cut-down copy of the data.

The encoder (stage 1) is given the seen classes' samples of the split's train part, relabelled
0..K_s-1, and the seen classes' priors rows (``seen_only``, ``Priors.select``); the alignment
(stage 2) the seen classes' tokens with only the seen names (``seen_tokens``). Neither receives
anything of an unseen class, not even its name. The split handed to the stages is ``ZS_SPLIT``.
The rows the encoder validated on are recorded as rows of the whole data
(``TokenSet.encoder_validation``) and mapped into each seen-class copy, for the alignment's
validation ``encoder``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sugar_core import events
from sugar_core.align.config import AlignConfig
from sugar_core.align.model import AlignedModel
from sugar_core.align.training import train_alignment
from sugar_core.errors import ConfigError
from sugar_core.priors.store import Priors
from sugar_core.skeleton.dataset import SkeletonSet
from sugar_core.tokenize.config import TokenizeConfig
from sugar_core.tokenize.encoding import encode, take_validation_rows
from sugar_core.tokenize.store import TokenSet
from sugar_core.tokenize.training import train_encoder
from sugar_core.zeroshot.config import ZeroShotConfig
from sugar_core.zeroshot.plan import (
    ClassPlan,
    default_split,
    evaluation_indices,
    plan_classes,
    seen_only,
    training_indices,
)
from sugar_core.zeroshot.splits import UnseenSplit

ZS_SPLIT = "zeroshot"  # name of the split handed to the stages: 1 seen train, 0 seen test

Callback = Callable[[dict], None]


def seen_split(data: SkeletonSet, split: str, plan: ClassPlan) -> tuple[SkeletonSet, np.ndarray]:
    """Seen-class samples only (train part -> 1, test part -> 0), and their indices in data."""
    train = training_indices(data, split, plan.seen)
    held = evaluation_indices(data, split, plan.seen, "test") if split else np.zeros(0, int)
    idx = np.concatenate([train, held]).astype(np.int64)
    sub = seen_only(data, idx, plan.seen)
    sub.splits = {ZS_SPLIT: np.r_[np.ones(len(train)), np.zeros(len(held))].astype(np.int8)}
    return sub, idx


def train_seen_encoder(
    data: SkeletonSet,
    priors: Priors,
    cfg: TokenizeConfig,
    split: str,
    plan: ClassPlan,
    callback: Callback | None = None,
    run_dir=None,
):
    """(encoder, heads, history) trained on seen classes only (a cut-down copy of the data);
    the last entry's ``validation_rows`` are rows of ``data``, not of the copy."""
    sub, idx = seen_split(data, split, plan)
    pri = priors.select(plan.seen_names)
    enc, heads, history = train_encoder(sub, pri, cfg, ZS_SPLIT, callback=callback, run_dir=run_dir)
    if history and history[-1].get("validation_rows"):
        history[-1]["validation_rows"] = idx[history[-1]["validation_rows"]].tolist()
    return enc, heads, history


def encode_seen(
    data: SkeletonSet,
    priors: Priors,
    cfg: ZeroShotConfig,
    data_split: str,
    plan: ClassPlan,
    callback: Callback | None = None,
    run_dir=None,
    priors_sha256: str = "",
) -> TokenSet:
    """Every sample of ``data`` tokenized by an encoder trained on the seen classes only;
    ``train_classes`` records the seen ids (what a later reuse is checked against)."""
    enc, heads, history = train_seen_encoder(
        data,
        priors,
        cfg.tokenize,
        data_split,
        plan,
        events.relay(callback, "zeroshot", "encoder"),
        run_dir,
    )
    history, rows = take_validation_rows(history)
    return encode(
        data,
        enc,
        heads,
        prep=cfg.tokenize.prep,
        history=history,
        train_split=data_split,
        train_classes=plan.seen,
        priors_sha256=priors_sha256,
        encoder_validation=rows,
    )


def train_seen_tokens(
    data: SkeletonSet,
    priors: Priors,
    split: UnseenSplit,
    cfg: ZeroShotConfig,
    callback: Callback | None = None,
    run_dir=None,
    priors_sha256: str = "",
) -> TokenSet:
    """Stage 1 of the protocol alone: the seen-only encoder, every sample of ``data``
    tokenized. ``train_classes`` records the seen ids, so ``run_zeroshot(tokens=...)`` can
    reuse it for this split or any other whose unseen classes it never saw."""
    data_split = default_split(data, cfg.split, "training data")
    plan = plan_classes(split, data.class_names)
    return encode_seen(data, priors, cfg, data_split, plan, callback, run_dir, priors_sha256)


def seen_tokens(
    tokens: TokenSet, split: str, plan: ClassPlan, per_class: int = 0, seed: int = 0
) -> TokenSet:
    """The seen classes' training tokens, relabelled 0..K_s-1 with only the seen names.

    ``per_class`` > 0 keeps at most that many samples of each class (a seeded choice). The
    encoder's recorded validation rows come along as rows of the copy (those it keeps; seen
    classes only, so no unseen row can appear); None where ``tokens`` record none."""
    part = tokens.splits[split] == 1 if split else np.ones(len(tokens), dtype=bool)
    idx = np.flatnonzero(part & np.isin(tokens.labels, plan.seen))
    if len(idx) == 0:
        raise ConfigError(f"no seen-class training tokens in split {split or '(all)'!r}")
    if per_class > 0:
        rng = np.random.default_rng(seed)
        keep = [rng.permutation(idx[tokens.labels[idx] == c])[:per_class] for c in plan.seen]
        idx = np.sort(np.concatenate(keep))
    remap = np.full(len(tokens.class_names), -1, dtype=np.int64)
    remap[plan.seen] = np.arange(len(plan.seen))
    held = tokens.encoder_validation
    held = None if held is None else np.flatnonzero(np.isin(idx, held))  # (N_v,) rows of copy
    return TokenSet(
        tokens=[tokens.tokens[i] for i in idx],
        features=tokens.features[idx],
        projected=tokens.projected[idx],
        labels=remap[tokens.labels[idx]],
        class_names=plan.seen_names,
        sample_ids=[tokens.sample_ids[i] for i in idx],
        splits={ZS_SPLIT: np.ones(len(idx), dtype=np.int8)},
        train_split=ZS_SPLIT,
        train_classes=list(range(len(plan.seen))),
        encoder_config=tokens.encoder_config,
        head_state=tokens.head_state,  # the seen-only encoder's text head (an anchor token)
        layout=tokens.layout,
        encoder_validation=held,
    )


def train_seen_alignment(
    tokens: TokenSet,
    priors: Priors,
    cfg: AlignConfig,
    split: str,
    plan: ClassPlan,
    per_class: int = 0,
    callback: Callback | None = None,
) -> AlignedModel:
    """The bridge + LoRA trained on the seen classes' training tokens of ``split``, with only
    the seen names in the prompt (at most ``per_class`` samples of each, 0 = all)."""
    return train_alignment(
        seen_tokens(tokens, split, plan, per_class, cfg.seed),
        priors.select(plan.seen_names),
        cfg,
        ZS_SPLIT,
        callback=events.relay(callback, "zeroshot", "align"),
        small_anchor=False,  # measured on trained classes only; set bridge.anchor to use it
    )
