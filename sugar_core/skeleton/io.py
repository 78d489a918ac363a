"""Reading raw skeleton data sets: one entry point for every format sugar imports.

``read_dataset(src, fmt, options)`` turns a directory of raw files (or one array / pickle file)
into a SkeletonSet; ``load`` does the same and also returns what was skipped and the facts the
reader recorded; ``read_file(path, fmt)`` parses ONE raw file into samples (for ``sugar predict``
on a user's own recordings: labels are -1 where the file does not say).

Formats: ``ntu`` (raw NTU RGB+D .skeleton files), ``nw-ucla`` (CTR-GCN JSON), ``msr`` (MSR
Action3D ``*_skeleton3D.txt``), ``pyskl`` (PYSKL / MMAction2 annotation pickle), ``npz``
(CTR-GCN ``x_train/y_train/x_test/y_test``) and ``numpy`` (sugar's plain array format); and a
user's own clips in class folders from pose estimators: ``openpose``, ``mmpose``, ``mediapipe``,
``csv`` (``readers/folders.py``; ``readers/detect.py`` names the format for ``--format auto``).

Directory formats are parsed file by file, in a process pool when ``workers > 1``; every worker
returns samples or "bad file" records, so ``skip_bad`` can list what it left out.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import ModuleType

from sugar_core.errors import ConfigError, InputFormatError
from sugar_core.skeleton.dataset import Sample, SkeletonSet
from sugar_core.skeleton.readers import arrays, msr, ntu, pyskl, ucla
from sugar_core.skeleton.readers.checks import check_sample, screen
from sugar_core.skeleton.readers.common import Notes, ReadOptions, Skipped
from sugar_core.skeleton.readers.detect import POSE_READERS

__all__ = [
    "FORMATS",
    "Imported",
    "ReadOptions",
    "Skipped",
    "load",
    "read_dataset",
    "read_file",
    "save_imported",
]

# name -> reader module; directory readers expose SUFFIX, WHAT, list_inputs, parse, assemble;
# single-file readers expose read
DIRECTORY_READERS: dict[str, ModuleType] = {"ntu": ntu, "nw-ucla": ucla, "msr": msr}
DIRECTORY_READERS.update(POSE_READERS)  # openpose, mmpose, mediapipe, csv: a user's class folders
FILE_READERS: dict[str, ModuleType] = {"pyskl": pyskl, "npz": arrays, "numpy": arrays}
FORMATS = tuple(DIRECTORY_READERS) + tuple(FILE_READERS)

# options that only some formats read; giving one to another format is a mistake worth naming
_OPTION_FORMATS = {
    "drop_list": ("ntu",),
    "cleanup": ("ntu",),
    "max_bodies": ("ntu", *POSE_READERS),
    "test_fraction": tuple(POSE_READERS),
    "seed": tuple(POSE_READERS),
    "file_list": ("msr",),
    "split_name": ("npz",),
    "layout": ("pyskl", "npz", "csv"),
    "classes": ("ntu", "pyskl", "npz"),
}
_OPTION_FLAGS = {"cleanup": "no-cleanup", "file_list": "no-file-list"}
AHEAD = 3  # batches per pool worker in flight or waiting (bounds the parent's memory)
PR_SET_PDEATHSIG = 1  # Linux prctl: the signal a process gets when its parent dies

Progress = Callable[[int, int], None]  # (files just done, total files)


@dataclass
class Imported:
    data: SkeletonSet  # from streaming.import_to_file: shape-only samples (values in the file)
    skipped: list[Skipped] = field(default_factory=list)
    notes: dict = field(default_factory=dict)  # reader facts, stored in the output config
    files: int = 0  # raw files read (or 1 for single-file formats)


def file_seed(fmt: str, opts: ReadOptions) -> int | None:
    """The seed an import's file records (root ``seed``): the one that drew its test split,
    for the formats that draw one; None (stored as -1) for the others."""
    return opts.seed if fmt in _OPTION_FORMATS["seed"] else None


def check_options(fmt: str, opts: ReadOptions) -> None:
    """Refuse unknown formats and options that the format would silently ignore."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    defaults = ReadOptions()
    for f in fields(ReadOptions):
        allowed = _OPTION_FORMATS.get(f.name)
        if allowed and fmt not in allowed and getattr(opts, f.name) != getattr(defaults, f.name):
            flag = _OPTION_FLAGS.get(f.name, f.name.replace("_", "-"))
            raise ConfigError(f"--{flag} applies to --format {' / '.join(allowed)}, not {fmt}")
    if opts.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {opts.workers}")
    if opts.max_bodies < 1:
        raise ConfigError(f"--max-bodies must be at least 1, got {opts.max_bodies}")


def load(
    src: str | os.PathLike,
    fmt: str,
    options: ReadOptions | None = None,
    on_progress: Progress | None = None,
) -> Imported:
    """Read a whole data set; raise InputFormatError on the first bad file unless skip_bad."""
    opts = options or ReadOptions()
    check_options(fmt, opts)
    if fmt in FILE_READERS:
        path = Path(src)
        if not path.is_file():
            what = "is a directory" if path.is_dir() else "no such file"
            raise InputFormatError(path, f"{what}; --format {fmt} reads one file")
        notes = Notes()
        data, skipped = FILE_READERS[fmt].read(path, fmt, opts, notes)
        data, dropped = screen(data, path, opts.skip_bad)  # every reader's samples: checks.py
        if on_progress:
            on_progress(1, 1)
        return Imported(data, skipped + dropped, notes.items, 1)

    reader = DIRECTORY_READERS[fmt]
    notes = Notes()
    paths = reader.list_inputs(Path(src), opts, notes)
    samples: list[Sample] = []
    skipped: list[Skipped] = []
    with contextlib.closing(parse_all(fmt, paths, opts, on_progress)) as results:
        for result in results:
            if isinstance(result, Sample):
                samples.append(result)
            elif opts.skip_bad:
                skipped.append(result)
            else:
                raise InputFormatError(result.path, result.reason, result.line)
    if not samples:
        raise InputFormatError(src, f"none of the {len(paths)} files could be read")
    data, dropped = screen(reader.assemble(samples, opts, notes), src, opts.skip_bad)
    return Imported(data, skipped + dropped, notes.items, len(paths))


def read_dataset(
    src: str | os.PathLike,
    fmt: str,
    options: ReadOptions | None = None,
    on_progress: Progress | None = None,
) -> SkeletonSet:
    """The SkeletonSet of a raw data set (see ``load`` for the skipped list and notes)."""
    return load(src, fmt, options, on_progress).data


def read_file(
    path: str | os.PathLike, fmt: str, options: ReadOptions | None = None
) -> list[Sample]:
    """Parse ONE raw file of format ``fmt`` into its samples (one for the directory formats).

    File names need not follow the data set's naming scheme: where nothing gives the label it is
    -1 and the metadata is empty. Raises InputFormatError naming the file (and line).
    """
    opts = options or ReadOptions()
    check_options(fmt, opts)
    path = Path(path)
    if fmt in FILE_READERS:
        return read_dataset(path, fmt, opts).samples
    if not (path.is_file() or getattr(DIRECTORY_READERS[fmt], "CLIP_IS_FOLDER", False)):
        raise InputFormatError(path, "no such file")
    return [check_sample(DIRECTORY_READERS[fmt].parse(path, opts, strict=False), path)]


# ---------------------------------------------------------------------------------------------
# parsing many files, optionally in a pool


def _parse_batch(job: tuple[str, list[Path], ReadOptions]) -> list[Sample | Skipped]:
    fmt, paths, opts = job
    reader = DIRECTORY_READERS[fmt]
    out: list[Sample | Skipped] = []
    for p in paths:
        try:
            out.append(check_sample(reader.parse(p, opts, strict=True), p))
        except InputFormatError as exc:  # travels back as data: exceptions do not pickle well
            out.append(Skipped.from_error(exc))
    return out


def parse_all(fmt: str, paths: list[Path], opts: ReadOptions, on_progress: Progress | None):
    """Yield a Sample or a Skipped per path, in path order.

    With a pool, at most ``AHEAD`` batches per worker are in flight or parsed and waiting, so a
    consumer slower than the workers (the HDF5 writer) holds a bounded number of samples.
    Close the generator (``contextlib.closing``) to end the pool at once on an error.
    """
    total = len(paths)
    workers = min(opts.workers, max(1, total // 16))  # a pool does not pay for a handful
    size = max(4, min(128, total // (workers * 8) or 1))
    batches = ((fmt, paths[i : i + size], opts) for i in range(0, total, size))
    if workers == 1:
        tune_allocator()
        results = map(_parse_batch, batches)
        pool = None
    else:
        pool = mp.get_context().Pool(workers, initializer=_worker_init, initargs=(os.getpid(),))
        results = _in_order(pool, batches, AHEAD * workers)
    try:
        for batch in results:
            if on_progress:
                on_progress(len(batch), total)
            yield from batch
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()


def _in_order(pool, jobs, window: int):
    """``pool.imap(_parse_batch, jobs)`` with at most ``window`` jobs submitted and not taken."""
    pending: deque = deque()
    for job in jobs:
        pending.append(pool.apply_async(_parse_batch, (job,)))
        if len(pending) >= window:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def _worker_init(parent: int | None = None) -> None:
    _quiet_worker(parent)
    tune_allocator()
    try:  # the parsers' small matrix products gain nothing from BLAS threads
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass


def _quiet_worker(parent: int | None) -> None:
    """A pool worker leaves Ctrl-C to its parent (which ends the pool) and, on Linux, dies
    with it: an orphaned worker would fail to send its results and print a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:  # the parent died before prctl
        os._exit(0)


_TUNED = False


def tune_allocator() -> None:
    """Keep freed memory in the process (glibc) instead of returning it to the system.

    The parsers allocate and free arrays of a few hundred KB per file; by default glibc hands
    such blocks back to the kernel and page-faults them in again for the next file, which
    costs more than the parsing itself on virtual machines. Allocations under 64 MiB now come
    from the heap and up to 256 MiB of free heap is kept. A no-op off glibc.
    """
    global _TUNED
    if _TUNED:
        return
    _TUNED = True
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    mallopt(m_mmap_threshold, 64 << 20)
    mallopt(m_trim_threshold, 256 << 20)


def save_imported(
    imported: Imported, src, fmt: str, opts: ReadOptions, output: str | os.PathLike
) -> dict:
    """Write what ``load`` read to ``output`` (kind skeletons), with the import's own record
    (``import_config``) as the file's config. Returns that config."""
    from sugar_core.skeleton.dataset import write_skeletons

    config = import_config(imported, src, fmt, opts)
    write_skeletons(imported.data, output, config=config, seed=file_seed(fmt, opts),
                    inputs=import_inputs(src, opts))  # fmt: skip
    return config


def import_config(imported: Imported, src, fmt: str, opts: ReadOptions) -> dict:
    """An import's record (format, source, options, files, what was skipped, reader notes)."""
    from dataclasses import asdict

    return {
        "stage": "data import",
        "format": fmt,
        "source": str(src),
        "options": asdict(opts),
        "files": imported.files,
        "skipped": [s.as_dict() for s in imported.skipped],
        "notes": imported.notes,
    }


def import_inputs(src, opts: ReadOptions) -> list[dict]:
    """The ``inputs`` record of an import: the source and the drop list, hashed."""
    from sugar_core.schema import input_record

    return input_record([src] + ([opts.drop_list] if opts.drop_list else []))
