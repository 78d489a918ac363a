"""Late fusion on hand-made score tables: normalisation, given weights, weights fitted on the
validation part only, and the refusals of sources that do not describe the same samples."""

import numpy as np
import pytest

from sugar_core.errors import ConfigError
from sugar_core.evaluate import ensemble as ens
from sugar_core.evaluate.sources import Source

NAMES = ["wave", "sit", "kick"]


def _source(name: str, test, val=None, labels=(0, 1, 2, 0), val_labels=(0, 1, 2), **kw):
    """A Source over 4 test samples (and 3 validation samples when ``val`` is given)."""
    src = Source(
        path=f"/x/{name}.h5",
        kind="tokens",
        readout="ce",
        split="xview",
        class_names=list(NAMES),
        test_ids=[f"t{i}" for i in range(len(labels))],
        test_labels=np.array(labels, np.int64),
        test_scores=np.asarray(test, np.float64),
        val_rule="share:0.15",
    )
    if val is not None:
        src.val_ids = [f"v{i}" for i in range(len(val_labels))]
        src.val_labels = np.array(val_labels, np.int64)
        src.val_scores = np.asarray(val, np.float64)
    for k, v in kw.items():
        setattr(src, k, v)
    return src


def test_softmax_and_zscore_are_per_sample_over_classes():
    s = np.array([[0.0, np.log(3.0), 0.0], [5.0, 5.0, 5.0]])
    np.testing.assert_allclose(ens.normalise(s, "softmax"), [[0.2, 0.6, 0.2], [1 / 3] * 3])
    z = ens.normalise(np.array([[1.0, 2.0, 3.0]]), "zscore")
    np.testing.assert_allclose(z, [[-np.sqrt(1.5), 0.0, np.sqrt(1.5)]])
    with pytest.raises(ConfigError, match="softmax"):
        ens.normalise(s, "rank")


def test_given_weights_reproduce_the_hand_computed_fused_scores():
    a = np.log([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.2, 0.5, 0.3]])
    b = np.log([[0.5, 0.4, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2]])
    out = ens.fuse([_source("a", a), _source("b", b)], weights=[1.0, 0.5])
    hand = np.exp(a) + 0.5 * np.exp(b)  # softmax of log-probabilities: the probabilities
    # sample 3: 0.2 + 0.3 = 0.5 for wave, 0.5 + 0.1 = 0.6 for sit -> sit (a alone: sit too)
    assert out.predictions.pred.tolist() == hand.argmax(1).tolist() == [0, 1, 2, 1]
    np.testing.assert_allclose(out.predictions.scores[:, :3], -np.sort(-hand, 1), rtol=1e-6)
    assert out.predictions.top5[:, 3:].tolist() == [[-1, -1]] * 4  # K = 3 < 5
    assert out.weights == [1.0, 0.5] and not out.fitted
    assert out.predictions.metrics["top1"] == 0.75 and out.record["fitted_on"] == "given"
    assert "validation" not in out.record  # no source had a validation part


def _val_case(rng, test_labels=(0, 1, 2, 0)):
    """Source a is right on every validation sample, b on none; test scores are noise."""
    y = np.array([0, 1, 2])
    good = np.eye(3)[y] * 4
    bad = np.eye(3)[(y + 1) % 3] * 4
    test_a, test_b = rng.normal(size=(2, len(test_labels), 3))
    return [
        _source("a", test_a, good, labels=test_labels),
        _source("b", test_b, bad, labels=test_labels),
    ]


def test_fitted_weights_come_from_validation_and_ignore_test_labels():
    rng = np.random.default_rng(0)
    out = ens.fuse(_val_case(rng))
    assert out.fitted and out.weights[0] > out.weights[1]
    assert out.record["validation"]["top1"] == 1.0
    assert out.record["validation"]["per_source"] == [1.0, 0.0]
    again = ens.fuse(_val_case(np.random.default_rng(0), test_labels=(2, 2, 1, 1)))
    assert again.weights == out.weights and again.record["validation"] == out.record["validation"]
    assert again.predictions.pred.tolist() == out.predictions.pred.tolist()


def test_ties_go_to_equal_weights():
    val = np.eye(3) * 2
    same = [_source("a", np.eye(4, 3), val), _source("b", np.eye(4, 3), val)]
    assert ens.fuse(same).weights == [1.0, 1.0]
    weights, score = ens.fit_weights([np.eye(3)] * 6, np.arange(3))  # coordinate ascent
    assert weights == [1.0] * 6 and score == 1.0


def test_coordinate_ascent_beyond_the_full_grid_finds_the_useful_source():
    y = np.arange(3)
    good, bad = np.eye(3), np.eye(3)[(y + 1) % 3] * 2.0
    weights, score = ens.fit_weights([bad] * 5 + [good], y)
    assert score == 1.0 and weights[-1] > 0 and sum(weights[:5]) < 5


def test_fitting_without_validation_scores_asks_for_weights():
    srcs = [_source("a", np.eye(4, 3), np.eye(3)), _source("b", np.eye(4, 3))]
    srcs[1].val_note = "aligned files keep test scores only"
    with pytest.raises(ConfigError, match=r"/x/b.h5: no validation scores.*aligned.*--weights"):
        ens.fuse(srcs)
    assert ens.fuse(srcs, weights=[1, 1]).weights == [1.0, 1.0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"test_ids": ["t0", "t1", "zz", "t3"]}, r"/x/b.h5: test sample 2 is 'zz', but /x/a.h5"),
        ({"test_ids": ["t0", "t1", "t2"]}, r"test sample 3 is missing.*3 vs 4"),
        ({"class_names": ["wave", "stand", "kick"]}, r"/x/b.h5: class 1 is 'stand'.*'sit'"),
        ({"split": "xsub"}, r"/x/b.h5: split 'xsub', but /x/a.h5 has 'xview'"),
        ({"test_labels": np.array([0, 1, 2, 2])}, r"test sample 't3' has label 2.*has 0"),
        ({"val_ids": ["v0", "v9", "v2"]}, r"validation sample 1 is 'v9'"),
    ],
)
def test_sources_of_other_samples_are_refused_naming_file_and_sample(change, message):
    a = _source("a", np.eye(4, 3), np.eye(3))
    b = _source("b", np.eye(4, 3), np.eye(3), **change)
    with pytest.raises(ConfigError, match=message):
        ens.fuse([a, b], weights=[1, 1])


def test_weights_are_parsed_strictly():
    assert ens.parse_weights("1,1,0.5,0.5", 4) == [1.0, 1.0, 0.5, 0.5]
    for bad, msg in (("1,x", "numbers"), ("1,1,1", "3 numbers for 2"), ("-1,2", ">= 0"),
                     ("0,0", "positive sum"), ("nan,1", ">= 0")):  # fmt: skip
        with pytest.raises(ConfigError, match=msg):
            ens.parse_weights(bad, 2)
    with pytest.raises(ConfigError, match="two sources"):
        ens.fuse([_source("a", np.eye(4, 3))], weights=[1])
