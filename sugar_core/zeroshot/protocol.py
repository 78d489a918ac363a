"""The zero-shot protocol: train on seen classes only, recognise unseen ones.

    result = run_zeroshot(data, priors, resolve_split("nw-ucla-ru5", data.class_names), cfg)
    write_zeroshot(result, "zs.h5", inputs=input_record([...]))  # zeroshot/store.py

Steps (tokenize and align are the ordinary stages, handed seen classes only: ``seen.py``):
1. plan: seen / unseen classes (``plan.plan_classes``); cross-dataset runs (``test_data``)
   match the test data's classes to the training data's by name and bring both into one joint
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
   generalised setting (seen + unseen candidates on seen-class test samples plus unseen ones);
   with ``pseudo_unseen``, seen classes held out of steps 2-3 first choose the scoring options
   (``pseudo.py``); ``fuse`` / ``conse`` add scorers beside the LLM alone (``scorers.py``).
Accuracies are fractions in [0, 1]; every metrics dict names its ``protocol`` and ``split``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sugar_core import events, health
from sugar_core.align.inference import predict_split
from sugar_core.align.model import AlignedModel
from sugar_core.errors import ConfigError
from sugar_core.evaluate.metrics import compute_metrics
from sugar_core.predictions import Predictions
from sugar_core.priors.store import Priors
from sugar_core.skeleton.dataset import SkeletonSet
from sugar_core.tokenize.encoding import encode
from sugar_core.tokenize.store import TokenSet, load_encoder
from sugar_core.zeroshot import pseudo, scorers, speed
from sugar_core.zeroshot.baseline import (
    chance,
    class_prototypes,
    cosine_rank,
    gzsl_baselines,
    gzsl_metrics,
)
from sugar_core.zeroshot.config import ZeroShotConfig
from sugar_core.zeroshot.plan import (
    ClassPlan,
    check_trained_without,
    default_split,
    evaluation_indices,
    plan_classes,
    shared_layout,
    to_layout,
    training_indices,
)
from sugar_core.zeroshot.pseudo import Choices
from sugar_core.zeroshot.seen import Callback, encode_seen, train_seen_alignment
from sugar_core.zeroshot.splits import UnseenSplit
from sugar_core.zeroshot.store import storable


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


@dataclass
class _Test:
    """The test side of a run, what step 4 scores."""

    data: SkeletonSet  # the training data itself, or another file (cross-dataset)
    tokens: TokenSet  # its samples tokenized by the seen-only encoder
    priors: Priors  # priors of its classes (the baseline's prototypes)
    split: str  # its split ("" = none)
    part: str  # unseen samples scored: test | all
    idx: np.ndarray  # (N_u,) unseen-class samples scored
    cross: bool  # another data set than the training one


# ---------------------------------------------------------------------------------------------
# steps 1-3: plan, encoder, alignment


def _check_reuse(tokens, aligned, plan: ClassPlan, reused_from: dict[str, str]) -> None:
    """Refuse reused artifacts that saw an unseen class (or an alignment without its tokens)."""
    if aligned is not None and tokens is None:
        raise ConfigError("a reused alignment needs the tokens (encoder) it was trained on")
    if tokens is not None:
        names = [tokens.class_names[i] for i in tokens.train_classes or []]
        known = names if tokens.train_classes is not None else None
        where = reused_from.get("tokens", "tokens")
        check_trained_without(where, known, plan.unseen_names, "encoder")
    if aligned is not None:
        where = reused_from.get("aligned", "aligned")
        check_trained_without(where, aligned.class_names, plan.unseen_names, "alignment")


def _joint_layout(data: SkeletonSet, test: SkeletonSet | None, tokens: TokenSet | None):
    """(training data, test data) in one joint layout: a reused encoder's, else the training
    data's when the test data maps onto it (cross-dataset), else the test data's."""
    if test is None:
        if tokens is not None and tokens.layout and tokens.layout != data.layout:
            raise ConfigError(
                f"the tokens' encoder reads {tokens.layout}, the data is {data.layout}"
            )
        return data, data
    base = tokens.layout if tokens is not None else data.layout
    layout = shared_layout(base, test.layout, fixed=tokens is not None)
    return to_layout(data, layout), to_layout(test, layout)


def _same_samples(tokens: TokenSet, data: SkeletonSet) -> bool:
    return tokens.sample_ids == data.sample_ids and np.array_equal(tokens.labels, data.labels)


def _tokens(
    data, test, cross: bool, tokens: TokenSet, data_split: str, plan: ClassPlan, priors_sha256: str
) -> tuple[TokenSet, TokenSet]:
    """(training tokens, test tokens) from the seen-only encoder of ``tokens``: the given
    tokens where they hold the same samples, else the data encoded again."""
    enc = load_encoder(tokens)
    train = tokens
    if not _same_samples(tokens, data):
        train = encode(
            data,
            enc.encoder,
            enc.heads,
            prep=enc.prep,
            history=tokens.history,
            train_split=data_split,
            train_classes=plan.seen,
            priors_sha256=priors_sha256,
        )
    if not cross:
        return train, train
    return train, encode(test, enc.encoder, enc.heads, prep=enc.prep)


# ---------------------------------------------------------------------------------------------
# step 4: scoring


def _unseen_samples(
    test: SkeletonSet, cfg: ZeroShotConfig, cross: bool, data_split: str, plan: ClassPlan
) -> tuple[str, str, np.ndarray]:
    """(part, the test data's split, (N_u,) unseen-class samples to score)."""
    part = cfg.eval_part or ("all" if cross else "test")
    test_split = default_split(test, "" if cross else data_split, "test data")
    if part == "test" and not test_split:
        raise ConfigError("the test data has no split; evaluate every sample with eval part all")
    idx = evaluation_indices(test, test_split, plan.unseen, part)
    if len(idx) == 0:
        raise ConfigError(f"no samples of the unseen classes {plan.unseen_names} to evaluate")
    return part, test_split, idx


def _llm(
    model,
    tokens: TokenSet,
    idx,
    candidates,
    decode: str,
    cfg: ZeroShotConfig,
    callback: Callback | None,
    embed_fn=None,
    priors: Priors | None = None,
    choices: Choices | None = None,
    scores_out: dict | None = None,
) -> Predictions:
    """The LLM's answers on rows ``idx`` with ``candidates`` (class ids) as the action list,
    scored as ``choices`` say (``pseudo.py``; None: the model's own settings)."""
    choices = choices or Choices()
    return predict_split(
        model,
        tokens,
        idx,
        candidates,
        decode=decode,
        batch_size=cfg.predict_batch,
        describe=cfg.describe,
        max_new_tokens=cfg.max_new_tokens,
        embed_fn=embed_fn,
        callback=callback,
        priors=priors,
        calibration=choices.calibration,
        rank_text=choices.rank_text,
        scores_out=scores_out,
    )


def _score_llm(model, t: _Test, plan: ClassPlan, cfg: ZeroShotConfig, callback, embed_fn, ch):
    """(the first decode's predictions and metrics, {decode: summary}, per-decode arrays,
    rank's full scores (``predict_split``'s ``scores_out``))."""
    arrays: dict[str, dict[str, np.ndarray]] = {}
    by_decode, primary, raw = {}, None, {}
    for decode in cfg.decodes:
        tagged = events.relay(callback, "zeroshot", f"predict:{decode}")
        p = _llm(model, t.tokens, t.idx, plan.unseen, decode, cfg, tagged, embed_fn, t.priors,
                 ch, raw if decode == "rank" else None)  # fmt: skip
        m = compute_metrics(p.labels, p.pred, p.top5, t.data.class_names, p.raw_text, plan.unseen)
        by_decode[decode] = {**scorers.keep(m), "seconds": p.metrics["predict_seconds"]}
        arrays[f"llm_{decode}"] = {"pred": p.pred, "top5": p.top5, "scores": p.scores}
        if decode == "rank":  # its correction; the raw scores and what each correction subtracts
            by_decode[decode]["calibration"] = p.metrics["calibration"]
            arrays["llm_rank"].update({f"raw_{k}": v for k, v in raw.items() if v is not None})
        if primary is None:
            primary = (p, m)
    return primary, by_decode, arrays, raw


def _score_baseline(t: _Test, plan: ClassPlan) -> tuple[dict, dict[str, np.ndarray]]:
    """The embedding baseline's summary and arrays on the unseen samples."""
    protos = class_prototypes(t.priors, plan.unseen_names)
    pred, top5, scores = cosine_rank(t.tokens.projected[t.idx], protos, plan.unseen)
    labels = t.data.labels[t.idx]
    m = compute_metrics(labels, pred, top5, t.data.class_names, candidates=plan.unseen)
    return scorers.keep(m), {"pred": pred, "top5": top5, "scores": scores}


def _gzsl(model, t: _Test, plan: ClassPlan, cfg: ZeroShotConfig, callback, embed_fn, ch) -> dict:
    """Seen + unseen candidates on seen-class test samples and the unseen samples."""
    if not plan.seen_in_test:
        raise ConfigError("--gzsl: the test data has no class that was seen in training")
    seen_part = "all" if t.cross else "test"
    if seen_part == "test" and not t.split:
        raise ConfigError("--gzsl needs a split whose test part holds unseen-by-training samples")
    seen_idx = evaluation_indices(t.data, t.split, plan.seen_in_test, seen_part)
    idx = np.concatenate([seen_idx, t.idx])
    cand = list(plan.seen_in_test) + list(plan.unseen)
    labels = t.data.labels[idx]
    out = {"candidates": len(cand), "decode": cfg.decodes[0]}
    tagged = events.relay(callback, "zeroshot", "predict:gzsl")
    p = _llm(model, t.tokens, idx, cand, cfg.decodes[0], cfg, tagged, embed_fn, t.priors, ch)
    out["llm"] = gzsl_metrics(labels, p.pred, plan.seen_in_test, plan.unseen)
    if cfg.baseline:
        protos = class_prototypes(t.priors, [t.data.class_names[c] for c in cand])
        out.update(gzsl_baselines(t.tokens.projected[idx], protos, cand, labels, plan.seen_in_test,
                                  plan.unseen, model.reference_projected))  # fmt: skip
    return out


def _evaluate(
    model,
    t: _Test,
    plan: ClassPlan,
    cfg: ZeroShotConfig,
    common: dict,
    callback,
    embed_fn,
    ch: Choices,
    priors: Priors,
) -> tuple[Predictions, dict]:
    """Step 4: the unseen-class predictions (first decode) with every figure in their metrics,
    and the other predictors' arrays (LLM alone, baseline alone, fused and ConSE beside)."""
    (p, m), by_decode, arrays, raw = _score_llm(model, t, plan, cfg, callback, embed_fn, ch)
    metrics = {**m, **common, "decode": cfg.decodes[0], "llm": by_decode}
    if "rank" in by_decode:
        metrics["calibration"] = by_decode["rank"]["calibration"]
    if cfg.baseline:
        metrics["baseline"], arrays["baseline"] = _score_baseline(t, plan)
    if cfg.fuse != "off":
        if not raw:
            raise ConfigError("fuse combines rank scores: include rank in decodes")
        metrics["fused"], arrays["fused"] = scorers.fused(model, t, plan, cfg, ch, raw)
    if cfg.conse:
        metrics["conse"], arrays["conse"] = scorers.conse(model, t, plan, cfg, ch, priors)
    if cfg.gzsl:
        metrics["gzsl"] = _gzsl(model, t, plan, cfg, callback, embed_fn, ch)
    p = replace(p, class_names=list(t.data.class_names), metrics=metrics)
    return p, arrays


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
    estimate: bool = False,
) -> ZeroShotResult:
    """The whole protocol (module docstring). ``tokens`` / ``aligned``: reuse a seen-only
    encoder / alignment (refused if it saw an unseen class); ``reused_from`` names their files
    in errors. ``callback`` receives the stages' progress events with a ``phase`` key.
    ``embed_fn`` (texts -> unit rows) lets generate match an answer to the closest name.
    ``estimate``: price the run first (``speed.forecast``; kept as metrics ``estimate``)."""
    cross = test_data is not None
    data_split = default_split(data, cfg.split, "training data")
    plan = plan_classes(split, data.class_names, test_data.class_names if cross else None)
    _check_reuse(tokens, aligned, plan, reused_from or {})
    # pseudo-unseen validation: seen classes held out of both stages (pseudo.py)
    held = pseudo.pick(plan.seen, cfg.pseudo_unseen, cfg.pseudo_seed)
    plan = pseudo.without(plan, held)
    if held and aligned is not None:  # a reused alignment must not have trained on them
        names = [plan.train_names[k] for k in held]
        where = (reused_from or {}).get("aligned", "aligned")
        check_trained_without(where, aligned.class_names, names, "alignment (pseudo-unseen)")

    # 1. one joint layout for both sides; the unseen samples to score; what it will cost
    data, test = _joint_layout(data, test_data, tokens)
    part, test_split, idx = _unseen_samples(test, cfg, cross, data_split, plan)
    cost = None
    if estimate:  # priced before any training (speed.py, cost.py)
        seen_side = (data, priors, cfg, data_split, plan, held)
        test_side = (test, test_priors or priors, test_split, idx, cross)
        cost = speed.forecast(speed.RunInputs(*seen_side, *test_side, tokens, aligned), callback)

    # 2. encoder: trained on seen classes, or reused
    if tokens is None:
        tokens = encode_seen(data, priors, cfg, data_split, plan, callback, run_dir, priors_sha256)
    train_tokens, test_tokens = _tokens(data, test, cross, tokens, data_split, plan, priors_sha256)

    # 3. alignment: seen names only in the prompt, or reused
    if aligned is None:
        aligned = train_seen_alignment(
            train_tokens, priors, cfg.align, data_split, plan, cfg.align_per_class, callback
        )

    # 4. the options left to validation chosen on the pseudo-unseen classes; then unseen-class
    # samples, scored with the unseen names only
    choices = pseudo.fixed(cfg, aligned)
    if held:
        val = training_indices(data, data_split, held)
        tagged = events.relay(callback, "zeroshot", "predict:pseudo")
        choices = pseudo.choose(aligned, train_tokens, priors, val, held, cfg, tagged)
        choices.record["encoder_saw_them"] = bool(set(held) & set(tokens.train_classes or []))
    t = _Test(test, test_tokens, test_priors or priors, test_split, part, idx, cross)
    protocol = f"zeroshot/{split.protocol}" + ("/cross-dataset" if cross else "")
    common = dict(
        protocol=protocol,
        split=data_split,  # design.md: the data file's split; the unseen split has its own key
        unseen_split=split.name,
        eval_part=part,
        unseen=plan.unseen_names,
        seen=plan.seen_names,
        chance=chance(len(plan.unseen)),
        scored=_scored(part, test_split, len(idx), len(plan.unseen)),
    )
    if held:
        common["pseudo_unseen"] = choices.record
    if cost is not None:
        common["estimate"] = cost
    p, arrays = _evaluate(aligned, t, plan, cfg, common, callback, embed_fn, choices, priors)
    p.metrics["warnings"] = _warnings(train_tokens, aligned, p)
    return ZeroShotResult(p, train_tokens, aligned, plan, arrays)


def _scored(part: str, split: str, n: int, u: int) -> str:
    """Which samples were scored, in words (the metrics' ``scored``)."""
    if part == "all":
        return f"all {n} samples of the {u} unseen classes (every view, subject and split part)"
    return f"the {n} test-part samples of split {split!r} of the {u} unseen classes"


def _warnings(tokens: TokenSet, model: AlignedModel, p: Predictions) -> list[str]:
    """Health warnings (``sugar_core.health``): the seen-only encoder's and alignment's on
    their validation parts, then the unseen-class predictions'."""
    out = []
    for history in (tokens.history, model.history):
        out += list(history[-1].get("warnings", [])) if history else []
    return out + health.check_predictions(p, "zeroshot", "zeroshot: unseen-class predictions")


# ---------------------------------------------------------------------------------------------
# the seen-only model on seen classes (what --save-aligned stores beside it)


def seen_predictions(result: ZeroShotResult, cfg: ZeroShotConfig) -> Predictions:
    """The seen-only model on its own classes' test samples (what an aligned file stores)."""
    ts, plan = result.tokens, result.plan
    split = ts.train_split
    if split and split in ts.splits:
        idx = np.flatnonzero((ts.splits[split] == 0) & np.isin(ts.labels, plan.seen))
    else:
        idx = np.zeros(0, dtype=np.int64)
    decode = cfg.decodes[0]
    p = _llm(result.model, ts, idx, plan.seen, decode, cfg, None)
    m = compute_metrics(p.labels, p.pred, p.top5, ts.class_names, p.raw_text, plan.seen)
    m.update(protocol="zeroshot/seen-classes", split=split, decode=decode)
    return replace(p, raw_text=storable(p.raw_text), description=None, features=None, metrics=m)
