"""Evaluation figures: confusion matrix and t-SNE maps of encoder features.

Pure functions of arrays that write one PNG each, atomically. matplotlib (Agg backend) and
scikit-learn's TSNE are imported inside the functions so importing this module stays cheap.
"""

from __future__ import annotations

import os

import numpy as np

from sugar_core.schema import atomic_path

TSNE_SEED = 0  # fixed so the same features always give the same map
MAX_POINTS = 3000  # t-SNE is quadratic-ish; larger sets are subsampled (seeded)
MAX_LEGEND = 20  # above this many classes, colours without a legend


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> None:
    plt = _pyplot()
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)


def plot_confusion(cm, names, path: str | os.PathLike, title: str = "Confusion matrix") -> None:
    """Row-normalised confusion matrix (K, K) counts (rows true, columns predicted) as a PNG.

    Cells are coloured by the share of the true class; counts are written in the cells when
    K <= 25, class names on the axes when K <= 80.
    """
    plt = _pyplot()
    cm = np.asarray(cm, dtype=np.float64)  # (K, K)
    k = len(names)
    assert cm.shape == (k, k), f"confusion shape {cm.shape}, expected ({k}, {k})"
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)  # (K, K)
    side = float(np.clip(0.32 * k + 2.5, 4.0, 24.0))
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    if k <= 80:
        font = 9 if k <= 20 else max(4, int(9 - k / 12))
        ax.set_xticks(range(k), labels=names, rotation=90, fontsize=font)
        ax.set_yticks(range(k), labels=names, fontsize=font)
    if k <= 25:
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(
                        j,
                        i,
                        str(int(cm[i, j])),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if share[i, j] > 0.5 else "black",
                    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    _save(fig, path)


def embed_2d(features, seed: int = TSNE_SEED) -> np.ndarray:
    """(N, D) features -> (N, 2) t-SNE map (PCA to <= 50 dims first).

    Perplexity is min(30, (N - 1) / 3) so it stays below N; with fewer than 5 points t-SNE is
    meaningless and the first two principal components are returned instead.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = np.asarray(features, dtype=np.float64)  # (N, D)
    assert x.ndim == 2, f"features shape {x.shape}, expected (N, D)"
    n, d = x.shape
    x = x - x.mean(axis=0, keepdims=True)
    comps = min(50, n, d)
    if n >= 2 and d > comps:
        x = PCA(n_components=comps, random_state=seed).fit_transform(x)
    if n < 5:
        out = np.zeros((n, 2))
        if n >= 2:
            c = min(2, n, x.shape[1])
            out[:, :c] = PCA(n_components=c, random_state=seed).fit_transform(x)
        return out
    perplexity = min(30.0, (n - 1) / 3.0)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    # One OpenMP thread: at <= MAX_POINTS points the parallel gain is small, and on a busy
    # machine OpenMP's spinning threads made a 30-point map take 45 s instead of 0.5 s.
    with threadpool_limits(limits=1):
        return tsne.fit_transform(x.astype(np.float32))


def _subsample(n: int, seed: int) -> np.ndarray:
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, MAX_POINTS, replace=False))


def separation(features, labels) -> float | None:
    """Silhouette score (cosine) of the features under the labels, or None when undefined."""
    from sklearn.metrics import silhouette_score

    labels = np.asarray(labels)
    k = len(np.unique(labels))
    if k < 2 or k >= len(labels):
        return None
    return float(silhouette_score(np.asarray(features, dtype=np.float64), labels, metric="cosine"))


def _scatter(ax, xy, labels, names, title: str) -> None:
    labels = np.asarray(labels)
    present = np.unique(labels)
    cmap = _pyplot().get_cmap("tab10" if len(names) <= 10 else "tab20")
    for c in present:
        sel = labels == c
        colour = cmap(int(c) % cmap.N) if len(names) <= MAX_LEGEND else None
        ax.scatter(
            xy[sel, 0],
            xy[sel, 1],
            s=12,
            alpha=0.8,
            label=names[int(c)],
            color=colour,
            edgecolors="none",
        )
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def _legend(fig, ax, n_present: int) -> None:
    if n_present <= MAX_LEGEND:
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, markerscale=1.5)


def plot_tsne(
    features, labels, names, path: str | os.PathLike, title: str = "t-SNE of encoder features"
) -> None:
    """t-SNE map of features (N, D) coloured by labels (N,) into names (K,), as a PNG."""
    plt = _pyplot()
    features = np.asarray(features)
    labels = np.asarray(labels)
    assert len(features) == len(labels), f"{len(features)} features for {len(labels)} labels"
    idx = _subsample(len(labels), TSNE_SEED)
    xy = embed_2d(features[idx])  # (N, 2)
    fig, ax = plt.subplots(figsize=(7.5, 6))
    sil = separation(features[idx], labels[idx])
    sub = f"\nsilhouette {sil:.3f}" if sil is not None else ""
    _scatter(ax, xy, labels[idx], names, f"{title} (n={len(idx)}){sub}")
    _legend(fig, ax, len(np.unique(labels[idx])))
    _save(fig, path)


def plot_tsne_before_after(
    before,
    after,
    labels,
    names,
    path: str | os.PathLike,
    titles: tuple[str, str] = ("before: without knowledge", "after: with knowledge"),
) -> None:
    """Two t-SNE panels of the same samples: features without (N, D1) and with (N, D2)
    knowledge supervision, with each panel's silhouette score in its title."""
    plt = _pyplot()
    before = np.asarray(before)
    after = np.asarray(after)
    labels = np.asarray(labels)
    assert len(before) == len(after) == len(labels), (
        f"{len(before)} before / {len(after)} after features for {len(labels)} labels"
    )
    idx = _subsample(len(labels), TSNE_SEED)
    fig, axes = plt.subplots(1, 2, figsize=(13, 6))
    for ax, feats, title in zip(axes, (before, after), titles):
        sil = separation(feats[idx], labels[idx])
        sub = f"\nsilhouette {sil:.3f}" if sil is not None else ""
        _scatter(ax, embed_2d(feats[idx]), labels[idx], names, f"{title}{sub}")
    _legend(fig, axes[1], len(np.unique(labels[idx])))
    _save(fig, path)
