"""Pseudo-unseen validation: seen classes that play the unseen ones, to choose scoring options.

With ``ZeroShotConfig.pseudo_unseen = n``, ``pick`` holds out n of the seen classes (a seeded
choice); both training stages are handed the other seen classes only (``without``), so the
held-out ones are as new to the encoder and the alignment as the test's unseen classes. Their
train-part samples are then scored exactly as the unseen test samples will be (candidates: the
pseudo-unseen names, with their priors), and ``choose`` fixes what ``auto`` left open:

    calibration   none | length | null | length+null | reference, by top-1 (calibration.choose)
    rank_text     name | answer, with its best calibration, by top-1 (ties: name)
    fuse_weight   the LLM's weight in the fused score (fusion.choose_weight)

Nothing here reads an unseen class: the choice is fixed before the test is scored, and the
record (``Choices.record``) reports every candidate's validation top-1 beside it. The trained
model is the one the test uses (not retrained with the held-out classes).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from sugar_core.align import calibration
from sugar_core.align.config import RANK_TEXTS
from sugar_core.align.inference import predict_split
from sugar_core.priors.prototypes import class_prototypes
from sugar_core.zeroshot import fusion
from sugar_core.zeroshot.config import ZeroShotConfig
from sugar_core.zeroshot.plan import ClassPlan


@dataclass
class Choices:
    """How the unseen test is scored (``None`` = the alignment's own setting)."""

    calibration: str | None = None
    rank_text: str | None = None
    fuse_weight: float | None = None
    pseudo: list[int] = field(default_factory=list)  # held-out seen class ids
    record: dict = field(default_factory=dict)  # what validation measured (metrics key
    # pseudo_unseen)


def pick(seen: list[int], n: int, seed: int) -> list[int]:
    """``n`` of the ``seen`` class ids (sorted), the first n of a seeded permutation; at least
    two seen classes must stay for training."""
    from sugar_core.errors import ConfigError

    if n and len(seen) - n < 2:
        raise ConfigError(f"pseudo_unseen {n} leaves {len(seen) - n} of {len(seen)} seen classes "
                          "to train on; at least 2 must stay")  # fmt: skip
    perm = np.random.default_rng(seed).permutation(len(seen))[:n]
    return sorted(int(seen[i]) for i in perm)


def without(plan: ClassPlan, pseudo: list[int]) -> ClassPlan:
    """The plan the training stages get: the pseudo-unseen classes removed from the seen."""
    keep = [k for k in plan.seen if k not in set(pseudo)]
    names = {plan.train_names[k] for k in pseudo}
    seen_in_test = [k for k in plan.seen_in_test if plan.test_names[k] not in names]
    return replace(plan, seen=keep, seen_in_test=seen_in_test)


def fixed(cfg: ZeroShotConfig, model=None) -> Choices:
    """The choices when nothing is validated: the settings as given; calibration "" is
    ``reference`` when ``model`` kept reference inputs, rank text "" the model's own."""
    w = cfg.fuse_weight if cfg.fuse != "off" else None
    return Choices(default_calibration(cfg, model), cfg.rank_text or None, w)


def default_calibration(cfg: ZeroShotConfig, model) -> str | None:
    """``cfg.calibration``, or for "" the zero-shot default: ``reference`` (each unseen name's
    mean score over seen training samples subtracted; a name sharing words with a seen one
    otherwise wins on every input) when ``model`` kept reference inputs, else None (the
    model's own: alignments made before they were kept)."""
    if cfg.calibration:
        return cfg.calibration
    return "reference" if model is not None and model.reference_tokens else None


def cosines(projected: np.ndarray, protos: np.ndarray) -> np.ndarray:
    """(N, U) cosines between text-space features (N, E) and unit prototypes (U, E)."""
    x = projected / np.maximum(np.linalg.norm(projected, axis=1, keepdims=True), 1e-12)
    return x.astype(np.float64) @ protos.T.astype(np.float64)


def choose(model, tokens, priors, idx, pseudo: list[int], cfg: ZeroShotConfig, callback=None):
    """``Choices`` from the samples ``idx`` (rows of ``tokens``) of the ``pseudo`` classes."""
    names = [tokens.class_names[k] for k in pseudo]
    pos = {k: i for i, k in enumerate(pseudo)}
    labels = np.array([pos[int(y)] for y in tokens.labels[idx]])  # (N_v,)
    out = fixed(cfg, model)
    rec: dict = {"classes": names, "n": int(len(idx)), "samples": "train part"}
    texts = list(RANK_TEXTS) if cfg.rank_text == "auto" else [cfg.rank_text or None]
    best = None
    for text in texts:
        raw: dict = {}
        predict_split(model, tokens, idx, pseudo, decode="rank", describe=False,
                      batch_size=cfg.predict_batch, callback=callback, priors=priors,
                      calibration="none", rank_text=text, scores_out=raw)  # fmt: skip
        cal = out.calibration or model.calibration
        if cal == "auto":
            cal, table = calibration.choose(raw["raw"], labels, *calibration.bases(raw))
        else:
            table = {cal: fusion.top1(_calibrated(raw, cal), labels)}
        rec[f"val_top1_{text or model.config.rank_text}"] = table
        if best is None or table[cal] > best[0]:
            best = (table[cal], text, cal, _calibrated(raw, cal))
    top, out.rank_text, out.calibration, llm = best
    out.record = {**rec, "val_llm_top1": top}
    cos = cosines(tokens.projected[idx], class_prototypes(priors, names))
    out.record["val_baseline_top1"] = fusion.top1(cos, labels)
    if cfg.fuse != "off":
        if cfg.fuse_weight == -1.0:
            out.fuse_weight, out.record["val_fused_top1_by_weight"] = fusion.choose_weight(
                llm, cos, labels, cfg.fuse
            )
        out.record["val_fused_top1"] = fusion.top1(
            fusion.fuse(llm, cos, out.fuse_weight, cfg.fuse), labels
        )
    out.pseudo = list(pseudo)
    out.record.update(calibration=out.calibration, rank_text=out.rank_text,
                      fuse_weight=out.fuse_weight)  # fmt: skip
    return out


def _calibrated(raw: dict, kind: str) -> np.ndarray:
    return calibration.apply(raw["raw"], kind, *calibration.bases(raw))
