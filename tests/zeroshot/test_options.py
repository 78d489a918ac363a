"""The zero-shot scoring options end to end on tiny data: pseudo-unseen validation chooses,
the fused and ConSE scorers sit beside the LLM alone and the baseline alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sugar_core.align import calibration
from sugar_core.errors import ConfigError
from sugar_core.zeroshot.config import ZeroShotConfig
from sugar_core.zeroshot.protocol import run_zeroshot
from sugar_core.zeroshot.splits import UnseenSplit
from sugar_core.zeroshot.store import read_zeroshot, write_zeroshot
from tests.helpers.zeroshot import CLASSES, tiny_config, tiny_data, tiny_priors

UNSEEN = (1, 4)
SPLIT = UnseenSplit("tiny-u2", "", UNSEEN, "user")

pytestmark = pytest.mark.usefixtures("one_thread")


def options(llm_dir, **kw) -> ZeroShotConfig:
    """Every new option on: list sampling, knowledge, answer scoring chosen on validation."""
    cfg = tiny_config(llm_dir, decodes=("rank",), pseudo_unseen=1, calibration="auto",
                      rank_text="auto", fuse="z", conse=True, **kw)  # fmt: skip
    cfg.align = dataclasses.replace(cfg.align, list_sampling=True, list_min=2)
    cfg.align.llm = dataclasses.replace(cfg.align.llm, knowledge="description",
                                        knowledge_tokens=5, prompt="list-first")  # fmt: skip
    return cfg


@pytest.fixture(scope="module")
def run(tiny_llm_dir):
    return run_zeroshot(tiny_data(), tiny_priors(), SPLIT, options(tiny_llm_dir))


def test_pseudo_unseen_classes_are_held_out_and_choose(run):
    m, model = run.metrics, run.model
    rec = m["pseudo_unseen"]
    held = rec["classes"]
    assert len(held) == 1 and held[0] not in [CLASSES[u] for u in UNSEEN]
    assert held[0] not in model.class_names and len(model.class_names) == 3
    assert held[0] not in run.plan.seen_names and not rec["encoder_saw_them"]
    assert rec["n"] == 3  # the held class's train-part samples
    assert rec["calibration"] in ("none", "length", "null", "length+null", "reference")
    assert rec["rank_text"] in ("name", "answer")
    assert set(rec["val_top1_name"]) == {"none", "length", "null", "length+null", "reference"}
    assert 0.0 <= rec["fuse_weight"] <= 1.0 and len(rec["val_fused_top1_by_weight"]) == 11
    assert model.class_notes is not None and len(model.class_notes) == 3


def test_fused_and_conse_sit_beside_llm_and_baseline(run, tmp_path):
    m = run.metrics
    for key in ("llm", "baseline", "fused", "conse"):
        assert key in m, key
    assert m["fused"]["norm"] == "z" and m["fused"]["weight"] == m["pseudo_unseen"]["fuse_weight"]
    assert m["fused"]["n"] == m["n"] == 6 and m["conse"]["n"] == 6
    assert "test-part samples" in m["scored"] and "2 unseen classes" in m["scored"]
    write_zeroshot(run, tmp_path / "zs.h5")
    _, arrays, _ = read_zeroshot(tmp_path / "zs.h5")
    assert {"llm_rank", "baseline", "fused", "conse"} <= set(arrays)
    assert set(arrays["fused"]["pred"].tolist()) <= set(UNSEEN)
    # the LLM's uncalibrated scores and what each calibration subtracts travel with the file
    rank = arrays["llm_rank"]
    assert rank["raw_raw"].shape == (6, 2) and rank["raw_null"].shape == (2,)
    assert rank["raw_reference"].shape[1] == 2 and rank["raw_lengths"].shape == (2,)
    kind = run.metrics["pseudo_unseen"]["calibration"]
    bases = (rank["raw_lengths"], rank["raw_null"], rank["raw_reference"])
    cal = calibration.apply(rank["raw_raw"], kind, *bases)
    best = np.array(UNSEEN)[cal.argmax(1)]
    np.testing.assert_array_equal(best, arrays["llm_rank"]["pred"])


def test_weight_one_is_the_llm_alone_and_zero_the_baseline(run, tiny_llm_dir):
    data, priors = tiny_data(), tiny_priors()
    out = {}
    for w in (0.0, 1.0):
        cfg = tiny_config(tiny_llm_dir, decodes=("rank",), fuse="softmax", fuse_weight=w)
        r = run_zeroshot(data, priors, SPLIT, cfg, tokens=run.tokens, aligned=run.model)
        out[w] = r
    _, arrays = out[1.0].predictions, out[1.0].arrays
    np.testing.assert_array_equal(arrays["fused"]["pred"], arrays["llm_rank"]["pred"])
    b = out[0.0].arrays
    np.testing.assert_array_equal(b["fused"]["pred"], b["baseline"]["pred"])


def test_auto_options_need_pseudo_unseen_classes(tiny_llm_dir):
    for kw in ({"calibration": "auto"}, {"rank_text": "auto"}, {"fuse": "z"}):
        with pytest.raises(ConfigError, match="pseudo_unseen"):
            tiny_config(tiny_llm_dir, **kw)
    with pytest.raises(ConfigError, match="fuse_weight"):
        tiny_config(tiny_llm_dir, fuse="z", fuse_weight=1.5)
    with pytest.raises(ConfigError, match="at least 2"):
        run_zeroshot(tiny_data(), tiny_priors(), SPLIT, tiny_config(tiny_llm_dir, pseudo_unseen=3))


def test_a_reused_alignment_that_trained_on_the_pseudo_classes_is_refused(run, tiny_llm_dir):
    full = tiny_config(tiny_llm_dir, decodes=("rank",), baseline=False)
    plain = run_zeroshot(tiny_data(), tiny_priors(), SPLIT, full)  # trained on all 4 seen
    cfg = tiny_config(tiny_llm_dir, decodes=("rank",), pseudo_unseen=1)
    with pytest.raises(ConfigError, match="pseudo-unseen"):
        run_zeroshot(tiny_data(), tiny_priors(), SPLIT, cfg, tokens=plain.tokens,
                     aligned=plain.model)  # fmt: skip


def test_cli_fuse_and_pseudo_unseen(tmp_path, tiny_llm_dir):
    import json

    from click.testing import CliRunner

    from sugar_cli.commands.zeroshot import cli
    from sugar_core.priors.store import write_priors
    from sugar_core.skeleton.dataset import write_skeletons

    write_skeletons(tiny_data(), tmp_path / "data.h5")
    write_priors(tiny_priors(), tmp_path / "priors.h5")
    cfg = tiny_config(tiny_llm_dir).to_dict()
    for key in ("frames", "max_bodies", "channels"):  # settings: the encoder decides these
        cfg["tokenize"]["prep"].pop(key)
    (tmp_path / "tiny.json").write_text(json.dumps({"tokenize": cfg["tokenize"],
                                                   "align": cfg["align"]}))  # fmt: skip
    args = [tmp_path / "data.h5", "--priors", tmp_path / "priors.h5", "--config",
            tmp_path / "tiny.json", "--unseen-split", "1,4", "--decode", "rank", "--json",
            "-o", tmp_path / "zs.h5"]  # fmt: skip
    (tmp_path / "u.txt").write_text("1,4\n")
    args[6] = tmp_path / "u.txt"
    bad = CliRunner().invoke(cli, [str(a) for a in [*args, "--fuse", "z"]])
    assert bad.exit_code != 0 and "pseudo_unseen" in bad.output and "Traceback" not in bad.output
    out = CliRunner().invoke(cli, [str(a) for a in [*args, "--fuse", "z", "--pseudo-unseen", "1"]])
    assert out.exit_code == 0, out.output
    m = json.loads(out.stdout)
    assert {"llm", "baseline", "fused", "pseudo_unseen", "scored"} <= set(m)
    assert m["fused"]["weight"] == m["pseudo_unseen"]["fuse_weight"]
    assert "fused (z, LLM weight" in out.stderr and "pseudo-unseen" in out.stderr
