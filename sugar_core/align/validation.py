"""What the alignment's validation part decides, once training is done: the calibration
(with ``calibration`` auto), whether the LLM learned (``sugar_core.health``) and, when it did
not, whether the text-prior classifier answers instead (``readout.py``). The part is held
out of the alignment's training (``plan.wants_validation``): a stratified share of the train
part, or with ``validation = encoder`` the rows the stage-1 encoder validated on too (so the
text-prior classifier is not judged on rows its encoder trained on); the test part decides
nothing.
"""

from __future__ import annotations

import numpy as np

from sugar_core import health
from sugar_core.align import calibration, readout
from sugar_core.align.inference import predict
from sugar_core.align.model import AlignedModel
from sugar_core.priors.store import Priors
from sugar_core.tokenize.store import TokenSet


def _fix(n_train: int, classes: int | None = None) -> str:
    among = f" and {classes} classes" if classes else ""
    return (
        f"Likely cause: too few alignment steps for {n_train} training samples{among}, or an "
        "encoder that did not learn (see sugar tokenize's warnings); train longer (--epochs N, or "
        "--set min_steps=N with epochs auto)."
    )


def judge(
    model: AlignedModel,
    tokens: TokenSet,
    target: np.ndarray,
    val: np.ndarray,
    priors: Priors,
    choose_calibration: bool,
    n_train: int,
) -> dict:
    """Decide on the validation rows ``val`` (N_v,) of ``tokens`` whose list positions are
    ``target`` (N_v,); sets ``model.calibration`` (when choosing) and ``model.readout``.
    Returns the record the history keeps: calibration, LLM and text-prior top-1, the read-out
    and ``warnings``."""
    names = model.class_names
    seqs = [tokens.tokens[i] for i in val]
    dec = predict(model, seqs, names, describe=False, calibration="none", keep_scores=True)
    bases = (dec.lengths, dec.null, dec.reference)  # what each calibration needs
    out: dict = {"val_n": int(len(val))}
    if choose_calibration:
        best, top1 = calibration.choose(dec.raw_scores, target, *bases)
        model.calibration = best
        out["calibration"] = {"chosen": best, "val_top1": top1, "val_n": int(len(val))}
    llm = calibration.apply(dec.raw_scores, model.calibration, *bases).argmax(1)
    out["val_llm_top1"] = float((llm == target).mean())
    what = f"align: LLM answers on {len(val)} validation samples"
    warnings = health.check(llm, target, len(names), what, _fix(n_train), names)
    protos = readout.prototypes_for(priors, names, tokens.projected.shape[1])
    if protos is not None:
        prior = readout.rank(tokens.projected[val], protos)[0]
        out["val_text_prior_top1"] = float((prior == target).mean())
        better = out["val_text_prior_top1"] > out["val_llm_top1"]
        lag = health.lags(out["val_llm_top1"], out["val_text_prior_top1"], len(val), what,
                          "text-prior classifier", _fix(n_train, len(names)))  # fmt: skip
        failed = bool(warnings)
        warnings += lag
        if (failed or lag) and better and not health.check(prior, target, len(names), "", ""):
            kind = readout.FALLBACK if failed else readout.FALLBACK_LAG
            model.readout, model.prototypes = kind, protos
            warnings.append(
                f"align: the answers come from the text-prior classifier (validation top-1 "
                f"{out['val_text_prior_top1']:.3f} against the LLM's {out['val_llm_top1']:.3f});"
                " the LLM's own answers stay in raw_text"
            )
    out.update(readout=model.readout, warnings=warnings)
    return out
