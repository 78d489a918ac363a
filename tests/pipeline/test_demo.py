"""`sugar demo --fast`: every stage's file, the results table, and the choices behind them."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from sugar_cli.main import cli
from sugar_core import schema
from sugar_core.errors import ConfigError
from sugar_core.models import minilm_path
from sugar_core.pipeline.demo import DemoConfig, choose_llm, unseen_split
from sugar_core.predictions import read_predictions
from sugar_core.skeleton.classes import NW_UCLA
from sugar_core.skeleton.synthetic import SYNTHETIC_CLASSES, make_synthetic

KINDS = {
    "data.h5": "skeletons",
    "priors.h5": "priors",
    "tokens.h5": "tokens",
    "aligned.h5": "aligned",
    "zs.h5": "zeroshot",
}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def demo(tmp_path_factory, request):
    """One `sugar demo --fast` run shared by the tests below."""
    out = tmp_path_factory.mktemp("demo") / "out"
    args = ["demo", "--fast", "-o", str(out), "--seed", "3"]
    if minilm_path() is None:  # the models extra is not installed: a tiny text encoder
        args += ["--text-encoder", str(request.getfixturevalue("tiny_bert_dir"))]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    return out, res


def test_stdout_is_the_output_folder_and_every_file_has_its_kind(demo):
    out, res = demo
    assert res.stdout.strip() == str(out)
    for name, kind in KINDS.items():
        assert schema.kind_of(out / name) == kind, name
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "sample.gif").read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    assert (out / "tiny-llm" / "config.json").is_file()  # --fast: the tiny random LLM


def test_files_chain_through_their_recorded_inputs(demo):
    out, _ = demo
    with h5py.File(out / "aligned.h5") as f:
        inputs = schema.root_info(f)["inputs"]
        llm_spec = f.attrs["llm_spec"]
    assert [rec["path"] for rec in inputs] == [str((out / n).resolve()) for n in
                                               ("tokens.h5", "priors.h5")]  # fmt: skip
    assert all(rec["sha256"] == schema.sha256(rec["path"]) for rec in inputs)
    assert llm_spec == str((out / "tiny-llm").resolve())
    with h5py.File(out / "data.h5") as f:
        assert schema.root_info(f)["seed"] == 3


def test_the_table_reports_what_the_files_hold(demo):
    out, res = demo
    err = res.stderr
    for title in ("import", "priors", "tokenize", "align", "eval", "zero-shot", "sample GIF"):
        assert title in err, title
    assert "tiny random" in err and "NOTE" in err
    summary = json.loads((out / "summary.json").read_text())
    p, _ = read_predictions(out / "aligned.h5")
    assert summary["metrics"]["align"]["top1"] == pytest.approx(p.metrics["top1"])
    assert f"top-1 {100 * p.metrics['top1']:.1f}%" in err
    zs, _ = read_predictions(out / "zs.h5")
    llm_top1 = zs.metrics["llm"]["rank"]["top1"]
    assert summary["metrics"]["zeroshot"]["llm_rank_top1"] == pytest.approx(llm_top1)
    assert f"LLM-rank top-1 {100 * llm_top1:.1f}%" in err
    assert "embedding baseline" in err
    # zero-shot: two of the six classes, never trained on, are what zs.h5 evaluates
    unseen = summary["metrics"]["zeroshot"]["unseen"]
    assert len(unseen) == 2 and set(unseen) <= set(SYNTHETIC_CLASSES)
    assert {zs.class_names[k] for k in zs.labels} <= set(unseen)
    assert sorted(zs.metrics["unseen"]) == sorted(unseen)
    assert summary["metrics"]["zeroshot"]["unseen_split"] == zs.metrics["unseen_split"]


def test_descriptions_are_checked_against_the_priors(demo):
    out, res = demo
    summary = json.loads((out / "summary.json").read_text())
    p, _ = read_predictions(out / "aligned.h5")
    described = sum(1 for d in p.description if d.strip())
    assert described > 0  # demo-fast writes 6-token descriptions
    faith = summary["metrics"]["faithfulness"]
    assert faith["n_described"] == described
    assert 0.0 <= faith["named"] <= 1.0 and 0.0 <= faith["true"] <= 1.0
    assert f"named class's priors {100 * faith['named']:.0f}%" in " ".join(res.stderr.split())


def test_unseen_split_defaults():
    data = make_synthetic(n_per_class=2, subjects=2)
    s = unseen_split(None, data, seed=0)
    assert len(s.unseen) == 2 and s.name == "synthetic-r2-s0"
    assert s.unseen == tuple(sorted(int(k) for k in np.random.default_rng(0).permutation(6)[:2]))
    data.class_names = list(NW_UCLA)[:6]  # an unknown list of six: still two unseen
    assert len(unseen_split(None, data, 0).unseen) == 2
    data.class_names = list(NW_UCLA)
    assert unseen_split(None, data, 0).name == "nw-ucla-ru2"
    assert unseen_split("nw-ucla-ru5", data, 0).unseen == (1, 3, 4, 6, 8)


def test_llm_choice(tmp_path, monkeypatch):
    import sugar_core.models as models

    cfg = DemoConfig(llm="my/model")
    assert choose_llm(cfg, tmp_path, ["x"]) == ("my/model", "")
    monkeypatch.setattr(models, "smollm2_available", lambda: True)
    assert choose_llm(DemoConfig(), tmp_path, ["x"]) == ("smollm2", "")
    monkeypatch.setattr(models, "smollm2_available", lambda: False)
    spec, note = choose_llm(DemoConfig(), tmp_path, ["waving", "a person waves."])
    assert spec == str((tmp_path / "tiny-llm").resolve()) and "TINY RANDOM" in note


def test_bad_options_are_one_line_errors(tmp_path):
    res = CliRunner().invoke(cli, ["demo", "--data", str(tmp_path), "-o", str(tmp_path / "o")])
    assert res.exit_code == 1 and "--format" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    with pytest.raises(ConfigError, match="per-class"):
        DemoConfig(per_class=2).check()
    with pytest.raises(ConfigError, match="does not apply"):
        DemoConfig(per_class=8, data="ucla", format="nw-ucla").check()
