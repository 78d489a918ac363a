import h5py
import numpy as np
import pytest

from sugar_core import schema
from sugar_core.errors import SchemaError
from sugar_core.skeleton.dataset import Sample, SkeletonSet, read_skeletons, write_skeletons


def _set(rng, n=5):
    samples = []
    for i in range(n):
        m, t = (2 if i == 1 else 1), 3 + 2 * i
        joints = rng.normal(size=(m, t, 20, 3)).astype(np.float32)
        samples.append(Sample(joints, i % 3, f"s{i}", {"subject": i + 1, "view": 1}))
    splits = {"xview": np.array([1, 1, 0, 0, -1], dtype=np.int8)}
    return SkeletonSet(samples, ["a", "b", "c"], "kinect20", splits, "test")


def test_round_trip_keeps_lengths_bodies_meta(tmp_path, rng):
    data = _set(rng)
    write_skeletons(data, tmp_path / "d.h5", config={"x": 1}, seed=3)
    back = read_skeletons(tmp_path / "d.h5")
    assert back.class_names == data.class_names and back.layout == "kinect20"
    for a, b in zip(data.samples, back.samples):
        assert a.sample_id == b.sample_id and a.label == b.label and a.meta == b.meta
        np.testing.assert_array_equal(a.joints, b.joints)
    np.testing.assert_array_equal(back.splits["xview"], data.splits["xview"])
    with h5py.File(tmp_path / "d.h5") as f:
        info = schema.root_info(f)
    assert info["sugar_kind"] == "skeletons" and info["seed"] == 3 and info["config"] == {"x": 1}


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    out = tmp_path / "x.h5"
    with pytest.raises(RuntimeError):
        with schema.create(out, "skeletons") as f:
            f.create_dataset("joints", data=np.zeros((1, 1, 1, 1)))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_refuses_incomplete_file(tmp_path):
    out = tmp_path / "x.h5"
    with pytest.raises(SchemaError, match="'offsets' missing"):
        with schema.create(out, "skeletons") as f:
            f.create_dataset("joints", data=np.zeros((1, 1, 1, 1), dtype=np.float32))
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_previous_version_on_error(tmp_path, rng):
    out = tmp_path / "d.h5"
    write_skeletons(_set(rng), out)
    before = out.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with schema.create(out, "skeletons"):
            raise KeyboardInterrupt
    assert out.read_bytes() == before


def test_validation_names_file_dataset_and_expectation(tmp_path, rng):
    out = tmp_path / "d.h5"
    write_skeletons(_set(rng), out)
    with pytest.raises(SchemaError, match="sugar_kind is 'skeletons', expected 'priors'"):
        schema.open_file(out, "priors")
    with h5py.File(out, "a") as f:
        del f["labels"]
        f.create_dataset("labels", data=np.zeros((5, 2)))
    with pytest.raises(SchemaError, match=r"d.h5: dataset 'labels' expected 1 dimensions"):
        read_skeletons(out)
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(SchemaError, match="junk.h5: not an HDF5 file"):
        schema.open_file(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["a"] = 1
    with pytest.raises(SchemaError, match="not a sugar file"):
        schema.open_file(tmp_path / "plain.h5")
    with pytest.raises(SchemaError, match="no such file"):
        schema.open_file(tmp_path / "absent.h5")


def test_atomic_writes_get_the_usual_permissions(tmp_path):
    import os

    from sugar_core.schema import atomic_path

    with atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_input_record_hashes_files_and_folder_listings(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_bytes(b"abc")
    (tmp_path / "in" / "sub").mkdir()
    (tmp_path / "in" / "sub" / "b.txt").write_bytes(b"xy")
    rec = schema.input_record([tmp_path / "in" / "a.txt", tmp_path / "in", tmp_path / "gone"])
    assert rec[0]["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert rec[2] == {"path": str(tmp_path / "gone"), "sha256": None}
    listing = rec[1]["sha256"]
    assert listing.startswith("listing:") and len(listing) == len("listing:") + 64

    def again():
        return schema.input_record([tmp_path / "in"])[0]["sha256"]

    (tmp_path / "in" / "sub" / "b.txt").write_bytes(b"yx")  # same names and sizes: same record
    assert again() == listing
    (tmp_path / "in" / "sub" / "b.txt").write_bytes(b"xyz")  # a size changed
    assert again() != listing
    (tmp_path / "in" / "sub" / "b.txt").write_bytes(b"xy")
    assert again() == listing
    (tmp_path / "in" / "sub" / "b.txt").rename(tmp_path / "in" / "sub" / "c.txt")  # a name
    assert again() != listing
