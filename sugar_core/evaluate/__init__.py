"""Evaluation of predictions: accuracy figures, the per-class report and the plots.

from sugar_core.evaluate import compute_metrics, evaluate_file, format_report
"""

from sugar_core.evaluate.metrics import OFF_LIST, compute_metrics
from sugar_core.evaluate.plots import (
    embed_2d,
    plot_confusion,
    plot_tsne,
    plot_tsne_before_after,
    separation,
)
from sugar_core.evaluate.report import evaluate_file, format_report, load_features

__all__ = [
    "OFF_LIST",
    "compute_metrics",
    "embed_2d",
    "evaluate_file",
    "format_report",
    "load_features",
    "plot_confusion",
    "plot_tsne",
    "plot_tsne_before_after",
    "separation",
]
