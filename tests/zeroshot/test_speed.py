"""The up-front estimate of a zero-shot run (zeroshot/speed.py) on tiny data and models: it
counts what the run then does, announces itself before any training, and changes nothing."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import sugar_core.zeroshot.speed as speed
from sugar_core.zeroshot import cost
from sugar_core.zeroshot.protocol import run_zeroshot
from sugar_core.zeroshot.splits import UnseenSplit
from tests.helpers.zeroshot import tiny_config, tiny_data, tiny_priors

SPLIT = UnseenSplit("tiny-u2", "", (1, 4), "user")

pytestmark = pytest.mark.usefixtures("one_thread")


def _config(llm_dir, **kw):
    """Validation parts on both stages (12 samples a class), a linear probe, three epochs."""
    cfg = tiny_config(llm_dir, **kw)
    tok = replace(cfg.tokenize, probe="logistic", epochs=3)
    return replace(cfg, tokenize=tok)


@pytest.fixture(scope="module")
def estimated(tiny_llm_dir):
    """(run with the estimate, its events, the same run without)."""
    data, priors, cfg = tiny_data(per_class=12), tiny_priors(), _config(tiny_llm_dir)
    seen: list[dict] = []
    with_est = run_zeroshot(data, priors, SPLIT, cfg, estimate=True, callback=seen.append)
    without = run_zeroshot(data, priors, SPLIT, cfg)
    return with_est, seen, without


def test_estimate_counts_what_the_run_then_does(estimated):
    result, _, _ = estimated
    est, hist = result.metrics["estimate"], result.tokens.history
    work = est["work"]
    assert work["encoder_steps"] == hist[-1]["schedule"]["steps"]
    assert work["validations"] == sum(e.get("val_n", 0) > 0 for e in hist) > 0
    assert work["align_steps"] == result.model.history[-1]["schedule"]["steps"]
    assert work["align_pairs"] == result.model.history[-1]["val_n"] * len(result.plan.seen)
    m = result.metrics
    assert work["test_pairs"] == m["n"] * len(m["unseen"]) and work["generated"] == m["n"]
    refs = len(result.model.reference_tokens)  # each rank scoring ranks them too
    assert "pseudo_unseen" not in m and refs > 0  # the test is the one rank scoring
    assert work["rank_pairs"] == (m["n"] + refs) * len(m["unseen"])
    assert set(est["parts"]) == set(cost.PARTS)
    assert sum(est["parts"].values()) == pytest.approx(est["seconds"])
    rates = est["rates"]
    for key in ("encoder_step", "encode", "probe_fit", "align_step", "rank_pair"):
        assert rates[key] > 0, key
    assert rates["generate_batch"] > 0 and rates["probe_seconds"] > 0


def test_estimate_is_announced_before_training(estimated):
    result, seen, _ = estimated
    plans = [i for i, e in enumerate(seen) if e.get("phase") == "estimate"]
    assert len(plans) == 1
    ev = seen[plans[0]]
    assert ev["event"] == "plan" and ev["stage"] == "zeroshot"
    assert ev["message"] == result.metrics["estimate"]["message"]
    assert ev["message"].startswith("about ") and "on this machine: encoder " in ev["message"]
    first_training = min(i for i, e in enumerate(seen) if e.get("phase") == "encoder")
    assert plans[0] < first_training
    assert not any(e["event"] == "note" for e in seen)  # tiny: well within the budget


def test_estimate_changes_no_result(estimated):
    a, _, b = estimated
    for key in ("pred", "top5", "scores"):
        np.testing.assert_array_equal(getattr(a.predictions, key), getattr(b.predictions, key))
    np.testing.assert_array_equal(a.tokens.features, b.tokens.features)
    assert "estimate" not in b.metrics
    assert a.metrics["llm"]["rank"]["top1"] == b.metrics["llm"]["rank"]["top1"]


def test_over_budget_says_so_and_names_cheaper_flags(estimated, tiny_llm_dir, monkeypatch):
    """Reused encoder and alignment: nothing trains; a zero budget makes any run too long."""
    result, _, _ = estimated
    monkeypatch.setattr(speed, "estimate", lambda w, r: cost.estimate(w, r, budget=0.0))
    cfg = _config(tiny_llm_dir, gzsl=True)
    seen: list[dict] = []
    reuse = dict(tokens=result.tokens, aligned=result.model)
    data, priors = tiny_data(per_class=12), tiny_priors()
    again = run_zeroshot(data, priors, SPLIT, cfg, estimate=True, callback=seen.append, **reuse)
    est = again.metrics["estimate"]
    assert est["over_budget"] and est["work"]["encoder_plan"] == "reused"
    assert est["work"]["encoder_steps"] == 0 and est["work"]["align_steps"] == 0
    assert "encoder 0 s (reused)" in est["message"]
    notes = [e["message"] for e in seen if e["event"] == "note"]
    assert len(notes) == 1 and "over the 0 s budget" in notes[0]
    assert all(tip in notes[0] for tip in est["advice"])
    np.testing.assert_array_equal(again.predictions.pred, result.predictions.pred)


def test_a_reused_encoder_on_other_samples_is_priced_for_encoding(estimated, tiny_llm_dir):
    result, _, _ = estimated
    data = tiny_data(per_class=8)  # other sample ids: the reused encoder encodes them again
    again = run_zeroshot(data, tiny_priors(), SPLIT, _config(tiny_llm_dir, decodes=("rank",)),
                         tokens=result.tokens, estimate=True)  # fmt: skip
    est = again.metrics["estimate"]
    assert est["work"]["encoder_plan"] == "reused" and est["work"]["encodes"] == len(data)
    assert est["rates"]["encode"] > 0 and est["work"]["align_steps"] > 0
    assert est["work"]["generated"] == 0 and est["rates"]["generate_batch"] == 0
