"""The unseen-class split registry and user split files."""

from __future__ import annotations

import pytest

from sugar_core.errors import ConfigError, InputFormatError
from sugar_core.skeleton.classes import named_list
from sugar_core.zeroshot.splits import (
    SPLITS,
    random_unseen,
    read_split_file,
    resolve_split,
)

# anchors.md, "Zero-shot unseen-class splits" (0-based, NTU order), typed again on purpose
ANCHORS = {
    "ntu60-55-5": [10, 11, 19, 26, 56],
    "ntu60-48-12": [3, 5, 9, 12, 15, 40, 42, 47, 51, 56, 58, 59],
    "ntu120-110-10": [4, 13, 37, 43, 49, 65, 88, 95, 99, 106],
    "ntu120-96-24": [
        5,
        9,
        11,
        16,
        18,
        20,
        22,
        29,
        35,
        39,
        45,
        49,
        59,
        68,
        70,
        81,
        84,
        87,
        93,
        94,
        104,
        113,
        114,
        119,
    ],  # fmt: skip
    "nw-ucla-ru2": [1, 4],
    "nw-ucla-ru5": [1, 3, 4, 6, 8],
}


@pytest.mark.parametrize("name", sorted(ANCHORS))
def test_published_splits_match_anchors(name):
    split = SPLITS[name]
    assert list(split.unseen) == ANCHORS[name]
    k = len(named_list(split.dataset))
    seen = split.seen_ids(k)
    assert len(seen) + len(split.unseen) == k, (len(seen), k)
    assert f"{k - len(ANCHORS[name])}" in name or split.protocol == "purls"


def test_ucla_purls_names():
    names = SPLITS["nw-ucla-ru2"].names(named_list("nw-ucla"))
    assert names == ["pick up with two hands", "sit down"]


@pytest.mark.parametrize("name", sorted(SPLITS))
def test_seen_unseen_disjoint_and_in_range(name):
    split = SPLITS[name]
    k = len(named_list(split.dataset))
    seen = split.seen_ids(k)
    assert not set(seen) & set(split.unseen)
    assert all(0 <= i < k for i in list(seen) + list(split.unseen))
    assert list(split.unseen) == sorted(split.unseen)


def test_random_splits_regenerate_from_their_seed():
    sizes = {"ntu60": 5, "ntu120": 10, "nw-ucla": 3, "msr": 5}
    for dataset, u in sizes.items():
        k = len(named_list(dataset))
        for seed in range(3):
            split = SPLITS[f"{dataset}-r{u}-s{seed}"]
            assert split.protocol == "random"
            assert split.unseen == random_unseen(k, u, seed), (dataset, seed)
        assert len({SPLITS[f"{dataset}-r{u}-s{s}"].unseen for s in range(3)}) == 3


def test_sugar_p1_trains_on_ntu60_tests_on_new_ntu120_classes():
    for seed in range(3):
        split = SPLITS[f"sugar-p1-s{seed}"]
        assert split.seen_ids(120) == list(range(60))
        assert len(split.unseen) == 10 and all(60 <= i < 120 for i in split.unseen)
        assert split.unseen == tuple(60 + i for i in random_unseen(60, 10, seed))


def test_resolve_checks_class_count():
    with pytest.raises(ConfigError, match="ntu60"):
        resolve_split("ntu60-55-5", named_list("nw-ucla"))
    assert resolve_split("msr-r5-s0", named_list("msr")).unseen == (2, 4, 6, 13, 19)
    with pytest.raises(ConfigError, match="did you mean"):
        resolve_split("ru2", named_list("nw-ucla"))


def test_user_file_names_ids_commas_and_comments(tmp_path):
    classes = named_list("msr")
    f = tmp_path / "mine.txt"
    f.write_text("# my unseen classes\nHigh  Arm Wave, 4\n\ngolf swing  # the last one\n")
    split = read_split_file(f, classes)
    assert split.unseen == (0, 4, 18) and split.protocol == "user" and split.name == "mine"
    assert resolve_split(str(f), classes).unseen == (0, 4, 18)


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("bend\nmoonwalk\n", 2, "unknown class"),
        ("3, 99\n", 1, "outside"),
        ("bend\nBEND\n", 2, "twice"),
        ("# nothing\n\n", None, "no classes"),
    ],
)
def test_user_file_errors_name_file_and_line(tmp_path, text, line, message):
    f = tmp_path / "bad.txt"
    f.write_text(text)
    with pytest.raises(InputFormatError, match=message) as err:
        read_split_file(f, named_list("msr"))
    assert err.value.path == str(f) and err.value.line == line
