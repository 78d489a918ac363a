"""NTU RGB+D 60/120 raw ``.skeleton`` files: parsing, sample names, class list and splits.

File structure (Kinect v2 dump, CRLF or LF)::

    <frames>
    per frame:  <bodies>
      per body: <bodyID clippedEdges handLeftConf handLeftState handRightConf handRightState
                 isRestricted leanX leanY trackingState>
                <joints = 25>
                25 x <x y z depthX depthY colorX colorY orientW orientX orientY orientZ state>

Only x, y, z (camera space, metres) are kept. A fast road finds every line of the structure
with array operations (``_structure``) and parses the x, y, z columns of all joint lines at once
(``text.parse_decimals``); if anything looks unusual it hands over to a careful line-by-line
parser that either copes (other whitespace, for instance) or raises an error naming the line.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sugar_core.errors import ConfigError, InputFormatError
from sugar_core.skeleton.classes import NTU60, NTU120
from sugar_core.skeleton.dataset import TEST, TRAIN, Sample, SkeletonSet
from sugar_core.skeleton.readers.common import Notes, ReadOptions, list_files, resolve_classes
from sugar_core.skeleton.readers.ntu_clean import NtuCleanup, NtuRecording, clean
from sugar_core.skeleton.readers.text import (
    leading_tokens,
    line_bounds,
    number,
    parse_decimals,
    plain_whitespace,
    spaces_if_single,
    text_lines,
)

V = 25  # joints per body in Kinect v2
JOINT_VALUES = 12  # values per joint line
INFO_VALUES = 10  # values per body-info line
NAME = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")

# public protocol facts (NTU RGB+D papers; see docs/anchors.md)
NTU60_XSUB_TRAIN = frozenset(
    (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
)
NTU120_XSUB_TRAIN = NTU60_XSUB_TRAIN | frozenset(
    (45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86,
     89, 91, 92, 93, 94, 95, 97, 98, 100, 103)
)  # fmt: skip
XVIEW_TRAIN_CAMERAS = frozenset((2, 3))


def parse_name(stem: str) -> dict[str, int] | None:
    """``S001C002P003R002A013`` -> {setup, camera, subject, repetition, action}, or None."""
    m = NAME.match(stem)
    if m is None:
        return None
    setup, camera, subject, rep, action = (int(g) for g in m.groups())
    return {
        "setup": setup,
        "camera": camera,
        "subject": subject,
        "repetition": rep,
        "action": action,
    }


# ---------------------------------------------------------------------------------------------
# parsing


def _structure(buf: bytes, a: np.ndarray, starts: np.ndarray, ends: np.ndarray):
    """(frames, info line of each body record, frame of each record) of a clean file, or None.

    Walks the structure without a Python loop: count lines are the only lines of one or two
    characters (beyond the first), joint counts are all 25 and a body count never is (Kinect v2
    tracks at most 6), so the short lines split into body counts and joint counts, and the
    body counts fix where every line must be. Any line out of place gives None.
    """
    try:
        frames = int(buf[starts[0] : ends[0]])
    except ValueError:
        return None
    if frames < 0:
        return None
    length = ends - starts
    short = np.flatnonzero((length >= 1) & (length <= 2))
    short = short[short > 0]
    first = a[starts[short]].astype(np.int64) - 48
    last = a[ends[short] - 1].astype(np.int64) - 48
    if np.any((first < 0) | (first > 9) | (last < 0) | (last > 9)):
        return None
    value = np.where(length[short] == 2, 10 * first + last, first)
    is_frame = value != V
    frame_lines, counts = short[is_frame], value[is_frame]
    if len(frame_lines) != frames:
        return None
    before = np.cumsum(counts) - counts  # body records before each frame
    if np.any(frame_lines != 1 + np.arange(frames) + (2 + V) * before):
        return None
    b = int(counts.sum())
    frame_of = np.repeat(np.arange(frames), counts)
    info = frame_lines[frame_of] + 1 + (2 + V) * (np.arange(b) - before[frame_of])
    if not np.array_equal(short[~is_frame], info + 1):
        return None  # a joint count other than 25, or a short line where none belongs
    end = 1 + frames + (2 + V) * b
    if end > len(starts) or np.any(length[end:] != 0):
        return None  # truncated, or something after the last frame
    return frames, info, frame_of


def _scan_fast(buf: bytes) -> NtuRecording | None:
    """Parse a well-formed file fast; None if anything is unusual (the careful parser decides)."""
    a = np.frombuffer(buf, dtype=np.uint8)
    starts, ends = line_bounds(a)
    layout = _structure(buf, a, starts, ends) if plain_whitespace(a, starts, ends) else None
    if layout is None:
        return None
    frames, info, frame_of = layout
    if len(info) == 0:
        return NtuRecording(frames, frame_of, [], np.zeros((0, V, 3), np.float32))
    # count lines hold one integer each, so a line with a value missing or extra changes the
    # total number of spaces (two faulty lines that compensate would not, and their x, y, z
    # still parse; the careful parser is stricter)
    spaces = len(info) * (INFO_VALUES - 1 + V * (JOINT_VALUES - 1))
    if spaces_if_single(a, starts, ends) != spaces:
        return None
    joint_lines = (info[:, None] + 2 + np.arange(V)).ravel()  # (B * V,)
    bounds = leading_tokens(buf, starts[np.concatenate([joint_lines, info])], 3)
    if bounds is None:
        return None
    n = len(joint_lines)
    values = parse_decimals(buf, bounds[0][:n], bounds[1][:n])  # (B * V * 3,)
    if values is None:
        return None
    id_starts, id_ends = bounds[0][n:, 0].tolist(), bounds[1][n:, 0].tolist()
    ids = [buf[i:j] for i, j in zip(id_starts, id_ends)]
    xyz = values.astype(np.float32).reshape(len(info), V, 3)
    return NtuRecording(frames, frame_of, ids, xyz)


def _scan_careful(buf: bytes, path: str) -> NtuRecording:
    """Parse line by line, tokens split at any whitespace; raise InputFormatError naming the line.

    Checks the structure (counts, values per line) and that x, y, z are numbers; the columns
    sugar does not read are only counted.
    """
    lines = text_lines(buf)
    pos = 0  # index of the next line to read

    def take(what: str) -> list[bytes]:
        nonlocal pos
        if pos >= len(lines):
            raise InputFormatError(path, f"file ends early: expected {what}", len(lines) + 1)
        pos += 1
        return lines[pos - 1].split()

    def count(what: str) -> int:
        toks = take(what)
        if len(toks) != 1 or not toks[0].isdigit():
            found = b" ".join(toks)[:40].decode("latin-1") or "an empty line"
            raise InputFormatError(path, f"expected {what} (a whole number), found {found!r}", pos)
        return int(toks[0])

    frames = count("the frame count")
    info_ids: list[bytes] = []
    frame_of: list[int] = []
    rows: list[list[float]] = []
    for t in range(frames):
        nb = count(f"the body count of frame {t + 1} of {frames}")
        for b in range(nb):
            where = f"frame {t + 1}, body {b + 1}"
            toks = take(f"the body-info line of {where}")
            if len(toks) != INFO_VALUES:
                raise InputFormatError(
                    path,
                    f"body-info line of {where}: expected {INFO_VALUES} values, found {len(toks)}",
                    pos,
                )
            info_ids.append(toks[0])
            nj = count(f"the joint count of {where}")
            if nj != V:
                raise InputFormatError(
                    path, f"{where}: expected {V} joints (Kinect v2), found {nj}", pos
                )
            for j in range(V):
                toks = take(f"joint {j + 1} of {where}")
                if len(toks) != JOINT_VALUES:
                    raise InputFormatError(
                        path,
                        f"joint line of {where}: expected {JOINT_VALUES} values, found {len(toks)}",
                        pos,
                    )
                xyz = [number(x) for x in toks[:3]]
                if None in xyz:
                    bad = toks[xyz.index(None)][:30].decode("latin-1")
                    raise InputFormatError(
                        path, f"joint line of {where}: {bad!r} is not a finite number", pos
                    )
                rows.append(xyz)
            frame_of.append(t)
    rest = [n for n in range(pos, len(lines)) if lines[n].strip()]
    if rest:
        raise InputFormatError(
            path, f"unexpected content after the last of {frames} frames", rest[0] + 1
        )
    xyz = np.asarray(rows, dtype=np.float32).reshape(len(frame_of), V, 3)
    return NtuRecording(frames, np.asarray(frame_of, dtype=np.int64), info_ids, xyz)


def parse_recording(buf: bytes, path: str | Path) -> NtuRecording:
    """Every body record of one ``.skeleton`` file (fast path, careful path if needed)."""
    rec = _scan_fast(buf)
    return rec if rec is not None else _scan_careful(buf, str(path))


def read_ntu_file(path: str | Path, cleanup: NtuCleanup | None = None) -> Sample:
    """One ``.skeleton`` file as a Sample (M, T, 25, 3) after clean-up.

    Label and metadata come from an NTU name (SsssCcccPpppRrrrAaaa); other names give label -1
    and no metadata, which suits prediction on a user's own recordings.
    """
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise InputFormatError(path, f"cannot read ({exc.strerror})") from None
    rec = parse_recording(buf, path)
    if len(rec.body_ids) == 0:
        raise InputFormatError(
            path,
            f"no body is tracked in any of its {rec.frames} frames (a missing-skeleton "
            "sample; pass --drop-list with the published list, or --skip-bad)",
        )
    joints = clean(rec, cleanup or NtuCleanup())
    stem = path.name.split(".")[0]
    meta = parse_name(stem)
    if meta is None:
        return Sample(joints, -1, stem, {})
    action = meta.pop("action")
    meta["view"] = meta["camera"]
    return Sample(joints, action - 1, stem, meta)


# ---------------------------------------------------------------------------------------------
# data set level


SUFFIX = ".skeleton"
WHAT = "NTU RGB+D .skeleton"


def cleanup_from(opts: ReadOptions) -> NtuCleanup:
    return NtuCleanup(enabled=opts.cleanup, max_bodies=opts.max_bodies)


def list_inputs(src: Path, opts: ReadOptions, notes: Notes) -> list[Path]:
    """The .skeleton files under ``src`` minus those named in ``opts.drop_list``."""
    files = list_files(src, SUFFIX, WHAT)
    if opts.drop_list:
        drop = read_drop_list(opts.drop_list)
        kept = [p for p in files if p.name.split(".")[0] not in drop]
        notes["drop_list"] = {
            "path": str(Path(opts.drop_list).resolve()),
            "names": len(drop),
            "dropped": len(files) - len(kept),
        }
        files = kept
        if not files:
            raise InputFormatError(src, f"every .skeleton file is named in {opts.drop_list}")
    return files


def parse(path: Path, opts: ReadOptions, strict: bool) -> Sample:
    """One file; ``strict`` (data-set import) also requires an NTU sample name."""
    if strict and parse_name(path.name.split(".")[0]) is None:
        raise InputFormatError(
            path, "file name is not an NTU sample name (SsssCcccPpppRrrrAaaa.skeleton)"
        )
    return read_ntu_file(path, cleanup_from(opts))


def read_drop_list(path: str | Path) -> set[str]:
    """Sample names, one per line (``.skeleton`` suffix, blanks and ``#`` comments allowed)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--drop-list {path}: no such file")
    names = set()
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        stem = line.split(".")[0]
        if NAME.match(stem) is None:
            raise InputFormatError(path, f"{line[:40]!r} is not an NTU sample name", n)
        names.add(stem)
    return names


def assemble(samples: list[Sample], opts: ReadOptions, notes: Notes) -> SkeletonSet:
    """Class list (ntu60 unless an action id exceeds 60) and the standard splits."""
    top = max(s.label for s in samples) + 1
    spec = opts.classes or ("ntu120" if top > 60 else "ntu60")
    names = resolve_classes(spec, known=("ntu60", "ntu120"))
    if top > len(names):
        raise ConfigError(f"--classes {spec} has {len(names)} classes but action A{top:03d} occurs")
    ntu120 = tuple(names) == NTU120
    subjects = np.array([s.meta["subject"] for s in samples])
    train_subjects = NTU120_XSUB_TRAIN if ntu120 else NTU60_XSUB_TRAIN
    splits = {"xsub": _split(np.isin(subjects, list(train_subjects)))}
    if ntu120:
        setups = np.array([s.meta["setup"] for s in samples])
        splits["xset"] = _split(setups % 2 == 0)
    else:
        cameras = np.array([s.meta["camera"] for s in samples])
        splits["xview"] = _split(np.isin(cameras, list(XVIEW_TRAIN_CAMERAS)))
    notes["class_list"] = spec if tuple(names) in (NTU60, NTU120) else "file"
    notes["cleanup"] = cleanup_from(opts).describe()
    return SkeletonSet(samples, names, "ntu25", splits, source="ntu")


def _split(train: np.ndarray) -> np.ndarray:
    return np.where(train, TRAIN, TEST).astype(np.int8)
