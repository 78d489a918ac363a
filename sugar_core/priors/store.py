"""The priors file (kind priors): texts per class, their embeddings and a mask.

Texts are a (K, P) table. Column kinds (``text_kinds``, (P,)) say what each column holds:
``motion`` (the full six-part sentence), ``motion:<part>`` for each of the six parts, and
``visual`` for visual descriptions (as many columns as the class with the most). A class
with fewer visual texts has its extra cells masked out (``mask`` False, text "").
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from sugar_core import guards, schema
from sugar_core.errors import SchemaError

MOTION_PARTS = ("head", "hand", "arm", "hip", "leg", "foot")


@dataclass
class Priors:
    class_names: list[str]
    texts: np.ndarray  # (K, P) object (str)
    text_kinds: list[str]  # (P,)
    embeddings: np.ndarray  # (K, P, D) float32, L2-normalised rows where mask
    mask: np.ndarray  # (K, P) bool
    descriptions: list[str]  # (K,) one sentence per class (the LLM target's description)
    encoder_id: str = ""  # text encoder that produced the embeddings
    sources: dict = field(default_factory=dict)  # e.g. {"motion": "builtin", "visual": "text"}

    def __post_init__(self):
        k, p = self.mask.shape
        assert self.texts.shape == (k, p), f"texts {self.texts.shape} vs mask {self.mask.shape}"
        assert self.embeddings.shape[:2] == (k, p), f"embeddings {self.embeddings.shape}"
        assert len(self.class_names) == k and len(self.descriptions) == k
        assert len(self.text_kinds) == p

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[-1])

    def columns(self, prefix: str) -> np.ndarray:
        """Column indices whose kind is ``prefix`` or starts with ``prefix:``."""
        return np.array(
            [i for i, k in enumerate(self.text_kinds) if k == prefix or k.startswith(prefix + ":")],
            dtype=np.int64,
        )

    def index_of(self, names: list[str]) -> np.ndarray:
        """Rows for class names (exact match); SchemaError naming any that is missing."""
        lookup = {n: i for i, n in enumerate(self.class_names)}
        missing = [n for n in names if n not in lookup]
        if missing:
            raise SchemaError(
                f"priors have no entry for class(es) {missing[:5]}"
                + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            )
        return np.array([lookup[n] for n in names], dtype=np.int64)

    def select(self, names: list[str]) -> Priors:
        """A Priors restricted to (and ordered as) ``names``."""
        idx = self.index_of(names)
        return Priors(
            class_names=list(names),
            texts=self.texts[idx],
            text_kinds=list(self.text_kinds),
            embeddings=self.embeddings[idx],
            mask=self.mask[idx],
            descriptions=[self.descriptions[i] for i in idx],
            encoder_id=self.encoder_id,
            sources=dict(self.sources),
        )


def write_priors(
    priors: Priors, path: str | os.PathLike, config: dict | None = None, seed=None, inputs=()
) -> None:
    with schema.create(path, "priors", config=config, seed=seed, inputs=inputs) as f:
        schema.write_strings(f, schema.CLASS_NAMES, priors.class_names)
        schema.write_strings(f, schema.TEXTS, priors.texts)
        schema.write_strings(f, schema.TEXT_KINDS, priors.text_kinds)
        f.create_dataset(schema.EMBEDDINGS, data=priors.embeddings.astype(np.float32))
        f.create_dataset(schema.MASK, data=priors.mask.astype(bool))
        schema.write_strings(f, schema.DESCRIPTIONS, priors.descriptions)
        f.attrs["encoder_id"] = priors.encoder_id
        schema.write_json(f, schema.SOURCES, priors.sources)


def read_priors(path: str | os.PathLike) -> Priors:
    with schema.open_file(path, "priors") as f:
        names = [str(x) for x in schema.read_strings(f, schema.CLASS_NAMES)]
        emb = f[schema.EMBEDDINGS][...].astype(np.float32)
        guards.require_finite(emb, f"{path}: dataset {schema.EMBEDDINGS!r}")
        mask = f[schema.MASK][...].astype(bool)
        texts = schema.read_strings(f, schema.TEXTS)
        k = len(names)
        for ds, arr in ((schema.TEXTS, texts), (schema.MASK, mask), (schema.EMBEDDINGS, emb)):
            if arr.shape[0] != k or (ds != schema.EMBEDDINGS and arr.shape[:2] != mask.shape):
                raise SchemaError(
                    f"{path}: dataset {ds!r} shape {arr.shape} does not match {k} classes "
                    f"and mask {mask.shape}"
                )
        return Priors(
            class_names=names,
            texts=texts,
            text_kinds=[str(x) for x in schema.read_strings(f, schema.TEXT_KINDS)],
            embeddings=emb,
            mask=mask,
            descriptions=[str(x) for x in schema.read_strings(f, schema.DESCRIPTIONS)],
            encoder_id=str(f.attrs.get("encoder_id", "")),
            sources=schema.read_json(f, schema.SOURCES) if schema.SOURCES in f else {},
        )
