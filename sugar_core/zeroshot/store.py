"""The zeroshot file (kind ``zeroshot``): predictions ``sugar eval`` reads, plus the rest.

Beside the primary predictions (``predictions.py``: the first LLM decoding on unseen-class
samples, its metrics holding every figure), the file keeps::

    zeroshot_arrays/<predictor>/{pred, top5, scores}   llm_rank, llm_generate, baseline
    zeroshot_plan                                      JSON: seen / unseen ids and names

A run made with the up-front estimate (``sugar zeroshot`` unless ``--no-estimate``) keeps it
in the metrics under ``estimate`` (``cost.Estimate.record``): ``seconds`` and ``parts``
(encoder, alignment, scoring) as estimated, ``items`` (seconds per kind of work), ``work``
(the counts: encoder steps, validations, encodes, alignment steps, rank pairs = samples x
candidates, generated samples), ``rates`` (seconds per unit measured on the machine, and
``probe_seconds``), ``budget_seconds``, ``over_budget``, ``advice`` and ``message``; the
run's own ``seconds`` sit beside it.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np

from sugar_core import schema
from sugar_core.predictions import read_predictions, write_predictions


def storable(texts: list[str] | None) -> list[str] | None:
    """HDF5 strings cannot hold NUL, which a free-running LLM can emit: shown as U+FFFD."""
    return None if texts is None else [t.replace("\x00", "\ufffd") for t in texts]


def write_zeroshot(result, path: str | os.PathLike, config=None, seed=None, inputs=()) -> None:
    """Write a ZeroShotResult atomically (kind ``zeroshot``)."""
    plan = result.plan
    p = replace(
        result.predictions,
        raw_text=storable(result.predictions.raw_text),
        description=storable(result.predictions.description),
    )

    def extra(f):
        g = f.create_group(schema.ZS_ARRAYS)
        for name, arrs in result.arrays.items():
            sub = g.create_group(name)
            for key, arr in arrs.items():
                sub.create_dataset(key, data=np.asarray(arr))
        schema.write_json(f, schema.ZS_PLAN, {
            "seen": plan.seen, "unseen": plan.unseen, "seen_in_test": plan.seen_in_test,
            "seen_names": plan.seen_names, "unseen_names": plan.unseen_names,
        })  # fmt: skip

    write_predictions(p, path, "zeroshot", config, seed, inputs, extra=extra)


def read_zeroshot(path: str | os.PathLike):
    """(Predictions, {predictor: {pred, top5, scores}}, plan dict) from a zeroshot file."""
    p, _ = read_predictions(path)
    with schema.open_file(path, "zeroshot") as f:
        arrays = {
            name: {key: ds[...] for key, ds in grp.items()}
            for name, grp in f.get(schema.ZS_ARRAYS, {}).items()
        }
        plan = schema.read_json(f, schema.ZS_PLAN) if schema.ZS_PLAN in f else {}
    return p, arrays, plan
