"""No silent failure at the CLI: a collapsed model is warned about (stderr and `warnings` in
--json) and --strict makes it an error (exit 1, one line, no output file)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from sugar_cli.main import cli
from sugar_core.predictions import Predictions, write_predictions
from sugar_core.priors.store import write_priors
from sugar_core.tokenize.store import write_tokens
from tests.helpers.align import synthetic_priors, synthetic_tokens

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_llm_dir):
    d = tmp_path_factory.mktemp("health-cli")
    write_tokens(synthetic_tokens(n_per_class=12), d / "tokens.h5")
    write_priors(synthetic_priors(), d / "priors.h5")
    y = np.repeat(np.arange(4), 6)
    p = Predictions(labels=y, pred=np.zeros(24, dtype=np.int64), top5=np.zeros((24, 5), int),
                    class_names=["a", "b", "c", "d"], sample_ids=[f"s{i}" for i in range(24)],
                    metrics={"protocol": "supervised", "split": "xview"})  # fmt: skip
    write_predictions(p, d / "collapsed.h5", "aligned")
    return d, tiny_llm_dir


def _align(d, llm, *extra):
    # a barely trained bridge: the tiny LLM answers its favourite class for every sample
    return [
        "align", str(d / "tokens.h5"), "--priors", str(d / "priors.h5"), "--llm", str(llm),
        "--queries", "2", "--chunk", "4", "--width", "16", "--heads", "2", "--lora-r", "2",
        "--epochs", "1", "--lr", "1e-6", "--no-describe", "--set", "validation_share=0.5",
        *extra,
    ]  # fmt: skip


def test_align_warns_about_a_collapsed_llm_and_strict_refuses(files):
    d, llm = files
    out = d / "aligned.h5"
    r = CliRunner().invoke(cli, _align(d, llm, "--json", "-o", str(out)))
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["warnings"] and "align: LLM answers on 16 validation samples" in r.stderr
    assert "collapsed" in report["warnings"][0] and "--epochs N" in report["warnings"][0]
    assert report["schedule"]["epochs"] == 1 and report["schedule"]["rule"] == "epochs set"
    strict = d / "strict.h5"
    r = CliRunner().invoke(cli, _align(d, llm, "--strict", "-o", str(strict)))
    assert r.exit_code == 1 and not strict.exists()
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "--strict: align: LLM answers" in errors[0]


def test_eval_flags_a_collapsed_predictions_file(files):
    d, _ = files
    r = CliRunner().invoke(cli, ["eval", str(d / "collapsed.h5"), "--json"])
    assert r.exit_code == 0, r.output
    warnings = json.loads(r.stdout)["warnings"]
    assert len(warnings) == 2 and "100 % of 24 predictions are 'a'" in warnings[0]
    assert "near chance" in warnings[1] and "warning:" in r.stderr
    r = CliRunner().invoke(cli, ["eval", str(d / "collapsed.h5"), "--strict", "--json"])
    assert r.exit_code == 1 and r.stdout == ""
    assert "Error: --strict: collapsed.h5: aligned predictions" in r.stderr
    assert "(and 1 more)" in r.stderr


def test_epochs_option_takes_auto_or_a_number(files):
    d, llm = files
    r = CliRunner().invoke(cli, _align(d, llm, "--epochs", "zero", "-o", str(d / "x.h5")))
    assert r.exit_code == 2 and "neither a whole number >= 1 nor auto" in r.output
