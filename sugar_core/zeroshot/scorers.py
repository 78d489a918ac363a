"""The comparison scorers of a zero-shot test, beside the LLM alone and the baseline alone.

- ``fused`` (``ZeroShotConfig.fuse``): the LLM's calibrated rank scores and the baseline's
  cosines on the unseen candidates, normalised per sample and mixed with the weight chosen on
  the pseudo-unseen classes (or given) (``fusion.fuse``);
- ``conse`` (``ZeroShotConfig.conse``): the LLM asked with its own (seen) list, its seen-class
  probabilities carried to the unseen classes through prior-prototype similarity
  (``fusion.conse``).

Each returns a metrics summary and arrays in the form the zeroshot file stores.
"""

from __future__ import annotations

import numpy as np

from sugar_core.align import calibration
from sugar_core.align.inference import predict
from sugar_core.evaluate.metrics import compute_metrics
from sugar_core.priors.prototypes import class_prototypes
from sugar_core.zeroshot import fusion
from sugar_core.zeroshot.pseudo import Choices, cosines

SUMMARY_KEYS = ("top1", "top5", "mean_class_acc", "n", "off_list_rate")


def keep(m: dict) -> dict:
    """The summary figures of a ``compute_metrics`` dict."""
    return {k: m[k] for k in SUMMARY_KEYS if k in m}


def summary(labels, arrays: dict, class_names, candidates) -> dict:
    m = compute_metrics(labels, arrays["pred"], arrays["top5"], class_names,
                        candidates=candidates)  # fmt: skip
    return keep(m)


def calibrated(model, raw: dict, cal: str | None) -> np.ndarray:
    """(N, K) rank scores of a ``scores_out`` dict, calibrated as ``cal`` (None: the model's)."""
    return calibration.apply(raw["raw"], cal or model.calibration, *calibration.bases(raw))


def fused(model, t, plan, cfg, choices: Choices, raw: dict) -> tuple[dict, dict]:
    """(summary with weight and normalisation, arrays) of the fused scorer on the test."""
    cos = cosines(t.tokens.projected[t.idx], class_prototypes(t.priors, plan.unseen_names))
    s = fusion.fuse(calibrated(model, raw, choices.calibration), cos, choices.fuse_weight, cfg.fuse)
    arrays = fusion.rank_arrays(s, plan.unseen)
    m = summary(t.data.labels[t.idx], arrays, t.data.class_names, plan.unseen)
    return {**m, "weight": choices.fuse_weight, "norm": cfg.fuse}, arrays


def conse(model, t, plan, cfg, choices: Choices, priors) -> tuple[dict, dict]:
    """(summary, arrays) of ConSE: the LLM ranks its own seen list on the unseen samples."""
    seqs = [t.tokens.tokens[i] for i in t.idx]
    dec = predict(model, seqs, list(model.class_names), describe=False, keep_scores=True,
                  batch_size=cfg.predict_batch, calibration="none",
                  rank_text=choices.rank_text)  # fmt: skip
    raw = {"raw": dec.raw_scores, "null": dec.null, "lengths": dec.lengths,
           "reference": dec.reference}  # fmt: skip
    seen = calibrated(model, raw, choices.calibration)  # (N, K_s)
    s = fusion.conse(seen, class_prototypes(priors, list(model.class_names)),
                     class_prototypes(t.priors, plan.unseen_names), cfg.conse_top)  # fmt: skip
    arrays = fusion.rank_arrays(s, plan.unseen)
    m = summary(t.data.labels[t.idx], arrays, t.data.class_names, plan.unseen)
    return {**m, "top": cfg.conse_top}, arrays
