"""The zero-shot protocol: train on seen classes only, recognise unseen ones.

    result = run_zeroshot(data, priors, resolve_split("nw-ucla-ru5", data.class_names), cfg)
    write_zeroshot(result, "zs.h5", inputs=input_record([...]))  # zeroshot_store.py

Steps (tokenize and align are the ordinary stages, handed seen classes only):
1. plan: seen / unseen classes (``zeroshot_plan``); cross-dataset runs (``test_data``) match
   the test data's classes to the training data's by name and bring both into one joint
   layout (``layouts.joint_map``);
2. encoder: trained on the seen classes' samples of the split's train part, against the seen
   classes' priors rows. It is given a *copy* of the data and priors cut down to seen classes
   (``seen_only``, ``Priors.select``), so no unseen sample, name or prior can reach training.
   Or reused (``tokens``), after checking ``TokenSet.train_classes`` excludes every unseen class;
3. alignment (bridge + LoRA into the frozen LLM): trained on seen-class tokens with only seen
   names in the prompt; or reused (``aligned``) after the same check on its action list;
4. evaluation on unseen-class samples (``eval_part``: the split's test part by default on the
   same data, every sample on ``test_data``): the LLM with the action list swapped for the
   unseen names (``rank`` and / or ``generate``), the embedding baseline (cosine between the
   encoder's text-space projection and the unseen priors' prototypes), and with ``gzsl`` the
   generalised setting (seen + unseen candidates on seen-class test samples plus unseen ones).
Accuracies are fractions in [0, 1]; every metrics dict names its ``protocol`` and ``split``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sugar_core.align.training import AlignConfig, AlignedModel, predict, train_alignment
from sugar_core.errors import ConfigError
from sugar_core.evaluate.metrics import compute_metrics
from sugar_core.predictions import Predictions
from sugar_core.priors.store import Priors
from sugar_core.skeleton.dataset import SkeletonSet
from sugar_core.tokenize.store import TokenSet
from sugar_core.tokenize.training import TokenizeConfig
from sugar_core.zeroshot.baseline import chance, class_prototypes, cosine_rank, gzsl_metrics
from sugar_core.zeroshot.plan import (
    EVAL_PARTS,
    ClassPlan,
    check_trained_without,
    default_split,
    evaluation_indices,
    plan_classes,
    seen_only,
    shared_layout,
    to_layout,
    training_indices,
)
from sugar_core.zeroshot.splits import UnseenSplit

DECODES = ("rank", "generate")
SUMMARY_KEYS = ("top1", "top5", "mean_class_acc", "n", "off_list_rate")
ZS_SPLIT = "zeroshot"  # name of the split handed to the stages: 1 seen train, 0 seen test

Callback = Callable[[dict], None]


@dataclass
class ZeroShotConfig:
    split: str = ""  # data split whose train part trains; "" = the data's only split
    eval_part: str = ""  # unseen samples scored: test | all; "" = test (same data), all (other)
    decodes: tuple[str, ...] = DECODES  # LLM decodings scored; the first fills the file's pred
    gzsl: bool = False  # also score seen + unseen candidates (seen test samples + unseen ones)
    baseline: bool = True  # the embedding baseline: no LLM, cosine to prior prototypes
    describe: bool = False  # rank: also generate a description per sample (a generation each)
    align_per_class: int = 0  # cap on each seen class's alignment samples (0 = all; CPU budget)
    predict_batch: int = 16  # samples per LLM forward at prediction time
    max_new_tokens: int = 48  # generate / describe: answer length cap
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)  # as `sugar tokenize`
    align: AlignConfig = field(default_factory=AlignConfig)  # as `sugar align`

    def __post_init__(self):
        if isinstance(self.tokenize, dict):
            self.tokenize = TokenizeConfig.from_dict(self.tokenize)
        if isinstance(self.align, dict):
            self.align = AlignConfig.from_dict(self.align)
        self.decodes = tuple(self.decodes)
        bad = [d for d in self.decodes if d not in DECODES]
        if bad or not self.decodes:
            raise ConfigError(f"decodes {list(self.decodes)}; choose from {', '.join(DECODES)}")
        if self.eval_part and self.eval_part not in EVAL_PARTS:
            raise ConfigError(f"eval part {self.eval_part!r}; choose {' or '.join(EVAL_PARTS)}")

    def to_dict(self) -> dict:
        return {
            "split": self.split,
            "eval_part": self.eval_part,
            "decodes": list(self.decodes),
            "gzsl": self.gzsl,
            "baseline": self.baseline,
            "describe": self.describe,
            "align_per_class": self.align_per_class,
            "predict_batch": self.predict_batch,
            "max_new_tokens": self.max_new_tokens,
            "tokenize": self.tokenize.to_dict(),
            "align": self.align.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> ZeroShotConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown zero-shot settings {unknown}; known: {sorted(known)}")
        return cls(**d)


@dataclass
class ZeroShotResult:
    predictions: Predictions  # unseen-class samples, first decode; metrics hold everything
    tokens: TokenSet  # the training data tokenized by the seen-only encoder
    model: AlignedModel  # the seen-only alignment
    plan: ClassPlan
    arrays: dict[str, dict[str, np.ndarray]]  # other predictors: name -> {pred, top5, scores}

    @property
    def metrics(self) -> dict:
        return self.predictions.metrics


# ---------------------------------------------------------------------------------------------
# stage 1 and 2 on seen classes only


def _notify(callback: Callback | None, phase: str):
    if callback is None:
        return None
    return lambda event: callback({"phase": phase, **event})


def _seen_split(data: SkeletonSet, split: str, plan: ClassPlan) -> tuple[SkeletonSet, np.ndarray]:
    """Seen-class samples only (train part -> 1, test part -> 0), and their indices in data."""
    train = training_indices(data, split, plan.seen)
    held = evaluation_indices(data, split, plan.seen, "test") if split else np.zeros(0, int)
    idx = np.concatenate([train, held]).astype(np.int64)
    sub = seen_only(data, idx, plan.seen)
    sub.splits = {ZS_SPLIT: np.r_[np.ones(len(train)), np.zeros(len(held))].astype(np.int8)}
    return sub, idx


def train_seen_encoder(
    data: SkeletonSet, priors: Priors, cfg, split: str, plan: ClassPlan, callback=None, run_dir=None
):
    """(encoder, heads, history) trained on seen classes only (a cut-down copy of the data)."""
    from sugar_core.tokenize.training import train_encoder

    sub, _ = _seen_split(data, split, plan)
    pri = priors.select(plan.seen_names)
    return train_encoder(sub, pri, cfg, ZS_SPLIT, callback=callback, run_dir=run_dir)


def _encode_seen(data, priors, cfg, data_split, plan, callback, run_dir, priors_sha256):
    from sugar_core.tokenize.training import tokenize

    enc, heads, history = train_seen_encoder(
        data, priors, cfg.tokenize, data_split, plan, _notify(callback, "encoder"), run_dir
    )
    return tokenize(
        data, enc, heads, prep=cfg.tokenize.prep, history=history, train_split=data_split,
        train_classes=plan.seen, priors_sha256=priors_sha256,
    )  # fmt: skip


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
    return _encode_seen(data, priors, cfg, data_split, plan, callback, run_dir, priors_sha256)


def _release_accelerator() -> None:
    """Each stage builds its own Accelerator, and accelerate refuses a second one with another
    mixed precision in the same process (an fp32 encoder, then a bf16 alignment): forget the
    first one's settings. The distributed state (PartialState) is kept."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()


def seen_tokens(
    tokens: TokenSet, split: str, plan: ClassPlan, per_class: int = 0, seed: int = 0
) -> TokenSet:
    """The seen classes' training tokens, relabelled 0..K_s-1 with only the seen names.

    ``per_class`` > 0 keeps at most that many samples of each class (a seeded choice)."""
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
        layout=tokens.layout,
    )


def encoder_of(tokens: TokenSet):
    """(encoder, heads, prep) rebuilt from a tokens file's stored weights."""
    from sugar_core.skeleton.transforms import PrepConfig
    from sugar_core.tokenize.network import encoder_from_state, heads_from_state

    if not tokens.encoder_state:
        raise ConfigError("these tokens carry no encoder weights; cannot encode other data")
    prep = dict(tokens.encoder_config.get("prep") or {})
    return (
        encoder_from_state(tokens.encoder_config, tokens.encoder_state),
        heads_from_state(tokens.head_state),
        PrepConfig(**prep),
    )


def _same_samples(tokens: TokenSet, data: SkeletonSet) -> bool:
    return tokens.sample_ids == data.sample_ids and np.array_equal(tokens.labels, data.labels)


# ---------------------------------------------------------------------------------------------
# scoring


def _to_ids(local: np.ndarray, candidates: list[int]) -> np.ndarray:
    """Candidate-list positions (-1 = none) to class ids (-1 kept)."""
    cand = np.asarray(candidates, dtype=np.int64)
    local = np.asarray(local, dtype=np.int64)
    return np.where(local >= 0, cand[np.clip(local, 0, None)], -1)


def _llm(model, seqs, candidates, names, decode, cfg, callback, embed_fn=None):
    d = predict(
        model, seqs, names, decode=decode, batch_size=cfg.predict_batch, describe=cfg.describe,
        max_new_tokens=cfg.max_new_tokens, embed_fn=embed_fn, callback=callback,
    )  # fmt: skip
    return d, _to_ids(d.pred, candidates), _to_ids(d.top5, candidates)


def _summary(m: dict) -> dict:
    return {k: m[k] for k in SUMMARY_KEYS if k in m}


def run_zeroshot(
    data: SkeletonSet,
    priors: Priors,
    split: UnseenSplit,
    cfg: ZeroShotConfig,
    test_data: SkeletonSet | None = None,
    test_priors: Priors | None = None,
    tokens: TokenSet | None = None,
    aligned: AlignedModel | None = None,
    reused_from: dict[str, str] | None = None,
    callback: Callback | None = None,
    run_dir=None,
    priors_sha256: str = "",
    embed_fn=None,
) -> ZeroShotResult:
    """The whole protocol (module docstring). ``tokens`` / ``aligned``: reuse a seen-only
    encoder / alignment (refused if it saw an unseen class); ``reused_from`` names their files
    in errors. ``callback`` receives the stages' progress events with a ``phase`` key.
    ``embed_fn`` (texts -> unit rows) lets generate match an answer to the closest name."""
    from sugar_core.tokenize.training import tokenize

    reused_from = reused_from or {}
    cross = test_data is not None
    data_split = default_split(data, cfg.split, "training data")
    plan = plan_classes(split, data.class_names, test_data.class_names if cross else None)
    test_priors = test_priors or priors
    if aligned is not None and tokens is None:
        raise ConfigError("a reused alignment needs the tokens (encoder) it was trained on")
    if tokens is not None:
        names = [tokens.class_names[i] for i in tokens.train_classes or []]
        known = names if tokens.train_classes is not None else None
        check_trained_without(reused_from.get("tokens", "tokens"), known, plan.unseen_names,
                              "encoder")  # fmt: skip
    if aligned is not None:
        check_trained_without(reused_from.get("aligned", "aligned"), aligned.class_names,
                              plan.unseen_names, "alignment")  # fmt: skip

    # 1. one joint layout for both sides
    test = test_data if cross else data
    if cross:
        base = tokens.layout if tokens is not None else data.layout
        layout = shared_layout(base, test.layout, fixed=tokens is not None)
        data, test = to_layout(data, layout), to_layout(test, layout)
    elif tokens is not None and tokens.layout and tokens.layout != data.layout:
        raise ConfigError(f"the tokens' encoder reads {tokens.layout}, the data is {data.layout}")

    # 2. encoder: trained on seen classes, or reused
    if tokens is None:
        tokens = _encode_seen(data, priors, cfg, data_split, plan, callback, run_dir,
                              priors_sha256)  # fmt: skip
    enc, heads, prep = encoder_of(tokens)
    train_tokens = tokens if _same_samples(tokens, data) else tokenize(
        data, enc, heads, prep=prep, history=tokens.history, train_split=data_split,
        train_classes=plan.seen, priors_sha256=priors_sha256,
    )  # fmt: skip
    test_tokens = tokenize(test, enc, heads, prep=prep) if cross else train_tokens

    # 3. alignment: seen names only in the prompt, or reused
    if aligned is None:
        _release_accelerator()
        aligned = train_alignment(
            seen_tokens(train_tokens, data_split, plan, cfg.align_per_class, cfg.align.seed),
            priors.select(plan.seen_names),
            cfg.align, ZS_SPLIT, callback=_notify(callback, "align"),
        )  # fmt: skip

    # 4. unseen-class samples, scored with the unseen names only
    part = cfg.eval_part or ("all" if cross else "test")
    test_split = default_split(test, "" if cross else data_split, "test data")
    if part == "test" and not test_split:
        raise ConfigError("the test data has no split; evaluate every sample with eval part all")
    idx = evaluation_indices(test, test_split, plan.unseen, part)
    if len(idx) == 0:
        raise ConfigError(f"no samples of the unseen classes {plan.unseen_names} to evaluate")
    labels = test.labels[idx]
    seqs = [test_tokens.tokens[i] for i in idx]
    protocol = f"zeroshot/{split.protocol}" + ("/cross-dataset" if cross else "")
    common = dict(protocol=protocol, split=split.name, data_split=data_split, eval_part=part,
                  unseen=plan.unseen_names, seen=plan.seen_names,
                  chance=chance(len(plan.unseen)))  # fmt: skip
    arrays: dict[str, dict[str, np.ndarray]] = {}
    by_decode, primary = {}, None
    for decode in cfg.decodes:
        d, pred, top5 = _llm(aligned, seqs, plan.unseen, plan.unseen_names, decode, cfg,
                             _notify(callback, f"predict:{decode}"), embed_fn)  # fmt: skip
        m = compute_metrics(labels, pred, top5, test.class_names, d.raw_text, plan.unseen)
        by_decode[decode] = {**_summary(m), "seconds": d.seconds}
        arrays[f"llm_{decode}"] = {"pred": pred, "top5": top5, "scores": d.scores}
        if primary is None:
            primary = (decode, d, pred, top5, m)
    decode, d, pred, top5, m = primary
    metrics = {**m, **common, "decode": decode, "llm": by_decode}

    if cfg.baseline:
        protos = class_prototypes(test_priors, plan.unseen_names)
        b_pred, b_top5, b_scores = cosine_rank(test_tokens.projected[idx], protos, plan.unseen)
        bm = compute_metrics(labels, b_pred, b_top5, test.class_names, candidates=plan.unseen)
        metrics["baseline"] = _summary(bm)
        arrays["baseline"] = {"pred": b_pred, "top5": b_top5, "scores": b_scores}

    if cfg.gzsl:
        metrics["gzsl"] = _gzsl(aligned, test, test_tokens, test_priors, plan, idx, test_split,
                                cross, cfg, callback, embed_fn)  # fmt: skip

    p = Predictions(
        labels=labels, pred=pred, top5=top5, class_names=list(test.class_names),
        sample_ids=[test.sample_ids[i] for i in idx], scores=d.scores, raw_text=d.raw_text,
        description=d.description, candidates=np.asarray(plan.unseen, dtype=np.int64),
        features=test_tokens.features[idx], metrics=metrics,
    )  # fmt: skip
    return ZeroShotResult(p, train_tokens, aligned, plan, arrays)


def _gzsl(model, test, test_tokens, test_priors, plan, unseen_idx, split, cross, cfg, callback,
          embed_fn):  # fmt: skip
    """Seen + unseen candidates on seen-class test samples and the unseen samples."""
    if not plan.seen_in_test:
        raise ConfigError("--gzsl: the test data has no class that was seen in training")
    seen_part = "all" if cross else "test"
    if seen_part == "test" and not split:
        raise ConfigError("--gzsl needs a split whose test part holds unseen-by-training samples")
    seen_idx = evaluation_indices(test, split, plan.seen_in_test, seen_part)
    idx = np.concatenate([seen_idx, unseen_idx])
    cand = list(plan.seen_in_test) + list(plan.unseen)
    names = [test.class_names[c] for c in cand]
    labels = test.labels[idx]
    out = {"candidates": len(cand), "decode": cfg.decodes[0]}
    _, pred, _ = _llm(model, [test_tokens.tokens[i] for i in idx], cand, names, cfg.decodes[0],
                      cfg, _notify(callback, "predict:gzsl"), embed_fn)  # fmt: skip
    out["llm"] = gzsl_metrics(labels, pred, plan.seen_in_test, plan.unseen)
    if cfg.baseline:
        protos = class_prototypes(test_priors, names)
        b_pred, _, _ = cosine_rank(test_tokens.projected[idx], protos, cand)
        out["baseline"] = gzsl_metrics(labels, b_pred, plan.seen_in_test, plan.unseen)
    return out


# ---------------------------------------------------------------------------------------------
# the seen-only model on seen classes (what --save-aligned stores beside it)


def seen_predictions(result: ZeroShotResult, cfg: ZeroShotConfig) -> Predictions:
    """The seen-only model on its own classes' test samples (what an aligned file stores)."""
    from sugar_core.zeroshot.store import storable

    ts, plan = result.tokens, result.plan
    split = ts.train_split
    if split and split in ts.splits:
        idx = np.flatnonzero((ts.splits[split] == 0) & np.isin(ts.labels, plan.seen))
    else:
        idx = np.zeros(0, dtype=np.int64)
    decode = cfg.decodes[0]
    d, pred, top5 = _llm(result.model, [ts.tokens[i] for i in idx], plan.seen, plan.seen_names,
                         decode, cfg, None)  # fmt: skip
    labels = ts.labels[idx]
    m = compute_metrics(labels, pred, top5, ts.class_names, d.raw_text, plan.seen)
    m.update(protocol="zeroshot/seen-classes", split=split, decode=decode)
    return Predictions(
        labels=labels, pred=pred, top5=top5, class_names=list(ts.class_names),
        sample_ids=[ts.sample_ids[i] for i in idx], scores=d.scores,
        raw_text=storable(d.raw_text), candidates=np.asarray(plan.seen, dtype=np.int64), metrics=m,
    )  # fmt: skip
