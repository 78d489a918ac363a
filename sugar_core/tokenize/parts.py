"""Body-part supervision of structured tokens (issue 16): the part texts a stage-1 run aligns
each body part's token stream with.

The priors keep one motion text per body part and class (kinds ``motion:head`` ...
``motion:foot``, priors/build.py). With ``TokenizeConfig.part_weight`` > 0 and tokens that keep
the parts (``token_layout`` time-parts or time-joints), stage 1 adds ``losses.part_nce`` of
the part streams (``SkeletonEncoder.part_streams``) against these texts to the whole-action
loss. Parts follow ``skeleton.layouts.BODY_PARTS``, the priors' own order.
"""

from __future__ import annotations

import torch

from sugar_core.errors import ConfigError
from sugar_core.priors.store import Priors
from sugar_core.skeleton.layouts import BODY_PARTS

PART_KINDS = tuple(f"motion:{p}" for p in BODY_PARTS)  # priors text kinds, one per part


def part_texts(priors: Priors, names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings (K, P, E) and mask (K, P) of the part texts of classes ``names`` (in that
    order), parts in BODY_PARTS order. ConfigError when the priors have no column of some part
    or no class has any part text."""
    missing = [k for k in PART_KINDS if k not in priors.text_kinds]
    if missing:
        raise ConfigError(
            f"part_weight > 0 needs the priors' body-part texts; missing kinds {missing}, "
            f"the priors have {sorted(set(priors.text_kinds))} (priors built with motion texts "
            "carry them)"
        )
    pri = priors.select(names)
    cols = [pri.text_kinds.index(k) for k in PART_KINDS]
    mask = pri.mask[:, cols]  # (K, P)
    if not mask.any():
        raise ConfigError(f"the priors have no body-part text for any of classes {names[:5]}")
    return torch.from_numpy(pri.embeddings[:, cols]), torch.from_numpy(mask)


def run_part_texts(
    priors: Priors, class_names: list[str], classes: list[int], weight: float, device
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """A run's (texts (K, P, E), mask (K, P)) of its ``classes`` (ids into ``class_names``) on
    ``device`` when the part loss is on (``weight`` > 0), else None."""
    if not weight:
        return None
    texts, mask = part_texts(priors, [class_names[c] for c in classes])
    return texts.to(device), mask.to(device)
