"""The builtin priors data: complete for every class list, well formed, and its loader."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from sugar_core.errors import ConfigError, SchemaError
from sugar_core.priors import builtin_data
from sugar_core.priors.builtin_data import (
    BUILTIN_SETS,
    close_matches,
    load_builtin,
    lookup,
    motion_sentence,
    require,
)
from sugar_core.priors.store import MOTION_PARTS
from sugar_core.skeleton.classes import MSR, NTU60, NTU120, NW_UCLA
from sugar_core.skeleton.synthetic import SYNTHETIC_CLASSES

LISTS = {"ntu120": NTU120, "nw-ucla": NW_UCLA, "msr": MSR, "synthetic": SYNTHETIC_CLASSES}
MAX_PART_WORDS = 20


def _raw(name: str) -> dict:
    return json.loads((builtin_data.DATA_DIR / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", BUILTIN_SETS)
def test_every_class_has_exactly_one_entry(name):
    data = _raw(name)
    want = set(LISTS[name])
    assert set(data) == want, f"lacks {sorted(want - set(data))}; extra {sorted(set(data) - want)}"
    assert list(load_builtin(name)) == list(LISTS[name])


@pytest.mark.parametrize("name", BUILTIN_SETS)
def test_entries_are_well_formed(name):
    for cls, entry in _raw(name).items():
        assert list(entry) == ["motion", "visual", "description"], (cls, list(entry))
        assert tuple(entry["motion"]) == MOTION_PARTS, (cls, list(entry["motion"]))
        texts = list(entry["motion"].values()) + entry["visual"] + [entry["description"]]
        for t in texts:
            assert isinstance(t, str) and t.strip(), (cls, t)
            assert t == t.strip() and "  " not in t, (cls, t)
        for part, t in entry["motion"].items():
            assert len(t.split()) < MAX_PART_WORDS, (cls, part, t)
            assert not t.endswith("."), (cls, part, t)
        assert len(entry["visual"]) >= 3, (cls, len(entry["visual"]))
        for v in entry["visual"]:
            assert v[0].isupper() and v.endswith("."), (cls, v)
            assert 5 <= len(v.split()) <= 45, (cls, v)
        d = entry["description"]
        assert d.endswith(".") and len(d.split()) <= 25, (cls, d)


@pytest.mark.parametrize("name", BUILTIN_SETS)
def test_no_text_is_shared_between_classes(name):
    data = _raw(name)
    counts = Counter()
    for entry in data.values():
        counts.update(set(entry["visual"]) | {entry["description"], motion_sentence(entry)})
    dup = [t for t, n in counts.items() if n > 1]
    assert not dup, dup[:5]
    for cls, entry in data.items():
        assert len(set(entry["visual"])) == len(entry["visual"]), cls


def test_ntu60_alias_is_the_first_sixty_classes():
    entries = load_builtin("ntu60")
    assert list(entries) == list(NTU60)
    assert entries["drink water"] == load_builtin("ntu120")["drink water"]


def test_unknown_set_names_the_known_ones():
    with pytest.raises(ConfigError, match="ntu120.*nw-ucla.*msr"):
        load_builtin("kinetics")


def test_lookup_prefers_the_given_dataset():
    # "side kick" is both an NTU-120 and an MSR class, with different texts.
    ntu, msr = _raw("ntu120")["side kick"], _raw("msr")["side kick"]
    assert ntu != msr
    assert lookup("side kick", dataset="msr") == msr
    assert lookup("side kick", dataset="ntu120") == ntu
    assert lookup("side kick") == ntu  # first set in BUILTIN_SETS order
    assert lookup("throw", dataset="nw-ucla") == _raw("nw-ucla")["throw"]
    assert lookup("hand catch", dataset="ntu60") == _raw("msr")["hand catch"]  # falls through


def test_lookup_tolerates_case_and_spacing_but_not_typos():
    assert lookup("  Drink   Water ") == _raw("ntu120")["drink water"]
    assert lookup("drink watr") is None


def test_lookup_returns_copies():
    entry = lookup("hand clap", dataset="msr")
    entry["visual"].append("changed")
    entry["motion"]["head"] = "changed"
    fresh = lookup("hand clap", dataset="msr")
    assert "changed" not in fresh["visual"] and fresh["motion"]["head"] != "changed"


def test_require_lists_close_matches_for_unknown_names():
    entries = require(["pick up with one hand", "carry"], dataset="nw-ucla")
    assert entries == [_raw("nw-ucla")["pick up with one hand"], _raw("nw-ucla")["carry"]]
    with pytest.raises(ConfigError) as err:
        require(["drink water", "drink watr", "take of jacket", "zzzz qqqq"])
    msg = str(err.value)
    assert "'drink watr' (did you mean 'drink water'" in msg
    assert "'take off jacket'" in msg
    assert "'zzzz qqqq'; use another priors backend" in msg  # nothing close: no suggestion
    assert "drink water" in close_matches("Drink Watr")


def test_require_reports_how_many_more_are_missing():
    names = [f"unknown action {i}" for i in range(8)]
    with pytest.raises(ConfigError, match="and 3 more"):
        require(names)


def test_motion_sentence_keeps_part_order():
    entry = lookup("drink water")
    sentence = motion_sentence(entry)
    pieces = sentence.rstrip(".").split("; ")
    assert pieces == [entry["motion"][p] for p in MOTION_PARTS]


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """Point the loader at a scratch folder, with a clean cache before and after."""
    monkeypatch.setattr(builtin_data, "DATA_DIR", tmp_path)
    builtin_data._read.cache_clear()
    yield tmp_path
    builtin_data._read.cache_clear()


def test_malformed_file_names_the_file_and_class(data_dir):
    bad = {
        "drink water": {"motion": {"hand": "x", "head": "y"}, "visual": ["a"], "description": "d"}
    }
    (data_dir / "ntu120.json").write_text(json.dumps(bad))
    with pytest.raises(SchemaError, match=r"ntu120\.json: class 'drink water': motion keys"):
        load_builtin("ntu120")


def test_invalid_json_names_the_line(data_dir):
    (data_dir / "msr.json").write_text('{\n  "bend": \n}\n')
    with pytest.raises(SchemaError, match=r"msr\.json:3: not valid JSON"):
        load_builtin("msr")


def test_missing_file_is_reported(data_dir):
    with pytest.raises(SchemaError, match="nw-ucla.json: builtin priors file missing"):
        load_builtin("nw-ucla")
