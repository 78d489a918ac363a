"""Validation ``encoder``: the alignment validates on the rows the encoder validated on, rows
neither stage trained on (issue 14); ``auto`` keeps its stratified share."""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from sugar_core import schema
from sugar_core.align import training
from sugar_core.align.config import AlignConfig, BridgeConfig, LLMConfig
from sugar_core.errors import ConfigError
from sugar_core.priors.store import write_priors
from sugar_core.tokenize.bank import split_parts
from sugar_core.tokenize.store import write_tokens
from sugar_core.zeroshot.plan import plan_classes
from sugar_core.zeroshot.seen import ZS_SPLIT, seen_split, seen_tokens, train_seen_tokens
from sugar_core.zeroshot.splits import UnseenSplit
from tests.helpers import zeroshot as zs
from tests.helpers.align import synthetic_priors, synthetic_tokens

pytestmark = pytest.mark.usefixtures("one_thread")

# synthetic_tokens: 4 classes x 12 rows (class c: rows 12c..12c+11); the first 8 of each train
TRAIN = np.flatnonzero(synthetic_tokens().splits["xview"] == 1)
# two rows of classes 0, 1, 3, one of class 2, and row 10 (class 0, test part: never used)
RECORDED = np.array([0, 1, 10, 12, 13, 24, 36, 37])


def _cfg(tiny_llm_dir, **kw) -> AlignConfig:
    base = dict(bridge=BridgeConfig(queries=3, chunk=4, width=16, heads=2), epochs=1, lr=5e-3,
                llm=LLMConfig(spec=str(tiny_llm_dir), lora_r=4, max_description_tokens=6),
                batch_size=8)  # fmt: skip
    base.update(kw)
    return AlignConfig(**base)


def _train(cfg, tokens, monkeypatch, train_classes=None):
    """(model, rows judged on, rows trained on) of one tiny alignment run."""
    seen = {}
    judge, prepare = training.judge, training._prepare

    def spy_judge(model, toks, target, val, *a):
        seen["val"] = np.asarray(val).copy()
        return judge(model, toks, target, val, *a)

    def spy_prepare(toks, priors, data, c):
        seen["fit"] = data.idx.copy()
        return prepare(toks, priors, data, c)

    monkeypatch.setattr(training, "judge", spy_judge)
    monkeypatch.setattr(training, "_prepare", spy_prepare)
    model = training.train_alignment(tokens, synthetic_priors(), cfg, "xview", train_classes)
    return model, seen.get("val"), seen["fit"]


def test_encoder_validation_holds_out_exactly_the_recorded_rows(tiny_llm_dir, monkeypatch):
    tokens = dataclasses.replace(synthetic_tokens(), encoder_validation=RECORDED)
    cfg = _cfg(tiny_llm_dir, validation="encoder")
    model, val, fit = _train(cfg, tokens, monkeypatch, train_classes=[0, 1, 2])
    assert val.tolist() == [0, 1, 12, 13, 24]  # trained classes, train part: not 10, 36, 37
    trained = TRAIN[tokens.labels[TRAIN] < 3]
    assert fit.tolist() == np.setdiff1d(trained, val).tolist()  # the rest, all of it
    assert model.history[-1]["val_n"] == 5


def test_auto_keeps_the_stratified_share_it_held_out_before(tiny_llm_dir, monkeypatch):
    # calibration auto asks for a validation part; recorded rows do not change auto's choice
    tokens = dataclasses.replace(synthetic_tokens(), encoder_validation=RECORDED)
    _, val, fit = _train(_cfg(tiny_llm_dir, calibration="auto"), tokens, monkeypatch)
    assert val.tolist() == [6, 13, 29, 38]  # the rows held out before validation encoder
    assert fit.tolist() == np.setdiff1d(TRAIN, val).tolist()


@pytest.mark.parametrize(
    "recorded, classes, message",
    [
        (None, None, "these tokens records no encoder validation rows"),
        (np.zeros(0, dtype=np.int64), None, "records no encoder validation rows"),
        (np.array([0, 1, 36]), [0, 1, 2], "hold 1 of the trained classes"),
        (TRAIN[TRAIN < 24], [0, 1], "nothing is left to train on"),
    ],
)
def test_encoder_validation_refuses_what_it_cannot_use(tiny_llm_dir, recorded, classes, message):
    tokens = dataclasses.replace(synthetic_tokens(), encoder_validation=recorded)
    cfg = _cfg(tiny_llm_dir, validation="encoder")
    with pytest.raises(ConfigError, match=message):
        training.train_alignment(tokens, synthetic_priors(), cfg, "xview", classes)


def _cli(tmp_path, tiny_llm_dir, tokens):
    from sugar_cli.main import cli

    write_tokens(tokens, tmp_path / "tokens.h5")
    write_priors(synthetic_priors(), tmp_path / "priors.h5")
    args = ["align", str(tmp_path / "tokens.h5"), "--priors", str(tmp_path / "priors.h5"),
            "--llm", str(tiny_llm_dir), "--queries", "3", "--chunk", "4", "--width", "16",
            "--heads", "2", "--lora-r", "4", "--epochs", "1", "--max-description-tokens", "6",
            "--no-describe", "--set", "validation=encoder",
            "-o", str(tmp_path / "a.h5")]  # fmt: skip
    return CliRunner().invoke(cli, args)


def test_align_command_names_the_tokens_file_without_rows(tmp_path, tiny_llm_dir):
    res = _cli(tmp_path, tiny_llm_dir, synthetic_tokens())
    assert res.exit_code == 1
    said = " ".join(res.output.split())  # the console may wrap the line
    assert f"{tmp_path / 'tokens.h5'} records no encoder validation rows" in said
    assert not (tmp_path / "a.h5").exists()


def test_align_command_validates_on_the_recorded_rows(tmp_path, tiny_llm_dir):
    rows = RECORDED[RECORDED != 10]  # a file holds train-part rows only
    res = _cli(
        tmp_path, tiny_llm_dir, dataclasses.replace(synthetic_tokens(), encoder_validation=rows)
    )
    assert res.exit_code == 0, res.output
    with h5py.File(tmp_path / "a.h5", "r") as f:
        history = schema.read_json(f, schema.ALIGN_HISTORY)
    assert history[-1]["val_n"] == len(rows) == 7


def test_seen_class_copy_maps_the_rows_and_drops_unseen_ones():
    tokens = synthetic_tokens()
    # row 12: class 1, left unseen here; row 44: class 3's test part
    tokens = dataclasses.replace(tokens, encoder_validation=np.array([1, 12, 26, 40, 44]))
    plan = plan_classes(UnseenSplit("u1", "", (1,), "user"), tokens.class_names)
    copy = seen_tokens(tokens, "xview", plan)
    # the copy holds rows 0-7, 24-31, 36-43 of tokens, in that order
    assert copy.encoder_validation.tolist() == [1, 10, 20]
    assert [copy.sample_ids[i] for i in copy.encoder_validation] == ["s001", "s026", "s040"]
    assert copy.labels[copy.encoder_validation].tolist() == [0, 1, 2]  # seen classes, relabelled
    capped = seen_tokens(tokens, "xview", plan, per_class=3, seed=0)
    kept = [capped.sample_ids[i] for i in capped.encoder_validation]
    assert set(kept) == {"s001", "s026", "s040"} & set(capped.sample_ids)
    assert seen_tokens(synthetic_tokens(), "xview", plan).encoder_validation is None


def test_zero_shot_encoder_records_rows_of_the_whole_data(tiny_llm_dir):
    data, split = zs.tiny_data(), UnseenSplit("u2", "", (1, 4), "user")
    cfg = zs.tiny_config(tiny_llm_dir)
    cfg.tokenize = dataclasses.replace(cfg.tokenize, validation="share:0.34", epochs=1)
    tokens = train_seen_tokens(data, zs.tiny_priors(), split, cfg)
    plan = plan_classes(split, data.class_names)
    sub, idx = seen_split(data, "xs", plan)
    _, val, _, _ = split_parts(sub, ZS_SPLIT, list(range(len(plan.seen))), cfg.tokenize)
    assert len(val) == 4  # one of the three training samples of each seen class
    assert tokens.encoder_validation.tolist() == idx[val].tolist()  # rows of data, not of sub
    assert set(data.labels[tokens.encoder_validation]) == set(plan.seen)
    assert (data.splits["xs"][tokens.encoder_validation] == 1).all()
    assert "validation_rows" not in tokens.history[-1]
