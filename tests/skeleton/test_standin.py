"""The NTU-120-shaped stand-in: NTU-120's grid of names, files the NTU reader parses (fast
road), one or two bodies, NTU-like lengths, the standard splits, and seeded bytes."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from sugar_core.errors import ConfigError
from sugar_core.skeleton import standin
from sugar_core.skeleton.io import read_dataset
from sugar_core.skeleton.readers import ntu


def test_the_full_grid_has_ntu120s_counts():
    names = standin.standin_names()
    assert len(names) == len(set(names)) == standin.NTU120_FILES == 114_480
    meta = [ntu.parse_name(n) for n in names]
    per_action = Counter(m["action"] for m in meta)
    assert sorted(per_action) == list(range(1, 121))
    assert {per_action[a] for a in range(1, 61)} == {948} and {
        per_action[a] for a in range(61, 121)
    } == {960}
    assert len({m["subject"] for m in meta}) == 106 and len({m["setup"] for m in meta}) == 32
    assert {m["camera"] for m in meta} == {1, 2, 3} and {m["repetition"] for m in meta} == {1, 2}
    assert all((m["setup"] <= 17) == (m["action"] <= 60) for m in meta)


def test_a_subset_is_seeded_and_sorted():
    a, b = standin.standin_names(500, seed=1), standin.standin_names(500, seed=1)
    assert a == b == sorted(a) and a != standin.standin_names(500, seed=2)
    with pytest.raises(ConfigError, match="--files must lie in 1..114480"):
        standin.standin_names(0)


def test_files_parse_fast_and_split_like_ntu120(tmp_path):
    paths = standin.write_standin(tmp_path, files=60, seed=3)
    assert all(ntu._scan_fast(p.read_bytes()) is not None for p in paths)  # no careful road
    data = read_dataset(tmp_path, "ntu")
    assert len(data) == 60 and len(data.class_names) == 120  # an action above 60: ntu120
    assert set(data.splits) == {"xsub", "xset"}
    for i, s in enumerate(data.samples):
        meta = ntu.parse_name(s.sample_id)
        assert s.label == meta["action"] - 1
        assert s.bodies == (2 if meta["action"] in standin.MUTUAL else 1), s.sample_id
        assert 32 <= s.length <= 300
        assert data.splits["xsub"][i] == int(meta["subject"] in ntu.NTU120_XSUB_TRAIN)
        assert data.splits["xset"][i] == int(meta["setup"] % 2 == 0)
        assert np.abs(s.joints).max() < 5  # metres in front of the sensor


def test_lengths_follow_the_stated_distribution():
    rng = np.random.default_rng(0)
    t = np.array([standin.standin_length(rng) for _ in range(4000)])
    assert 75 <= np.median(t) <= 85 and t.min() >= 32 and t.max() <= 300
    assert 0.9 < np.mean((t >= 40) & (t <= 200)) < 1.0


def test_same_seed_same_bytes_with_any_number_of_workers(tmp_path):
    one = standin.write_standin(tmp_path / "a", files=120, seed=5)
    two = standin.write_standin(tmp_path / "b", files=120, seed=5, workers=2)
    assert [p.name for p in one] == [p.name for p in two]
    assert all(p.read_bytes() == q.read_bytes() for p, q in zip(one, two))
    (tmp_path / "c").mkdir()
    assert standin._write_names((str(tmp_path / "c"), [one[0].stem], 6)) == 1  # another seed
    assert (tmp_path / "c" / one[0].name).read_bytes() != one[0].read_bytes()
