"""Late fusion: several sources' class scores over the same test samples, combined into one
prediction (``sugar ensemble``), as multi-stream skeleton models do (joint, bone, joint-motion,
bone-motion encoders, each trained on its own).

    sources = [load_source(p) for p in paths]           # evaluate/sources.py
    result = fuse(sources, weights=None, norm="softmax")  # weights fitted on validation
    write_ensemble(result, "fused.h5", inputs=paths)     # kind ensemble, read by `sugar eval`

1. Every source must cover the same split, class names (in order) and test samples (ids and
   labels, in order); the first difference is a ConfigError naming the file and the sample.
2. Scores are normalised per source and per sample over the K classes: ``softmax`` (default;
   logits and log-probabilities become probabilities, so sources on different scales weigh
   alike) or ``zscore`` (minus the row mean, over the row standard deviation).
3. The fused score is the weighted sum sum_s w_s * norm(scores_s) (N, K); its arg-max is the
   prediction.
4. Weights are given, or fitted on the validation part (carved from the training data; the
   test part decides nothing): every vector of ``GRID`` values for up to ``FULL_GRID`` sources,
   maximising validation top-1; ties go to the
   weights nearest to equal ones (after scaling to sum 1), then to those summing nearest to
   S (equal weights come out as all ones), then to the first in grid order. Beyond
   ``FULL_GRID`` sources: coordinate ascent from equal weights, one weight at a time over
   ``GRID``, moving only when (top-1, mean true-class margin) strictly improves.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field

import numpy as np

from sugar_core.errors import ConfigError
from sugar_core.evaluate.sources import Source
from sugar_core.predictions import Predictions, write_predictions

NORMS = ("softmax", "zscore")
GRID = (0.0, 0.5, 1.0, 1.5, 2.0)  # weight values tried per source
FULL_GRID = 5  # sources up to which every grid vector is tried (5^5 = 3,125 vectors)
ROUNDS = 10  # coordinate-ascent sweeps beyond that


@dataclass
class Fused:
    """A fusion's predictions on the test part and how they were made."""

    predictions: Predictions
    weights: list[float]  # (S,)
    fitted: bool  # chosen on the validation part (else given)
    record: dict = field(default_factory=dict)  # sources, norm, weights, validation figures


def normalise(scores: np.ndarray, norm: str) -> np.ndarray:
    """(N, K) raw scores -> (N, K) per-row softmax probabilities or z-scores."""
    s = np.asarray(scores, np.float64)
    if norm == "softmax":
        e = np.exp(s - s.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)
    if norm == "zscore":
        return (s - s.mean(1, keepdims=True)) / np.maximum(s.std(1, keepdims=True), 1e-12)
    raise ConfigError(f"normalisation {norm!r}; expected one of {', '.join(NORMS)}")


def combine(normed: list[np.ndarray], weights) -> np.ndarray:
    """sum_s w_s * normed_s: S arrays (N, K) -> (N, K)."""
    return sum(float(w) * x for w, x in zip(weights, normed, strict=True))


def top1(scores: np.ndarray, labels: np.ndarray) -> float:
    return float((scores.argmax(1) == labels).mean()) if len(labels) else 0.0


def check_same(sources: list[Source]) -> None:
    """ConfigError naming the first file and sample (or class, or split) that differs from the
    first source's."""
    if len(sources) < 2:
        raise ConfigError(f"fusion needs two sources or more, got {len(sources)}")
    ref = sources[0]
    for s in sources[1:]:
        if s.split != ref.split:
            raise ConfigError(f"{s.path}: split {s.split!r}, but {ref.path} has {ref.split!r}")
        if s.class_names != ref.class_names:
            i = next((i for i, (a, b) in enumerate(zip(s.class_names, ref.class_names)) if a != b),
                     min(len(s.class_names), len(ref.class_names)))  # fmt: skip
            raise ConfigError(
                f"{s.path}: class {i} is {_at(s.class_names, i)}, but {ref.path} has "
                f"{_at(ref.class_names, i)} ({len(s.class_names)} vs {len(ref.class_names)} "
                "classes)"
            )
        _same_samples(s, ref, "test", s.test_ids, ref.test_ids, s.test_labels, ref.test_labels)
        if s.val_ids is not None and ref.val_ids is not None:
            _same_samples(s, ref, "validation", s.val_ids, ref.val_ids, s.val_labels,
                          ref.val_labels)  # fmt: skip


def _at(seq, i: int) -> str:
    return repr(seq[i]) if i < len(seq) else "missing"


def _same_samples(s: Source, ref: Source, part: str, ids, ref_ids, labels, ref_labels) -> None:
    for i in range(max(len(ids), len(ref_ids))):
        if i >= len(ids) or i >= len(ref_ids) or ids[i] != ref_ids[i]:
            raise ConfigError(
                f"{s.path}: {part} sample {i} is {_at(ids, i)}, but {ref.path} has "
                f"{_at(ref_ids, i)} ({len(ids)} vs {len(ref_ids)} {part} samples)"
            )
        if labels[i] != ref_labels[i]:
            raise ConfigError(
                f"{s.path}: {part} sample {ids[i]!r} has label {int(labels[i])}, but "
                f"{ref.path} has {int(ref_labels[i])}"
            )


def parse_weights(text: str, n: int) -> list[float]:
    """'1,1,0.5,0.5' -> [1.0, 1.0, 0.5, 0.5]; ConfigError unless ``n`` finite, non-negative
    numbers with a positive sum."""
    try:
        w = [float(x) for x in text.split(",")]
    except ValueError:
        raise ConfigError(f"--weights {text!r}: expected comma-separated numbers") from None
    if len(w) != n:
        raise ConfigError(f"--weights {text!r}: {len(w)} numbers for {n} sources")
    if not all(np.isfinite(x) and x >= 0 for x in w) or sum(w) <= 0:
        raise ConfigError(f"--weights {text!r}: expected numbers >= 0 with a positive sum")
    return w


def _candidates(s: int):
    """Weight vectors to try for ``s`` sources, the all-zero one left out."""
    return (w for w in itertools.product(GRID, repeat=s) if any(w))


def _nearness(w) -> float:
    """Distance of ``w`` (scaled to sum 1) to equal weights: the tie-break, smaller first."""
    w = np.asarray(w, np.float64)
    return float(np.abs(w / w.sum() - 1.0 / len(w)).sum())


def fit_weights(normed: list[np.ndarray], labels: np.ndarray) -> tuple[list[float], float]:
    """(weights, validation top-1) maximising top-1 of ``combine(normed, w)`` on ``labels``
    (module docstring, step 4). ``normed``: S arrays (N_val, K) of the validation part."""
    s = len(normed)
    if s <= FULL_GRID:
        best, key = None, None
        for w in _candidates(s):
            k = (-top1(combine(normed, w), labels), round(_nearness(w), 9), abs(sum(w) - s))
            if key is None or k < key:
                best, key = list(w), k
        return best, -key[0]
    w = [1.0] * s  # coordinate ascent: moves only on a strict gain, so ties stay equal
    key = _ascent_key(normed, w, labels)
    for _ in range(ROUNDS):
        moved = False
        for i, value in itertools.product(range(s), GRID):
            trial = w[:i] + [value] + w[i + 1 :]
            if any(trial) and (k := _ascent_key(normed, trial, labels)) > key:
                w, key, moved = trial, k, True
        if not moved:
            break
    score = key[0]
    return w, score


def _ascent_key(normed: list[np.ndarray], w, labels: np.ndarray) -> tuple[float, float]:
    """(top-1, mean margin) of weights ``w``: the margin (true class's fused score minus the
    best other class's, over sum(w)) lets coordinate ascent cross plateaus of equal top-1."""
    fused = combine(normed, w)  # (N, K)
    rows = np.arange(len(labels))
    true = fused[rows, labels]
    other = np.where(np.arange(fused.shape[1]) == labels[:, None], -np.inf, fused).max(1)
    return top1(fused, labels), float(np.mean(true - other) / sum(w)) if len(labels) else 0.0


def _validation(sources: list[Source], norm: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Normalised validation scores and labels; ConfigError naming a source without them."""
    for s in sources:
        if s.val_scores is None:
            why = s.val_note or "it holds no validation part"
            raise ConfigError(
                f"{s.path}: no validation scores to fit weights on ({why}); give --weights"
            )
    return [normalise(s.val_scores, norm) for s in sources], sources[0].val_labels


def fuse(sources: list[Source], weights: list[float] | None = None, norm: str = "softmax") -> Fused:
    """The sources' test scores fused (module docstring); ``weights`` None fits them on the
    validation part, which every source must then have."""
    check_same(sources)
    if norm not in NORMS:
        raise ConfigError(f"normalisation {norm!r}; expected one of {', '.join(NORMS)}")
    val = None
    fitted = weights is None
    if fitted:
        val = _validation(sources, norm)
        weights, _ = fit_weights(*val)
    elif len(weights) != len(sources):
        raise ConfigError(f"{len(weights)} weights for {len(sources)} sources")
    ref = sources[0]
    test = [normalise(s.test_scores, norm) for s in sources]
    fused = combine(test, weights)  # (N, K)
    record = {
        "norm": norm,
        "weights": [float(w) for w in weights],
        "fitted_on": "validation" if fitted else "given",
        "sources": [_describe(s, x) for s, x in zip(sources, test, strict=True)],
    }
    if val is None and all(s.val_scores is not None for s in sources):
        val = _validation(sources, norm)  # given weights: still report validation figures
    if val is not None:
        record["validation"] = {
            "n": int(len(val[1])),
            "rule": ref.val_rule,
            "top1": top1(combine(val[0], weights), val[1]),
            "per_source": [top1(x, val[1]) for x in val[0]],
            "equal_weights_top1": top1(combine(val[0], [1.0] * len(sources)), val[1]),
        }
    return Fused(_predictions(ref, fused, record), [float(w) for w in weights], fitted, record)


def _describe(s: Source, normed: np.ndarray) -> dict:
    return {"path": s.path, "kind": s.kind, "readout": s.readout,
            "test_top1": top1(normed, s.test_labels)}  # fmt: skip


def _predictions(ref: Source, fused: np.ndarray, record: dict) -> Predictions:
    """Predictions of the fused scores (N, K): arg-max, top-5 (-1 pads), their fused scores."""
    from sugar_core.evaluate.metrics import compute_metrics

    n, k = fused.shape
    order = np.argsort(-fused, axis=1, kind="stable")[:, :5]  # (N, <=5)
    top5 = np.full((n, 5), -1, np.int64)
    top5[:, : order.shape[1]] = order
    scores = np.zeros((n, 5), np.float32)  # 0 where top5 pads with -1
    scores[:, : order.shape[1]] = np.take_along_axis(fused, order, 1)
    pred = order[:, 0] if k else np.zeros(n, np.int64)
    m = compute_metrics(ref.test_labels, pred, top5, ref.class_names)
    m.update(protocol="ensemble", split=ref.split, weights=record["weights"],
             per_source=record["sources"], validation=record.get("validation"))  # fmt: skip
    return Predictions(
        labels=np.asarray(ref.test_labels, np.int64),
        pred=np.asarray(pred, np.int64),
        top5=top5,
        class_names=list(ref.class_names),
        sample_ids=list(ref.test_ids),
        scores=scores,
        metrics=m,
    )


def write_ensemble(result: Fused, path: str | os.PathLike, inputs=()) -> None:
    """Write the fused predictions as a kind ``ensemble`` file (atomic), its config the record
    (sources, normalisation, weights, validation figures)."""
    from sugar_core import schema

    write_predictions(
        result.predictions,
        path,
        "ensemble",
        config=result.record,
        inputs=schema.input_record(inputs),
    )
