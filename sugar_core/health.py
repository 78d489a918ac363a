"""Did a read-out learn anything? Collapse and chance checks on predictions, for every stage.

A model that answers the same class for every sample, or whose top-1 cannot be told from a
uniform guess, has not learned, however cleanly its command exited (issue 21). ``check``
looks at one set of predictions and returns warnings (plain sentences: what, the evidence,
the likely cause and what to change); the stages run it on their validation part after
training, ``sugar eval`` on a predictions file. An empty list means nothing was found.

    collapse      one answer takes more than max(0.5, 2 x its true share) of the predictions
                  (with >= 4 classes), or more than max(0.9, true share + 0.3) (2-3 classes)
    near chance   top-1 <= 1/K + max(0.05, 2 standard errors of a uniform guess on n samples)
    lagging       top-1 at least 0.15 under a simpler read-out's on the same samples, and more
                  than 2 standard errors of the difference under it (``lags``: an LLM that
                  learned something, but far less than the encoder's text-prior classifier)

Both need at least ``MIN_N`` predictions; -1 (an answer naming no listed class) counts as an
answer of its own.
"""

from __future__ import annotations

import math

import numpy as np

MIN_N = 8  # fewer predictions than this say nothing either way
MAJORITY = 0.5  # with >= MANY classes: one answer above this share (and 2x its true share)
MANY = 4
MARGIN = 0.05  # near chance: at least this far above 1/K to count as learned
LAG = 0.15  # lagging: at least this far under the simpler read-out (and 2 standard errors)


def facts(pred, labels, num_classes: int) -> dict:
    """The figures ``check`` judges: n, K, the most frequent answer, its share and true share,
    top-1 and chance."""
    pred, labels = np.asarray(pred, dtype=np.int64), np.asarray(labels, dtype=np.int64)
    n, k = len(pred), max(1, int(num_classes))
    values, counts = np.unique(pred, return_counts=True) if n else (np.zeros(1, int), [0])
    top = int(values[int(np.argmax(counts))])
    chance = 1.0 / k
    se = math.sqrt(chance * (1 - chance) / n) if n else 1.0
    return {
        "n": n,
        "classes": k,
        "top_answer": top,
        "top_share": float(max(counts) / n) if n else 0.0,
        "true_share": float((labels == top).mean()) if n else 0.0,
        "top1": float((pred == labels).mean()) if n else 0.0,
        "chance": chance,
        "chance_bound": chance + max(MARGIN, 2 * se),
    }


def collapsed(f: dict) -> bool:
    if f["n"] < MIN_N or f["classes"] < 2:
        return False
    if f["classes"] >= MANY:
        return f["top_share"] > max(MAJORITY, 2 * f["true_share"])
    return f["top_share"] > max(0.9, f["true_share"] + 0.3)


def near_chance(f: dict) -> bool:
    return f["n"] >= MIN_N and f["classes"] >= 2 and f["top1"] <= f["chance_bound"]


def check(pred, labels, num_classes: int, what: str, fix: str, names=None) -> list[str]:
    """Warnings about predictions ``pred`` (N,) against ``labels`` (N,) among ``num_classes``
    candidates. ``what`` names the read-out and part ("tokenize: text-prior read-out on the
    validation part"), ``fix`` the likely cause and the flag to change; ``names`` maps an
    answer id to a class name for the message."""
    f = facts(pred, labels, num_classes)
    out = []
    if collapsed(f):
        top = f["top_answer"]
        name = "no listed class" if top < 0 else repr(names[top]) if names else f"class {top}"
        out.append(
            f"{what}: {100 * f['top_share']:.0f} % of {f['n']} predictions are {name} "
            f"(its true share {100 * f['true_share']:.0f} %): the model collapsed onto one "
            f"answer. {fix}"
        )
    if near_chance(f):
        out.append(
            f"{what}: top-1 {f['top1']:.3f} on {f['n']} samples is near chance "
            f"({f['chance']:.3f} for {f['classes']} classes). {fix}"
        )
    return out


def lags(top1: float, other_top1: float, n: int, what: str, other: str, fix: str) -> list[str]:
    """A warning when a read-out's ``top1`` on ``n`` samples sits at least ``LAG`` and more
    than 2 standard errors of the difference under ``other_top1`` (the ``other`` read-out's,
    same samples); else none."""
    if n < MIN_N:
        return []
    gap = other_top1 - top1
    se = math.sqrt((top1 * (1 - top1) + other_top1 * (1 - other_top1)) / n)
    if gap < LAG or gap <= 2 * se:
        return []
    return [
        f"{what}: top-1 {top1:.3f} on {n} samples is {100 * gap:.0f} points under the "
        f"{other}'s {other_top1:.3f}: it learned far less than it could. {fix}"
    ]


# the likely cause and the flag to change, by the kind of file the predictions come from
FIXES = {
    "aligned": (
        "Likely cause: too few alignment steps for the training set, or an encoder that did "
        "not learn (see sugar tokenize's warnings); train longer (sugar align --epochs N, or "
        "--set min_steps=N with epochs auto)."
    ),
    "zeroshot": (
        "Likely cause: an undertrained seen-class encoder or alignment; train longer "
        "(--epochs / --align-epochs N, or --set tokenize.min_steps=N / align.min_steps=N)."
    ),
    "ensemble": (
        "Likely cause: the fused sources themselves (run sugar eval on each), or weights that "
        "favour a weak one; check the fitted weights in the file, or give --weights."
    ),
}


def check_predictions(p, kind: str, what: str | None = None) -> list[str]:
    """``check`` on a ``Predictions`` (labels, pred, its candidates or every class) from a
    file of ``kind`` (aligned, zeroshot); ``what`` defaults to "<kind>: predictions"."""
    k = len(p.candidates) if p.candidates is not None else len(p.class_names)
    what = what or f"{kind}: predictions on {len(p.labels)} samples"
    return check(p.pred, p.labels, k, what, FIXES.get(kind, FIXES["aligned"]), p.class_names)
