"""Cheap read-outs of pooled features: text-prior nearest class, linear probes, a fitted head.

All numpy in, numpy out, no training loop: these run every validation epoch.
"""

from __future__ import annotations

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def nearest_text(z: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    """Class of the most cosine-similar prototype: z (N, D), prototypes (K, D) -> (N,)."""
    return (_unit(z) @ _unit(prototypes).T).argmax(1)


def top1(pred: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(pred) == np.asarray(labels)).mean()) if len(labels) else 0.0


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = train.mean(0), train.std(0) + 1e-6
    return (train - mu) / sd, (test - mu) / sd


def linear_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    kind: str = "logistic",
    strength: float = 1.0,
) -> np.ndarray:
    """Predicted classes of ``test_x`` from a linear classifier fit on standardised features.

    kind "logistic": multinomial logistic regression (L2, C = 1 / strength);
    "ridge": closed-form least squares onto one-hot targets with penalty ``strength``.
    """
    xtr, xte = _standardise(np.asarray(train_x, np.float64), np.asarray(test_x, np.float64))
    classes = np.unique(train_y)
    if len(classes) == 1:
        return np.full(len(xte), classes[0])
    if kind == "ridge":
        onehot = (train_y[:, None] == classes[None, :]).astype(np.float64)
        xb = np.hstack([xtr, np.ones((len(xtr), 1))])
        gram = xb.T @ xb + strength * np.eye(xb.shape[1])
        w = np.linalg.solve(gram, xb.T @ onehot)
        scores = np.hstack([xte, np.ones((len(xte), 1))]) @ w
        return classes[scores.argmax(1)]
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=1.0 / strength, max_iter=500)
        clf.fit(xtr, train_y)
        return clf.predict(xte)
    raise ValueError(f"probe kind {kind!r}; expected logistic or ridge")


def logistic_log_proba(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, strength: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(classes (C,), log-probabilities (N_test, C)) of the logistic probe of ``linear_probe``
    (same standardisation and regularisation), for read-outs that need scores, not classes.
    A single training class gets log-probability 0."""
    xtr, xte = _standardise(np.asarray(train_x, np.float64), np.asarray(test_x, np.float64))
    classes = np.unique(train_y)
    if len(classes) == 1:
        return classes, np.zeros((len(xte), 1))
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=1.0 / strength, max_iter=500).fit(xtr, train_y)
    return clf.classes_, clf.predict_log_proba(xte)


def fit_linear_map(
    x: np.ndarray, y: np.ndarray, ridge: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares (W, b) with x @ W + b ~ y, L2 penalty on W: x (N, D), y (N, E)."""
    x = np.asarray(x, np.float64)
    mu = x.mean(0)
    xc = x - mu
    ymu = y.mean(0)
    w = np.linalg.solve(xc.T @ xc + ridge * np.eye(x.shape[1]), xc.T @ (y - ymu))  # (D, E)
    b = ymu - mu @ w
    return w.astype(np.float32), b.astype(np.float32)
