"""Stage 1 fitted to its data: auto epochs, the small-set rule, balanced batches, the plan
and the validation health recorded in the history."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sugar_core import settings
from sugar_core.tokenize.bank import epoch_plan
from sugar_core.tokenize.config import TokenizeConfig
from sugar_core.tokenize.small_data import fit_to_data, with_plan
from sugar_core.tokenize.training import train_encoder
from tests.helpers.tokenize import tiny_priors, tiny_set

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize(
    ("n_train", "epochs", "steps"),
    [(100, 400, 1200), (300, 150, 1200), (1020, 60, 1680)],  # NW-UCLA: today's 60 epochs
)
def test_default_epochs_follow_the_training_set(n_train, epochs, steps):
    cfg = TokenizeConfig()
    n_fit = n_train - round(0.15 * n_train)  # the auto validation share comes out first
    spe = len(epoch_plan(n_fit, cfg, torch.Generator().manual_seed(0), 1)[0])
    resolved, plan = with_plan(cfg, spe)
    assert (resolved.epochs, plan.steps) == (epochs, steps)


def test_explicit_epochs_and_recipes_are_honoured():
    assert with_plan(TokenizeConfig(epochs=5), 3)[0].epochs == 5
    merged, where = settings.layered("nwucla", (), {}, command="tokenize")
    assert TokenizeConfig.from_settings(merged, where).epochs == 80  # the recipe's own
    merged, where = settings.layered(None, ("epochs=auto",), {}, command="tokenize")
    assert TokenizeConfig.from_settings(merged, where).epochs == "auto"


def test_small_sets_get_stronger_defaults_but_keep_what_the_user_set():
    y = np.repeat(np.arange(4), 20)  # 80 samples
    cfg, changed = fit_to_data(TokenizeConfig(), y)
    assert changed == {"weight_decay": 1e-3, "prep.crop_min": 0.5, "prep.per_axis_scale": 0.1}
    assert cfg.sampler == "balanced" and cfg.prep.crop_min == 0.5
    mine = TokenizeConfig(weight_decay=1e-4, prep={"crop_min": 0.9})
    cfg, changed = fit_to_data(mine, y)
    assert cfg.weight_decay == 1e-4 and cfg.prep.crop_min == 0.9
    assert set(changed) == {"prep.per_axis_scale"}
    assert fit_to_data(TokenizeConfig(small_data=False), y)[1] == {}
    big = np.repeat(np.arange(4), 200)
    cfg, changed = fit_to_data(TokenizeConfig(), big)
    assert changed == {} and cfg.sampler == "shuffle"


def test_balanced_batches_hold_every_class():
    labels = np.r_[np.zeros(30, int), np.ones(6, int), np.full(6, 2)]
    cfg = TokenizeConfig(batch_size=6, sampler="balanced")
    plan, _ = epoch_plan(len(labels), cfg, torch.Generator().manual_seed(0), 1, labels)
    for pos, _rows in plan:
        assert set(np.bincount(labels[pos], minlength=3)) == {2}
    shuffled, _ = epoch_plan(len(labels), TokenizeConfig(batch_size=6, sampler="shuffle"),
                             torch.Generator().manual_seed(0), 1, labels)  # fmt: skip
    assert any(set(np.bincount(labels[p], minlength=3)) != {2} for p, _ in shuffled)


def test_an_auto_run_plans_by_steps_and_records_plan_sampler_and_health():
    data = tiny_set(n=48, k=4)
    cfg = TokenizeConfig(frames=8, channels=(8, 8), strides=(2, 1), batch_size=8, probe="ridge",
                         min_steps=12, min_epochs=2, warmup_epochs=0)  # fmt: skip
    events = []
    _, _, history = train_encoder(data, tiny_priors(data.class_names), cfg, "xsub",
                                  callback=events.append)  # fmt: skip
    last = history[-1]
    assert last["schedule"]["steps"] == 12 and len(history) == last["schedule"]["epochs"] == 4
    assert last["schedule"]["seconds_per_step"] > 0
    assert last["sampler"] == "balanced" and last["small_data"]["weight_decay"] == 1e-3
    assert last["warnings"] == []  # 6 validation samples: too few to judge
    start = next(e for e in events if e["event"] == "start")
    assert "4 epochs x 3 steps = 12 steps (auto: at least 12 steps" in start["plan"]
    assert [e["event"] for e in events].count("plan") == 1


def test_a_collapsed_read_out_on_validation_is_warned_about(monkeypatch):
    from sugar_core.tokenize import validation

    monkeypatch.setattr(validation, "read_outs", lambda *a, **k: {"text": np.zeros(20, int)})
    bank = [None] * 20  # only its length is read once the read-outs are given
    y_val = np.repeat(np.arange(4), 5)
    out = validation.health_warnings(None, bank, bank, None, y_val, np.zeros((4, 3)), None, None)
    assert out[0].startswith("tokenize: text-prior read-out on 20 validation samples: 100 %")
    assert "--set min_steps=N" in out[0] and "near chance" in out[1]
