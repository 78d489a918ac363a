"""Are the generated descriptions true? Each description is embedded by the priors' own text
encoder and matched to the class prototypes (``priors.prototypes.class_prototypes``: the mean of
a class's motion and visual prior embeddings). Two shares are reported over the answers that
carry a non-empty description:

* ``named``: the description is nearest to the priors of the class the answer names (the text
  agrees with the label it was written under);
* ``true``: the description is nearest to the priors of the sample's true class (the text
  describes what happened).

A description that merely repeats words of another class's priors scores low on both. Answers
off the candidate list count in ``n_described`` and never as ``named`` matches.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sugar_core import schema
from sugar_core.errors import ConfigError, SchemaError
from sugar_core.priors.prototypes import class_prototypes
from sugar_core.priors.store import Priors, read_priors

JSON_KEYS = ("n_described", "named", "true", "encoder", "priors")


def nearest_classes(desc_emb: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    """(n, D) unit description embeddings, (K, D) unit prototypes -> (n,) nearest class id."""
    if desc_emb.shape[1] != prototypes.shape[1]:
        raise ConfigError(
            f"description embeddings are {desc_emb.shape[1]}-d but the priors are "
            f"{prototypes.shape[1]}-d: embed with the priors' own text encoder"
        )
    return np.argmax(desc_emb @ prototypes.T, axis=1).astype(np.int64)


def shares(nearest: np.ndarray, named: np.ndarray, labels: np.ndarray) -> dict:
    """Fractions of described answers nearest to the named class and to the true class."""
    n = len(nearest)
    if n == 0:
        return {"n_described": 0, "named": None, "true": None}
    return {
        "n_described": int(n),
        "named": float(np.mean(nearest == named)),
        "true": float(np.mean(nearest == labels)),
    }


def faithfulness(descriptions, pred, labels, class_names, priors: Priors, encoder) -> dict:
    """Faithfulness of ``descriptions`` (N,) written for answers ``pred`` (N,) (class ids, -1
    off the list) on samples of true class ``labels`` (N,). ``encoder`` embeds texts (its
    ``id`` must be the one that made the priors' embeddings)."""
    if priors.encoder_id and getattr(encoder, "id", priors.encoder_id) != priors.encoder_id:
        raise ConfigError(
            f"the priors were embedded by {priors.encoder_id} but the text encoder given is "
            f"{encoder.id}; faithfulness needs the same encoder"
        )
    keep = np.array([i for i, d in enumerate(descriptions) if str(d).strip()], dtype=np.int64)
    protos = class_prototypes(priors, list(class_names))
    if len(keep) == 0:
        out = shares(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    else:
        emb = encoder.encode([str(descriptions[i]) for i in keep])
        near = nearest_classes(emb, protos)
        out = shares(near, np.asarray(pred)[keep], np.asarray(labels)[keep])
    out["encoder"] = priors.encoder_id
    return out


def find_priors(path: str | os.PathLike) -> str | None:
    """The priors file an aligned file was trained with, from its recorded inputs, when that
    file still exists and is a priors file; else None."""
    with schema.open_file(path) as f:
        inputs = schema.root_info(f).get("inputs") or []
    for record in inputs:
        candidate = Path(str(record.get("path", "")))
        if candidate.is_file():
            try:
                if schema.kind_of(candidate) == "priors":
                    return str(candidate)
            except (SchemaError, OSError):  # an input that is not a sugar file
                continue
    return None


def file_faithfulness(p, priors_path: str | os.PathLike, encoder=None) -> dict:
    """``faithfulness`` of a Predictions ``p`` against a priors file; the text encoder is the
    one the priors record unless ``encoder`` is given."""
    from sugar_core.priors.encoders import DEFAULT_TEXT_ENCODER, encoder_spec, load_text_encoder

    priors = read_priors(priors_path)
    if encoder is None:
        encoder = load_text_encoder(encoder_spec(priors.encoder_id) or DEFAULT_TEXT_ENCODER)
    out = faithfulness(p.description, p.pred, p.labels, p.class_names, priors, encoder)
    out["priors"] = str(priors_path)
    return out
