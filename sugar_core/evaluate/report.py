"""The per-class report of a predictions file: a plain-text rendering of ``compute_metrics``
output, and ``evaluate_file``, what ``sugar eval`` runs on an aligned or zeroshot file.

The stored metrics of a file are not trusted: ``evaluate_file`` recomputes them from the stored
arrays and draws the figures of ``plots.py`` from the file's (or a tokens file's) features.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sugar_core import health, schema
from sugar_core.errors import ConfigError, SchemaError
from sugar_core.evaluate.metrics import compute_metrics
from sugar_core.evaluate.plots import plot_confusion, plot_tsne, plot_tsne_before_after
from sugar_core.predictions import Predictions, read_predictions


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def _per_class_lines(per_class: dict, max_classes: int) -> list[str]:
    """The per-class table, lowest f1 first, at most ``max_classes`` rows."""
    width = min(max(5, *(len(name) for name in per_class)), 40)
    lines = ["", f"{'class':<{width}}  precision  recall     f1  support"]
    rows = sorted(per_class.items(), key=lambda kv: (kv[1]["f1"], kv[0]))
    shown = rows[:max_classes]
    for name, s in shown:
        lines.append(
            f"{name[:width]:<{width}}  {_pct(s['precision']):>9}  {_pct(s['recall']):>6}  "
            f"{_pct(s['f1']):>6}  {s['support']:>7}"
        )
    if len(rows) > len(shown):
        lines.append(f"... {len(rows) - len(shown)} more classes (lowest f1 shown first)")
    return lines


def format_report(metrics: dict, max_classes: int = 60) -> str:
    """A plain-text report of ``compute_metrics`` output (plus protocol/split when present)."""
    m = metrics
    lines = []
    head = [f"{key} {m[key]}" for key in ("protocol", "split") if m.get(key)]
    if head:
        lines.append(", ".join(head))
    lines.append(
        f"n {m['n']}  classes {m.get('n_classes', len(m.get('per_class', {})))}  "
        f"top-1 {_pct(m['top1'])}  top-5 {_pct(m['top5'])}  "
        f"mean class acc {_pct(m['mean_class_acc'])}  off-list {_pct(m['off_list_rate'])}"
    )
    if m.get("per_class"):
        lines += _per_class_lines(m["per_class"], max_classes)
    pairs = m.get("confused_pairs") or []
    if pairs:
        lines += ["", "most confused (true -> predicted, and back):"]
        lines += [
            f"  {p['count']:>4}  {p['true']} -> {p['pred']}  (back {p.get('back', 0)})"
            for p in pairs
        ]
    answers = m.get("off_list_answers") or []
    if answers:
        lines += ["", "most common off-list answers:"]
        lines += [f"  {a['count']:>4}  {a['text'][:70]!r}" for a in answers]
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


def _plot_inputs(path, p: Predictions, features, before):
    """(after (N, D) or None, before (N, D1) or None): every input read before any figure is
    drawn, so a bad --features / --before file writes no figure at all."""
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
    return feats, old


def _draw(m: dict, path, p: Predictions, out: Path, feats, old, kind: str) -> None:
    """Write the figures into ``out``, listing them in m["plots"] (and a skipped one in notes)."""
    plot_confusion(m["confusion"], m["confusion_classes"], out / "confusion.png")
    m["plots"].append(str(out / "confusion.png"))
    if feats is None:
        m["notes"].append(
            f"no t-SNE: {path} stores no features; pass --features tokens.h5 to draw one"
        )
        return
    title = f"t-SNE of encoder features ({m['split'] or kind})"
    plot_tsne(feats, p.labels, p.class_names, out / "tsne.png", title=title)
    m["plots"].append(str(out / "tsne.png"))
    if old is not None:
        plot_tsne_before_after(old, feats, p.labels, p.class_names, out / "tsne_before_after.png")
        m["plots"].append(str(out / "tsne_before_after.png"))


def _faithfulness(m: dict, path, p: Predictions, priors) -> None:
    """Add ``faithfulness`` to ``m`` (or a note saying why it cannot be measured)."""
    from sugar_core.evaluate.faithfulness import file_faithfulness, find_priors

    if p.description is None or not any(str(d).strip() for d in p.description):
        m["notes"].append(
            f"no faithfulness: {path} stores no descriptions (align/predict with --describe)"
        )
        return
    if str(priors) == "auto":
        priors = find_priors(path)
        if priors is None:
            raise ConfigError(
                f"{path}: the priors file it was trained with is not recorded or no longer "
                "exists; give --priors PRIORS.h5"
            )
    m["faithfulness"] = file_faithfulness(p, priors)


def evaluate_file(
    path: str | os.PathLike,
    plots_dir: str | os.PathLike | None = None,
    features: str | os.PathLike | None = None,
    before: str | os.PathLike | None = None,
    priors: str | os.PathLike | None = None,
) -> dict:
    """Recompute metrics of an aligned or zeroshot file from its stored arrays.

    The stored ``metrics`` are not trusted: only their ``protocol`` and ``split`` are carried
    over (and ``stored_top1`` for comparison). With ``plots_dir``, writes confusion.png and,
    when features are available (``features`` tokens file, else the file's own ``features``
    dataset), tsne.png; ``before`` (a tokens file of the encoder trained without knowledge)
    adds tsne_before_after.png. Returns the metrics plus ``kind`` and ``plots`` (paths written),
    ``notes`` (why a plot was skipped) and ``warnings`` (``sugar_core.health``: predictions
    collapsed onto one class, or near chance). With ``priors`` (a priors file, or ``"auto"``
    for the one the file was trained with), adds ``faithfulness`` (``faithfulness.py``).
    """
    p, kind = read_predictions(path)
    m = compute_metrics(
        p.labels, p.pred, p.top5, p.class_names, raw_text=p.raw_text, candidates=p.candidates
    )
    stored = p.metrics or {}
    m["protocol"] = stored.get("protocol")
    m["split"] = stored.get("split")
    if stored.get("unseen_split"):  # zero-shot files: the data split is ``split``
        m["unseen_split"] = stored["unseen_split"]
    if "top1" in stored:
        m["stored_top1"] = stored["top1"]
    m["kind"] = kind
    m["plots"] = []
    m["notes"] = []
    m["warnings"] = health.check_predictions(p, kind, f"{Path(path).name}: {kind} predictions")
    if before is not None and plots_dir is None:
        raise ConfigError("--before draws a figure: give --plots DIR too")
    if priors is not None:
        _faithfulness(m, path, p, priors)
    if plots_dir is None:
        return m
    out = Path(plots_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory (--plots wants a folder)")
    feats, old = _plot_inputs(path, p, features, before)
    _draw(m, path, p, out, feats, old, kind)
    return m
