"""Metrics and a human report for predictions (aligned and zeroshot files).

Everything here is a pure function of arrays: ``compute_metrics`` is what the align and zeroshot
stages store in their files, and what ``sugar eval`` recomputes from the stored arrays. Plots
live in ``sugar_core.evaluate.plots`` and are re-exported here.

Conventions:
- a prediction of -1 means the LLM's answer named no listed class: it counts as wrong and in
  ``off_list_rate``;
- top-5 counts a hit when the true class is among the five ranked ids *or* is the prediction,
  so top5 >= top1 even when generation and ranking disagree;
- the *evaluated classes* are those that occur in ``labels`` or in ``candidates`` (the list a
  zero-shot predictor chose from); per-class scores and the confusion matrix cover those only.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np

from sugar_core import schema
from sugar_core.errors import ConfigError, SchemaError
from sugar_core.evaluate.plots import (
    embed_2d,
    plot_confusion,
    plot_tsne,
    plot_tsne_before_after,
    separation,
)
from sugar_core.predictions import read_predictions

__all__ = [
    "compute_metrics",
    "format_report",
    "plot_confusion",
    "plot_tsne",
    "plot_tsne_before_after",
    "embed_2d",
    "separation",
    "load_features",
    "evaluate_file",
]

OFF_LIST = "(off list)"  # name shown for pred == -1 in confused pairs
TOP_PAIRS = 10  # confused pairs kept
TOP_OFF_LIST_ANSWERS = 5  # off-list raw answers kept


def _evaluated_classes(labels: np.ndarray, candidates) -> np.ndarray:
    ids = set(int(x) for x in labels)
    if candidates is not None:
        ids |= set(int(x) for x in np.asarray(candidates).ravel() if int(x) >= 0)
    return np.array(sorted(ids), dtype=np.int64)


def compute_metrics(
    labels,
    pred,
    top5,
    class_names,
    raw_text=None,
    candidates=None,
) -> dict:
    """Accuracy, per-class scores, confused pairs and a confusion matrix.

    labels (N,) int true class ids into ``class_names`` (K,); pred (N,) int predicted ids, -1 =
    no listed class; top5 (N, <=5) int ranked ids, -1 pads; raw_text (N,) the LLM's answers (used
    to show the most common off-list answers); candidates (K_c,) ids the predictor chose from.

    Returns a JSON-ready dict: top1, top5, mean_class_acc, n, off_list_rate (fractions in [0, 1]),
    n_classes, per_class {name: {precision, recall, f1, support}}, confused_pairs
    [{true, pred, count}] (at most 10, largest first), confusion (K_e, K_e) list of lists over
    ``confusion_classes`` (K_e,) names (rows true, columns predicted), confusion_off_list (K_e,)
    per true class the predictions that fell outside the evaluated classes or off the list, and
    off_list_answers [{text, count}] when raw_text is given.
    """
    from sklearn.metrics import precision_recall_fscore_support

    labels = np.asarray(labels, dtype=np.int64).reshape(-1)  # (N,)
    pred = np.asarray(pred, dtype=np.int64).reshape(-1)  # (N,)
    top5 = np.asarray(top5, dtype=np.int64)  # (N, <=5)
    n = len(labels)
    if top5.ndim == 1:
        top5 = top5.reshape(n, -1)
    k = len(class_names)
    assert pred.shape == (n,), f"pred shape {pred.shape}, expected ({n},)"
    assert top5.shape[0] == n, f"top5 shape {top5.shape}, expected ({n}, 5)"
    if n:
        assert labels.min() >= 0 and labels.max() < k, (
            f"labels span {labels.min()}..{labels.max()}, expected 0..{k - 1}"
        )
        assert pred.min() >= -1 and pred.max() < k, (
            f"pred spans {pred.min()}..{pred.max()}, expected -1..{k - 1}"
        )
    if raw_text is not None:
        assert len(raw_text) == n, f"{len(raw_text)} raw answers for {n} labels"

    correct = pred == labels  # (N,)
    in_top5 = (top5[:, :5] == labels[:, None]).any(axis=1) | correct  # (N,)
    classes = _evaluated_classes(labels, candidates)  # (K_e,)
    present = np.unique(labels)
    recalls = [float(correct[labels == c].mean()) for c in present]

    out = {
        "top1": float(correct.mean()) if n else 0.0,
        "top5": float(in_top5.mean()) if n else 0.0,
        "mean_class_acc": float(np.mean(recalls)) if recalls else 0.0,
        "n": int(n),
        "off_list_rate": float((pred == -1).mean()) if n else 0.0,
        "n_classes": int(len(classes)),
    }

    # per class (precision over the evaluated classes; -1 and outside predictions are misses)
    per_class = {}
    if len(classes):
        p, r, f1, s = precision_recall_fscore_support(labels, pred, labels=classes, zero_division=0)
        for i, c in enumerate(classes):
            per_class[class_names[c]] = {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f1[i]),
                "support": int(s[i]),
            }
    out["per_class"] = per_class

    # confused pairs, off-list answers included as their own "class"
    pairs = Counter((int(t), int(q)) for t, q in zip(labels[~correct], pred[~correct]))
    ranked = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_PAIRS]
    out["confused_pairs"] = [
        {
            "true": class_names[t],
            "pred": OFF_LIST if q < 0 else class_names[q],
            "count": int(c),
        }
        for (t, q), c in ranked
    ]

    # confusion over the evaluated classes
    pos = {int(c): i for i, c in enumerate(classes)}
    cm = np.zeros((len(classes), len(classes)), dtype=np.int64)  # (K_e, K_e)
    outside = np.zeros(len(classes), dtype=np.int64)  # (K_e,)
    for t, q in zip(labels, pred):
        if int(q) in pos:
            cm[pos[int(t)], pos[int(q)]] += 1
        else:
            outside[pos[int(t)]] += 1
    out["confusion"] = cm.tolist()
    out["confusion_classes"] = [class_names[c] for c in classes]
    out["confusion_off_list"] = outside.tolist()

    if raw_text is not None:
        off = Counter(str(raw_text[i]).strip() for i in np.flatnonzero(pred == -1))
        out["off_list_answers"] = [
            {"text": t, "count": int(c)}
            for t, c in sorted(off.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_OFF_LIST_ANSWERS]
        ]
    return out


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def format_report(metrics: dict, max_classes: int = 60) -> str:
    """A plain-text report of ``compute_metrics`` output (plus protocol/split when present)."""
    m = metrics
    lines = []
    head = []
    for key in ("protocol", "split"):
        if m.get(key):
            head.append(f"{key} {m[key]}")
    if head:
        lines.append(", ".join(head))
    lines.append(
        f"n {m['n']}  classes {m.get('n_classes', len(m.get('per_class', {})))}  "
        f"top-1 {_pct(m['top1'])}  top-5 {_pct(m['top5'])}  "
        f"mean class acc {_pct(m['mean_class_acc'])}  off-list {_pct(m['off_list_rate'])}"
    )
    per_class = m.get("per_class") or {}
    if per_class:
        width = max(5, *(len(name) for name in per_class))
        width = min(width, 40)
        lines.append("")
        lines.append(f"{'class':<{width}}  precision  recall     f1  support")
        rows = sorted(per_class.items(), key=lambda kv: (kv[1]["f1"], kv[0]))
        shown = rows if len(rows) <= max_classes else rows[:max_classes]
        for name, s in shown:
            lines.append(
                f"{name[:width]:<{width}}  {_pct(s['precision']):>9}  {_pct(s['recall']):>6}  "
                f"{_pct(s['f1']):>6}  {s['support']:>7}"
            )
        if len(rows) > len(shown):
            lines.append(f"... {len(rows) - len(shown)} more classes (lowest f1 shown first)")
    pairs = m.get("confused_pairs") or []
    if pairs:
        lines.append("")
        lines.append("most confused (true -> predicted):")
        for p in pairs:
            lines.append(f"  {p['count']:>4}  {p['true']} -> {p['pred']}")
    answers = m.get("off_list_answers") or []
    if answers:
        lines.append("")
        lines.append("most common off-list answers:")
        for a in answers:
            lines.append(f"  {a['count']:>4}  {a['text'][:70]!r}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# a whole predictions file (what `sugar eval` runs)


def load_features(tokens_path: str | os.PathLike, sample_ids: list[str]) -> np.ndarray:
    """Pooled encoder features (N, D) from a tokens file, in the order of ``sample_ids``.

    Raises SchemaError naming the tokens file when some ids are not in it.
    """
    with schema.open_file(tokens_path, "tokens") as f:
        ids = [str(x) for x in schema.read_strings(f, schema.SAMPLE_IDS)]
        feats = f[schema.FEATURES][...]  # (N_tok, D)
    if len(ids) != len(feats):
        raise SchemaError(f"{tokens_path}: {len(feats)} feature rows for {len(ids)} sample ids")
    row = {sid: i for i, sid in enumerate(ids)}
    missing = [sid for sid in sample_ids if sid not in row]
    if missing:
        raise SchemaError(
            f"{tokens_path}: {len(missing)} of {len(sample_ids)} predicted samples are not in "
            f"this tokens file (e.g. {', '.join(missing[:3])})"
        )
    return feats[[row[sid] for sid in sample_ids]].astype(np.float32)


def evaluate_file(
    path: str | os.PathLike,
    plots_dir: str | os.PathLike | None = None,
    features: str | os.PathLike | None = None,
    before: str | os.PathLike | None = None,
) -> dict:
    """Recompute metrics of an aligned or zeroshot file from its stored arrays.

    The stored ``metrics`` are not trusted: only their ``protocol`` and ``split`` are carried
    over (and ``stored_top1`` for comparison). With ``plots_dir``, writes confusion.png and,
    when features are available (``features`` tokens file, else the file's own ``features``
    dataset), tsne.png; ``before`` (a tokens file of the encoder trained without knowledge)
    adds tsne_before_after.png. Returns the metrics plus ``kind`` and ``plots`` (paths written)
    and ``notes`` (why a plot was skipped).
    """
    p, kind = read_predictions(path)
    m = compute_metrics(
        p.labels, p.pred, p.top5, p.class_names, raw_text=p.raw_text, candidates=p.candidates
    )
    stored = p.metrics or {}
    m["protocol"] = stored.get("protocol")
    m["split"] = stored.get("split")
    if "top1" in stored:
        m["stored_top1"] = stored["top1"]
    m["kind"] = kind
    m["plots"] = []
    m["notes"] = []
    if before is not None and plots_dir is None:
        raise ConfigError("--before draws a figure: give --plots DIR too")
    if plots_dir is None:
        return m

    out = Path(plots_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory (--plots wants a folder)")
    # read every input first, so a bad --features/--before file writes no figure at all
    feats = None
    if features is not None:
        feats = load_features(features, p.sample_ids)
    elif p.features is not None:
        feats = np.asarray(p.features, dtype=np.float32)
    old = load_features(before, p.sample_ids) if before is not None else None
    if old is not None and feats is None:
        raise ConfigError(
            f"{path}: has no features; give --features tokens.h5 for the 'after' panel"
        )

    plot_confusion(m["confusion"], m["confusion_classes"], out / "confusion.png")
    m["plots"].append(str(out / "confusion.png"))
    if feats is None:
        m["notes"].append(
            f"no t-SNE: {path} stores no features; pass --features tokens.h5 to draw one"
        )
        return m
    title = f"t-SNE of encoder features ({m['split'] or kind})"
    plot_tsne(feats, p.labels, p.class_names, out / "tsne.png", title=title)
    m["plots"].append(str(out / "tsne.png"))
    if old is not None:
        plot_tsne_before_after(old, feats, p.labels, p.class_names, out / "tsne_before_after.png")
        m["plots"].append(str(out / "tsne_before_after.png"))
    return m
