"""The zero-shot cost arithmetic (zeroshot/cost.py): counts from sizes, seconds from rates,
the one-line message and the cheaper flags. No clock, no model."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from sugar_core.align.config import AlignConfig
from sugar_core.tokenize.bank import epoch_plan
from sugar_core.tokenize.config import TokenizeConfig
from sugar_core.zeroshot.config import ZeroShotConfig
from sugar_core.zeroshot.cost import (
    Rates,
    Sizes,
    Work,
    advice,
    align_work,
    batches,
    count_work,
    duration,
    encoder_work,
    estimate,
    over_budget_note,
    scoring_work,
    validations,
)


@pytest.mark.parametrize("n", [2, 3, 31, 32, 33, 34, 100, 433])
@pytest.mark.parametrize("batch_size", [8, 32])
def test_batches_follow_the_encoder_epoch_plan(n, batch_size):
    cfg = TokenizeConfig(batch_size=batch_size)
    plan, _ = epoch_plan(n, cfg, torch.Generator().manual_seed(0), 1)
    assert batches(n, batch_size) == len(plan)


@pytest.mark.parametrize(
    "epochs, every, expected", [(60, 1, 60), (60, 10, 6), (65, 10, 7), (5, 0, 0), (3, 5, 1)]
)
def test_validations_every_nth_epoch_and_the_last(epochs, every, expected):
    assert validations(epochs, every) == expected


def test_encoder_counts_steps_validations_and_encodes():
    cfg = TokenizeConfig(epochs=10, batch_size=8, eval_every=5, probe="logistic")
    s = Sizes(enc_fit=20, enc_val=4, enc_test=6, encode=40)
    w = encoder_work(cfg, s)
    assert w["encoder_steps"] == 10 * 3 and w["encoder_epochs"] == 10  # 8 + 8 + 4
    assert w["validations"] == 2 and w["validation_encodes"] == 2 * (4 + 20)
    # validations, the test part (+ fit for the probe), the health check (+ fit), the tokens
    assert w["encodes"] == 48 + (6 + 20) + (4 + 20) + 40
    assert w["probe_fits"] == 2 + 2


def test_encoder_auto_epochs_are_the_schedule_rule():
    """NW-UCLA ru5: 433 fit samples, 14 steps an epoch: 86 epochs reach 1,200 steps."""
    w = encoder_work(TokenizeConfig(), Sizes(enc_fit=433, enc_val=77, enc_test=232, encode=1484))
    assert (w["encoder_epochs"], w["encoder_steps"]) == (86, 1204)
    assert "auto" in w["encoder_plan"]


def test_encoder_refit_and_reuse():
    cfg = TokenizeConfig(epochs=4, batch_size=8, refit=True, probe="none")
    w = encoder_work(cfg, Sizes(enc_fit=16, enc_val=8, encode=10))
    assert w["encoder_steps"] == 4 * 2 + 4 * 3  # then fit + validation: 24 samples
    reused = encoder_work(cfg, Sizes(train_encoder=False, encode=10))
    assert reused == {"encodes": 10, "encoder_plan": "reused"}


def test_align_counts_grad_accum_and_auto_epochs():
    cfg = AlignConfig(batch_size=8, grad_accum=2)  # auto: at least 1 epoch and 100 steps
    w = align_work(cfg, Sizes(align_fit=100, align_val=15, seen=5))
    assert w["align_steps"] == 15 * 7  # 13 batches -> 7 steps an epoch, 15 epochs
    assert w["align_pairs"] == 15 * 5
    assert align_work(cfg, Sizes(train_align=False)) == {"align_plan": "reused"}
    # 30 seen classes x 100 samples / 16 per step = 188 steps: 27 epochs of 7
    assert align_work(cfg, Sizes(align_fit=100, align_val=15, seen=30))["align_steps"] == 27 * 7


def test_scoring_counts_every_decode_and_scorer():
    s = Sizes(seen=8, unseen=5, unseen_samples=20, pseudo_samples=30, pseudo_classes=2,
              gzsl_samples=50, gzsl_classes=13)  # fmt: skip
    base = ZeroShotConfig(predict_batch=8)
    w = scoring_work(base, s)
    assert w == {"rank_pairs": 100, "test_pairs": 100, "generated": 20, "generate_batches": 3}
    more = replace(base, pseudo_unseen=2, rank_text="auto", conse=True, gzsl=True)
    w = scoring_work(more, s)
    assert w["rank_pairs"] == 100 + 30 * 2 * 2 + 20 * 8 + 50 * 13
    described = scoring_work(replace(base, gzsl=True, describe=True), s)
    assert described["generated"] == 20 + 20 + 50  # generate, then rank's descriptions, GZSL's
    gen_first = replace(base, decodes=("generate",), gzsl=True, describe=True)
    w = scoring_work(gen_first, s)
    assert w["rank_pairs"] == 0 and w["generated"] == 20 + 50
    assert w["generate_batches"] == 3 + 7


def test_every_rank_scoring_also_ranks_the_reference_inputs():
    s = Sizes(seen=8, unseen=5, unseen_samples=20, pseudo_samples=30, pseudo_classes=2,
              gzsl_samples=50, gzsl_classes=13, reference=64)  # fmt: skip
    cfg = ZeroShotConfig(pseudo_unseen=2, rank_text="auto", conse=True, gzsl=True)
    w = scoring_work(cfg, s)
    assert w["test_pairs"] == 100  # the test's own pairs are the samples', not the references'
    plain = 100 + 30 * 2 * 2 + 20 * 8 + 50 * 13
    assert w["rank_pairs"] == plain + 64 * (5 + 2 * 2 + 8 + 13)
    generate = scoring_work(ZeroShotConfig(decodes=("generate",), gzsl=True), s)
    assert generate["rank_pairs"] == 0  # no rank scoring, no references scored


RATES = Rates(encoder_step=0.5, encode=0.01, probe_fit=1.0, align_step=2.0, rank_pair=0.1,
              generate_batch=3.0)  # fmt: skip


def test_seconds_are_counts_times_rates():
    w = Work(encoder_steps=100, encodes=1000, probe_fits=10, align_steps=50, align_pairs=20,
             rank_pairs=300, generate_batches=4)  # fmt: skip
    est = estimate(w, RATES)
    assert est.parts == pytest.approx({"encoder": 50 + 10 + 10, "alignment": 100 + 2,
                                       "scoring": 30 + 12})  # fmt: skip
    assert est.seconds == pytest.approx(214.0) and not est.over_budget
    rec = est.record()
    assert json.loads(json.dumps(rec))["seconds"] == pytest.approx(214.0)
    assert rec["work"]["encoder_steps"] == 100 and rec["rates"]["align_step"] == 2.0


def test_message_names_each_part_in_minutes():
    w = Work(encoder_steps=1680, validations=60, align_steps=180, rank_pairs=1800, generated=9)
    est = estimate(w, Rates(encoder_step=0.5, align_step=2.0, rank_pair=0.1))
    assert est.message() == (
        "about 23 min on this machine: encoder 14 min (1,680 steps, 60 validations), "
        "alignment 6 min (180 steps), scoring 3 min (1,800 sample x candidate rank scores, "
        "9 generated)"
    )
    reused = estimate(Work(encoder_plan="reused", align_plan="reused", rank_pairs=10), RATES)
    assert "encoder 0 s (reused)" in reused.message() and "alignment 0 s (reused)" in (
        reused.message()
    )


@pytest.mark.parametrize("seconds, text", [(40, "40 s"), (1380, "23 min"), (5400, "1.5 h")])
def test_duration(seconds, text):
    assert duration(seconds) == text


def _ucla_like(cfg: ZeroShotConfig) -> tuple[Sizes, Work]:
    s = Sizes(enc_fit=433, enc_val=77, enc_test=232, encode=1484, align_fit=433, align_val=0,
              seen=5, unseen=5, unseen_samples=236)  # fmt: skip
    return s, count_work(cfg, s)


def test_no_advice_within_the_budget():
    cfg = ZeroShotConfig()
    s, w = _ucla_like(cfg)
    est = estimate(w, Rates(encoder_step=0.01, rank_pair=0.001))
    assert not est.over_budget and advice(est, cfg, s) == []


def test_advice_over_budget_names_flags_biggest_saving_first():
    cfg = ZeroShotConfig()
    s, w = _ucla_like(cfg)
    rates = Rates(encoder_step=1.5, encode=0.01, probe_fit=0.5, align_step=5.0, rank_pair=0.05,
                  generate_batch=20.0)  # fmt: skip
    est = estimate(w, rates)
    assert est.over_budget
    tips = advice(est, cfg, s)
    assert tips[0].startswith("--epochs ")
    assert any(t.startswith("--decode rank") for t in tips)
    assert any(t.startswith("--set tokenize.eval_every=10") for t in tips)
    saved = [float(t.split("saves about ")[1].split()[0]) for t in tips]
    assert saved == sorted(saved, reverse=True)  # all in minutes here
    # the suggested epochs bring the run within the budget
    n = int(tips[0].split()[1])
    fewer = replace(cfg, tokenize=replace(cfg.tokenize, epochs=n))
    assert estimate(count_work(fewer, s), rates).seconds <= est.budget * 1.05
    note = over_budget_note(est, tips)
    assert "over the 30 min budget" in note and tips[0] in note


def test_advice_leaves_out_small_savings_and_names_the_paper_preset():
    cfg = replace(ZeroShotConfig(decodes=("rank",)), tokenize=TokenizeConfig(preset="paper"))
    s, w = _ucla_like(cfg)
    est = estimate(w, Rates(encoder_step=2.0, rank_pair=0.001))
    tips = advice(est, cfg, s)
    assert not any("--decode" in t for t in tips)  # nothing to save: rank only already
    assert tips[-1].startswith("--preset small")


def test_work_counts_are_whole_numbers():
    _, w = _ucla_like(ZeroShotConfig())
    counts = {k: v for k, v in w.__dict__.items() if not isinstance(v, str)}
    assert all(isinstance(v, (int, np.integer)) for v in counts.values()), counts
