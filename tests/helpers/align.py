"""Tiny data for the align tests: four classes with descriptions, synthetic token sets with
class-dependent means, and priors over them (the tiny LLM itself is in ``helpers.llm``)."""

from __future__ import annotations

import numpy as np

CLASSES = ["pick up", "pick up with one hand", "sit down", "throw"]
DESCRIPTIONS = [
    "a person bends and lifts an object.",
    "a person bends and lifts an object with one hand.",
    "a person lowers the hips onto a chair.",
    "a person swings an arm and releases an object.",
]


def synthetic_tokens(
    n_per_class: int = 12, dim: int = 8, lengths=(2, 20), seed: int = 0, spread: float = 3.0
):
    """A TokenSet: per class a random mean, tokens = mean + unit noise; 2/3 train, 1/3 test."""
    from sugar_core.tokenize.store import TokenSet

    rng = np.random.default_rng(seed)
    means = rng.normal(size=(len(CLASSES), dim)) * spread
    tokens, labels, split = [], [], []
    for c in range(len(CLASSES)):
        for i in range(n_per_class):
            ls = int(rng.integers(lengths[0], lengths[1] + 1))
            tokens.append((means[c] + rng.normal(size=(ls, dim))).astype(np.float16))
            labels.append(c)
            split.append(1 if i < 2 * n_per_class // 3 else 0)
    n = len(tokens)
    feats = np.stack([t.astype(np.float32).mean(0) for t in tokens])
    return TokenSet(
        tokens=tokens,
        features=feats,
        projected=feats / np.linalg.norm(feats, axis=1, keepdims=True),
        labels=np.array(labels, dtype=np.int64),
        class_names=list(CLASSES),
        sample_ids=[f"s{i:03d}" for i in range(n)],
        splits={"xview": np.array(split, dtype=np.int8)},
        train_split="xview",
    )


def synthetic_priors():
    from sugar_core.priors.store import Priors

    k = len(CLASSES)
    emb = np.ones((k, 1, 4), dtype=np.float32) / 2.0
    return Priors(
        class_names=list(CLASSES),
        texts=np.array([[d] for d in DESCRIPTIONS], dtype=object),
        text_kinds=["motion"],
        embeddings=emb,
        mask=np.ones((k, 1), dtype=bool),
        descriptions=list(DESCRIPTIONS),
        encoder_id="none",
    )
