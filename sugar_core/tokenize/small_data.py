"""Stage 1 fitted to its data: the sampler, the regularisation a small training part gets,
and the number of epochs (``with_plan``).

The rule, by the size of the fit part (the training part less its validation part):

    sampler     auto -> balanced below ``SMALL_SET`` (400) samples or when the classes are
                imbalanced, else shuffle (``sugar_core/sampling.py``)
    below 400   with ``small_data`` on, fields still at their dataclass defaults become:
                weight_decay x2 (5e-4 -> 1e-3), prep.crop_min 0.7 -> 0.5 (crops as short as
                half the clip), prep.per_axis_scale 0.05 -> 0.1 (more shape jitter)

A field the user set to anything but its default is left alone; ``small_data=false`` keeps
every default as it is. What changed is returned, and training records it in the history.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sugar_core import sampling
from sugar_core.schedule import SMALL_SET, Plan, plan_epochs
from sugar_core.skeleton.prep import PrepConfig
from sugar_core.tokenize.config import TokenizeConfig

STRONGER_PREP = {"crop_min": 0.5, "per_axis_scale": 0.1}
DECAY_FACTOR = 2.0


def fit_to_data(cfg: TokenizeConfig, y_fit: np.ndarray) -> tuple[TokenizeConfig, dict]:
    """(``cfg`` with its sampler resolved and the small-set rule applied, {field: new value}
    of the fields the rule changed) for a fit part with labels ``y_fit`` (N_fit,)."""
    cfg = replace(cfg, sampler=sampling.resolve(cfg.sampler, y_fit))
    if not cfg.small_data or len(y_fit) >= SMALL_SET:
        return cfg, {}
    changed: dict = {}
    if cfg.weight_decay == TokenizeConfig.weight_decay:
        changed["weight_decay"] = cfg.weight_decay * DECAY_FACTOR
    prep_default = PrepConfig()
    prep = {
        k: v for k, v in STRONGER_PREP.items() if getattr(cfg.prep, k) == getattr(prep_default, k)
    }
    cfg = replace(cfg, prep=replace(cfg.prep, **prep), **changed)
    changed.update({f"prep.{k}": v for k, v in prep.items()})
    return cfg, changed


def with_plan(cfg: TokenizeConfig, steps_per_epoch: int) -> tuple[TokenizeConfig, Plan]:
    """(``cfg`` with its epochs a number, the run's plan): ``epochs`` auto becomes
    max(min_epochs, ceil(min_steps / steps_per_epoch)) (``sugar_core/schedule.py``)."""
    plan = plan_epochs(cfg.epochs, steps_per_epoch, cfg.min_epochs, cfg.min_steps)
    return replace(cfg, epochs=plan.epochs), plan
