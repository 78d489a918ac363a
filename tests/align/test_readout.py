"""The alignment's validation part: the LLM's health, and the text-prior fallback read-out
(chosen only when the LLM collapsed there, and always reported as such)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sugar_core.align import readout, validation
from sugar_core.align.config import AlignConfig, BridgeConfig, LLMConfig
from sugar_core.align.inference import Decoded, predict_split
from sugar_core.align.plan import fit_to_data, step_floor, wants_validation
from sugar_core.align.store import load_aligned, save_aligned
from sugar_core.align.training import train_alignment
from sugar_core.errors import ConfigError
from sugar_core.priors.store import Priors
from tests.helpers.align import CLASSES, synthetic_priors, synthetic_tokens

pytestmark = pytest.mark.usefixtures("one_thread")
DIM = 8


def _aligned_priors(tokens) -> Priors:
    """Priors whose embeddings live in the tokens' text space: each class's mean feature."""
    pr = synthetic_priors()
    emb = np.stack([tokens.projected[tokens.labels == c].mean(0) for c in range(len(CLASSES))])
    pr.embeddings = (emb / np.linalg.norm(emb, axis=1, keepdims=True))[:, None, :]
    return pr


@pytest.fixture(scope="module")
def trained(tiny_llm_dir):
    tokens = synthetic_tokens(n_per_class=12, dim=DIM)
    cfg = AlignConfig(
        bridge=BridgeConfig(queries=3, chunk=4, width=16, heads=2),
        llm=LLMConfig(spec=str(tiny_llm_dir), lora_r=4, max_description_tokens=6),
        epochs=1, lr=5e-3, batch_size=8, validation="none",
    )  # fmt: skip
    return tokens, train_alignment(tokens, synthetic_priors(), cfg, "xview")


def _collapsed_llm(n: int, k: int) -> Decoded:
    dec = Decoded.empty(n)
    dec.raw_scores = np.tile(np.arange(k, 0, -1, dtype=np.float32), (n, 1))  # class 0 wins
    return dec


def test_a_collapsed_llm_hands_the_answers_to_the_text_prior(trained, monkeypatch):
    tokens, model = trained
    monkeypatch.setattr(validation, "predict", lambda m, s, *a, **k: _collapsed_llm(len(s), 4))
    val = np.flatnonzero(tokens.splits["xview"] == 0)  # 16 rows stand in for a validation part
    rec = validation.judge(model, tokens, tokens.labels[val], val, _aligned_priors(tokens),
                           choose_calibration=False, n_train=32)  # fmt: skip
    assert rec["val_llm_top1"] == 0.25 and rec["val_text_prior_top1"] > 0.9
    assert model.readout == readout.FALLBACK and model.prototypes.shape == (4, DIM)
    assert "collapsed" in rec["warnings"][0] and "text-prior classifier" in rec["warnings"][-1]
    # every prediction on the model's own list now comes from the text prior, and says so
    p = predict_split(model, tokens, val, describe=False)
    assert p.metrics["readout"] == readout.FALLBACK and p.metrics["llm_top1"] <= 1.0
    assert (p.pred == tokens.labels[val]).mean() > 0.9
    other = predict_split(model, tokens, val, candidates=[2, 1, 0, 3], describe=False)
    assert "readout" not in other.metrics  # another action list: the LLM answers


def test_the_fallback_travels_in_the_aligned_file(trained, tmp_path):
    tokens, model = trained
    model.readout, model.prototypes = readout.FALLBACK, np.eye(4, DIM, dtype=np.float32)
    p = predict_split(model, tokens, np.arange(4), describe=False)
    save_aligned(tmp_path / "a.h5", model, p)
    back = load_aligned(tmp_path / "a.h5")
    assert back.readout == readout.FALLBACK and np.array_equal(back.prototypes, model.prototypes)
    model.readout, model.prototypes = readout.LLM, None


def test_a_healthy_llm_keeps_the_answers(trained, monkeypatch):
    tokens, model = trained
    val = np.flatnonzero(tokens.splits["xview"] == 0)

    def right(m, seqs, *a, **k):
        dec = Decoded.empty(len(seqs))
        dec.raw_scores = np.eye(4, dtype=np.float32)[tokens.labels[val]]
        return dec

    monkeypatch.setattr(validation, "predict", right)
    rec = validation.judge(model, tokens, tokens.labels[val], val, _aligned_priors(tokens),
                           choose_calibration=False, n_train=32)  # fmt: skip
    assert rec["warnings"] == [] and rec["readout"] == readout.LLM == model.readout


def test_an_llm_far_under_the_text_prior_hands_over_too(trained, monkeypatch):
    tokens, model = trained
    val = np.flatnonzero(tokens.splits["xview"] == 0)  # 16 rows, 4 per class
    truth = tokens.labels[val]

    def half_right(m, seqs, *a, **k):  # right on the first half, one class off on the rest
        dec = Decoded.empty(len(seqs))
        pred = np.where(np.arange(len(seqs)) % 4 < 2, truth, (truth + 1) % 4)
        dec.raw_scores = np.eye(4, dtype=np.float32)[pred]
        return dec

    monkeypatch.setattr(validation, "predict", half_right)
    rec = validation.judge(model, tokens, truth, val, _aligned_priors(tokens),
                           choose_calibration=False, n_train=32)  # fmt: skip
    assert rec["val_llm_top1"] == 0.5 and rec["val_text_prior_top1"] > 0.9
    assert not any("collapsed" in w or "near chance" in w for w in rec["warnings"])
    assert "points under the text-prior classifier's" in rec["warnings"][0]
    assert model.readout == readout.FALLBACK_LAG == rec["readout"]
    assert readout.applies(model, model.class_names)
    model.readout, model.prototypes = readout.LLM, None


def test_small_sets_hold_out_validation_and_get_stronger_defaults():
    y = np.repeat(np.arange(4), 20)
    cfg, changed = fit_to_data(AlignConfig(), y)
    assert changed == {"weight_decay": 0.01, "token_noise": 0.1} and cfg.sampler == "balanced"
    assert fit_to_data(AlignConfig(token_noise=0.3), y)[0].token_noise == 0.3
    # anchor auto: fitted only where the caller says it can be built; a choice is kept
    cfg, changed = fit_to_data(AlignConfig(), y, anchor_ok=True)
    assert cfg.bridge.anchor == "fitted" and changed["bridge.anchor"] == "fitted"
    assert fit_to_data(AlignConfig(), y)[0].bridge.anchor == "none"
    for kind in ("none", "linear"):
        chosen = AlignConfig(bridge=BridgeConfig(anchor=kind))
        assert fit_to_data(chosen, y, anchor_ok=True)[0].bridge.anchor == kind
    big = np.repeat(np.arange(4), 100)
    none = AlignConfig(bridge=BridgeConfig(anchor="none"))
    assert fit_to_data(AlignConfig(), big, anchor_ok=True) == (fit_to_data(none, big)[0], {})
    assert fit_to_data(AlignConfig(small_data=False), y, True)[0].bridge.anchor == "none"
    assert wants_validation(AlignConfig(), 80) and not wants_validation(AlignConfig(), 1020)
    assert wants_validation(AlignConfig(calibration="auto"), 1020)
    assert not wants_validation(AlignConfig(validation="none"), 80)


def test_the_step_floor_grows_with_the_classes_not_below_min_steps():
    cfg = AlignConfig()  # batch 8, min_steps 100, 100 samples per class
    assert step_floor(cfg, 10) == 125  # NW-UCLA's 10 classes (its 128-step epoch: still 1)
    assert step_floor(cfg, 20) == 250  # MSR Action3D's 20: 20 x 100 / 8
    assert step_floor(cfg, 20, processes=2) == 125  # 16 samples per step across 2 processes
    assert step_floor(cfg, 4) == 100  # few classes: min_steps decides
    assert step_floor(replace(cfg, grad_accum=4, min_samples_per_class=160), 60) == 300
    with pytest.raises(ConfigError, match="min_samples_per_class"):
        replace(cfg, min_samples_per_class=0).check()
