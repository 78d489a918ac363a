"""The anchor token in zero-shot on tiny data: off under the default (auto), built from the
seen classes only when asked for, and scoring unseen candidates with finite scores."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from sugar_core.align.anchor import STORED_WEIGHT
from sugar_core.zeroshot.protocol import run_zeroshot
from sugar_core.zeroshot.splits import UnseenSplit
from tests.helpers.zeroshot import tiny_config, tiny_data, tiny_priors

UNSEEN = (1, 4)
SPLIT = UnseenSplit("tiny-u2", "", UNSEEN, "user")

pytestmark = pytest.mark.usefixtures("one_thread")


def _run(llm_dir, anchor: str):
    cfg = tiny_config(llm_dir, baseline=False)  # the baseline reads unseen priors at test
    cfg.align = dataclasses.replace(
        cfg.align, bridge=dataclasses.replace(cfg.align.bridge, anchor=anchor)
    )
    # unseen priors are NaN: any of them in the ridge fit would poison the anchor's weights
    return run_zeroshot(tiny_data(), tiny_priors(unseen=UNSEEN), SPLIT, cfg)


def test_the_default_adds_no_anchor_in_zero_shot(tiny_llm_dir):
    result = _run(tiny_llm_dir, "auto")
    assert result.model.config.bridge.anchor == "none"
    assert STORED_WEIGHT not in result.model.bridge.state_dict()


def test_a_fitted_anchor_is_built_from_seen_priors_and_scores_unseen_names(tiny_llm_dir):
    result = _run(tiny_llm_dir, "fitted")
    assert result.model.config.bridge.anchor == "fitted"
    state = result.model.bridge.state_dict()
    assert STORED_WEIGHT in state
    assert all(torch.isfinite(v.float()).all() for v in state.values())
    p = result.predictions
    assert p.candidates.tolist() == list(UNSEEN) and set(p.pred.tolist()) <= set(UNSEEN)
    assert np.isfinite(p.scores[:, : len(UNSEEN)]).all()  # a column per candidate, NaN after
