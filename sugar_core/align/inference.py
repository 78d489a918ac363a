"""Naming (and describing) samples with an aligned model, from any action list.

- ``predict(model, token_list, candidate_names)`` -> ``Decoded``: answers whose class indices
  point into ``candidate_names`` (zero-shot swaps in unseen names, no retraining);
- ``predict_split(model, tokens, indices, candidates)`` -> ``Predictions``: the same for rows of
  a token set, with the answers mapped to class ids of ``tokens.class_names`` and the decode
  facts in ``metrics`` (``decode``, ``predict_seconds``, ``seconds_per_sample``,
  ``match_rules``). Accuracy metrics are the caller's (``sugar_core.evaluate`` comes later).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from sugar_core import events
from sugar_core.align import calibration as calibration_mod
from sugar_core.align import listing, readout
from sugar_core.align.answers import AnswerMatcher, EmbedFn, description_of
from sugar_core.align.config import DECODES
from sugar_core.align.decoding import continue_greedy, rank_scores, run_prompt
from sugar_core.align.llm import Prompt
from sugar_core.align.model import AlignedModel
from sugar_core.errors import ConfigError
from sugar_core.predictions import Predictions
from sugar_core.priors.store import Priors
from sugar_core.tokenize.store import TokenSet

Callback = Callable[[dict], None]
MAX_NEW_TOKENS = 48  # answer length cap when the caller gives none


@dataclass
class Decoded:
    """Per-sample answers; class indices point into the candidate list given to ``predict``."""

    pred: np.ndarray  # (N,) int64, -1 = the answer named no listed class (generate only)
    top5: np.ndarray  # (N, 5) int64 ranked candidates, -1 pads
    scores: np.ndarray  # (N, 5) float32 log-likelihoods of top5 (rank); NaN for generate
    raw_text: list[str]  # (N,) the answer verbatim ("{name}" + generated description for rank)
    description: list[str]  # (N,) the description part
    how: list[str]  # (N,) how the class was read: rank | exact | normalised | prefix | ...
    seconds: float = 0.0  # wall time of the whole call
    prior_share: np.ndarray | None = None  # (K,) softmax of the null input's rank scores
    raw_scores: np.ndarray | None = None  # (N, K) uncalibrated rank scores (keep_scores)
    null: np.ndarray | None = None  # (K,) the null input's raw rank scores (rank)
    lengths: np.ndarray | None = None  # (K,) tokens scored per candidate (rank)
    reference: np.ndarray | None = None  # (R, K) raw rank scores of the reference inputs

    @classmethod
    def empty(cls, n: int) -> Decoded:
        """Room for ``n`` answers: no class (-1), NaN scores, empty texts."""
        return cls(
            pred=np.full(n, -1, dtype=np.int64),
            top5=np.full((n, 5), -1, dtype=np.int64),
            scores=np.full((n, 5), np.nan, dtype=np.float32),
            raw_text=[""] * n,
            description=[""] * n,
            how=[""] * n,
        )


def predict(
    model: AlignedModel,
    token_list: list[np.ndarray],
    candidate_names: list[str],
    decode: str = "rank",
    batch_size: int = 16,
    describe: bool = True,
    max_new_tokens: int = MAX_NEW_TOKENS,
    embed_fn: EmbedFn | None = None,
    min_similarity: float = 0.6,
    callback: Callback | None = None,
    calibration: str | None = None,
    keep_scores: bool = False,
    priors: Priors | None = None,
    rank_text: str | None = None,
) -> Decoded:
    """Name (and describe) each token sequence (Ls_i, D), choosing from ``candidate_names``.

    ``rank``: every candidate's log-likelihood after the prompt (full ranking, never off the
    list), then, with ``describe``, greedy generation of the winner's description.
    ``generate``: free greedy generation; the class is read from the braces and matched to the
    list (``answers.AnswerMatcher``, with ``embed_fn`` for the closest-by-embedding rule);
    top-5 holds that one class (then -1). ``calibration`` (default: the model's own) corrects
    rank scores (``calibration.py``); with ``keep_scores`` every raw (N, K) score is kept.
    ``priors`` gives another list's prior notes and descriptions when the model lists names
    with knowledge or scores whole answers (``rank_text``, default the model's own;
    ``build_prompt``); its own list needs none.
    """
    _check_request(model, token_list, candidate_names, decode)
    cal = calibration_mod.check(model.calibration if calibration is None else calibration)
    llm, t0 = model.llm, time.perf_counter()
    prompt = build_prompt(model, list(candidate_names), priors, rank_text)
    matcher = AnswerMatcher(candidate_names, embed_fn, min_similarity)
    n = len(token_list)
    out = Decoded.empty(n)
    model.bridge.eval()
    llm.eval()
    prefix = None
    if llm.cfg.share_prefix and n:  # the same for every batch: run it once
        with torch.no_grad(), model.autocast():
            prefix = llm.prefix_cache(prompt)
    rank = _ranking(model, prompt, prefix, cal, decode, keep_scores, batch_size)
    if decode == "rank":
        out.null, out.lengths, out.reference = rank.null, rank.lengths, rank.reference
    if rank.null is not None:
        out.prior_share = calibration_mod.prior_share(rank.null)
    if keep_scores:
        out.raw_scores = np.full((n, len(candidate_names)), np.nan, dtype=np.float32)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        with torch.no_grad(), model.autocast():
            act = model.action_tokens(token_list[start:stop])  # (B, Q_out, D_llm)
            state = run_prompt(llm, act, prompt, prefix)
            forced = [[] for _ in act]  # generate: nothing forced
            if decode == "rank":  # the winner's name, then (describe) its description
                forced = _rank(model, act, rank, state, out, slice(start, stop))
            length = prompt.length + act.shape[1]
            free = decode != "rank" or describe
            ids = continue_greedy(llm, state, length, forced, max_new_tokens) if free else forced
        # the answers as text; generate reads its class from the text
        for i, seq in enumerate(ids, start):
            out.raw_text[i] = llm.tokenizer.decode(seq, skip_special_tokens=True).strip()
            out.description[i] = description_of(out.raw_text[i])
            if decode == "rank":
                out.how[i] = "rank"
            else:
                m = matcher(out.raw_text[i])
                out.pred[i], out.how[i] = m.index, m.how
                out.top5[i, 0] = m.index
        events.progress(callback, "align", "predict", done=stop, total=n)
    out.seconds = time.perf_counter() - t0
    return out


def build_prompt(
    model: AlignedModel, names: list[str], priors: Priors | None = None, rank_text=None
) -> Prompt:
    """The prompt for the action list ``names``: with the model's knowledge setting, each name
    with its prior note (the model's own notes for its own list, else cut from ``priors``);
    with ``rank_text`` (default the model's) ``answer``, whole answers as candidates."""
    llm, own = model.llm, list(names) == list(model.class_names)
    notes = None
    if llm.cfg.knowledge != "none":
        stored = own and priors is None and model.class_notes is not None
        notes = model.class_notes if stored else listing.notes_for(llm, priors, names)
    prompt = llm.prompt(names, notes)
    if (rank_text or model.config.rank_text) == "answer":
        descs = model.class_descriptions if own and priors is None else None
        descs = priors.select(names).descriptions if priors is not None else descs
        prompt = listing.answer_candidates(llm, prompt, descs)
    return prompt


def _check_request(model: AlignedModel, token_list, candidate_names, decode: str) -> None:
    if decode not in DECODES:
        raise ConfigError(f"unknown decode {decode!r}; choose rank or generate")
    if not candidate_names:
        raise ConfigError("predict: the action list is empty")
    dims = {int(t.shape[-1]) for t in token_list}
    if dims and dims != {model.token_dim}:
        raise ConfigError(f"tokens have width {sorted(dims)}, the model reads {model.token_dim}")


@dataclass
class _Ranking:
    """How one predict call ranks: its prompt, calibration and the scores it subtracts."""

    prompt: Prompt
    calibration: str
    null: np.ndarray | None  # (K,) raw scores of the null input, or None without one
    reference: np.ndarray | None = None  # (R, K) raw scores of the reference inputs

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(c) for c in self.prompt.candidates])  # (K,)


def _ranking(model, prompt, prefix, cal: str, decode: str, keep: bool, batch: int) -> _Ranking:
    """The ``_Ranking`` of a predict call: the null input's scores always (rank), the reference
    inputs' only when the calibration uses them or the raw scores are kept (to choose one)."""
    if decode != "rank":
        return _Ranking(prompt, cal, None)
    rank = _Ranking(prompt, cal, null_scores(model, prompt, prefix))
    if "null" in cal and rank.null is None:
        raise ConfigError("null calibration needs the model's null token (align it again)")
    if "reference" in cal or keep:
        rank.reference = reference_scores(model, prompt, prefix, batch)
    if "reference" in cal and rank.reference is None:
        raise ConfigError("reference calibration needs the model's reference samples "
                          "(align it again with reference_samples > 0)")  # fmt: skip
    return rank


def null_scores(model: AlignedModel, prompt: Prompt, prefix=None) -> np.ndarray | None:
    """(K,) raw rank scores of the null input (one token = the training tokens' mean), or
    None when the model has no null token (trained before it was kept)."""
    if model.null_token is None:
        return None
    null = np.asarray(model.null_token, dtype=np.float32)[None, :]  # (1, D)
    return _raw_scores(model, [null], prompt, prefix)[0]


def reference_scores(model: AlignedModel, prompt: Prompt, prefix=None, batch_size: int = 16):
    """(R, K) raw rank scores of the model's R reference inputs (training samples kept with
    it), or None when it has none (aligned before they were kept, or ``reference_samples``
    0)."""
    refs = model.reference_tokens
    return _raw_scores(model, refs, prompt, prefix, batch_size) if refs else None


def _raw_scores(model: AlignedModel, seqs, prompt: Prompt, prefix=None, batch_size: int = 16):
    """(N, K) raw rank scores of token sequences ``seqs`` (Ls_i, D), in batches."""
    out = []
    for start in range(0, len(seqs), batch_size):
        with torch.no_grad(), model.autocast():
            act = model.action_tokens(seqs[start : start + batch_size])
            state = run_prompt(model.llm, act, prompt, prefix)
            out.append(rank_scores(model.llm, act, prompt, state=state).float().cpu().numpy())
    return np.concatenate(out)


def _rank(model: AlignedModel, act, rank: _Ranking, state, out: Decoded, rows: slice):
    """Score every candidate for action tokens ``act`` (B, Q_out, D_llm); fill ``out``'s pred,
    top5 and scores at ``rows``; return each winner's ids, to be forced before a description."""
    prompt = rank.prompt
    s = rank_scores(model.llm, act, prompt, state=state)  # (B, K)
    if out.raw_scores is not None:
        out.raw_scores[rows] = s.float().cpu().numpy()
    if rank.calibration != "none":
        cal = calibration_mod.apply(s.float().cpu().numpy(), rank.calibration, rank.lengths,
                                    rank.null, rank.reference)  # fmt: skip
        s = torch.from_numpy(cal.astype(np.float32))
    order = s.argsort(dim=1, descending=True)[:, : min(5, s.shape[1])]  # (B, <= 5)
    k = order.shape[1]
    out.top5[rows, :k] = order.cpu().numpy()
    out.scores[rows, :k] = s.gather(1, order).cpu().numpy()
    out.pred[rows] = out.top5[rows, 0]
    return [prompt.candidates[int(w)] for w in out.pred[rows]]


def to_class_ids(positions: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Candidate-list positions (any shape; -1 = no listed class) to class ids (-1 kept)."""
    cand = np.asarray(candidates, dtype=np.int64)
    positions = np.asarray(positions, dtype=np.int64)
    return np.where(positions >= 0, cand[np.clip(positions, 0, None)], -1)


def candidate_ids(model: AlignedModel, tokens: TokenSet, candidates=None) -> np.ndarray:
    """(K_c,) int64 class ids of ``tokens.class_names`` on the action list, in list order.

    Default: the model's own action list looked up by name (ConfigError naming a class the
    token set lacks); given ids are checked against the token set's classes.
    """
    k = len(tokens.class_names)
    if candidates is None:
        missing = [n for n in model.class_names if n not in tokens.class_names]
        if missing:
            raise ConfigError(
                f"the model's class {missing[0]!r} is not among the tokens' classes "
                f"({', '.join(tokens.class_names)})"
            )
        candidates = [tokens.class_names.index(n) for n in model.class_names]
    cand = np.asarray(candidates, dtype=np.int64).reshape(-1)
    bad = cand[(cand < 0) | (cand >= k)]
    if len(bad):
        raise ConfigError(f"candidate class id {int(bad[0])} is not one of the {k} token classes")
    return cand


def predict_split(
    model: AlignedModel,
    tokens: TokenSet,
    indices,
    candidates=None,
    *,
    decode: str = "rank",
    batch_size: int = 16,
    describe: bool = True,
    max_new_tokens: int | None = None,
    embed_fn: EmbedFn | None = None,
    callback: Callback | None = None,
    priors: Priors | None = None,
    calibration: str | None = None,
    rank_text: str | None = None,
    scores_out: dict | None = None,
) -> Predictions:
    """``predict`` on rows ``indices`` of ``tokens``, answers as class ids of the token set.

    ``candidates``: class ids (into ``tokens.class_names``) on the action list, in the order
    shown to the LLM; default the model's own list (``candidate_ids``). pred / top5 hold class
    ids, -1 where an answer named no listed class (or top-5 padding). ``metrics`` holds the
    decode facts only; the caller adds accuracies. ``priors``, ``calibration`` and
    ``rank_text`` go to ``predict``; a ``scores_out`` dict receives the rank scores: ``raw``
    (N, K_c), ``null`` (K_c,) or None, ``lengths`` (K_c,), ``reference`` (R, K_c) or None.
    """
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)  # (N,)
    cand = candidate_ids(model, tokens, candidates)  # (K_c,)
    dec = predict(
        model,
        [tokens.tokens[i] for i in idx],
        [tokens.class_names[c] for c in cand],
        decode=decode,
        batch_size=batch_size,
        describe=describe,
        max_new_tokens=MAX_NEW_TOKENS if max_new_tokens is None else max_new_tokens,
        embed_fn=embed_fn,
        callback=callback,
        calibration=calibration,
        keep_scores=scores_out is not None and decode == "rank",
        priors=priors,
        rank_text=rank_text,
    )
    if scores_out is not None:
        scores_out.update(raw=dec.raw_scores, null=dec.null, lengths=dec.lengths,
                          reference=dec.reference)  # fmt: skip
    metrics = {
        "decode": decode,
        "predict_seconds": dec.seconds,
        "seconds_per_sample": dec.seconds / len(idx) if len(idx) else 0.0,
        "match_rules": {h: dec.how.count(h) for h in sorted(set(dec.how))},
    }
    if decode == "rank":
        metrics["calibration"] = model.calibration if calibration is None else calibration
        if (rank_text or model.config.rank_text) != "name":  # whole answers were scored
            metrics["rank_text"] = rank_text or model.config.rank_text
    names = [tokens.class_names[c] for c in cand]
    if dec.prior_share is not None:  # each listed class's share with no evidence (null input)
        metrics["prior_share"] = {n: float(v) for n, v in zip(names, dec.prior_share)}
    if readout.applies(model, names):  # the text-prior classifier answers (align/readout.py)
        llm = to_class_ids(dec.pred, cand)
        dec.pred, dec.top5, dec.scores = readout.rank(tokens.projected[idx], model.prototypes)
        labels = np.asarray(tokens.labels)[idx]
        metrics.update(
            readout=model.readout, llm_top1=float((llm == labels).mean()) if len(idx) else 0.0
        )
    return Predictions(
        labels=np.asarray(tokens.labels)[idx],
        pred=to_class_ids(dec.pred, cand),
        top5=to_class_ids(dec.top5, cand),
        class_names=list(tokens.class_names),
        sample_ids=[tokens.sample_ids[i] for i in idx],
        scores=dec.scores,
        raw_text=dec.raw_text,
        description=dec.description,
        candidates=cand,
        features=np.asarray(tokens.features)[idx],
        metrics=metrics,
    )
