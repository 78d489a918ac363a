"""Streaming import (``streaming.import_to_file``) and ``SkeletonWriter``: the same file as the
in-memory import, a bounded writer, widening bodies, and no output after a failure or Ctrl-C."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from sugar_core import schema
from sugar_core.errors import ConfigError, InputFormatError
from sugar_core.skeleton import io, streaming
from sugar_core.skeleton.dataset import (
    Sample,
    SkeletonSet,
    SkeletonWriter,
    read_skeletons,
    write_skeletons,
)
from sugar_core.skeleton.io import ReadOptions
from tests.helpers.poses import write_mediapipe_csv, write_mediapipe_json
from tests.helpers.readers import (
    ntu_text,
    ntu_tracks,
    person,
    write_msr_dir,
    write_ntu_dir,
    write_ucla_dir,
)

CODES = [(1, 1, 1, 1), (2, 2, 45, 7), (18, 3, 46, 61), (19, 1, 50, 99)]
NTU = [f"S{s:03d}C00{c}P{p:03d}R001A{a:03d}" for s, c, p, a in CODES]


def _padded_reference(imported: io.Imported, src, fmt: str, opts: ReadOptions, path: Path) -> None:
    """The file the in-memory import wrote before streaming: one padded copy of all joints."""
    data = imported.data
    n, m = len(data), max(s.bodies for s in data.samples)
    v, c = data.samples[0].joints.shape[2:]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(data.lengths, out=offsets[1:])
    joints = np.zeros((int(offsets[-1]), m, v, c), dtype=np.float32)
    for i, s in enumerate(data.samples):
        joints[offsets[i] : offsets[i + 1], : s.bodies] = s.joints.transpose(1, 0, 2, 3)
    config = io.import_config(imported, src, fmt, opts)
    inputs = io.import_inputs(src, opts)
    seed = io.file_seed(fmt, opts)
    with schema.create(path, "skeletons", config=config, seed=seed, inputs=inputs) as f:
        f.attrs["layout"], f.attrs["source"] = data.layout, data.source
        f.create_dataset(schema.JOINTS, data=joints, chunks=True, compression="lzf")
        f.create_dataset(schema.OFFSETS, data=offsets)
        f.create_dataset(schema.LENGTHS, data=data.lengths)
        f.create_dataset(schema.BODIES, data=np.array([s.bodies for s in data.samples]))
        f.create_dataset(schema.LABELS, data=data.labels)
        schema.write_strings(f, schema.CLASS_NAMES, data.class_names)
        schema.write_strings(f, schema.SAMPLE_IDS, data.sample_ids)
        meta = f.create_group(schema.META)
        for key in schema.META_FIELDS:
            meta.create_dataset(key, data=data.meta_array(key))
        sp = f.create_group(schema.SPLITS)
        for name, arr in data.splits.items():
            sp.create_dataset(name, data=np.asarray(arr, dtype=np.int8))


def _contents(path: Path) -> dict:
    """Every dataset (dtype, shape, values) and root attribute except the creation time."""
    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj) if isinstance(obj, h5py.Dataset)
                     else None)  # fmt: skip
        out = {k: (d.dtype, d.shape, d[()]) for k, d in out.items()}
        attrs = {k: f.attrs[k] for k in f.attrs if k != "created_utc"}
    attrs["config"] = json.loads(attrs["config"])
    return {"datasets": out, "attrs": attrs}


def _assert_same_file(a: Path, b: Path) -> None:
    x, y = _contents(a), _contents(b)
    assert x["attrs"] == y["attrs"]
    assert x["datasets"].keys() == y["datasets"].keys()
    for name, (dtype, shape, values) in x["datasets"].items():
        assert (dtype, shape) == y["datasets"][name][:2], name
        np.testing.assert_array_equal(values, y["datasets"][name][2], err_msg=name)


def _ntu_two_bodies_later(root: Path, rng) -> None:
    """One-body files first, then a two-person one: the writer has to widen M."""
    write_ntu_dir(root, rng, NTU, frames=9)
    two = ntu_tracks((1, person(rng, 30), 0), (2, person(rng, 30, x0=1.0), 0))
    (root / "S020C002P060R002A110.skeleton").write_text(ntu_text(two), newline="")


def _mediapipe_with_a_duplicate_id(root: Path, rng) -> None:
    """An index CSV whose second clip has the first one's id (c0): --skip-bad drops it."""
    rows = ["file,label"]
    for i, (name, t) in enumerate([("c0.json", 4), ("c0.csv", 6), ("c1.json", 5), ("c2.json", 3)]):
        clip = np.round(rng.uniform(0.1, 1, (1, t, 33, 4)), 4).astype(np.float32)
        write = write_mediapipe_csv if name.endswith(".csv") else write_mediapipe_json
        write(root / "clips" / name, clip)
        rows.append(f"clips/{name},{'sit' if i % 2 else 'stand'}")
    (root / "index.csv").write_text("\n".join(rows) + "\n")


CASES = {
    "ntu": (_ntu_two_bodies_later, "", ReadOptions(workers=2)),
    "nw-ucla": (lambda root, rng: write_ucla_dir(root, rng), "", ReadOptions()),
    "msr": (
        lambda root, rng: write_msr_dir(root, rng, ["a01_s01_e01", "a20_s09_e03"]),
        "",
        ReadOptions(file_list=False),
    ),  # fmt: skip
    "mediapipe": (_mediapipe_with_a_duplicate_id, "index.csv", ReadOptions(skip_bad=True, seed=3)),
}


@pytest.mark.parametrize("fmt", list(CASES))
def test_streaming_writes_what_the_in_memory_import_wrote(tmp_path, rng, fmt):
    make, name, opts = CASES[fmt]
    make(tmp_path / "raw", rng)
    src = tmp_path / "raw" / name if name else tmp_path / "raw"
    _padded_reference(io.load(src, fmt, opts), src, fmt, opts, tmp_path / "old.h5")
    got = streaming.import_to_file(src, fmt, tmp_path / "new.h5", opts)
    _assert_same_file(tmp_path / "old.h5", tmp_path / "new.h5")
    seed = _contents(tmp_path / "new.h5")["attrs"]["seed"]  # the seed that drew the test split
    assert seed == (3 if fmt == "mediapipe" else -1)
    assert all(s.joints.strides == (0, 0, 0, 0) for s in got.data.samples)  # no values held
    if fmt == "mediapipe":
        assert [s.reason for s in got.skipped] == ["sample 1 ('clips/c0'): the same sample id "
                                                   "as sample 0; ids must be unique"]  # fmt: skip
    if fmt == "ntu":
        assert _contents(tmp_path / "new.h5")["datasets"]["joints"][1][1] == 2  # widened


def test_single_file_formats_go_through_the_in_memory_path(tmp_path, rng):
    from tests.helpers.readers import pyskl_annotations, write_pickle

    names = ["S001C001P001R001A001", "S001C001P002R001A002", "S001C001P003R001A003"]
    pkl = write_pickle(
        tmp_path / "p.pkl", {"annotations": pyskl_annotations(rng, names, [0, 1, 2])}
    )
    opts = ReadOptions()
    _padded_reference(io.load(pkl, "pyskl", opts), pkl, "pyskl", opts, tmp_path / "old.h5")
    streaming.import_to_file(pkl, "pyskl", tmp_path / "new.h5", opts)
    _assert_same_file(tmp_path / "old.h5", tmp_path / "new.h5")


# ---------------------------------------------------------------------------------------------
# bounded memory: a fake reader with many samples


class _Watched(SkeletonWriter):
    """A writer with small batches that records the most frames it ever held."""

    seen: list[_Watched] = []

    def __init__(self, f):
        super().__init__(f, batch_frames=64)
        self.most_held = 0
        _Watched.seen.append(self)

    def append(self, joints, sample_id=""):
        super().append(joints, sample_id)
        self.most_held = max(self.most_held, self.pending_frames)


def _fake_reader(n: int, fail_at: int | None = None):
    def parse(path: Path, opts, strict):
        i = int(path.name)
        if i == fail_at:
            raise InputFormatError(path, "broken on purpose", 3)
        r = np.random.default_rng(i)
        return Sample(r.normal(size=(1 + i % 3, 5 + i % 11, 25, 3)).astype(np.float32), i % 4,
                      f"s{i:05d}", {"subject": i % 7})  # fmt: skip

    def assemble(samples, opts, notes):
        labels = np.array([s.label for s in samples])
        return SkeletonSet(samples, ["a", "b", "c", "d"], "ntu25", {"even": (labels % 2 == 0)
                           .astype(np.int8)}, source="fake")  # fmt: skip

    return SimpleNamespace(
        list_inputs=lambda src, opts, notes: [Path(src) / str(i) for i in range(n)],
        parse=parse,
        assemble=assemble,
    )


@pytest.fixture
def watched(monkeypatch):
    _Watched.seen = []
    monkeypatch.setattr(streaming, "SkeletonWriter", _Watched)
    return _Watched.seen


def test_the_writer_holds_at_most_one_batch(tmp_path, monkeypatch, watched):
    n = 3000
    monkeypatch.setitem(io.DIRECTORY_READERS, "ntu", _fake_reader(n))
    got = streaming.import_to_file(tmp_path, "ntu", tmp_path / "o.h5", ReadOptions())
    (w,) = watched
    frames = sum(5 + i % 11 for i in range(n))
    assert w.most_held < 64 + 15  # one batch, overshot by at most one sample
    assert w.writes >= frames // (64 + 15) and w.written == frames
    assert len(w.lengths) == n and w.lengths.itemsize == 8  # a few numbers per sample, no joints
    assert sum(s.joints.base.nbytes for s in got.data.samples) == 4 * n  # one shared zero each
    back = read_skeletons(tmp_path / "o.h5")
    for i in (0, 1, 2, 1234, n - 1):
        s = back.samples[i]
        want = np.random.default_rng(i).normal(size=(1 + i % 3, 5 + i % 11, 25, 3))
        np.testing.assert_array_equal(s.joints, want.astype(np.float32))
        assert (s.sample_id, s.label, s.meta) == (f"s{i:05d}", i % 4, {"subject": i % 7})


def test_the_pool_keeps_a_bounded_number_of_batches_ahead():
    class Pool:
        def __init__(self):
            self.submitted = self.taken = self.most = 0

        def apply_async(self, fn, args):
            self.submitted += 1
            self.most = max(self.most, self.submitted - self.taken)
            return SimpleNamespace(get=lambda: self._take(args[0]))

        def _take(self, job):
            self.taken += 1
            return job

    pool = Pool()
    assert list(io._in_order(pool, iter(range(100)), 6)) == list(range(100))
    assert pool.most == 6


# ---------------------------------------------------------------------------------------------
# failures leave nothing behind


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".o.h5"))


def test_a_bad_file_midway_leaves_no_output_and_no_temp(tmp_path, monkeypatch, watched):
    monkeypatch.setitem(io.DIRECTORY_READERS, "ntu", _fake_reader(400, fail_at=300))
    out = tmp_path / "o.h5"
    with pytest.raises(InputFormatError, match="300:3: broken on purpose"):
        streaming.import_to_file(tmp_path, "ntu", out, ReadOptions())
    assert watched[0].writes > 10  # it had written batches before the bad file
    assert not out.exists() and _leftovers(tmp_path) == []


def test_ctrl_c_stops_between_samples_and_leaves_nothing(tmp_path, monkeypatch, watched):
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is handled by someone else here")
    monkeypatch.setitem(io.DIRECTORY_READERS, "ntu", _fake_reader(2000))
    calls = []

    def progress(n, total):
        calls.append(n)
        if len(calls) == 2:
            signal.raise_signal(signal.SIGINT)

    out = tmp_path / "o.h5"
    with pytest.raises(KeyboardInterrupt):
        streaming.import_to_file(tmp_path, "ntu", out, ReadOptions(), on_progress=progress)
    assert len(calls) == 2  # stopped within the batch after the signal, not at the end
    assert not out.exists() and _leftovers(tmp_path) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_mixed_joint_counts_keep_the_readers_own_error(tmp_path, rng):
    from tests.helpers.poses import write_csv

    clip = lambda v: np.round(rng.uniform(0.1, 1, (1, 3, v, 3)), 4).astype(np.float32)  # noqa: E731
    write_csv(tmp_path / "raw" / "a" / "x.csv", clip(17), "coco17")
    write_csv(tmp_path / "raw" / "b" / "y.csv", clip(25), "body25")
    with pytest.raises(ConfigError, match="clips in different joint layouts: coco17"):
        streaming.import_to_file(tmp_path / "raw", "csv", tmp_path / "o.h5")
    assert not (tmp_path / "o.h5").exists() and _leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# the writer itself


def _sample(rng, m: int, t: int, i: int) -> Sample:
    return Sample(rng.normal(size=(m, t, 25, 3)).astype(np.float32), i % 2, f"x{i}", {"view": i})


def test_in_memory_sets_widen_bodies_and_round_trip(tmp_path, rng):
    samples = [_sample(rng, m, t, i) for i, (m, t) in enumerate([(1, 7), (1, 3), (3, 5), (2, 4)])]
    data = SkeletonSet(samples, ["a", "b"], "ntu25", {"s": np.array([1, 0, 1, -1], np.int8)})
    write_skeletons(data, tmp_path / "w.h5")
    back = read_skeletons(tmp_path / "w.h5")
    for a, b in zip(back.samples, samples):
        np.testing.assert_array_equal(a.joints, b.joints)
    with h5py.File(tmp_path / "w.h5") as f:
        assert f["joints"].shape == (19, 3, 25, 3) and f["joints"].chunks[1:] == (1, 25, 3)
        assert not f["joints"][:10, 1:].any()  # slots the first samples never had read as zero


def test_finish_with_a_rising_subset_moves_frames_and_narrows_bodies(tmp_path, rng):
    samples = [
        _sample(rng, m, t, i) for i, (m, t) in enumerate([(1, 40), (3, 30), (1, 50), (2, 9)])
    ]
    keep = [samples[0], samples[2], samples[3]]
    with schema.create(tmp_path / "k.h5", "skeletons") as f:
        w = SkeletonWriter(f, batch_frames=16)
        for s in samples:
            w.append(s.joints, s.sample_id)
        w.finish(SkeletonSet(keep, ["a", "b"], "ntu25"), rows=[0, 2, 3])
    back = read_skeletons(tmp_path / "k.h5")
    assert back.sample_ids == ["x0", "x2", "x3"]
    for a, b in zip(back.samples, keep):
        np.testing.assert_array_equal(a.joints, b.joints)
    with h5py.File(tmp_path / "k.h5") as f:
        assert f["joints"].shape == (99, 2, 25, 3)


def test_writer_refuses_a_sample_of_another_joint_count(tmp_path, rng):
    with schema.create(tmp_path / "x.h5", "skeletons") as f:
        w = SkeletonWriter(f)
        w.append(np.zeros((1, 2, 25, 3), np.float32), "a")
        with pytest.raises(Exception, match=r"sample 1 'b' has joints \(M, T, V, C\)"):
            w.append(np.zeros((1, 2, 20, 3), np.float32), "b")
        w.finish(SkeletonSet([Sample(np.zeros((1, 2, 25, 3), np.float32), 0, "a")], ["k"], "ntu25"))
