"""Accuracy figures of predictions: what the align and zeroshot stages store in their files,
and what ``sugar eval`` recomputes from the stored arrays. Pure functions of arrays.

Conventions:
- a prediction of -1 means the LLM's answer named no listed class: it counts as wrong and in
  ``off_list_rate``;
- top-5 counts a hit when the true class is among the five ranked ids *or* is the prediction,
  so top5 >= top1 even when generation and ranking disagree;
- the *evaluated classes* are those that occur in ``labels`` or in ``candidates`` (the list a
  zero-shot predictor chose from); per-class scores and the confusion matrix cover those only.

scikit-learn (imported inside the functions, so importing this module stays cheap) computes the
mean class accuracy (its balanced accuracy), the per-class scores and the confusion matrix.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np

OFF_LIST = "(off list)"  # name shown for pred == -1 in confused pairs
TOP_PAIRS = 10  # confused pairs kept
# the metric keys every `--json` result carries (design.md); commands add their own after them
JSON_KEYS = ("top1", "top5", "mean_class_acc", "n", "off_list_rate", "protocol", "split")
TOP_OFF_LIST_ANSWERS = 5  # off-list raw answers kept


def _checked(labels, pred, top5, k: int, raw_text) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """labels (N,), pred (N,), top5 (N, <=5) as int64 arrays, asserted to fit K classes."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)  # (N,)
    pred = np.asarray(pred, dtype=np.int64).reshape(-1)  # (N,)
    top5 = np.asarray(top5, dtype=np.int64)  # (N, <=5)
    n = len(labels)
    if top5.ndim == 1:
        top5 = top5.reshape(n, -1)
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
    return labels, pred, top5


def evaluated_classes(labels: np.ndarray, candidates=None) -> np.ndarray:
    """(K_e,) sorted class ids that occur in ``labels`` or ``candidates`` (-1 ignored)."""
    ids = set(int(x) for x in labels)
    if candidates is not None:
        ids |= set(int(x) for x in np.asarray(candidates).ravel() if int(x) >= 0)
    return np.array(sorted(ids), dtype=np.int64)


def mean_class_accuracy(labels: np.ndarray, pred: np.ndarray) -> float:
    """Mean over the classes present in ``labels`` of their recall (balanced accuracy)."""
    from sklearn.metrics import balanced_accuracy_score

    if not len(labels):
        return 0.0
    with warnings.catch_warnings():
        # "y_pred contains classes not in y_true": such predictions (-1 included) are misses
        # of their true class, and the predicted-only classes are left out of the mean
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(labels, pred))


def accuracy(labels: np.ndarray, pred: np.ndarray, top5: np.ndarray) -> dict:
    """top1, top5, mean_class_acc, n and off_list_rate: fractions in [0, 1], 0 when N = 0."""
    n = len(labels)
    correct = pred == labels  # (N,)
    in_top5 = (top5[:, :5] == labels[:, None]).any(axis=1) | correct  # (N,)
    return {
        "top1": float(correct.mean()) if n else 0.0,
        "top5": float(in_top5.mean()) if n else 0.0,
        "mean_class_acc": mean_class_accuracy(labels, pred),
        "n": int(n),
        "off_list_rate": float((pred == -1).mean()) if n else 0.0,
    }


def per_class_scores(labels, pred, classes: np.ndarray, class_names) -> dict:
    """{name: {precision, recall, f1, support}} over the evaluated classes (K_e,).

    Precision is over the evaluated classes: -1 and predictions outside them are misses."""
    from sklearn.metrics import precision_recall_fscore_support

    if not len(classes):
        return {}
    if len(labels):
        p, r, f1, s = precision_recall_fscore_support(labels, pred, labels=classes, zero_division=0)
    else:  # candidates but no sample (scikit-learn refuses empty arrays)
        p = r = f1 = s = np.zeros(len(classes))
    return {
        class_names[c]: {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f1[i]),
            "support": int(s[i]),
        }
        for i, c in enumerate(classes)
    }


def confused_pairs(labels: np.ndarray, pred: np.ndarray, class_names) -> list[dict]:
    """The most frequent (true, predicted) mistakes, off-list answers as their own "class".

    ``back`` counts the same pair the other way (predicted read as true): 17 one way and 0
    back is a bias of the decoder towards one name, not two look-alike actions."""
    wrong = pred != labels
    pairs = Counter((int(t), int(q)) for t, q in zip(labels[wrong], pred[wrong]))
    ranked = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_PAIRS]
    return [
        {"true": class_names[t], "pred": OFF_LIST if q < 0 else class_names[q], "count": int(c),
         "back": int(pairs.get((q, t), 0)) if q >= 0 else 0}
        for (t, q), c in ranked
    ]  # fmt: skip


def confusion(labels: np.ndarray, pred: np.ndarray, classes: np.ndarray) -> tuple[list, list]:
    """Confusion (K_e, K_e) over the evaluated classes (rows true, columns predicted), and
    (K_e,) per true class the predictions outside them (-1 included), as lists of ints."""
    from sklearn.metrics import confusion_matrix

    if not len(classes):
        return [], []
    if len(labels):
        with warnings.catch_warnings():
            # "a single label was found": the labels argument already fixes the shape
            warnings.simplefilter("ignore", UserWarning)
            cm = confusion_matrix(labels, pred, labels=classes)  # (K_e, K_e)
    else:
        cm = np.zeros((len(classes), len(classes)), dtype=np.int64)
    support = np.bincount(np.searchsorted(classes, labels), minlength=len(classes))  # (K_e,)
    return cm.tolist(), (support - cm.sum(axis=1)).tolist()


def off_list_answers(pred: np.ndarray, raw_text) -> list[dict]:
    """The most common raw answers (stripped) that named no listed class."""
    off = Counter(str(raw_text[i]).strip() for i in np.flatnonzero(pred == -1))
    ranked = sorted(off.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_OFF_LIST_ANSWERS]
    return [{"text": t, "count": int(c)} for t, c in ranked]


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
    labels, pred, top5 = _checked(labels, pred, top5, len(class_names), raw_text)
    classes = evaluated_classes(labels, candidates)  # (K_e,)
    out = accuracy(labels, pred, top5)
    out["n_classes"] = int(len(classes))
    out["per_class"] = per_class_scores(labels, pred, classes, class_names)
    out["confused_pairs"] = confused_pairs(labels, pred, class_names)
    cm, outside = confusion(labels, pred, classes)
    out["confusion"] = cm
    out["confusion_classes"] = [class_names[c] for c in classes]
    out["confusion_off_list"] = outside
    if raw_text is not None:
        out["off_list_answers"] = off_list_answers(pred, raw_text)
    return out
