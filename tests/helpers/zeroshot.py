"""Tiny data, priors and configs for the zero-shot tests (seconds on one CPU thread)."""

from __future__ import annotations

import numpy as np

from sugar_core.priors.store import Priors
from sugar_core.skeleton.dataset import Sample, SkeletonSet
from sugar_core.skeleton.layouts import get_layout

# names the tiny LLM of helpers.llm has seen in its corpus, so prompts stay short
CLASSES = ["pick up", "sit down", "throw", "walk around", "stand up", "carry"]
SENTINEL = "SENTINEL-UNSEEN"


def tiny_data(per_class: int = 6, frames: int = 12, layout: str = "kinect20", seed: int = 0):
    """Each class moves one joint along its own direction; half of each class trains."""
    rng = np.random.default_rng(seed)
    v = get_layout(layout).num_joints
    samples, split = [], []
    for k in range(len(CLASSES)):
        for j in range(per_class):
            x = rng.normal(scale=0.05, size=(1, frames, v, 3)).astype(np.float32)
            x[0, :, k % v, k % 3] += np.linspace(0, 1, frames, dtype=np.float32)
            samples.append(Sample(x, k, f"{layout}_c{k}_{j}", {"subject": j}))
            split.append(1 if j % 2 == 0 else 0)
    return SkeletonSet(
        samples, list(CLASSES), layout, {"xs": np.array(split, dtype=np.int8)}, "tiny"
    )


def tiny_priors(dim: int = 8, unseen: tuple[int, ...] = (), seed: int = 0) -> Priors:
    """Two texts (motion, visual) per class; ``unseen`` rows get NaN embeddings and sentinel
    texts, so any use of them in training shows up as NaN weights or a sentinel string."""
    rng = np.random.default_rng(seed)
    k = len(CLASSES)
    emb = rng.normal(size=(k, 2, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=-1, keepdims=True)
    texts = np.array([[f"{c} motion", f"{c} visual"] for c in CLASSES], dtype=object)
    desc = [f"a person does {c}." for c in CLASSES]
    for u in unseen:
        emb[u] = np.nan
        texts[u] = [SENTINEL, SENTINEL]
        desc[u] = SENTINEL
    return Priors(
        class_names=list(CLASSES),
        texts=texts,
        text_kinds=["motion", "visual"],
        embeddings=emb,
        mask=np.ones((k, 2), dtype=bool),
        descriptions=desc,
        encoder_id="tiny",
    )


def tiny_config(llm_dir, **kw):
    from sugar_core.align.config import AlignConfig, BridgeConfig, LLMConfig
    from sugar_core.tokenize.config import TokenizeConfig
    from sugar_core.zeroshot.config import ZeroShotConfig

    tok = TokenizeConfig(
        frames=12, channels=(8, 8), strides=(2, 2), epochs=2, batch_size=8, probe="none",
        warmup_epochs=0, lr=0.05,
    )  # fmt: skip
    align = AlignConfig(
        bridge=BridgeConfig(queries=2, chunk=2, width=16, heads=2),
        llm=LLMConfig(spec=str(llm_dir), lora_r=2, max_description_tokens=4),
        epochs=1, lr=5e-3, batch_size=8,
    )  # fmt: skip
    base = dict(tokenize=tok, align=align, predict_batch=8)
    base.update(kw)
    return ZeroShotConfig(**base)
