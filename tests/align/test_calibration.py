"""Calibrated rank scores: the arithmetic, the choice on validation, and the stored model."""

from __future__ import annotations

import numpy as np
import pytest

from sugar_core.align import calibration
from sugar_core.align.config import AlignConfig, BridgeConfig, LLMConfig
from sugar_core.align.inference import null_scores, predict, predict_split
from sugar_core.align.store import load_aligned, save_aligned
from sugar_core.align.training import train_alignment
from sugar_core.errors import ConfigError
from tests.helpers.align import synthetic_priors, synthetic_tokens

pytestmark = pytest.mark.usefixtures("one_thread")


def test_apply_divides_by_length_and_subtracts_the_null_input():
    scores = np.array([[-2.0, -6.0], [-4.0, -3.0]])
    lengths, null = np.array([1, 3]), np.array([-1.0, -5.0])
    assert np.allclose(calibration.apply(scores, "none", lengths, null), scores)
    assert np.allclose(calibration.apply(scores, "length", lengths, null), [[-2, -2], [-4, -1]])
    assert np.allclose(calibration.apply(scores, "null", lengths, null), [[-1, -1], [-3, 2]])
    both = calibration.apply(scores, "length+null", lengths, null)
    assert np.allclose(both, [[-1, -1 / 3], [-3, 2 / 3]])
    with pytest.raises(ValueError, match="null"):
        calibration.apply(scores, "null", lengths, None)
    with pytest.raises(ConfigError, match="calibration 'pmi'"):
        calibration.apply(scores, "pmi", lengths, null)


def test_choose_fixes_a_one_sided_bias_and_prefers_the_simpler_on_ties():
    # class 1 wins every sample by a constant the null input also shows: a prior, not evidence
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, size=60)
    evidence = np.eye(3)[truth] * 2.0 + rng.normal(scale=0.3, size=(60, 3))
    bias = np.array([0.0, 4.0, 0.0])
    best, top1 = calibration.choose(evidence + bias, truth, np.ones(3), bias)
    assert top1["none"] < 0.5 and top1["null"] > 0.9 and best == "null"
    best, _ = calibration.choose(evidence, truth, np.ones(3), np.zeros(3))
    assert best == "none"  # every correction ties: the simplest wins
    share = calibration.prior_share(bias)
    assert np.isclose(share.sum(), 1.0) and share.argmax() == 1


def _cfg(llm_dir, **kw) -> AlignConfig:
    return AlignConfig(
        bridge=BridgeConfig(queries=3, chunk=4, width=16, heads=2),
        llm=LLMConfig(spec=str(llm_dir), lora_r=4, max_description_tokens=6),
        epochs=1, lr=5e-3, batch_size=8, **kw,
    )  # fmt: skip


def test_auto_holds_out_a_share_chooses_and_the_file_keeps_it(tiny_llm_dir, tmp_path):
    tokens, priors = synthetic_tokens(), synthetic_priors()
    events = []
    model = train_alignment(tokens, priors, _cfg(tiny_llm_dir, calibration="auto",
                            validation_share=0.25), "xview", callback=events.append)  # fmt: skip
    chosen = model.history[-1]["calibration"]
    assert chosen["chosen"] == model.calibration in calibration.CALIBRATIONS
    assert set(chosen["val_top1"]) == set(calibration.CALIBRATIONS)
    assert chosen["val_n"] == 8  # a quarter of each class's 8 training samples
    steps = [e for e in events if e["event"] == "progress"]
    assert steps[-1]["total"] == 3  # 24 of 32 samples train, batches of 8
    assert model.null_token.shape == (tokens.dim,)
    test = tokens.split_indices("xview", "test")
    p = predict_split(model, tokens, test, describe=False)
    assert p.metrics["calibration"] == model.calibration
    assert np.isclose(sum(p.metrics["prior_share"].values()), 1.0)
    save_aligned(tmp_path / "a.h5", model, p)
    back = load_aligned(tmp_path / "a.h5")
    assert back.calibration == model.calibration
    assert np.array_equal(back.null_token, model.null_token)
    again = predict_split(back, tokens, test, describe=False)
    assert np.array_equal(again.pred, p.pred)


def test_null_calibration_ranks_by_the_difference(tiny_llm_dir):
    tokens, priors = synthetic_tokens(), synthetic_priors()
    model = train_alignment(tokens, priors, _cfg(tiny_llm_dir), "xview")
    assert model.calibration == "none"
    seqs = [tokens.tokens[i] for i in tokens.split_indices("xview", "test")]
    raw = predict(model, seqs, model.class_names, describe=False, keep_scores=True)
    null = null_scores(model, model.llm.prompt(model.class_names))
    cal = predict(model, seqs, model.class_names, describe=False, calibration="null")
    assert np.array_equal(cal.pred, (raw.raw_scores - null[None]).argmax(1))
    model.null_token = None
    with pytest.raises(ConfigError, match="null token"):
        predict(model, seqs, model.class_names, describe=False, calibration="null")


def test_reference_subtracts_the_mean_score_of_real_inputs():
    scores = np.array([[-2.0, -6.0], [-4.0, -3.0]])
    lengths, null, ref = np.array([1, 3]), np.array([-1.0, -5.0]), np.array([-1.0, -6.0])
    out = calibration.apply(scores, "reference", lengths, null, ref)
    assert np.allclose(out, [[-1, 0], [-3, 3]])
    with pytest.raises(ValueError, match="reference"):
        calibration.apply(scores, "reference", lengths, null)
    # a candidate that wins on every input by its opening words: only real inputs show it
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, size=80)
    evidence = np.eye(2)[truth] * 1.5 + rng.normal(scale=0.3, size=(80, 2))
    prefix = np.array([5.0, 0.0])  # on real inputs; the averaged null token shows none of it
    best, top1 = calibration.choose(evidence + prefix, truth, np.ones(2), np.zeros(2),
                                    prefix + 0.75)  # fmt: skip
    assert best == "reference" and top1["reference"] > 0.9 and top1["null"] < 0.6
    _, skipped = calibration.choose(evidence, truth, np.ones(2), None)
    assert set(skipped) == {"none", "length"}  # neither null nor reference scores


def test_reference_rows_are_class_balanced_seeded_and_capped():
    labels = np.array([0] * 20 + [1] * 3 + [2] * 10)
    rows = np.arange(len(labels))
    picked = calibration.reference_rows(labels, rows, 9, seed=4)
    assert len(picked) == 9 and np.all(np.diff(picked) > 0)
    assert np.bincount(labels[picked], minlength=3).tolist() == [3, 3, 3]
    assert np.array_equal(picked, calibration.reference_rows(labels, rows, 9, seed=4))
    assert not np.array_equal(picked, calibration.reference_rows(labels, rows, 9, seed=5))
    more = calibration.reference_rows(labels, rows, 12, seed=4)
    assert np.bincount(labels[more], minlength=3).tolist() == [5, 3, 4]  # class 1 runs out
    assert len(calibration.reference_rows(labels, rows, 100, seed=0)) == len(rows)
    assert len(calibration.reference_rows(labels, rows, 0, seed=0)) == 0
    assert set(calibration.reference_rows(labels, rows[20:], 5, seed=0)) <= set(rows[20:])


def test_reference_inputs_are_kept_stored_and_used(tiny_llm_dir, tmp_path):
    tokens, priors = synthetic_tokens(), synthetic_priors()
    model = train_alignment(tokens, priors, _cfg(tiny_llm_dir, reference_samples=6), "xview")
    train = tokens.split_indices("xview", "train")
    assert len(model.reference_tokens) == 6
    found = [[r for r in train if np.array_equal(t, tokens.tokens[r])]
             for t in model.reference_tokens]  # fmt: skip
    assert all(len(f) == 1 for f in found)  # training samples, each once
    rows = [f[0] for f in found]  # the same samples' text-space features, for the baseline
    assert np.array_equal(model.reference_projected, tokens.projected[rows])
    classes = np.bincount(tokens.labels[[f[0] for f in found]])
    assert classes.max() - classes.min() <= 1  # class-balanced
    test = tokens.split_indices("xview", "test")
    seqs = [tokens.tokens[i] for i in test]
    names = model.class_names
    raw = predict(model, seqs, names, describe=False, keep_scores=True)
    ref = predict(model, model.reference_tokens, names, describe=False, keep_scores=True)
    assert np.allclose(raw.reference, ref.raw_scores, atol=1e-5)
    cal = predict(model, seqs, names, describe=False, calibration="reference")
    assert np.array_equal(cal.pred, (raw.raw_scores - raw.reference.mean(0)).argmax(1))
    p = predict_split(model, tokens, test, describe=False)
    save_aligned(tmp_path / "a.h5", model, p)
    back = load_aligned(tmp_path / "a.h5")
    assert len(back.reference_tokens) == 6
    assert all(np.array_equal(a, b) for a, b in zip(back.reference_tokens, model.reference_tokens))
    assert np.array_equal(back.reference_projected, model.reference_projected)
    none = train_alignment(tokens, priors, _cfg(tiny_llm_dir, reference_samples=0), "xview")
    assert none.reference_tokens is None and none.reference_projected is None
    with pytest.raises(ConfigError, match="reference samples"):
        predict(none, seqs, names, describe=False, calibration="reference")
    assert predict(none, seqs, names, describe=False, keep_scores=True).reference is None
