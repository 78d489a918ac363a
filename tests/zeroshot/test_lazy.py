"""Zero-shot on a lazily read skeletons file (skeleton/lazy_set.py): the seen-class copy the
encoder trains on stays lazy, joints come through the bounded cache, results are the eager
path's, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import sugar_core.zeroshot.seen as seen_mod
from sugar_core.skeleton.dataset import read_skeletons, write_skeletons
from sugar_core.skeleton.lazy_set import LazySkeletonSet, open_skeletons
from sugar_core.zeroshot.plan import seen_only, training_indices
from sugar_core.zeroshot.protocol import run_zeroshot
from sugar_core.zeroshot.splits import UnseenSplit
from tests.helpers.zeroshot import tiny_config, tiny_data, tiny_priors

SPLIT = UnseenSplit("tiny-u2", "", (1, 4), "user")
SEEN = [0, 2, 3, 5]
SAMPLE_BYTES = 12 * 20 * 3 * 4  # one tiny sample: (1, 12, 20, 3) float32

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("zs-lazy") / "data.h5"
    write_skeletons(tiny_data(), path)
    return path


def test_seen_only_of_a_lazy_set_is_a_lazy_relabelled_view(data_file):
    eager, lazy = read_skeletons(data_file), open_skeletons(data_file, lazy=True)
    idx = training_indices(eager, "xs", SEEN)
    a, b = seen_only(eager, idx, SEEN), seen_only(lazy, idx, SEEN)
    assert isinstance(b, LazySkeletonSet) and b.file.cache is lazy.file.cache
    assert b.class_names == a.class_names == ["pick up", "throw", "walk around", "carry"]
    np.testing.assert_array_equal(b.labels, a.labels)
    assert b.sample_ids == a.sample_ids and b.splits == {}
    assert [s.label for s in b.samples] == [s.label for s in a.samples]
    for sa, sb in zip(a.samples, b.samples):
        np.testing.assert_array_equal(sa.joints, sb.joints)
    b.check()
    with pytest.raises(AssertionError, match="not seen"):
        seen_only(lazy, np.flatnonzero(lazy.labels == 1), SEEN)


def test_lazy_run_matches_the_eager_one_with_a_small_cache(data_file, tiny_llm_dir, monkeypatch):
    cfg = tiny_config(tiny_llm_dir)
    eager = run_zeroshot(read_skeletons(data_file), tiny_priors(), SPLIT, cfg)

    handed = {}
    real = seen_mod.train_encoder

    def spy(data, *a, **kw):
        handed["data"] = data
        return real(data, *a, **kw)

    monkeypatch.setattr(seen_mod, "train_encoder", spy)
    lazy = open_skeletons(data_file, lazy=True, cache_bytes=4 * SAMPLE_BYTES)
    result = run_zeroshot(lazy, tiny_priors(), SPLIT, cfg)
    seen = handed["data"]
    assert isinstance(seen, LazySkeletonSet)  # the encoder reads from the file
    assert lazy.file.cache.nbytes <= 4 * SAMPLE_BYTES  # and memory stays within the cache
    assert seen.file.reads > len(seen)  # samples read again each epoch: the cache holds four
    for key in ("labels", "pred", "top5", "scores"):
        np.testing.assert_array_equal(getattr(result.predictions, key),
                                      getattr(eager.predictions, key))  # fmt: skip
    np.testing.assert_array_equal(result.tokens.features, eager.tokens.features)
    drop = lambda m: {k: v for k, v in m.items() if k != "seconds"}  # noqa: E731
    for key in ("top1", "top5", "baseline", "n", "unseen"):
        assert result.metrics[key] == eager.metrics[key], key
    assert drop(result.metrics["llm"]["rank"]) == drop(eager.metrics["llm"]["rank"])
