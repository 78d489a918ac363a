"""The logistic probe's scores agree with its class predictions."""

from __future__ import annotations

import numpy as np

from sugar_core.tokenize.probe import linear_probe, logistic_log_proba


def test_log_proba_ranks_as_the_probe_predicts():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 12)
    x = rng.normal(size=(48, 6)) + 1.5 * np.eye(6)[y]
    test = rng.normal(size=(20, 6)) + 1.5 * np.eye(6)[np.arange(20) % 4]
    classes, logp = logistic_log_proba(x, y, test)
    assert classes.tolist() == [0, 1, 2, 3] and logp.shape == (20, 4)
    np.testing.assert_allclose(np.exp(logp).sum(1), 1.0, atol=1e-9)
    assert (classes[logp.argmax(1)] == linear_probe(x, y, test)).all()
    one, lp1 = logistic_log_proba(x, np.full(48, 2), test)
    assert one.tolist() == [2] and (lp1 == 0).all()
