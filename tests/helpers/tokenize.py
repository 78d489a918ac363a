"""Tiny synthetic skeleton sets and priors for the tokenize tests (no real data, no models)."""

from __future__ import annotations

import numpy as np

from sugar_core.priors.store import Priors
from sugar_core.skeleton.dataset import Sample, SkeletonSet
from sugar_core.skeleton.layouts import get_layout


def tiny_set(
    n: int = 24,
    k: int = 3,
    layout: str = "kinect20",
    bodies: int = 1,
    seed: int = 0,
    channels: int = 3,
) -> SkeletonSet:
    """n samples of k classes; class c waves one limb end up and down.

    Samples alternate in rounds of k between train and test (split "xsub").
    """
    rng = np.random.default_rng(seed)
    v = get_layout(layout).num_joints
    base = rng.normal(scale=0.3, size=(v, channels)).astype(np.float32)
    samples = []
    for i in range(n):
        t = int(rng.integers(8, 20))
        j = np.repeat(base[None, None], t, axis=1).repeat(bodies, axis=0)  # (M, T, V, C)
        label = i % k
        joint = (7 + 4 * label) % v  # kinect20: left hand, right hand, left foot, ...
        j[:, :, joint, 1] += np.sin(np.linspace(0, 3 + label, t))[None]
        j += rng.normal(scale=0.02, size=j.shape).astype(np.float32)
        samples.append(Sample(j.astype(np.float32), label, f"s{i:03d}", {"subject": i % 4}))
    split = np.array([1 if (i // k) % 2 == 0 else 0 for i in range(n)], dtype=np.int8)
    names = [f"action {c}" for c in range(k)]
    return SkeletonSet(samples, names, layout, {"xsub": split}, "test")


def tiny_priors(names: list[str], dim: int = 16, visual: int = 2, seed: int = 0) -> Priors:
    """Random unit-norm embeddings: one motion text and ``visual`` visual texts per class."""
    rng = np.random.default_rng(seed)
    k, p = len(names), 1 + visual
    emb = rng.normal(size=(k, p, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=-1, keepdims=True)
    texts = np.array([[f"{n} text {j}" for j in range(p)] for n in names], dtype=object)
    mask = np.ones((k, p), bool)
    if k > 1 and visual > 1:
        mask[1, -1] = False
        texts[1, -1] = ""
    return Priors(
        names, texts, ["motion"] + ["visual"] * visual, emb, mask, list(names), encoder_id="random"
    )
