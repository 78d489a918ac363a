"""read_dataset / load / read_file: option checks, the worker pool, skip_bad, HDF5 round trip."""

from __future__ import annotations

import numpy as np
import pytest

from sugar_core.errors import ConfigError, InputFormatError
from sugar_core.skeleton.dataset import read_skeletons, write_skeletons
from sugar_core.skeleton.io import FORMATS, ReadOptions, load, read_dataset, read_file
from tests.helpers.readers import (
    pyskl_annotations,
    write_msr_dir,
    write_ntu_dir,
    write_pickle,
    write_ucla_dir,
)

NTU = [
    f"S00{s}C00{c}P00{p}R001A0{a:02d}"
    for s, c, p, a in [(1, 1, 1, 1), (1, 2, 2, 7), (2, 3, 3, 30), (2, 1, 4, 55), (3, 2, 5, 60)]
]


def _same(a, b):
    assert a.class_names == b.class_names and a.layout == b.layout and a.source == b.source
    assert a.sample_ids == b.sample_ids
    assert a.splits.keys() == b.splits.keys()
    for k in a.splits:
        np.testing.assert_array_equal(a.splits[k], b.splits[k])
    for x, y in zip(a.samples, b.samples):
        assert x.joints.dtype == y.joints.dtype == np.float32
        np.testing.assert_array_equal(x.joints, y.joints)
        assert (x.label, x.meta) == (y.label, y.meta)


@pytest.fixture
def sources(tmp_path, rng):
    write_ntu_dir(tmp_path / "ntu", rng, NTU * 1)
    write_ucla_dir(tmp_path / "ucla", rng)
    write_msr_dir(tmp_path / "msr", rng, ["a01_s01_e01", "a05_s02_e02", "a20_s09_e03"])
    names = ["S001C001P001R001A001", "S001C001P002R001A002"]
    write_pickle(
        tmp_path / "p.pkl",
        {
            "split": {"xsub_train": names[:1], "xsub_val": names[1:]},
            "annotations": pyskl_annotations(rng, names, [0, 1]),
        },
    )
    return {
        "ntu": tmp_path / "ntu",
        "nw-ucla": tmp_path / "ucla",
        "msr": tmp_path / "msr",
        "pyskl": tmp_path / "p.pkl",
    }


@pytest.mark.parametrize("fmt", ["ntu", "nw-ucla", "msr", "pyskl"])
def test_hdf5_round_trip_is_exact(tmp_path, sources, fmt):
    data = read_dataset(sources[fmt], fmt)
    data.check()
    write_skeletons(data, tmp_path / "out.h5")
    _same(read_skeletons(tmp_path / "out.h5"), data)


def test_variable_bodies_and_lengths_survive(tmp_path, rng):
    from tests.helpers.readers import ntu_text, ntu_tracks, person

    root = tmp_path / "two"
    root.mkdir()
    (root / "S001C001P001R001A050.skeleton").write_text(
        ntu_text(ntu_tracks((1, person(rng, 30), 0), (2, person(rng, 30, x0=1.0), 0)))
    )
    write_ntu_dir(root, rng, ["S001C001P001R001A001"], frames=13)
    data = read_dataset(root, "ntu")
    assert [(s.bodies, s.length) for s in data.samples] == [(1, 13), (2, 30)]
    write_skeletons(data, tmp_path / "o.h5")
    _same(read_skeletons(tmp_path / "o.h5"), data)


def test_pool_gives_the_same_result_in_the_same_order(tmp_path, rng):
    names = [f"S001C001P{p:03d}R001A{a:03d}" for p in range(1, 9) for a in range(1, 9)]
    write_ntu_dir(tmp_path, rng, names, frames=5)
    seen = []
    two = read_dataset(tmp_path, "ntu", ReadOptions(workers=2), lambda n, t: seen.append((n, t)))
    _same(two, read_dataset(tmp_path, "ntu"))
    assert sum(n for n, _ in seen) == 64 and {t for _, t in seen} == {64}


def test_skip_bad_lists_and_keeps_the_rest(tmp_path, rng):
    write_ntu_dir(tmp_path, rng, NTU[:3])
    (tmp_path / "S009C001P001R001A001.skeleton").write_text("2\r\n1\r\n")
    with pytest.raises(InputFormatError, match="S009C001P001R001A001"):
        load(tmp_path, "ntu")
    res = load(tmp_path, "ntu", ReadOptions(skip_bad=True, workers=2))
    assert res.data.sample_ids == NTU[:3] and res.files == 4
    assert [s.path.endswith("S009C001P001R001A001.skeleton") for s in res.skipped] == [True]
    assert res.skipped[0].line == 3 and "file ends early" in res.skipped[0].reason


def test_everything_bad_or_nothing_there(tmp_path):
    (tmp_path / "S001C001P001R001A001.skeleton").write_text("x\n")
    with pytest.raises(InputFormatError, match="none of the 1 files"):
        load(tmp_path, "ntu", ReadOptions(skip_bad=True))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFormatError, match=r"no NTU RGB\+D .skeleton files"):
        load(tmp_path / "empty", "ntu")
    with pytest.raises(InputFormatError, match="no such file"):
        load(tmp_path / "nope", "msr")
    with pytest.raises(InputFormatError, match="is a directory"):
        load(tmp_path, "npz")


@pytest.mark.parametrize(
    "fmt, opts, words",
    [
        ("msr", ReadOptions(drop_list="x.txt"), "--drop-list applies to --format ntu"),
        ("ntu", ReadOptions(file_list=False), "--no-file-list applies to --format msr"),
        ("nw-ucla", ReadOptions(classes="ntu60"), "--classes applies"),
        ("ntu", ReadOptions(workers=0), "--workers must be at least 1"),
        ("kinetics", ReadOptions(), "unknown format 'kinetics'"),
    ],
)
def test_options_that_do_not_apply_are_refused(tmp_path, fmt, opts, words):
    with pytest.raises(ConfigError, match=words):
        load(tmp_path, fmt, opts)


def test_read_file_parses_one_raw_file(sources):
    (s,) = read_file(sorted(sources["ntu"].glob("*.skeleton"))[0], "ntu")
    assert s.sample_id == NTU[0] and s.joints.shape[1:] == (20, 25, 3)
    (s,) = read_file(sources["msr"] / "a05_s02_e02_skeleton3D.txt", "msr")
    assert s.label == 4 and s.meta == {"subject": 2, "repetition": 2}
    assert len(read_file(sources["pyskl"], "pyskl")) == 2
    assert set(FORMATS) == {"ntu", "nw-ucla", "msr", "pyskl", "npz", "numpy", "openpose",
                            "mmpose", "mediapipe", "csv"}  # fmt: skip
