"""What every imported sample must be, whichever reader made it: joints that are finite numbers,
a sample id and class names that UTF-8 can store, and a sample id no other sample has.

``io`` applies these where a reader's samples become a data set (``io.load`` and
``io.read_file``), so a new reader inherits them without a line of its own. With ``skip_bad`` a
failing sample is left out and listed, as an unreadable file is.
"""

from __future__ import annotations

import os

from sugar_core.errors import InputFormatError
from sugar_core.guards import non_finite
from sugar_core.skeleton.dataset import Sample, SkeletonSet
from sugar_core.skeleton.readers.common import Skipped


def storable(text: str) -> bool:
    """True if ``text`` encodes as UTF-8 (no lone surrogates from undecodable bytes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def sample_problem(s: Sample) -> str | None:
    """What is wrong with one sample's own content, or None."""
    found = non_finite(s.joints)  # (M, T, V, C)
    if found is not None:
        count, at = found
        what = "value is" if count == 1 else "values are"
        place = ", ".join(f"{n} {i + 1}" for n, i in zip(("body", "frame", "joint", "channel"), at))
        return f"{count} joint {what} not finite (NaN or inf), the first {s.joints[at]} at {place}"
    return id_problem(s)


def id_problem(s: Sample) -> str | None:
    """What is wrong with one sample's id, or None."""
    return None if storable(s.sample_id) else f"sample id {s.sample_id!r} is not valid UTF-8 text"


def check_sample(s: Sample, path: str | os.PathLike) -> Sample:
    """``s`` if it passes ``sample_problem``, else an InputFormatError naming ``path``."""
    problem = sample_problem(s)
    if problem is not None:
        raise InputFormatError(path, problem)
    return s


def screen(
    data: SkeletonSet, path: str | os.PathLike, skip_bad: bool, values_checked: bool = False
) -> tuple[SkeletonSet, list[Skipped]]:
    """(the set without failing samples, what was left out) of a reader's whole set.

    A sample fails on ``sample_problem`` or when an earlier sample has its id. Without
    ``skip_bad`` the first failure is an InputFormatError naming ``path``, the sample's index
    and id; class names that UTF-8 cannot store always are. ``values_checked``: the joints
    already passed ``check_sample`` (a streaming import checks them as they are parsed and
    hands over shape-only samples), so only the ids are checked here.
    """
    bad_names = [n for n in data.class_names if not storable(n)]
    if bad_names:
        raise InputFormatError(path, f"class name {bad_names[0]!r} is not valid UTF-8 text")
    keep: list[int] = []
    skipped: list[Skipped] = []
    first_with: dict[str, int] = {}
    for i, s in enumerate(data.samples):
        problem = id_problem(s) if values_checked else sample_problem(s)
        if problem is None and s.sample_id in first_with:
            problem = f"the same sample id as sample {first_with[s.sample_id]}; ids must be unique"
        if problem is None:
            first_with[s.sample_id] = i
            keep.append(i)
            continue
        error = InputFormatError(path, f"sample {i} ({s.sample_id!r}): {problem}")
        if not skip_bad:
            raise error
        skipped.append(Skipped.from_error(error))
    if not keep:
        raise InputFormatError(path, f"none of the {len(data)} samples could be kept")
    return (data if len(keep) == len(data) else data.subset(keep)), skipped
