"""MSR Action3D reader: the 557 list (file or built in), xsub and the AS1-3 splits, bad files."""

from __future__ import annotations

import numpy as np
import pytest

from sugar_core.errors import InputFormatError
from sugar_core.skeleton.classes import MSR
from sugar_core.skeleton.io import ReadOptions, load, read_dataset, read_file
from sugar_core.skeleton.readers import msr
from tests.conftest import shared_path
from tests.helpers.readers import msr_text, one_byte_damage, person, write_msr_dir

NAMES = ["a02_s03_e02", "a02_s04_e01", "a03_s01_e01", "a14_s02_e03", "a16_s05_e01"]


def test_reads_joints_meta_and_splits(tmp_path, rng):
    expected = write_msr_dir(tmp_path, rng, NAMES)
    res = load(tmp_path, "msr")
    data = res.data
    assert "built in" in res.notes["file_list"]  # no list file here: the ten known exclusions
    assert data.sample_ids == NAMES[1:]  # a02_s03_e02 is one of the ten
    assert data.class_names == list(MSR) and data.layout == "msr20"
    for s in data.samples:
        np.testing.assert_array_equal(s.joints, expected[s.sample_id])
    assert data.samples[0].meta == {"subject": 4, "repetition": 1}
    assert list(data.splits["xsub"]) == [0, 1, 0, 1]
    assert list(data.splits["as1"]) == [0, 1, -1, -1]  # a02, a03 in AS1
    assert list(data.splits["as2"]) == [-1, -1, 0, -1]  # a14 in AS2
    assert list(data.splits["as3"]) == [-1, -1, 0, 1]  # a14, a16 in AS3
    everything = read_dataset(tmp_path, "msr", ReadOptions(file_list=False))
    assert everything.sample_ids == NAMES


def test_list_file_beside_the_data_wins(tmp_path, rng):
    write_msr_dir(tmp_path, rng, NAMES)
    (tmp_path / msr.LIST_FILE).write_text("a02_s03_e02\na16_s05_e01\n")
    res = load(tmp_path, "msr")
    assert res.data.sample_ids == ["a02_s03_e02", "a16_s05_e01"]
    assert res.notes["file_list"].startswith(msr.LIST_FILE)
    (tmp_path / msr.LIST_FILE).write_text("a02_s03_e02\nbogus\n")
    with pytest.raises(InputFormatError) as err:
        load(tmp_path, "msr")
    assert err.value.line == 2


def test_fast_and_careful_agree(rng):
    text = msr_text(np.round(person(rng, 3, v=20), 6)).encode()
    fast = msr._parse_fast(text)
    assert fast is not None
    np.testing.assert_array_equal(fast, msr._parse_careful(text, "x"))
    assert msr._parse_fast(text.replace(b" ", b"  ", 1)) is None


@pytest.mark.parametrize(
    "damage, line, words",
    [
        (lambda t: "\n".join(t.splitlines()[:-3]) + "\n", 37, "not a whole number of 20-joint"),
        (lambda t: t.replace("1.000000\n", "1.0 7\n", 1), 1, "expected 4 values"),
        (lambda t: t.replace("1.000000\n", "one\n", 2), 1, "'one' is not a finite number"),
        (lambda t: "", None, "empty file"),
    ],
)
def test_malformed_files(tmp_path, rng, damage, line, words):
    path = tmp_path / "a01_s01_e01_skeleton3D.txt"
    path.write_text(damage(msr_text(np.round(person(rng, 2, v=20), 6))))
    with pytest.raises(InputFormatError) as err:
        read_file(path, "msr")
    assert words in err.value.reason and err.value.line == line


@pytest.mark.integration
def test_real_msr():
    root = shared_path("msr-action3d")
    res = load(root, "msr", ReadOptions(workers=2))
    data = res.data
    assert len(data) == 557 and res.notes["file_list"].startswith(msr.LIST_FILE)
    counts = {k: (int((v == 1).sum()), int((v == 0).sum())) for k, v in data.splits.items()}
    assert counts == {"xsub": (284, 273), "as1": (114, 105), "as2": (116, 112), "as3": (111, 111)}
    assert len(read_dataset(root, "msr", ReadOptions(file_list=False))) == 567
    assert data.lengths.min() >= 13 and data.lengths.max() <= 936


def test_fast_road_never_disagrees_with_the_careful_one(rng):
    text = msr_text(person(rng, 2, v=20)).encode()
    for buf in one_byte_damage(text, rng):
        fast = msr._parse_fast(buf)
        if fast is not None:
            np.testing.assert_array_equal(fast, msr._parse_careful(buf, "x"))
