"""Class prototypes from text priors and cosine ranking against them: the text-prior
classifier that needs no LLM (the zero-shot embedding baseline, the alignment's fallback
read-out). Each class is the renormalised mean of its masked-in prior text embeddings (motion,
motion parts, visual); a sample's scores are cosines between its text-space feature and them.
Pure functions of arrays.
"""

from __future__ import annotations

import numpy as np

from sugar_core.errors import ConfigError, SchemaError
from sugar_core.priors.store import Priors


def class_prototypes(priors: Priors, names: list[str]) -> np.ndarray:
    """Unit-norm mean text embedding per class, (K_c, D), rows in the order of ``names``.

    Only masked-in texts count, so a masked cell (which may hold anything) never leaks in.
    """
    sub = priors.select(names)
    mask = sub.mask  # (K_c, P)
    empty = [n for n, row in zip(names, mask) if not row.any()]
    if empty:
        raise SchemaError(f"priors have no text for class(es) {empty[:5]}; cannot build prototypes")
    emb = np.where(mask[..., None], sub.embeddings, 0.0)  # (K_c, P, D)
    proto = emb.sum(axis=1) / mask.sum(axis=1, keepdims=True)  # (K_c, D)
    norm = np.linalg.norm(proto, axis=1, keepdims=True)  # (K_c, 1)
    ok = np.isfinite(proto).all(axis=1) & (norm[:, 0] >= 1e-12)  # (K_c,)
    if not ok.all():
        bad = [n for n, good in zip(names, ok) if not good]
        raise SchemaError(f"priors of class(es) {bad[:5]} have non-finite or zero embeddings")
    return (proto / norm).astype(np.float32)


def cosine_rank(
    projected: np.ndarray,
    prototypes: np.ndarray,
    candidates: np.ndarray,
    k: int = 5,
    reference: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank candidate classes by cosine similarity.

    projected (N, D) text-space features; prototypes (K_c, D) unit rows; candidates (K_c,)
    class ids the rows stand for. Returns pred (N,), top-k ids (N, k) padded with -1 when
    K_c < k, and their scores (N, k) (NaN in padded cells). ``reference`` (R, D): features of
    real training samples; each candidate's mean cosine over them is subtracted from its
    cosines (``reference_offsets``), the embedding baseline's calibration ``reference``.
    """
    n, d = projected.shape
    assert prototypes.ndim == 2 and len(prototypes) == len(candidates), (
        f"prototypes {prototypes.shape} for {len(candidates)} candidates"
    )
    if prototypes.shape[1] != d:
        raise ConfigError(
            f"the encoder projects into a {d}-d text space but the priors' embeddings are "
            f"{prototypes.shape[1]}-d; use priors from the encoder's own text encoder"
        )
    sim = _unit(projected) @ prototypes.T  # (N, K_c)
    if reference is not None:
        sim = sim - reference_offsets(reference, prototypes)[None, :]
    order = np.argsort(-sim, axis=1, kind="stable")[:, :k]  # (N, <=k)
    cand = np.asarray(candidates, dtype=np.int64)
    top = np.full((n, k), -1, dtype=np.int64)
    scores = np.full((n, k), np.nan, dtype=np.float32)
    top[:, : order.shape[1]] = cand[order]
    scores[:, : order.shape[1]] = np.take_along_axis(sim, order, axis=1)
    return top[:, 0].copy(), top, scores


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (N, D) scaled to unit norm, float32 (all-zero rows stay zero)."""
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def reference_offsets(reference: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    """(K_c,) each prototype's mean cosine over the reference features (R, D).

    A class whose prototype sits near the trained classes' features scores high on every input
    of them; beside classes it was trained on, a class named later then loses to them whatever
    the sample (NW-UCLA, two classes named at prediction time beside the eight trained: the
    baseline named 0.7 % of their clips).
    Subtracting the offset scores each class by how much more the sample resembles it than
    training samples in general do: calibrated stacking with a per-class shift measured on
    training data, never on the classes being tested.
    """
    reference = np.atleast_2d(np.asarray(reference, dtype=np.float32))
    if reference.shape[1] != prototypes.shape[1]:
        raise ConfigError(f"reference features are {reference.shape[1]}-d, the prototypes "
                          f"{prototypes.shape[1]}-d")  # fmt: skip
    return (_unit(reference) @ prototypes.T).mean(0)  # (K_c,)
