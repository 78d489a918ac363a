"""bench/ablate.py: the variants, the resumable results file, the table, and a tiny run."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from tests.conftest import REPO
from tests.helpers.tokenize import tiny_priors, tiny_set

sys.path.insert(0, str(REPO / "bench"))
import _ablate_plan as plan  # noqa: E402
import _ablate_results as results  # noqa: E402
import ablate  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _row(key="msr/bridge/tqp/s0", fp="f0", **kw) -> dict:
    dataset, axis, variant, seed = key.split("/")
    row = {"key": key, "dataset": dataset, "axis": axis, "variant": variant,
           "seed": int(seed[1:]), "budget": "default", "fingerprint": fp,
           "settings": {"tokenize": {}, "align": {}},
           "seconds": {"tokenize": 60.0, "align": 120.0, "predict": 60.0}}  # fmt: skip
    return {**row, **kw}


def test_every_variant_builds_its_configs_on_both_data_sets():
    jobs = plan.make_jobs(["ucla", "msr"], list(plan.VARIANTS), [0, 1], "default")
    assert len(jobs) == 2 * 2 * len(plan.VARIANTS)
    tok, align = {j.key: j.configs() for j in jobs}["msr/extra/parts-abs/s1"]
    assert tok.token_layout == "time-parts" and tok.part_weight == 1.0 and tok.seed == 1
    assert align.bridge.chunk == 6 and align.bridge.time_embedding == "absolute"
    assert align.seed == 1 and align.bridge.kind == "tqp"
    anchors = {j.variant: j.configs()[1].bridge.anchor for j in jobs if j.dataset == "msr"}
    assert anchors["tqp-anchor"] == "fitted" and anchors["tqp-all"] == "fitted"
    assert {v for v, a in anchors.items() if a != "none"} == {"tqp-anchor", "tqp-all"}
    tok, _ = {j.key: j.configs() for j in jobs}["ucla/knowledge/visual/s0"]
    assert tok.text_kinds == ("visual",) and tok.objective == "mil-nce"


def test_variants_share_tokens_only_when_stage_one_is_the_same():
    jobs = {j.variant: j for j in plan.make_jobs(["msr"], list(plan.VARIANTS), [0], "default")}
    shared = {jobs[v].tokens_name() for v in ("tqp", "qformer", "pool", "both", "tqp-anchor")}
    assert len(shared) == 1
    assert jobs["parts"].tokens_name() == jobs["parts-abs"].tokens_name()
    names = {jobs[v].tokens_name() for v in ("tqp", "ce", "motion", "visual", "parts")}
    assert len(names) == 5
    assert jobs["both"].fingerprint() == jobs["tqp"].fingerprint() != jobs["pool"].fingerprint()
    other = plan.make_jobs(["msr"], ["tqp"], [1], "default")[0]
    assert other.tokens_name() != jobs["tqp"].tokens_name()  # another seed, other tokens


def test_sets_reach_every_row_and_a_bad_key_stops_before_training():
    a = plan.make_jobs(["msr"], ["tqp"], [0], "tiny", ["min_steps=7"], ["bridge.queries=4"])[0]
    tok, align = a.configs()
    assert tok.min_steps == 7 and align.bridge.queries == 4 and align.min_samples_per_class == 1
    b = plan.make_jobs(["msr"], ["tqp"], [0], "tiny")[0]
    assert a.fingerprint() != b.fingerprint() and a.tokens_name() != b.tokens_name()
    with pytest.raises(SystemExit, match="bridge.nope"):
        plan.make_jobs(["msr"], ["tqp"], [0], "default", (), ["bridge.nope=1"])
    with pytest.raises(SystemExit, match="unknown 'ntu'"):
        plan.make_jobs(["ntu"], ["tqp"], [0], "default")


def test_variant_lists_by_axis_and_by_name():
    assert plan.variant_names("bridge", None) == ["tqp", "qformer", "xattn", "linear", "pool"]
    assert plan.variant_names("knowledge", None) == ["ce", "motion", "visual", "both"]
    assert plan.variant_names(None, "pool, ce") == ["pool", "ce"]
    with pytest.raises(SystemExit, match="unknown variant 'tpq'"):
        plan.variant_names(None, "tpq")
    with pytest.raises(SystemExit, match="belongs to axis knowledge"):
        plan.variant_names("bridge", "ce")
    with pytest.raises(SystemExit, match="--axis"):
        plan.variant_names(None, None)


def test_append_survives_a_line_cut_by_a_killed_run(tmp_path, capsys):
    path = tmp_path / "rows.jsonl"
    results.append_row(path, _row())
    with open(path, "a") as fh:
        fh.write('{"key": "msr/bridge/pool/s0", "dataset"')  # killed mid-line
    results.append_row(path, _row("msr/bridge/qformer/s0"))
    rows = results.read_results(path)
    assert [r["key"] for r in rows] == ["msr/bridge/tqp/s0", "msr/bridge/qformer/s0"]
    assert "not a complete JSON line" in capsys.readouterr().err
    assert path.read_text().endswith("}\n")
    path.write_text('{"no": "key"}\n')
    with pytest.raises(SystemExit, match="ablation results file"):
        results.read_results(path)


def test_status_skips_done_rows_copies_same_experiments_and_refuses_mixed_settings():
    tqp, both, pool = plan.make_jobs(["msr"], ["tqp", "both", "pool"], [0], "default")
    done = [_row(tqp.key, tqp.fingerprint())]
    got = [(j.variant, what) for j, what, _ in results.plan_status([tqp, both, pool], done)]
    assert got == [("tqp", "done"), ("both", "copy"), ("pool", "run")]
    fresh = [(j.variant, what) for j, what, _ in results.plan_status([tqp, both], [])]
    assert fresh == [("tqp", "run"), ("both", "copy")]  # copied once tqp has run
    with pytest.raises(SystemExit, match="other settings"):
        results.plan_status([tqp], [_row(tqp.key, "another")])


def test_table_gives_spread_seeds_and_the_papers_numbers():
    rows = [_row(f"msr/bridge/tqp/s{s}", llm_top1=v, probe=0.9)
            for s, v in enumerate((0.80, 0.82, 0.84))]  # fmt: skip
    rows.append(_row("msr/bridge/pool/s0", llm_top1=0.5, probe=None))
    rows.append(_row("msr/knowledge/ce/s0", llm_top1=0.6, budget="tiny"))
    out = _table_text(rows)
    tqp = next(line for line in out if " tqp " in line)
    assert "3 seeds" in tqp and "82.0+-2.0" in tqp and "90.0" in tqp and tqp.endswith("73.4")
    pool = next(line for line in out if " pool " in line)
    assert "1 seed" in pool and "50.0" in pool and pool.endswith("-")
    assert next(line for line in out if " ce " in line).endswith("69.2")
    assert "   4.0" in tqp  # minutes: 1 stage-1 + 3 alignment and test
    assert any("smoke" in line for line in out)  # a tiny row is flagged


def _table_text(rows) -> list[str]:
    import io

    buf = io.StringIO()
    results.table(rows, buf)
    return buf.getvalue().splitlines()


def test_cap_test_keeps_a_stratified_share_and_the_train_part():
    data = tiny_set(n=36, k=3)
    before = data.splits["xsub"].copy()
    ablate.cap_test(data, "xsub", 6)
    s = data.splits["xsub"]
    assert np.array_equal(s == 1, before == 1) and (s == 0).sum() == 6
    assert np.bincount(data.labels[s == 0]).tolist() == [2, 2, 2]


TINY_TOKENIZE = ["frames=8", "channels=[8,8]", "strides=[2,1]", "batch_size=8"]


def _tiny_align(llm) -> list[str]:
    return [f"llm.spec={llm}", "llm.lora_r=4", "bridge.queries=3", "bridge.width=16",
            "bridge.heads=2"]  # fmt: skip


def test_a_tiny_table_runs_resumes_and_reuses_its_tokens(
    tmp_path, tiny_llm_dir, monkeypatch, capsys
):
    data = tiny_set(n=36, k=3)
    monkeypatch.setattr(ablate, "read_data",
                        lambda d, w: (data, tiny_priors(data.class_names), "test"))  # fmt: skip
    out, work = tmp_path / "rows.jsonl", tmp_path / "work"
    argv = ["--dataset", "msr", "--variants", "tqp,both,pool", "--seeds", "0", "--budget",
            "tiny", "--results", str(out), "--work", str(work), "--threads", "1"]  # fmt: skip
    for item in TINY_TOKENIZE:
        argv += ["--tokenize-set", item]
    for item in _tiny_align(tiny_llm_dir):
        argv += ["--align-set", item]
    ablate.main(argv)
    err = capsys.readouterr().err  # each stage of a row says it started and when it ended
    assert "> msr/bridge/tqp/s0 encoder" in err and "msr/bridge/tqp/s0 encoder epoch 10:" in err
    assert "> msr/bridge/pool/s0 alignment" in err and "pool/s0 alignment epoch 2: loss" in err
    assert "> msr/bridge/pool/s0 encoder" not in err  # pool reused tqp's tokens
    rows = {r["variant"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert list(rows) == ["tqp", "both", "pool"] and len(list(work.glob("*.h5"))) == 1
    tqp, pool = rows["tqp"], rows["pool"]
    assert rows["both"]["copied_from"] == "msr/bridge/tqp/s0"
    assert rows["both"]["llm_top1"] == tqp["llm_top1"] and rows["both"]["axis"] == "knowledge"
    assert not tqp["tokens_reused"] and pool["tokens_reused"]
    assert pool["seconds"]["tokenize"] == pytest.approx(tqp["seconds"]["tokenize"])
    assert tqp["n_test"] == (data.splits["xsub"] == 0).sum() and tqp["encoder_plan"]["steps"]
    for key in ("probe", "text_prior", "llm_top1", "llm_top5", "llm_mca", "answer_top1"):
        assert 0.0 <= tqp[key] <= 1.0
    assert tqp["val_llm_top1"] is not None and tqp["val_n"] > 0  # small set: a share held out
    assert tqp["settings"]["align"]["bridge"]["width"] == 16 and tqp["commit"]
    assert len(tqp["load_start"]) == 3 and set(tqp["recall"]) == set(data.class_names)
    from sugar_core.schema import open_file, root_info

    with open_file(next(work.glob("*.h5")), "tokens") as f:
        made = root_info(f)["config"]  # the tokenize config, as `sugar tokenize` writes it
    assert made["split"] == "xsub" and made["ablate"]["record"]["dataset"] == "msr"
    assert made["seed"] == 0 and made["objective"] == "mil-nce" and "prep" in made
    ablate.main(argv)  # resumed: everything is done
    assert len(out.read_text().splitlines()) == 3
    with pytest.raises(SystemExit, match="other settings"):
        ablate.main(argv + ["--align-set", "lr=0.01"])
    ce = plan.make_jobs(["msr"], ["ce"], [0], "tiny", TINY_TOKENIZE, _tiny_align(tiny_llm_dir))
    shutil.copy(next(work.glob("*.h5")), work / ce[0].tokens_name())  # a file of other settings
    with pytest.raises(SystemExit, match="made with other settings"):
        ablate.ensure_tokens(ce[0], data, None, work)
