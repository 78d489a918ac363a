"""Unseen-class splits for zero-shot recognition: a registry of named splits and user files.

A split names the classes a model must never train on (``unseen``) and, where a protocol fixes
them, the classes it may train on (``seen``; ``None`` = every class that is not unseen). Ids are
0-based positions in the dataset's class list (sugar_core/skeleton/classes.py).

Protocols in the registry:
  - ``synse``: the SynSE splits (Gupta et al., ICIP 2021), the zero-shot skeleton literature's
    common ground: NTU-60 55/5 and 48/12, NTU-120 110/10 and 96/24 (ids from anchors.md).
  - ``purls``: NW-UCLA ru2 and ru5 as PURLS (Zhu et al., CVPR 2024) uses them.
  - ``random``: ours, three seeded splits per dataset, so small datasets get a spread of
    splits: ``<dataset>-r<U>-s<seed>`` holds the first U entries of
    ``numpy.random.default_rng(seed).permutation(K)``, sorted. The ids are written out below
    (not recomputed on import) so a change in numpy's generator cannot move a published split;
    a test regenerates them.
  - ``sugar-p1``: SUGAR's protocol 1 (train on the 60 NTU-60 classes, test on 10 of the 60
    classes NTU-120 adds). The paper does not publish which 10; ours are the first 10 of
    ``default_rng(seed).permutation(60)`` plus 60, sorted, seeds 0..2.
  - ``user``: a file of class names or ids (``read_split_file``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sugar_core.errors import ConfigError, InputFormatError
from sugar_core.skeleton.classes import named_list


@dataclass(frozen=True)
class UnseenSplit:
    name: str  # registry key, or the file's stem for a user split
    dataset: str  # class list the ids index (classes.NAMED_LISTS key); "" = the data's own
    unseen: tuple[int, ...]  # class ids never trained on, evaluated zero-shot
    protocol: str  # synse | purls | random | sugar-p1 | user
    seen: tuple[int, ...] | None = None  # classes trained on; None = every class not unseen
    note: str = ""  # where the ids come from

    def __post_init__(self):
        assert len(set(self.unseen)) == len(self.unseen), f"{self.name}: repeated unseen ids"
        assert self.unseen, f"{self.name}: no unseen classes"
        if self.seen is not None:
            both = set(self.seen) & set(self.unseen)
            assert not both, f"{self.name}: classes {sorted(both)} are both seen and unseen"

    def seen_ids(self, num_classes: int) -> list[int]:
        """Class ids trained on, given the dataset's class count K."""
        self.check(num_classes)
        if self.seen is not None:
            return list(self.seen)
        unseen = set(self.unseen)
        return [k for k in range(num_classes) if k not in unseen]

    def check(self, num_classes: int) -> None:
        """ConfigError unless every id fits a dataset of K classes and some class is seen."""
        ids = list(self.unseen) + list(self.seen or ())
        bad = [i for i in ids if not 0 <= i < num_classes]
        if bad:
            raise ConfigError(
                f"split {self.name!r}: class ids {bad[:5]} outside 0..{num_classes - 1} "
                f"(the data has {num_classes} classes)"
            )
        if self.seen is None and len(self.unseen) >= num_classes:
            raise ConfigError(f"split {self.name!r}: every class is unseen; nothing to train on")

    def names(self, class_names: list[str]) -> list[str]:
        return [class_names[i] for i in self.unseen]

    def row(self) -> dict:
        """A JSON-ready description (what `sugar zeroshot --list-splits --json` prints)."""
        k = len(named_list(self.dataset)) if self.dataset else None
        seen = len(self.seen) if self.seen is not None else (k - len(self.unseen) if k else None)
        return {
            "name": self.name,
            "dataset": self.dataset,
            "protocol": self.protocol,
            "num_seen": seen,
            "num_unseen": len(self.unseen),
            "unseen": list(self.unseen),
            "seen": list(self.seen) if self.seen is not None else None,
            "note": self.note,
        }


def random_unseen(num_classes: int, num_unseen: int, seed: int) -> tuple[int, ...]:
    """The seeded choice behind the ``random`` splits: first U of a permutation of K, sorted."""
    assert 0 < num_unseen < num_classes, f"unseen {num_unseen} of {num_classes} classes"
    perm = np.random.default_rng(seed).permutation(num_classes)
    return tuple(sorted(int(x) for x in perm[:num_unseen]))


_SYNSE = "SynSE split (Gupta et al., ICIP 2021), ids as in anchors.md"
_PURLS = "PURLS NW-UCLA split (Zhu et al., CVPR 2024), ids as in anchors.md"

_NTU120_96_24 = (
    5, 9, 11, 16, 18, 20, 22, 29, 35, 39, 45, 49,
    59, 68, 70, 81, 84, 87, 93, 94, 104, 113, 114, 119,
)  # fmt: skip

_FIXED = (
    UnseenSplit("ntu60-55-5", "ntu60", (10, 11, 19, 26, 56), "synse", note=_SYNSE),
    UnseenSplit(
        "ntu60-48-12",
        "ntu60",
        (3, 5, 9, 12, 15, 40, 42, 47, 51, 56, 58, 59),
        "synse",
        note=_SYNSE,
    ),
    UnseenSplit(
        "ntu120-110-10", "ntu120", (4, 13, 37, 43, 49, 65, 88, 95, 99, 106), "synse", note=_SYNSE
    ),
    UnseenSplit("ntu120-96-24", "ntu120", _NTU120_96_24, "synse", note=_SYNSE),
    UnseenSplit("nw-ucla-ru2", "nw-ucla", (1, 4), "purls", note=_PURLS),
    UnseenSplit("nw-ucla-ru5", "nw-ucla", (1, 3, 4, 6, 8), "purls", note=_PURLS),
)

# (dataset, K, U) -> unseen ids for seeds 0, 1, 2, written out from random_unseen(K, U, seed).
_RANDOM: dict[tuple[str, int, int], tuple[tuple[int, ...], ...]] = {
    ("ntu60", 60, 5): ((8, 16, 20, 27, 42), (24, 25, 31, 44, 58), (27, 38, 43, 52, 53)),
    ("ntu120", 120, 10): (
        (1, 13, 16, 23, 27, 36, 67, 101, 107, 114),
        (6, 20, 47, 48, 55, 86, 94, 97, 101, 117),
        (7, 40, 69, 73, 81, 101, 103, 104, 106, 110),
    ),
    ("nw-ucla", 10, 3): ((2, 4, 6), (4, 7, 8), (0, 2, 7)),
    ("msr", 20, 5): ((2, 4, 6, 13, 19), (1, 7, 10, 16, 18), (2, 6, 7, 10, 18)),
}

# SUGAR protocol 1: 60 + the first 10 of default_rng(seed).permutation(60), sorted.
_P1 = (
    (64, 68, 76, 80, 87, 94, 102, 111, 112, 117),
    (63, 66, 76, 84, 85, 87, 88, 91, 104, 118),
    (66, 83, 87, 98, 103, 106, 107, 109, 112, 113),
)


def _registry() -> dict[str, UnseenSplit]:
    out = {s.name: s for s in _FIXED}
    for (dataset, k, u), per_seed in _RANDOM.items():
        for seed, ids in enumerate(per_seed):
            name = f"{dataset}-r{u}-s{seed}"
            note = f"first {u} of numpy default_rng({seed}).permutation({k}), sorted"
            out[name] = UnseenSplit(name, dataset, ids, "random", note=note)
    for seed, ids in enumerate(_P1):
        name = f"sugar-p1-s{seed}"
        note = (
            f"train on NTU-60's 60 classes; 60 + first 10 of default_rng({seed}).permutation(60), "
            "sorted (the paper does not publish its 10)"
        )
        out[name] = UnseenSplit(name, "ntu120", ids, "sugar-p1", seen=tuple(range(60)), note=note)
    return out


SPLITS: dict[str, UnseenSplit] = _registry()


def list_splits() -> list[UnseenSplit]:
    return list(SPLITS.values())


# ---------------------------------------------------------------------------------------------
# user splits


def _normalise(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip().lower())


def read_split_file(path: str | os.PathLike, class_names: list[str]) -> UnseenSplit:
    """A user split from a file of class names or 0-based ids, one per line or comma-separated.

    Blank lines and text after ``#`` are ignored; names match the data's class names ignoring
    case and repeated spaces. Errors name the file and line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFormatError(path, f"cannot read split file ({exc.__class__.__name__})") from None
    lookup = {_normalise(n): i for i, n in enumerate(class_names)}
    ids: list[int] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        for item in line.split("#", 1)[0].split(","):
            item = item.strip()
            if not item:
                continue
            if re.fullmatch(r"-?\d+", item):
                k = int(item)
                if not 0 <= k < len(class_names):
                    raise InputFormatError(
                        path,
                        f"class id {k} outside 0..{len(class_names) - 1} "
                        f"(the data has {len(class_names)} classes)",
                        line=lineno,
                    )
            elif _normalise(item) in lookup:
                k = lookup[_normalise(item)]
            else:
                raise InputFormatError(
                    path, f"unknown class {item!r}; not in the data's class list", line=lineno
                )
            if k in ids:
                raise InputFormatError(path, f"class {item!r} listed twice", line=lineno)
            ids.append(k)
    if not ids:
        raise InputFormatError(path, "no classes listed; expected class names or ids")
    if len(ids) >= len(class_names):
        raise InputFormatError(path, "every class is listed as unseen; nothing to train on")
    return UnseenSplit(path.stem, "", tuple(sorted(ids)), "user", note=str(path))


def resolve_split(spec: str, class_names: list[str]) -> UnseenSplit:
    """A registry name or a path to a user split file, checked against the data's classes.

    A registry split must fit the data: same class count as its dataset.
    """
    if spec in SPLITS:
        split = SPLITS[spec]
        want = len(named_list(split.dataset))
        if len(class_names) != want:
            raise ConfigError(
                f"split {spec!r} is for {split.dataset} ({want} classes) but the data has "
                f"{len(class_names)} classes"
            )
        split.check(len(class_names))
        return split
    if Path(spec).is_file():
        return read_split_file(spec, class_names)
    close = [n for n in SPLITS if spec.lower() in n]
    hint = f"; did you mean {', '.join(close[:4])}?" if close else ""
    raise ConfigError(
        f"unknown unseen split {spec!r}: neither a registry name (sugar zeroshot --list-splits) "
        f"nor an existing file{hint}"
    )
