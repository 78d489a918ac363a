"""A user's own data set on disk: clips of a pose format sorted into class folders, or listed
in an index CSV. The pose readers (openpose, mmpose, mediapipe, csv) share this layout.

Class folders::

    my-clips/
      wave/    clip1.json  clip2.json ...      (openpose: clip1/ clip2/ ..., one folder a clip)
      clap/    ...

Class names are the folder names (sorted: the label order); hidden and empty folders are left
out (empty ones noted). Sample ids are ``<class>/<clip name>``.

Index CSV (SRC is the file; paths relative to its folder)::

    file,label,subject
    clips/a.json,wave,1
    clips/b.json,clap,2

``subject`` is optional; integers are kept, other values are numbered 1, 2, ... in sorted order.

Splits (train 1 / test 0), both seeded by ``ReadOptions.seed``:
- ``default``: per class, ``test_fraction`` of the clips (rounded, at least one, never all of
  a class's clips) go to test: stratified, so every class is in both parts;
- ``xsub`` (when every clip has a subject): ``test_fraction`` of the subjects (at least one)
  are test subjects, the rest train.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from sugar_core.errors import ConfigError, InputFormatError
from sugar_core.skeleton.dataset import TEST, TRAIN, Sample, SkeletonSet
from sugar_core.skeleton.readers.common import Notes, ReadOptions
from sugar_core.skeleton.readers.poses import layout_for

INDEX_KEY = "_clips"  # list_clips -> assemble hand-over inside Notes (removed by assemble)
MAX_INDEX_BYTES = 64 << 20  # an index CSV larger than this is not an index


def check_fraction(opts: ReadOptions) -> None:
    if not 0.0 < opts.test_fraction < 1.0:
        raise ConfigError(f"--test-fraction must lie in (0, 1), got {opts.test_fraction}")


def list_clips(src: Path, reader, opts: ReadOptions, notes: Notes) -> list[Path]:
    """Every clip of ``reader``'s format under ``src`` (class folders or an index CSV); the
    class, subject and sample id of each travel to ``assemble`` in ``notes``."""
    check_fraction(opts)
    src = Path(src)
    if not src.exists():
        raise InputFormatError(src, "no such file or directory")
    entries = _read_index(src, reader) if src.is_file() else _class_folders(src, reader, notes)
    notes[INDEX_KEY] = {str(p): (cls, subject, sid) for p, cls, subject, sid in entries}
    return [e[0] for e in entries]


def _class_folders(src: Path, reader, notes: Notes) -> list[tuple]:
    folders = sorted(d for d in src.iterdir() if d.is_dir() and not d.name.startswith("."))
    entries, empty = [], []
    for d in folders:
        clips = reader.clips_in(d)
        empty += [] if clips else [d.name]
        entries += [(c, d.name, None, f"{d.name}/{_stem(c)}")
                    for c in clips]  # fmt: skip
    if not entries:
        raise InputFormatError(
            src, f"no {reader.WHAT} clips in class sub-folders (expected {src.name}/<class>/"
            f"<clip>{reader.SUFFIX or '/'}, or an index CSV with columns file,label[,subject])",
        )  # fmt: skip
    notes["classes_from"] = "folder names"
    if empty:
        notes["empty_folders"] = empty
    return entries


def _read_index(path: Path, reader) -> list[tuple]:
    if path.stat().st_size > MAX_INDEX_BYTES:
        raise InputFormatError(path, f"larger than {MAX_INDEX_BYTES >> 20} MiB; not an index CSV")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputFormatError(path, f"cannot read as CSV ({exc})") from None
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if "file" not in header or "label" not in header:
        raise InputFormatError(
            path,
            f"an index CSV needs a header with columns file,label[,subject]; found {header}",
            1,
        )
    col = {h: header.index(h) for h in ("file", "label", "subject") if h in header}
    entries, subjects = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not any(x.strip() for x in row):
            continue
        if len(row) != len(header):
            raise InputFormatError(path, f"{len(row)} fields, the header has {len(header)}", line)
        name, label = row[col["file"]].strip(), row[col["label"]].strip()
        clip = path.parent / name
        if not label:
            raise InputFormatError(path, "empty label", line)
        if not reader.is_clip(clip):
            raise InputFormatError(path, f"{name}: not a {reader.WHAT} clip (or missing)", line)
        subjects.append(row[col["subject"]].strip() if "subject" in col else "")
        entries.append((clip, label, None, str(Path(name).parent / _stem(clip))))
    if not entries:
        raise InputFormatError(path, "the index lists no clips")
    ids = _subject_ids(subjects) if all(subjects) else [None] * len(entries)
    return [(p, c, s, sid) for (p, c, _, sid), s in zip(entries, ids)]


def _stem(clip: Path) -> str:
    return clip.stem if clip.is_file() else clip.name


def _subject_ids(values: list[str]) -> list[int]:
    if all(v.isdigit() for v in values):
        return [int(v) for v in values]
    order = {v: i + 1 for i, v in enumerate(sorted(set(values)))}
    return [order[v] for v in values]


def clip_reader(reader):
    """``list_inputs``, ``parse`` and ``assemble`` of a pose-format module (one that defines
    ``read_clip``, ``SUFFIX``, ``WHAT``), as ``skeleton.io`` calls a directory reader."""

    def list_inputs(src: Path, opts: ReadOptions, notes: Notes) -> list[Path]:
        return list_clips(src, reader, opts, notes)

    def parse(path: Path, opts: ReadOptions, strict: bool) -> Sample:
        return parse_clip(reader, path, opts)

    def assemble_clips(samples: list[Sample], opts: ReadOptions, notes: Notes) -> SkeletonSet:
        return assemble(samples, reader, opts, notes)

    return list_inputs, parse, assemble_clips


def parse_clip(reader, path: Path, opts: ReadOptions) -> Sample:
    """One clip as a Sample with label -1 and its path as id (``assemble`` sets both)."""
    return Sample(reader.read_clip(path, opts), -1, str(path), {})


def assemble(samples: list[Sample], reader, opts: ReadOptions, notes: Notes) -> SkeletonSet:
    """Labels, ids, subjects, layout and splits for the clips ``list_clips`` found."""
    index = notes.items.pop(INDEX_KEY)
    classes = sorted({index[s.sample_id][0] for s in samples})
    layouts: dict[str, str] = {}
    for s in samples:
        cls, subject, sid = index[s.sample_id]
        name = layout_for(s.joints.shape[2], s.joints.shape[3], opts.layout, s.sample_id)
        layouts.setdefault(name, sid)
        s.label, s.sample_id = classes.index(cls), sid
        if subject is not None:
            s.meta["subject"] = subject
    if len(layouts) > 1:
        shown = ", ".join(f"{k} ({v})" for k, v in layouts.items())
        raise ConfigError(f"clips in different joint layouts: {shown}; import them apart")
    labels = np.array([s.label for s in samples])
    splits = {"default": fraction_split(labels, opts.test_fraction, opts.seed)}
    notes["split_default"] = f"{opts.test_fraction:g} of each class's clips test (seed {opts.seed})"
    subjects = np.array([s.meta.get("subject", -1) for s in samples])
    if len(samples) and np.all(subjects >= 0) and len(set(subjects.tolist())) > 1:
        splits["xsub"], test = subject_split(subjects, opts.test_fraction, opts.seed)
        notes["split_xsub"] = f"test subjects {test} (seed {opts.seed})"
    layout = next(iter(layouts))
    return SkeletonSet(samples, classes, layout, splits, source=reader.NAME)


def fraction_split(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """(N,) int8: per class, round(fraction * n) clips test (1 .. n - 1 when n >= 2)."""
    rng = np.random.default_rng(seed)
    out = np.full(len(labels), TRAIN, dtype=np.int8)
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        if len(idx) < 2:
            continue
        n_test = min(max(1, round(fraction * len(idx))), len(idx) - 1)
        out[rng.permutation(idx)[:n_test]] = TEST
    return out


def subject_split(subjects: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, list]:
    """(N,) int8 with ``fraction`` of the subjects (at least one, not all) test; and those."""
    rng = np.random.default_rng(seed)
    uniq = np.unique(subjects)
    n_test = min(max(1, round(fraction * len(uniq))), len(uniq) - 1)
    test = sorted(int(x) for x in rng.permutation(uniq)[:n_test])
    return np.where(np.isin(subjects, test), TEST, TRAIN).astype(np.int8), test
