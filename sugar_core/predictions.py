"""Predictions on a test set, as stored in `aligned` and `zeroshot` files and read by `sugar eval`.

A stage that predicts writes one ``Predictions`` plus whatever else its kind needs (trained
weights, the LLM's id) through ``write_predictions(..., extra=fn)``, where ``fn(h5file)`` adds
the stage's own groups inside the same atomic write.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import h5py
import numpy as np

from sugar_core import schema
from sugar_core.errors import SchemaError

PREDICTION_KINDS = ("aligned", "zeroshot", "ensemble")  # file kinds that hold Predictions


@dataclass
class Predictions:
    labels: np.ndarray  # (N,) int64 true class ids (into class_names)
    pred: np.ndarray  # (N,) int64 predicted class id, -1 = the answer named no listed class
    top5: np.ndarray  # (N, 5) int64 ranked class ids (-1 pads when fewer candidates)
    class_names: list[str]  # (K,)
    sample_ids: list[str]  # (N,)
    scores: np.ndarray | None = None  # (N, 5) float32 scores of top5 (log-likelihood, cosine)
    raw_text: list[str] | None = None  # (N,) LLM answers verbatim
    description: list[str] | None = None  # (N,) generated descriptions
    candidates: np.ndarray | None = None  # (K_c,) class ids that were on the list
    features: np.ndarray | None = None  # (N, D) encoder features of the predicted samples
    metrics: dict = field(default_factory=dict)  # top1, top5, mean_class_acc, n, ... (design.md)

    def __post_init__(self):
        n = len(self.labels)
        assert self.pred.shape == (n,), f"pred {self.pred.shape}, expected ({n},)"
        assert self.top5.ndim == 2 and self.top5.shape[0] == n, f"top5 {self.top5.shape}"
        assert len(self.sample_ids) == n, f"{len(self.sample_ids)} sample ids for {n} labels"


def write_predictions(
    p: Predictions,
    path: str | os.PathLike,
    kind: str,
    config: dict | None = None,
    seed: int | None = None,
    inputs=(),
    extra: Callable[[h5py.File], None] | None = None,
) -> None:
    """Write predictions (kind ``aligned``, ``zeroshot`` or ``ensemble``) atomically."""
    assert kind in PREDICTION_KINDS, kind
    with schema.create(path, kind, config=config, seed=seed, inputs=inputs) as f:
        f.create_dataset(schema.LABELS, data=np.asarray(p.labels, dtype=np.int64))
        f.create_dataset(schema.PRED, data=np.asarray(p.pred, dtype=np.int64))
        f.create_dataset(schema.TOP5, data=np.asarray(p.top5, dtype=np.int64))
        schema.write_strings(f, schema.CLASS_NAMES, p.class_names)
        schema.write_strings(f, schema.SAMPLE_IDS, p.sample_ids)
        if p.scores is not None:
            f.create_dataset(schema.SCORES, data=np.asarray(p.scores, dtype=np.float32))
        if p.raw_text is not None:
            schema.write_strings(f, schema.RAW_TEXT, p.raw_text)
        if p.description is not None:
            schema.write_strings(f, schema.DESCRIPTION, p.description)
        if p.candidates is not None:
            f.create_dataset(schema.CANDIDATES, data=np.asarray(p.candidates, dtype=np.int64))
        if p.features is not None:
            f.create_dataset(schema.FEATURES, data=np.asarray(p.features, dtype=np.float32))
        schema.write_json(f, schema.METRICS, p.metrics)
        if extra is not None:
            extra(f)


def read_predictions(path: str | os.PathLike) -> tuple[Predictions, str]:
    """(Predictions, kind) from an aligned, zeroshot or ensemble file."""
    with schema.open_file(path, PREDICTION_KINDS) as f:
        kind = str(f.attrs["sugar_kind"])
        n = f[schema.LABELS].shape[0]
        for name in (schema.PRED, schema.TOP5, schema.SAMPLE_IDS):
            if name not in f:
                raise SchemaError(f"{path}: dataset {name!r} missing (required for {kind})")
            if f[name].shape[0] != n:
                raise SchemaError(
                    f"{path}: dataset {name!r} has {f[name].shape[0]} rows, expected {n}"
                )

        def opt(name, strings=False):
            if name not in f:
                return None
            return [str(x) for x in schema.read_strings(f, name)] if strings else f[name][...]

        p = Predictions(
            labels=f[schema.LABELS][...],
            pred=f[schema.PRED][...],
            top5=f[schema.TOP5][...],
            class_names=[str(x) for x in schema.read_strings(f, schema.CLASS_NAMES)],
            sample_ids=[str(x) for x in schema.read_strings(f, schema.SAMPLE_IDS)],
            scores=opt(schema.SCORES),
            raw_text=opt(schema.RAW_TEXT, strings=True),
            description=opt(schema.DESCRIPTION, strings=True),
            candidates=opt(schema.CANDIDATES),
            features=opt(schema.FEATURES),
            metrics=schema.read_json(f, schema.METRICS),
        )
    _check_ids(p, path)
    return p, kind


def _check_ids(p: Predictions, path) -> None:
    """top5 (N, 5) as the file contract says (fewer candidates are padded with -1, so a top-5
    read from fewer columns would be a top-1 under the top-5 name); every id a class or -1."""
    if p.top5.shape[1] != 5:
        raise SchemaError(
            f"{path}: dataset {schema.TOP5!r} has {p.top5.shape[1]} columns, expected 5 "
            "(ranked class ids, -1 where fewer classes were ranked)"
        )
    k = len(p.class_names)
    for name, arr, low in ((schema.LABELS, p.labels, 0), (schema.PRED, p.pred, -1),
                           (schema.TOP5, p.top5, -1)):  # fmt: skip
        if arr.size and (arr.min() < low or arr.max() >= k):
            raise SchemaError(
                f"{path}: dataset {name!r} holds ids {arr.min()}..{arr.max()}, expected "
                f"{low}..{k - 1} ({k} classes)"
            )
