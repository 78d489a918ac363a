"""The zero-shot protocol end to end on tiny data, a tiny encoder and a tiny random LLaMA."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import sugar_core.zeroshot.seen as seen_mod
from sugar_core.errors import ConfigError
from sugar_core.predictions import read_predictions
from sugar_core.zeroshot.protocol import run_zeroshot
from sugar_core.zeroshot.seen import seen_tokens, train_seen_tokens
from sugar_core.zeroshot.splits import UnseenSplit
from sugar_core.zeroshot.store import read_zeroshot, write_zeroshot
from tests.helpers.zeroshot import CLASSES, SENTINEL, tiny_config, tiny_data, tiny_priors

UNSEEN = (1, 4)  # sit down, stand up
SPLIT = UnseenSplit("tiny-u2", "", UNSEEN, "user")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def spied_run(tiny_llm_dir):
    """One run whose unseen priors are poison (NaN embeddings, sentinel texts), with spies on
    what the two training stages receive."""
    seen_by = {}
    real_encoder, real_align = seen_mod.train_encoder, seen_mod.train_alignment

    def spy_encoder(data, priors, *a, **kw):
        seen_by["encoder"] = (data, priors)
        return real_encoder(data, priors, *a, **kw)

    def spy_align(tokens, priors, *a, **kw):
        seen_by["align"] = (tokens, priors)
        return real_align(tokens, priors, *a, **kw)

    mp = pytest.MonkeyPatch()
    mp.setattr(seen_mod, "train_encoder", spy_encoder)
    mp.setattr(seen_mod, "train_alignment", spy_align)
    try:
        cfg = tiny_config(tiny_llm_dir, baseline=False)  # the baseline reads unseen priors at test
        result = run_zeroshot(tiny_data(), tiny_priors(unseen=UNSEEN), SPLIT, cfg)
    finally:
        mp.undo()
    return result, seen_by


def _strings(priors) -> list[str]:
    return [str(t) for t in priors.texts.ravel()] + list(priors.descriptions)


def test_no_unseen_prior_or_sample_reaches_training(spied_run):
    result, seen_by = spied_run
    unseen_names = {CLASSES[i] for i in UNSEEN}
    for stage in ("encoder", "align"):
        data, priors = seen_by[stage]
        assert unseen_names.isdisjoint(data.class_names), (stage, data.class_names)
        assert unseen_names.isdisjoint(priors.class_names), (stage, priors.class_names)
        assert not any(SENTINEL in s for s in _strings(priors)), stage
        assert np.isfinite(priors.embeddings).all(), stage
        assert set(data.labels.tolist()) <= set(range(len(CLASSES) - len(UNSEEN)))
    enc_data = seen_by["encoder"][0]
    assert all(sid.split("_c")[1][0] not in "14" for sid in enc_data.sample_ids)
    # weights trained beside NaN priors stay finite; the prompt listed seen names only
    assert all(torch.isfinite(v.float()).all() for v in result.tokens.encoder_state.values())
    assert all(torch.isfinite(p).all() for p in result.model.bridge.parameters())
    assert unseen_names.isdisjoint(result.model.class_names)
    assert result.tokens.train_classes == [0, 2, 3, 5]
    assert not any(SENTINEL in t for t in result.predictions.raw_text)


def test_unseen_samples_are_scored_among_unseen_names(spied_run):
    result, _ = spied_run
    p = result.predictions
    assert set(p.labels.tolist()) == set(UNSEEN)
    assert len(p.labels) == 6  # 3 test-part samples per unseen class
    assert set(p.pred.tolist()) <= set(UNSEEN)  # rank never leaves the list
    assert p.candidates.tolist() == list(UNSEEN)
    m = result.metrics
    assert m["unseen_split"] == "tiny-u2" and m["protocol"] == "zeroshot/user"
    assert m["split"] == "xs"  # the data file's split (design.md's `split` key)
    assert m["chance"] == {"top1": 0.5, "top5": 1.0}
    assert set(m["llm"]) == {"rank", "generate"} and m["decode"] == "rank"
    assert 0.0 <= m["top1"] <= 1.0 and m["top5"] == 1.0  # 2 candidates: top-5 holds both


def test_unseen_names_are_scored_minus_their_reference_mean_by_default(spied_run, tiny_llm_dir):
    """calibration "" is reference when the alignment kept reference inputs; a given value is
    kept; an alignment without them (older files) is scored with its own calibration."""
    result, _ = spied_run
    rank = result.predictions.metrics
    assert rank["calibration"] == "reference" and result.model.reference_tokens
    data, priors = tiny_data(), tiny_priors()
    reuse = dict(tokens=result.tokens, aligned=result.model)
    cfg = tiny_config(tiny_llm_dir, decodes=("rank",), baseline=False, calibration="none")
    assert run_zeroshot(data, priors, SPLIT, cfg, **reuse).metrics["calibration"] == "none"
    kept, result.model.reference_tokens = result.model.reference_tokens, None
    try:
        cfg = tiny_config(tiny_llm_dir, decodes=("rank",), baseline=False)
        own = run_zeroshot(data, priors, SPLIT, cfg, **reuse).metrics["calibration"]
        assert own == result.model.calibration == "none"
    finally:
        result.model.reference_tokens = kept


def test_file_is_read_by_sugar_eval(spied_run, tmp_path):
    from sugar_cli.commands.eval import cli as eval_cli

    result, _ = spied_run
    path = tmp_path / "zs.h5"
    write_zeroshot(result, path, config={"x": 1}, seed=0)
    p, kind = read_predictions(path)
    assert kind == "zeroshot" and p.metrics["unseen_split"] == "tiny-u2"
    _, arrays, plan = read_zeroshot(path)
    assert set(arrays) == {"llm_rank", "llm_generate"}  # this run skipped the baseline
    np.testing.assert_array_equal(arrays["llm_rank"]["pred"], p.pred)
    assert plan["unseen"] == list(UNSEEN) and plan["seen_names"] == result.model.class_names
    out = CliRunner().invoke(eval_cli, [str(path), "--json"])
    assert out.exit_code == 0, out.output
    m = json.loads(out.stdout)
    assert m["protocol"] == "zeroshot/user" and m["unseen_split"] == "tiny-u2"
    assert m["split"] == result.metrics["split"] and len(m["confusion_classes"]) == len(UNSEEN)
    assert m["top1"] == pytest.approx(result.metrics["top1"])
    assert m["n"] == 6


def test_reuse_skips_training_and_refuses_a_leaky_encoder(spied_run, tiny_llm_dir, monkeypatch):
    result, _ = spied_run

    def boom(*a, **kw):
        raise AssertionError("reused artifacts must not be retrained")

    monkeypatch.setattr(seen_mod, "train_encoder", boom)
    monkeypatch.setattr(seen_mod, "train_alignment", boom)
    cfg = tiny_config(tiny_llm_dir, decodes=("rank",), gzsl=True)
    data, priors = tiny_data(), tiny_priors()
    again = run_zeroshot(data, priors, SPLIT, cfg, tokens=result.tokens, aligned=result.model)
    np.testing.assert_array_equal(again.predictions.pred, result.predictions.pred)
    assert set(again.metrics["baseline"]) >= {"top1", "top5"}
    g = again.metrics["gzsl"]
    assert g["candidates"] == len(CLASSES)
    assert {"seen", "unseen", "harmonic"} <= set(g["llm"]) and "baseline" in g
    # the baseline calibrated on the model's reference samples, beside the plain one
    assert result.model.reference_projected is not None
    assert set(g["baseline_reference"]) == set(g["baseline"])
    # a narrower unseen set (a subset of what it never saw) is fine too
    narrow = UnseenSplit("one", "", (4,), "user")
    run_zeroshot(data, priors, narrow, cfg, tokens=result.tokens, aligned=result.model)

    wider = UnseenSplit("wider", "", (0, 1, 4), "user")  # class 0 was seen in training
    with pytest.raises(ConfigError, match=r"tok\.h5: .*unseen class\(es\) \['pick up'\]"):
        run_zeroshot(
            data, priors, wider, cfg, tokens=result.tokens, reused_from={"tokens": "tok.h5"}
        )
    result.tokens.train_classes, saved = None, result.tokens.train_classes
    try:
        with pytest.raises(ConfigError, match="every class"):
            run_zeroshot(data, priors, SPLIT, cfg, tokens=result.tokens)
    finally:
        result.tokens.train_classes = saved


def test_cross_dataset_through_the_joint_mapping(tiny_llm_dir):
    train = tiny_data(layout="ntu25", seed=1)
    test = tiny_data(layout="kinect20", seed=2)
    cfg = tiny_config(tiny_llm_dir, decodes=("generate",))
    cfg.align.precision = "bf16"  # after an fp32 encoder in this process: accelerate must cope
    result = run_zeroshot(train, tiny_priors(), SPLIT, cfg, test_data=test)
    m = result.metrics
    assert m["protocol"] == "zeroshot/user/cross-dataset" and m["eval_part"] == "all"
    assert m["n"] == 12  # every sample of the two unseen classes in the test file
    assert result.tokens.layout == "kinect20"  # ntu25 training data mapped onto kinect20
    assert set(m["llm"]) == {"generate"} and "baseline" in m


def test_stage_one_alone_then_reuse(tiny_llm_dir):
    data, priors = tiny_data(seed=3), tiny_priors()
    cfg = tiny_config(tiny_llm_dir, decodes=("rank",), baseline=False)
    tokens = train_seen_tokens(data, priors, SPLIT, cfg)
    assert len(tokens) == len(data) and tokens.train_classes == [0, 2, 3, 5]
    assert tokens.train_split == "xs" and tokens.sample_ids == data.sample_ids
    result = run_zeroshot(data, priors, SPLIT, cfg, tokens=tokens)
    assert result.tokens is tokens and result.metrics["n"] == 6


def test_generated_nul_characters_are_stored(spied_run, tmp_path):
    from dataclasses import replace

    result, _ = spied_run
    p = result.predictions
    odd = replace(result, predictions=replace(p, raw_text=["{a\x00b}"] * len(p.labels)))
    write_zeroshot(odd, tmp_path / "nul.h5")
    back, _ = read_predictions(tmp_path / "nul.h5")
    assert back.raw_text[0] == "{a\ufffdb}"


def test_seen_tokens_cap_per_class(spied_run):
    result, _ = spied_run
    full = seen_tokens(result.tokens, "xs", result.plan)
    assert len(full) == 12 and full.class_names == result.model.class_names  # 3 train x 4
    capped = seen_tokens(result.tokens, "xs", result.plan, per_class=2, seed=1)
    assert sorted(np.bincount(capped.labels).tolist()) == [2, 2, 2, 2]
    assert set(capped.sample_ids) < set(full.sample_ids)
