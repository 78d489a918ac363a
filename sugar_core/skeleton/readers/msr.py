"""MSR Action3D skeletons in real-world coordinates (``aAA_sSS_eEE_skeleton3D.txt``).

Each line holds ``x y z c`` (metres, y up; c a confidence) and every 20 lines make a frame, in
MSR joint order (layout ``msr20``). x, y, z are kept; c is dropped. All-zero frames (tracker
failures) are kept as recorded.

Protocols: cross-subject on the 557 sequences of Wang et al. (CVPR 2012): odd subjects train,
even subjects test (split ``xsub``); and the AS1 / AS2 / AS3 eight-class subsets of Li et al.
(2010) with the same subjects (splits ``as1`` ``as2`` ``as3``; other classes -1).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sugar_core.errors import InputFormatError
from sugar_core.skeleton.classes import MSR
from sugar_core.skeleton.dataset import TEST, TRAIN, UNUSED, Sample, SkeletonSet
from sugar_core.skeleton.readers.common import Notes, ReadOptions, list_files
from sugar_core.skeleton.readers.text import (
    leading_tokens,
    line_bounds,
    number,
    parse_decimals,
    plain_whitespace,
    spaces_if_single,
    text_lines,
)

SUFFIX = "_skeleton3D.txt"
WHAT = "MSR Action3D skeleton"
V = 20
VALUES = 4  # x y z c per line
NAME = re.compile(r"^a(\d\d)_s(\d\d)_e(\d\d)")
LIST_FILE = "files_used_in_cvpr12_paper.txt"
# the ten sequences missing from the CVPR 2012 list (bad or missing skeletons; SOURCE.md)
KNOWN_BAD = frozenset((
    "a02_s03_e02", "a04_s03_e01", "a07_s04_e01", "a13_s09_e01", "a13_s09_e02", "a13_s09_e03",
    "a14_s03_e01", "a20_s07_e01", "a20_s07_e03", "a20_s10_e03",
))  # fmt: skip
ACTION_SETS = {  # 1-based action ids (Li et al. 2010)
    "as1": (2, 3, 5, 6, 10, 13, 18, 20),
    "as2": (1, 4, 7, 8, 9, 11, 12, 14),
    "as3": (6, 14, 15, 16, 17, 18, 19, 20),
}


def list_inputs(src: Path, opts: ReadOptions, notes: Notes) -> list[Path]:
    """All sequences, or (default) those of the CVPR 2012 list: the list file when it sits
    beside the data, otherwise everything but the ten known bad sequences."""
    files = list_files(src, SUFFIX, WHAT)
    if not opts.file_list:
        notes["file_list"] = "off: every sequence"
        return files
    list_path = (src if src.is_dir() else src.parent) / LIST_FILE
    if list_path.is_file():
        keep = _read_list(list_path)
        notes["file_list"] = f"{list_path.name} ({len(keep)} names)"
        kept = [p for p in files if p.name[:11] in keep]
    else:
        notes["file_list"] = f"built in: every sequence but the {len(KNOWN_BAD)} known bad ones"
        kept = [p for p in files if p.name[:11] not in KNOWN_BAD]
    notes["file_list_left_out"] = len(files) - len(kept)
    if not kept:
        raise InputFormatError(src, "no sequence left after applying the CVPR 2012 file list")
    return kept


def _read_list(path: Path) -> set[str]:
    names = set()
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if NAME.match(line) is None:
            raise InputFormatError(path, f"{line[:40]!r} is not an MSR sequence name", n)
        names.add(line[:11])
    return names


def parse(path: Path, opts: ReadOptions, strict: bool) -> Sample:
    """One sequence as a Sample (1, T, 20, 3)."""
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise InputFormatError(path, f"cannot read ({exc.strerror})") from None
    values = _parse_fast(buf)
    if values is None:
        values = _parse_careful(buf, str(path))
    frames = len(values) // V
    joints = values[:, :3].reshape(1, frames, V, 3)
    m = NAME.match(path.name)
    if m is None:
        if strict:
            raise InputFormatError(
                path, "file name is not an MSR name (aAA_sSS_eEE_skeleton3D.txt)"
            )
        return Sample(joints, -1, path.name.removesuffix(".txt"), {})
    action, subject, rep = (int(g) for g in m.groups())
    if not 1 <= action <= len(MSR):
        raise InputFormatError(path, f"action a{action:02d} outside a01..a{len(MSR):02d}")
    return Sample(joints, action - 1, path.name[:11], {"subject": subject, "repetition": rep})


def _parse_fast(buf: bytes) -> np.ndarray | None:
    """(L, 4) float32 for a clean file (single spaces, 4 values a line), else None."""
    a = np.frombuffer(buf, dtype=np.uint8)
    starts, ends = line_bounds(a)
    if not plain_whitespace(a, starts, ends):
        return None
    used = ends > starts
    starts, ends = starts[used], ends[used]
    n = len(starts)
    if n == 0 or n % V or spaces_if_single(a, starts, ends) != n * (VALUES - 1):
        return None
    bounds = leading_tokens(buf, starts, VALUES - 1)
    if bounds is None:
        return None
    tok_starts = np.concatenate([bounds[0], bounds[1][:, -1:] + 1], axis=1)
    tok_ends = np.concatenate([bounds[1], ends[:, None]], axis=1)
    values = parse_decimals(buf, tok_starts, tok_ends)
    return None if values is None else values.astype(np.float32).reshape(n, VALUES)


def _parse_careful(buf: bytes, path: str) -> np.ndarray:
    rows = []
    last = 0
    for n, line in enumerate(text_lines(buf), 1):
        toks = line.split()
        if not toks:
            continue
        if len(toks) != VALUES:
            raise InputFormatError(
                path, f"expected {VALUES} values (x y z c), found {len(toks)}", n
            )
        values = [number(x) for x in toks]
        if None in values:
            bad = toks[values.index(None)][:30].decode("latin-1")
            raise InputFormatError(path, f"{bad!r} is not a finite number", n)
        rows.append(values)
        last = n
    if not rows:
        raise InputFormatError(path, "empty file (no joint lines)")
    if len(rows) % V:
        raise InputFormatError(
            path,
            f"{len(rows)} joint lines is not a whole number of {V}-joint frames "
            "(truncated file, or not MSR Action3D)",
            last,
        )
    return np.asarray(rows, dtype=np.float32)


def assemble(samples: list[Sample], opts: ReadOptions, notes: Notes) -> SkeletonSet:
    subjects = np.array([s.meta["subject"] for s in samples])
    actions = np.array([s.label + 1 for s in samples])
    train = subjects % 2 == 1
    xsub = np.where(train, TRAIN, TEST).astype(np.int8)
    splits = {"xsub": xsub}
    for name, ids in ACTION_SETS.items():
        splits[name] = np.where(np.isin(actions, ids), xsub, UNUSED).astype(np.int8)
    return SkeletonSet(samples, list(MSR), "msr20", splits, source="msr")
