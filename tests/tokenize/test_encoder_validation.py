"""The encoder's validation rows: recorded by training, kept by the tokens file (issue 14)."""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest

from sugar_core import schema
from sugar_core.errors import SchemaError
from sugar_core.tokenize.bank import split_parts
from sugar_core.tokenize.config import TokenizeConfig
from sugar_core.tokenize.encoding import encode, take_validation_rows
from sugar_core.tokenize.store import read_tokens, write_tokens
from sugar_core.tokenize.training import train_encoder
from tests.helpers.align import synthetic_tokens
from tests.helpers.tokenize import tiny_priors, tiny_set

pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(**kw) -> TokenizeConfig:
    base = dict(frames=8, channels=(8, 8), strides=(2, 1), epochs=1, batch_size=8, workers=0,
                probe="none", small_data=False, sampler="shuffle")  # fmt: skip
    base["validation"] = "share:0.25"  # 2 of each class's 6 training samples
    base.update(kw)
    return TokenizeConfig(**base)


@pytest.fixture(scope="module")
def data():
    return tiny_set(n=36, k=3)


def test_training_records_the_rows_it_validated_on_and_the_file_keeps_them(data, tmp_path):
    cfg = _cfg()
    enc, heads, hist = train_encoder(data, tiny_priors(data.class_names), cfg, "xsub")
    fit, val, _, _ = split_parts(data, "xsub", [0, 1, 2], cfg)
    assert hist[-1]["validation_rows"] == val.tolist() and hist[-1]["val_n"] == len(val) == 6
    history, rows = take_validation_rows(hist)
    np.testing.assert_array_equal(rows, val)
    assert "validation_rows" not in history[-1] and "validation_rows" in hist[-1]  # a copy
    assert not set(rows) & set(fit) and set(rows) <= set(data.split_indices("xsub", "train"))
    ts = encode(data, enc, heads, prep=cfg.prep, history=history, train_split="xsub",
                encoder_validation=rows)  # fmt: skip
    write_tokens(ts, tmp_path / "t.h5")
    back = read_tokens(tmp_path / "t.h5", weights=False)
    assert back.encoder_validation.dtype == np.int64
    np.testing.assert_array_equal(back.encoder_validation, val)
    assert back.history == history  # the rows are stored once, as their own dataset


@pytest.mark.parametrize("change", [dict(refit=True), dict(validation="none")])
def test_refit_or_no_validation_part_records_no_rows(data, change):
    _, _, hist = train_encoder(data, tiny_priors(data.class_names), _cfg(**change), "xsub")
    history, rows = take_validation_rows(hist)
    assert rows is None and "validation_rows" not in history[-1]


def test_a_file_without_the_rows_reads_none(tmp_path):
    ts = synthetic_tokens()
    assert ts.encoder_validation is None
    write_tokens(ts, tmp_path / "old.h5")
    with h5py.File(tmp_path / "old.h5", "r") as f:
        assert schema.ENCODER_VALIDATION not in f  # what files before the rows look like
    assert read_tokens(tmp_path / "old.h5").encoder_validation is None
    assert take_validation_rows([]) == ([], None)
    assert take_validation_rows([{"epoch": 1}]) == ([{"epoch": 1}], None)


@pytest.mark.parametrize(
    "rows, message",
    [
        ([3, 1], "sorted distinct rows in \\[0, 48\\)"),
        ([1, 48], "sorted distinct rows in \\[0, 48\\)"),
        ([1, 9], "outside it"),  # row 9: class 0's ninth sample, in the test part
    ],
)
def test_bad_rows_are_refused_on_read_naming_the_file(tmp_path, rows, message):
    path = tmp_path / "bad.h5"
    write_tokens(dataclasses.replace(synthetic_tokens(), encoder_validation=np.array(rows)), path)
    with pytest.raises(SchemaError, match=f"{path}: dataset 'encoder_validation' expected .*"):
        read_tokens(path)
    with pytest.raises(SchemaError, match=message):
        read_tokens(path)


def test_tokenize_command_records_the_rows_and_a_reuse_records_none(data, tmp_path):
    from click.testing import CliRunner

    from sugar_cli.main import cli
    from sugar_core.priors.store import write_priors
    from sugar_core.skeleton.dataset import write_skeletons

    write_skeletons(data, tmp_path / "data.h5")
    write_priors(tiny_priors(data.class_names), tmp_path / "priors.h5")
    out, again = tmp_path / "t.h5", tmp_path / "again.h5"
    args = ["tokenize", str(tmp_path / "data.h5"), "--priors", str(tmp_path / "priors.h5"),
            "--split", "xsub", "--epochs", "1", "--batch-size", "6", "-o", str(out)]  # fmt: skip
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    ts = read_tokens(out, weights=False)
    cfg = TokenizeConfig(epochs=1, batch_size=6)  # what the command ran with (auto: a subject)
    _, val, _, rule = split_parts(data, "xsub", [0, 1, 2], cfg)
    assert rule == "subjects:1" and ts.history[-1]["validation"] == rule
    np.testing.assert_array_equal(ts.encoder_validation, val)
    assert "validation_rows" not in ts.history[-1]
    r = CliRunner().invoke(cli, ["tokenize", str(tmp_path / "data.h5"), "--encoder", str(out),
                                 "-o", str(again)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert read_tokens(again, weights=False).encoder_validation is None
