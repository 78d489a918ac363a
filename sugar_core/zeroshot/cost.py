"""What a zero-shot run will cost, in counts and seconds, worked out before it starts.

    work = count_work(cfg, sizes)       # what the run will do: steps, encodes, decodings
    est = estimate(work, rates)         # seconds per part from measured rates (``speed.py``)
    est.message()  # "about 23 min on this machine: encoder 14 min (...), alignment 6 min ..."
    advice(est, cfg)                    # cheaper flags, when the total is over ``BUDGET_SECONDS``

Pure arithmetic on counts: ``speed.py`` reads the counts (``Sizes``) off the data and the
plan and measures the rates (``Rates``); nothing here reads data or a clock. Each count
follows the stage that does the work:

    encoder steps      tokenize's epochs (``schedule.plan_epochs``) x its batches of the fit
                       part (a last batch under 2 samples dropped); ``refit`` adds a second run
                       on fit + validation
    encodes            samples through the encoder without gradient: the validation part (and
                       the fit part for the linear probe) at each validation (``eval_every``),
                       the seen test part once, then every sample (x ``prep.tta`` views)
    alignment steps    align's epochs x ceil(batches / grad_accum) over the seen training
                       tokens less their validation share; that share is rank-scored once
    rank pairs         samples x candidates rank-scored: pseudo-unseen choice (x2 with rank
                       text auto), the unseen test, ConSE (seen list), GZSL (seen + unseen);
                       each of those scorings also ranks the model's R reference inputs
                       against its candidates (kept raw scores, ``reference`` calibration)
    generated          samples answered by greedy generation (decode generate, describe), in
                       batches of ``predict_batch``

Early stopping (``patience``) and answers that end early make a run shorter than this.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from sugar_core.align.config import AlignConfig
from sugar_core.align.plan import step_floor
from sugar_core.schedule import duration, plan_epochs
from sugar_core.tokenize.config import TokenizeConfig
from sugar_core.zeroshot.config import ZeroShotConfig

BUDGET_SECONDS = 30 * 60  # a run estimated longer is told the cheaper flags at its start
PARTS = ("encoder", "alignment", "scoring")
CUT_EVAL_EVERY = 10  # the eval_every advice suggests (validation only; results unchanged)


def batches(n: int, batch_size: int) -> int:
    """Encoder batches in an epoch of ``n`` samples (``tokenize.bank.epoch_plan``, one
    process: a last batch of fewer than 2 samples is dropped)."""
    full, rest = divmod(max(0, int(n)), int(batch_size))
    return full + (rest >= 2)


def validations(epochs: int, eval_every: int) -> int:
    """Epochs validated: every ``eval_every``-th and always the last (0 = never)."""
    if not eval_every or epochs < 1:
        return 0
    return epochs // eval_every + (epochs % eval_every != 0)


@dataclass(frozen=True)
class Sizes:
    """The sample and class counts of a run (``speed.sizes`` reads them off data and plan)."""

    train_encoder: bool = True  # False: a reused encoder (``tokens``)
    enc_fit: int = 0  # seen-class samples the encoder trains on
    enc_val: int = 0  # its validation part (carved from the train part)
    enc_test: int = 0  # the seen classes' test part, evaluated once at the end
    encode: int = 0  # samples tokenized once trained (the data; the test data when cross)
    train_align: bool = True  # False: a reused alignment (``aligned``)
    align_fit: int = 0  # seen-class tokens the alignment trains on
    align_val: int = 0  # its validation share, rank-scored once
    seen: int = 0  # K_s: classes on the alignment's list
    unseen: int = 0  # K_u: the unseen candidates
    unseen_samples: int = 0  # N_u: unseen-class samples scored
    pseudo_samples: int = 0  # pseudo-unseen classes' training samples that choose options
    pseudo_classes: int = 0
    gzsl_samples: int = 0  # GZSL: seen-class test samples + the unseen ones
    gzsl_classes: int = 0  # GZSL candidates: seen (in the test data) + unseen
    reference: int = 0  # R: reference inputs the model keeps (``reference_samples``)


@dataclass(frozen=True)
class Work:
    """What a run will do, counted (``count_work``)."""

    encoder_steps: int = 0
    encoder_epochs: int = 0
    encoder_plan: str = ""  # the encoder's schedule in words ("reused" when it is)
    validations: int = 0  # encoder validations (each encodes and, with a probe, fits one)
    validation_encodes: int = 0  # encodes at those validations
    encodes: int = 0  # samples through the encoder without gradient (validations included)
    probe_fits: int = 0  # linear-probe fits (tokenize validation)
    align_steps: int = 0
    align_plan: str = ""
    align_pairs: int = 0  # rank pairs of the alignment's validation share
    rank_pairs: int = 0  # rank pairs of the scoring (test, pseudo-unseen, ConSE, GZSL)
    test_pairs: int = 0  # of which the unseen test (samples x candidates)
    generated: int = 0  # samples answered by greedy generation
    generate_batches: int = 0  # predict batches they take


@dataclass(frozen=True)
class Rates:
    """Seconds per unit of work on this machine (``speed.measure``)."""

    encoder_step: float = 0.0  # one encoder optimiser step (a batch of batch_size)
    encode: float = 0.0  # one sample through the encoder, no gradient
    probe_fit: float = 0.0  # one linear-probe fit on the fit part's features
    align_step: float = 0.0  # one alignment optimiser step (grad_accum batches)
    rank_pair: float = 0.0  # one (sample, candidate) of rank decoding
    generate_batch: float = 0.0  # one predict batch answered by greedy generation
    probe_seconds: float = 0.0  # what measuring took


def _encoder_run(cfg: TokenizeConfig, n_fit: int, n_val: int, n_test: int, epochs=None):
    """The counts of one tokenize training run (``Work`` fields) and its plan."""
    plan = plan_epochs(cfg.epochs if epochs is None else epochs, batches(n_fit, cfg.batch_size),
                       cfg.min_epochs, cfg.min_steps)  # fmt: skip
    probe = cfg.probe != "none"
    v = validations(plan.epochs, cfg.eval_every) if n_val else 0
    ends = (n_test > 0) + (n_val > 0)  # the test evaluation, the health check on validation
    at_val = v * (n_val + probe * n_fit)
    encodes = at_val + n_test + n_val + ends * probe * n_fit
    encodes += 0 if cfg.uses_text else n_fit  # the closed-form text head of ce
    counts = dict(
        encoder_steps=plan.steps,
        encoder_epochs=plan.epochs,
        validations=v,
        validation_encodes=at_val,
        encodes=encodes,
        probe_fits=(v + ends) * probe,
    )
    return counts, plan


def encoder_work(cfg: TokenizeConfig, s: Sizes) -> dict:
    """The encoder's counts: training (and refit) steps, validations, encodes, probe fits."""
    if not s.train_encoder:
        return {"encodes": s.encode * cfg.prep.tta, "encoder_plan": "reused"}
    out, plan = _encoder_run(cfg, s.enc_fit, s.enc_val, s.enc_test)
    out["encoder_plan"] = plan.describe()
    if cfg.refit and s.enc_val:  # again on fit + validation, for at most as many epochs
        more, _ = _encoder_run(cfg, s.enc_fit + s.enc_val, 0, s.enc_test, plan.epochs)
        for key in ("encoder_steps", "encodes", "probe_fits"):
            out[key] += more[key]
        out["encoder_plan"] += ", then a refit on fit + validation"
    out["encodes"] += s.encode * cfg.prep.tta
    return out


def align_work(cfg: AlignConfig, s: Sizes) -> dict:
    """The alignment's counts: optimiser steps and its validation share's rank pairs."""
    if not s.train_align:
        return {"align_plan": "reused"}
    per_epoch = math.ceil(math.ceil(s.align_fit / cfg.batch_size) / cfg.grad_accum)
    plan = plan_epochs(cfg.epochs, per_epoch, cfg.min_epochs, step_floor(cfg, s.seen))
    return dict(align_steps=plan.steps, align_plan=plan.describe(),
                align_pairs=s.align_val * s.seen)  # fmt: skip


def scoring_work(cfg: ZeroShotConfig, s: Sizes) -> dict:
    """Rank pairs and generated samples of step 4 (every decode, the optional scorers)."""
    n, rank = s.unseen_samples, "rank" in cfg.decodes
    runs = [n] * ("generate" in cfg.decodes) + [n] * (cfg.describe and rank)  # generations
    calls = [(n, s.unseen)] if rank else []  # (samples, candidates) of each rank scoring
    if cfg.pseudo_unseen:  # each rank text tried (both with auto)
        calls += [(s.pseudo_samples, s.pseudo_classes)] * (2 if cfg.rank_text == "auto" else 1)
    calls += [(n, s.seen)] if cfg.conse else []
    if cfg.gzsl and cfg.decodes[0] == "rank":
        calls.append((s.gzsl_samples, s.gzsl_classes))
        runs += [s.gzsl_samples] if cfg.describe else []
    elif cfg.gzsl:
        runs.append(s.gzsl_samples)
    pairs = sum((m + s.reference) * k for m, k in calls)  # each call also ranks the references
    return dict(rank_pairs=pairs, test_pairs=n * s.unseen if rank else 0, generated=sum(runs),
                generate_batches=sum(math.ceil(m / cfg.predict_batch) for m in runs))  # fmt: skip


def count_work(cfg: ZeroShotConfig, s: Sizes) -> Work:
    """Everything the run will do, counted from its sizes and settings."""
    return Work(**encoder_work(cfg.tokenize, s), **align_work(cfg.align, s),
                **scoring_work(cfg, s))  # fmt: skip


# ---------------------------------------------------------------------------------------------
# seconds


@dataclass(frozen=True)
class Estimate:
    """A run's counts priced at this machine's rates."""

    work: Work
    rates: Rates
    budget: float = BUDGET_SECONDS

    @property
    def items(self) -> dict[str, float]:
        """Seconds of each kind of work."""
        w, r = self.work, self.rates
        return {
            "encoder_steps": w.encoder_steps * r.encoder_step,
            "encodes": w.encodes * r.encode,
            "probe_fits": w.probe_fits * r.probe_fit,
            "align_steps": w.align_steps * r.align_step,
            "align_validation": w.align_pairs * r.rank_pair,
            "rank": w.rank_pairs * r.rank_pair,
            "generate": w.generate_batches * r.generate_batch,
        }

    @property
    def parts(self) -> dict[str, float]:
        """Seconds of the encoder, the alignment and the scoring (``PARTS``)."""
        i = self.items
        return {
            "encoder": i["encoder_steps"] + i["encodes"] + i["probe_fits"],
            "alignment": i["align_steps"] + i["align_validation"],
            "scoring": i["rank"] + i["generate"],
        }

    @property
    def seconds(self) -> float:
        return sum(self.parts.values())

    @property
    def over_budget(self) -> bool:
        return self.seconds > self.budget

    def message(self) -> str:
        """One line: "about 23 min on this machine: encoder 14 min (...), ..."."""
        w, p = self.work, self.parts
        enc = f"{w.encoder_steps:,} steps, {w.validations} validations"
        if w.encoder_plan == "reused":
            enc = "reused" + (f", {w.encodes:,} samples encoded" if w.encodes else "")
        align = "reused" if w.align_plan == "reused" else f"{w.align_steps:,} steps"
        score = f"{w.rank_pairs:,} sample x candidate rank scores"
        score += f", {w.generated:,} generated" if w.generated else ""
        return (
            f"about {duration(self.seconds)} on this machine: encoder "
            f"{duration(p['encoder'])} ({enc}), alignment {duration(p['alignment'])} ({align}), "
            f"scoring {duration(p['scoring'])} ({score})"
        )

    def record(self, tips: list[str] | None = None) -> dict:
        """What the metrics keep under ``estimate`` (JSON-ready)."""
        return {
            "seconds": self.seconds,
            "parts": self.parts,
            "items": self.items,
            "work": asdict(self.work),
            "rates": asdict(self.rates),
            "budget_seconds": self.budget,
            "over_budget": self.over_budget,
            "advice": list(tips or []),
            "message": self.message(),
        }


def estimate(work: Work, rates: Rates, budget: float = BUDGET_SECONDS) -> Estimate:
    """The run's counts priced at ``rates``: seconds per part and in all."""
    return Estimate(work, rates, budget)


# ---------------------------------------------------------------------------------------------
# cheaper flags


def _fewer_epochs(est: Estimate) -> tuple[float, str] | None:
    """--epochs N that brings the total near the budget (validation cost included)."""
    w, i = est.work, est.items
    if w.encoder_plan == "reused" or w.encoder_epochs < 2:
        return None
    val = w.validation_encodes * est.rates.encode + w.validations * est.rates.probe_fit
    per_epoch = (i["encoder_steps"] + val) / w.encoder_epochs
    n = max(1, w.encoder_epochs - math.ceil((est.seconds - est.budget) / max(per_epoch, 1e-9)))
    saved = (w.encoder_epochs - n) * per_epoch
    return saved, f"--epochs {n} (encoder epochs {w.encoder_epochs} -> {n}; may cost accuracy)"


def _rarer_validation(est: Estimate, cfg: ZeroShotConfig) -> tuple[float, str] | None:
    """tokenize.eval_every: validation only; without patience the trained encoder is the same."""
    w, r = est.work, est.rates
    fewer = validations(w.encoder_epochs, CUT_EVAL_EVERY)
    if cfg.tokenize.patience or w.validations <= fewer:
        return None
    probe = r.probe_fit if cfg.tokenize.probe != "none" else 0.0
    per = w.validation_encodes / w.validations * r.encode + probe
    return (w.validations - fewer) * per, (
        f"--set tokenize.eval_every={CUT_EVAL_EVERY} (validates less often; same encoder)"
    )


def advice(est: Estimate, cfg: ZeroShotConfig, sizes: Sizes) -> list[str]:
    """Flags that make an over-budget run cheaper, biggest saving first, each with about what
    it saves; empty within the budget. Nothing here changes a default."""
    if not est.over_budget:
        return []
    r, n, batch = est.rates, sizes.unseen_samples, cfg.predict_batch
    tips = [_fewer_epochs(est), _rarer_validation(est, cfg)]
    if "generate" in cfg.decodes:
        gen = math.ceil(n / batch) * r.generate_batch
        rank = 0.0 if "rank" in cfg.decodes else n * sizes.unseen * r.rank_pair
        tips.append((gen - rank, "--decode rank (rank decoding only, no generation)"))
    if cfg.describe:
        tips.append((math.ceil(n / batch) * r.generate_batch, "no --describe"))
    if cfg.gzsl:
        pairs = sizes.gzsl_samples * sizes.gzsl_classes * r.rank_pair
        gen = math.ceil(sizes.gzsl_samples / batch) * r.generate_batch
        tips.append((pairs if cfg.decodes[0] == "rank" else gen, "no --gzsl"))
    if cfg.conse:
        tips.append((n * sizes.seen * r.rank_pair, "--set conse=false"))
    least = max(30.0, 0.05 * est.seconds)
    kept = sorted((t for t in tips if t is not None and t[0] >= least), reverse=True)
    out = [f"{text}: saves about {duration(saved)}" for saved, text in kept]
    if cfg.tokenize.preset == "paper":  # its saving is not measured here: named, not priced
        out.append("--preset small (the two-core encoder; paper is sized for GPUs)")
    return out


def over_budget_note(est: Estimate, tips: list[str]) -> str:
    """The note a run over budget starts with."""
    quicker = "; ".join(tips) if tips else "a GPU (no flag saves much here)"
    return (
        f"this run is estimated at {duration(est.seconds)} on this machine, over the "
        f"{duration(est.budget)} budget. Quicker, each on its own: {quicker}. The defaults "
        "are unchanged; --no-estimate skips this probe."
    )
