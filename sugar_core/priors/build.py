"""From a class list to a Priors: ask (or look up) the texts, check them, embed them.

Per class the priors hold, in column order (store.py): ``motion`` (the six phrases as one
sentence), ``motion:<part>`` for head, hand, arm, hip, leg, foot, then ``visual`` columns (a
class with fewer visual texts is masked past its own), plus one ``description`` sentence.

Generating backends (openai, hf): each answer is parsed; a malformed one is asked again (up to
``retries`` times, with a reminder of the form, sampled); a class still malformed after that is
reported by name, and the run fails, unless ``fallback="builtin"`` lets it take the shipped
texts (the file records which classes did). Descriptions are asked for too; one that stays
malformed is derived from the motion sentence, and the file records that as well.
Looking-up backends (builtin, file) supply all three texts directly.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from sugar_core.models import cache_dir
from sugar_core.priors.backends import Backend, make_backend
from sugar_core.priors.cache import PromptCache
from sugar_core.priors.collect import (
    Collected,
    generate_descriptions,
    generate_motion,
    generate_visual,
    lookup_all,
)
from sugar_core.priors.config import BuildReport, PriorsConfig, Progress
from sugar_core.priors.encoders import TextEncoder, load_text_encoder
from sugar_core.priors.parse import (
    motion_sentence,
)
from sugar_core.priors.store import MOTION_PARTS, Priors

__all__ = ["BuildReport", "PriorsConfig", "build_priors", "default_cache_dir"]


def build_priors(
    names: list[str],
    cfg: PriorsConfig,
    backend: Backend | None = None,
    text_encoder: TextEncoder | None = None,
    image_encoder=None,
    on_progress: Progress | None = None,
) -> tuple[Priors, BuildReport]:
    """Texts and embeddings for classes ``names`` (K,). Encoders and backend may be injected."""
    cfg.check()
    assert len(set(names)) == len(names), f"class names repeat: {names}"
    backend = backend if backend is not None else make_backend(cfg.backend)
    report = BuildReport(n_classes=len(names), backend=backend.id)
    texts = Collected(names)
    if not backend.can_complete:
        lookup_all(backend, names, cfg, report, texts)  # 1. builtin, file
    else:
        cache = PromptCache(cfg.cache_dir or default_cache_dir(), offline=cfg.offline)
        generate_motion(backend, cache, names, cfg, report, texts, on_progress)  # 2.
        generate_visual(backend, cache, names, cfg, report, texts, on_progress, image_encoder)
        if cfg.descriptions == "ask":  # 4. one-sentence descriptions
            generate_descriptions(backend, cache, names, cfg, report, texts, on_progress)
    for n in names:
        if n not in texts.desc:
            texts.desc[n] = motion_sentence(texts.motion[n])
            texts.per_class[n]["description"] = "derived"

    # 5. embed every text
    t0 = time.perf_counter()
    encoder = text_encoder if text_encoder is not None else load_text_encoder(cfg.text_encoder)
    priors = _assemble(names, texts.motion, texts.visual, texts.desc, encoder, cfg.embed_batch)
    priors.sources = _sources(backend.id, texts.per_class)
    report.seconds["embed"] = time.perf_counter() - t0
    return priors, report


def _sources(backend_id: str, per_class: dict[str, dict[str, str]]) -> dict:
    out: dict = {"backend": backend_id}
    for task in ("motion", "visual", "description"):
        values = {c[task] for c in per_class.values()}
        out[task] = values.pop() if len(values) == 1 else "mixed"
    out["per_class"] = per_class
    return out


def _assemble(names, motion, visual, desc, encoder: TextEncoder, batch: int) -> Priors:
    k = len(names)
    v = max(len(visual[n]) for n in names)
    kinds = ["motion"] + [f"motion:{p}" for p in MOTION_PARTS] + ["visual"] * v
    texts = np.full((k, len(kinds)), "", dtype=object)  # (K, P)
    mask = np.zeros((k, len(kinds)), dtype=bool)  # (K, P)
    for i, n in enumerate(names):
        row = [motion_sentence(motion[n])] + [motion[n][p] for p in MOTION_PARTS] + visual[n]
        texts[i, : len(row)] = row
        mask[i, : len(row)] = True
    flat = encoder.encode([str(t) for t in texts[mask]], batch_size=batch)  # (sum mask, D)
    emb = np.zeros((k, len(kinds), encoder.dim), dtype=np.float32)  # (K, P, D)
    emb[mask] = flat
    return Priors(
        class_names=list(names),
        texts=texts,
        text_kinds=kinds,
        embeddings=emb,
        mask=mask,
        descriptions=[desc[n] for n in names],
        encoder_id=encoder.id,
    )


def default_cache_dir() -> Path:
    return cache_dir() / "priors"
