import multiprocessing as mp
import pickle
import re

import h5py
import numpy as np
import pytest

from sugar_core import schema
from sugar_core.errors import SchemaError
from sugar_core.skeleton import lazy_set
from sugar_core.skeleton.dataset import Sample, SkeletonSet, read_skeletons, write_skeletons
from sugar_core.skeleton.lazy_set import ByteCache, LazySkeletonSet, open_skeletons


def _set(n: int = 9, seed: int = 0) -> SkeletonSet:
    """Variable lengths, one or two bodies, a meta field missing on some samples, two splits."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        m, t = (2 if i % 3 == 1 else 1), int(rng.integers(3, 12))
        meta = {"subject": i % 4} if i % 4 else {"subject": 0, "view": 2}
        j = rng.normal(size=(m, t, 20, 3)).astype(np.float32)
        samples.append(Sample(j, i % 3, f"clip{i:02d}", meta))
    splits = {
        "xsub": np.array([i % 2 for i in range(n)], np.int8),
        "xview": np.array([-1 if i == 0 else (i // 3) % 2 for i in range(n)], np.int8),
    }
    return SkeletonSet(samples, ["wave", "kick", "sit"], "kinect20", splits, "test")


@pytest.fixture()
def path(tmp_path):
    p = tmp_path / "d.h5"
    write_skeletons(_set(), p, seed=0)
    return p


def _same(a: SkeletonSet, b: SkeletonSet) -> None:
    assert len(a) == len(b) and a.class_names == b.class_names and a.layout == b.layout
    assert a.source == b.source and a.summary() == b.summary()
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.lengths, b.lengths)
    assert a.sample_ids == b.sample_ids
    for key in (*schema.META_FIELDS, "absent"):
        np.testing.assert_array_equal(a.meta_array(key), b.meta_array(key))
    assert a.splits.keys() == b.splits.keys()
    for name in a.splits:
        np.testing.assert_array_equal(a.splits[name], b.splits[name])
        for part in ("train", "test"):
            np.testing.assert_array_equal(a.split_indices(name, part), b.split_indices(name, part))
    for x, y in zip(a.samples, b.samples):
        assert (x.label, x.sample_id, x.meta, x.length, x.bodies) == (
            y.label, y.sample_id, y.meta, y.length, y.bodies,
        )  # fmt: skip
        assert x.joints.dtype == y.joints.dtype and x.joints.shape == y.joints.shape
        np.testing.assert_array_equal(x.joints, y.joints)


def test_lazy_set_equals_read_skeletons(path):
    eager, lazy = read_skeletons(path), open_skeletons(path, lazy=True)
    assert isinstance(lazy, LazySkeletonSet) and lazy.file.reads == 0  # nothing read yet
    lazy.check()
    _same(eager, lazy)
    assert lazy.file.reads == len(eager)  # each sample read once, then from the cache
    _same(eager, lazy)
    assert lazy.file.reads == len(eager)
    assert max(s.bodies for s in lazy.samples) == 2 and lazy.samples[-1].sample_id == "clip08"
    assert [s.sample_id for s in lazy.samples[2:4]] == ["clip02", "clip03"]


def test_subsets_match_and_share_the_cache(path):
    eager, lazy = read_skeletons(path), open_skeletons(path, lazy=True)
    idx = lazy.split_indices("xview", "train")
    sub, eager_sub = lazy.subset(idx), eager.subset(idx)
    _same(eager_sub, sub)
    _same(eager_sub.subset([2, 0]), sub.subset([2, 0]))
    assert sub.file is lazy.file and lazy.file.reads == len(idx)
    lazy.samples[int(idx[0])].joints  # noqa: B018 (a read through the parent: cached already)
    assert lazy.file.reads == len(idx)


def test_open_skeletons_reads_large_files_lazily(path, monkeypatch):
    assert type(open_skeletons(path)) is SkeletonSet  # small: read whole, as before
    monkeypatch.setattr(lazy_set, "LAZY_ABOVE_BYTES", 100)
    assert isinstance(open_skeletons(path), LazySkeletonSet)
    assert type(open_skeletons(path, lazy=False)) is SkeletonSet


def test_cache_is_bounded_in_bytes_and_forgets_least_recently_used(path):
    cache = ByteCache(100)
    for key in range(3):
        cache.put(key, np.zeros(10, np.float32))  # 40 bytes each: the third evicts key 0
    assert list(cache._items) == [1, 2] and cache.nbytes == 80
    assert cache.get(1) is not None  # 1 becomes the most recent, so 2 goes next
    cache.put(3, np.zeros(10, np.float32))
    assert 2 not in cache and 1 in cache and 3 in cache and cache.nbytes == 80
    cache.put(4, np.zeros(40, np.float32))  # larger than the whole cache: not kept
    assert 4 not in cache and cache.nbytes == 80

    eager = read_skeletons(path)
    sizes = [s.joints.nbytes for s in eager.samples]
    limit = sum(sorted(sizes)[-3:])  # room for about three samples
    lazy = open_skeletons(path, lazy=True, cache_bytes=limit)
    for _ in range(2):
        for i, s in enumerate(lazy.samples):
            np.testing.assert_array_equal(s.joints, eager.samples[i].joints)
            assert lazy.file.cache.nbytes <= limit
    assert 0 < len(lazy.file.cache) < len(eager)
    assert lazy.file.reads == 2 * len(eager)  # a set larger than its cache is read again


def test_cached_joints_cannot_be_edited_by_a_caller(path):
    lazy = open_skeletons(path, lazy=True)
    with pytest.raises(ValueError, match="read-only"):
        lazy.samples[0].joints[0, 0, 0, 0] = 1.0


def test_non_finite_sample_fails_when_read_with_the_message_read_skeletons_gives(path):
    with h5py.File(path, "r+") as f:
        start = int(f[schema.OFFSETS][4])
        f[schema.JOINTS][start + 1, 0, 5, 2] = np.nan
    with pytest.raises(SchemaError) as whole:
        read_skeletons(path)
    lazy = open_skeletons(path, lazy=True)  # opening reads no joints: no error yet
    for i in (0, 1, 2, 3, 5):
        assert lazy.samples[i].joints.shape[2] == 20
    with pytest.raises(SchemaError) as one:
        lazy.samples[4].joints  # noqa: B018
    assert str(one.value) == str(whole.value)
    assert f"not finite (NaN or inf), the first nan at [{start + 1}, 0, 5, 2]" in str(one.value)
    with pytest.raises(SchemaError):  # a bad sample is never cached: it fails every time
        lazy.samples[4].joints  # noqa: B018


@pytest.mark.parametrize(
    ("dataset", "value", "words"),
    [
        (schema.LABELS, 7, "'labels' holds 0..7, expected 0..2 (3 classes)"),
        (schema.OFFSETS, -1, "'offsets' is not a rising 0-based run"),
    ],
)
def test_broken_header_gives_the_same_error_as_read_skeletons(path, dataset, value, words):
    with h5py.File(path, "r+") as f:
        f[dataset][3] = value
    with pytest.raises(SchemaError, match=re.escape(words)) as whole:
        read_skeletons(path)
    with pytest.raises(SchemaError) as lazy:
        open_skeletons(path, lazy=True)
    assert str(lazy.value) == str(whole.value)


def test_frames_past_the_offsets_are_refused(tmp_path):
    p = tmp_path / "d.h5"
    write_skeletons(_set(), p, seed=0)
    with h5py.File(p, "r+") as f:
        f[schema.OFFSETS][-1] = f[schema.OFFSETS][-1] - 1
    with pytest.raises(SchemaError, match="offsets end at") as whole:
        read_skeletons(p)
    with pytest.raises(SchemaError) as lazy:
        open_skeletons(p, lazy=True)
    assert str(lazy.value) == str(whole.value)


def test_pickled_set_reads_through_its_own_handle(path):
    lazy = open_skeletons(path, lazy=True)
    first = lazy.subset([1, 4])
    first.samples[0].joints  # noqa: B018 (opens this process's handle, fills the cache)
    back = pickle.loads(pickle.dumps(first))
    assert back.file.reads == 0 and len(back.file.cache) == 0 and not back.file._handles
    assert back.file.cache.max_bytes == lazy.file.cache.max_bytes
    for a, b in zip(first.samples, back.samples):
        np.testing.assert_array_equal(a.joints, b.joints)
    back.close()


def _child_reads(data: LazySkeletonSet, i: int) -> np.ndarray:
    return np.array(data.samples[i].joints)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_worker_processes_open_their_own_handle(path, method):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    eager, lazy = read_skeletons(path), open_skeletons(path, lazy=True, cache_bytes=1)
    lazy.samples[0].joints  # noqa: B018 (the parent holds an open handle before the fork)
    with mp.get_context(method).Pool(2) as pool:
        got = pool.starmap(_child_reads, [(lazy, i) for i in range(len(lazy))])
    for a, b in zip(got, eager.samples):
        np.testing.assert_array_equal(a, b.joints)
    np.testing.assert_array_equal(lazy.samples[5].joints, eager.samples[5].joints)


def test_a_damaged_chunk_is_one_error_naming_the_file_and_frames(path):
    with h5py.File(path, "r") as f:
        chunk = f[schema.JOINTS].id.get_chunk_info(0)  # frames 0.. of the first body column
    with open(path, "r+b") as fh:
        fh.seek(chunk.byte_offset + 4)
        fh.write(b"\xff" * 64)
    with pytest.raises(SchemaError, match=r"d.h5: dataset 'joints' frames 0\.\.\d+ cannot be read"):
        read_skeletons(path)
    lazy = open_skeletons(path, lazy=True)
    with pytest.raises(SchemaError, match=r"d.h5: dataset 'joints' frames 0\.\.\d+ cannot be read"):
        lazy.samples[0].joints  # noqa: B018
