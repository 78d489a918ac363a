"""Which read-out answers for an aligned model: the LLM, or the text-prior classifier.

The text-prior classifier needs no LLM: a sample's class is the one whose prior prototype
(``priors/prototypes.py``) is most cosine-similar to the encoder's text-space feature
(``TokenSet.projected``). When the LLM collapsed, sat near chance or lagged far behind this
classifier on the validation part (``sugar_core.health``) and this classifier did better there,
``align/validation.py`` makes it the model's read-out (``AlignedModel.readout = FALLBACK`` or
``FALLBACK_LAG``), and every prediction on the model's own action list
says so (``metrics["readout"]``), with the LLM's own answers kept in ``raw_text`` and its
accuracy as ``llm_top1``. Never swapped silently, and never for another action list
(zero-shot names: the prototypes are of the trained classes).
"""

from __future__ import annotations

import numpy as np

from sugar_core.priors.prototypes import class_prototypes, cosine_rank
from sugar_core.priors.store import Priors

LLM = "llm"
FALLBACK = "text-prior (fallback: LLM collapsed on validation)"
FALLBACK_LAG = "text-prior (fallback: LLM far under the text prior on validation)"


def prototypes_for(priors: Priors, names: list[str], dim: int) -> np.ndarray | None:
    """(K, E) prototypes of ``names``, or None when the priors' text space is not the
    encoder's (E != ``dim``, the width of ``TokenSet.projected``)."""
    protos = class_prototypes(priors, names)
    return protos if protos.shape[1] == dim else None


def rank(
    projected: np.ndarray, prototypes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pred (N,), top5 (N, 5), cosines (N, 5)) as positions on the action list."""
    return cosine_rank(projected, prototypes, np.arange(len(prototypes)))


def applies(model, names: list[str]) -> bool:
    """Whether the fallback answers for the action list ``names`` (the model's own only)."""
    own = list(names) == list(model.class_names)
    return model.readout != LLM and model.prototypes is not None and own
