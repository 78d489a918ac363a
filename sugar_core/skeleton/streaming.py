"""Importing a raw data set straight into a skeletons file, in memory flat in the number of files.

``import_to_file(src, fmt, output, options)`` writes the file ``io.load`` + ``io.save_imported``
write (same datasets, values, order, splits and config; only the chunk shape of ``joints`` may
differ), but for the directory formats nothing grows with the data set except a few numbers
per sample:

1. files are parsed in batches, in worker processes when ``workers > 1`` with a bounded number
   of batches ahead (``io.parse_all``), and checked as they are parsed (``check_sample``);
2. each sample's joints go to a ``SkeletonWriter`` (one HDF5 write per batch of frames) and the
   parent keeps a shape-only copy: label, id, metadata and a zero-strided joints view of the
   sample's shape, which is all a reader's ``assemble`` reads (``shape_only``);
3. the reader's ``assemble`` makes the class list and the splits from those copies, ``screen``
   checks the ids, and the writer adds the per-sample arrays and the import's record (config).

All of it happens inside one ``schema.create``: the file appears only when every step
succeeded; an error (a bad file without ``skip_bad``) or Ctrl-C leaves neither the output nor
a temporary file. Ctrl-C is honoured between samples (``schema.create`` would otherwise hold
it until the write ends: for NTU-120, the whole import).

Single-file formats (pyskl, npz, numpy) are one file in memory anyway: read whole, then written.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sugar_core import schema
from sugar_core.errors import InputFormatError
from sugar_core.skeleton import io
from sugar_core.skeleton.dataset import Sample, SkeletonWriter
from sugar_core.skeleton.readers.checks import screen
from sugar_core.skeleton.readers.common import Notes, ReadOptions, Skipped

__all__ = ["import_to_file", "shape_only"]

_NO_VALUES = np.zeros((), dtype=np.float32)


def shape_only(s: Sample) -> Sample:
    """``s`` without its joint values: the joints become a read-only zero view of the same
    shape (M, T, V, C) float32 that takes no memory; label, id and metadata are kept."""
    return Sample(np.broadcast_to(_NO_VALUES, s.joints.shape), s.label, s.sample_id, s.meta)


def import_to_file(
    src: str | os.PathLike,
    fmt: str,
    output: str | os.PathLike,
    options: ReadOptions | None = None,
    on_progress: io.Progress | None = None,
) -> io.Imported:
    """Read a raw data set of format ``fmt`` and write it to ``output`` (kind skeletons).

    Returns what ``io.load`` returns; for the directory formats the samples of ``.data`` are
    shape-only (``shape_only``: the joint values are in the file, not in memory). Raises what
    ``io.load`` raises, before ``output`` exists.
    """
    opts = options or ReadOptions()
    io.check_options(fmt, opts)
    if fmt in io.FILE_READERS:
        imported = io.load(src, fmt, opts, on_progress)
        io.save_imported(imported, src, fmt, opts, output)
        return imported
    reader = io.DIRECTORY_READERS[fmt]
    notes = Notes()
    paths = reader.list_inputs(Path(src), opts, notes)
    inputs = io.import_inputs(src, opts)
    polite = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )  # then schema.create holds Ctrl-C, and _interruptible hands it over between samples
    made = schema.create(output, "skeletons", seed=io.file_seed(fmt, opts), inputs=inputs)
    with made as f, _interruptible(polite) as check:
        writer = SkeletonWriter(f)
        samples, skipped, misfit = _write_all(fmt, paths, opts, writer, on_progress, check)
        if not samples:
            raise InputFormatError(src, f"none of the {len(paths)} files could be read")
        data = reader.assemble(samples, opts, notes)  # its own error first (mixed layouts)
        if misfit is not None:
            raise misfit
        data, dropped = screen(data, src, opts.skip_bad, values_checked=True)
        imported = io.Imported(data, skipped + dropped, notes.items, len(paths))
        row = {id(s): i for i, s in enumerate(samples)}
        rows = [row[id(s)] for s in data.samples]
        writer.finish(data, rows, config=io.import_config(imported, src, fmt, opts))
    return imported


def _write_all(
    fmt: str,
    paths: list[Path],
    opts: ReadOptions,
    writer: SkeletonWriter,
    on_progress: io.Progress | None,
    check: Callable[[], None],
) -> tuple[list[Sample], list[Skipped], InputFormatError | None]:
    """Parse ``paths`` and append each sample to ``writer``; (shape-only samples, skipped
    files, the first file whose joints do not fit the earlier ones' V and C, or None)."""
    samples: list[Sample] = []
    skipped: list[Skipped] = []
    misfit = None
    first: tuple[Path, tuple] | None = None
    with contextlib.closing(io.parse_all(fmt, paths, opts, on_progress)) as results:
        for path, result in zip(paths, results):  # one result per path, in path order
            check()
            if not isinstance(result, Sample):
                if not opts.skip_bad:
                    raise InputFormatError(result.path, result.reason, result.line)
                skipped.append(result)
                continue
            shape = result.joints.shape[2:]
            first = first or (path, shape)
            if shape != first[1] and misfit is None:
                misfit = InputFormatError(
                    path,
                    f"{shape[0]} joints x {shape[1]} values a frame, but {first[0].name} has "
                    f"{first[1][0]} x {first[1][1]}; import them apart",
                )
            if misfit is None:
                writer.append(result.joints, result.sample_id)
            samples.append(shape_only(result))
    return samples, skipped, misfit


@contextlib.contextmanager
def _interruptible(enabled: bool):
    """Yield ``check()``, which raises KeyboardInterrupt once Ctrl-C has been pressed.

    Inside, Ctrl-C only sets a flag: raised at an arbitrary point it could land inside HDF5's
    callbacks, where Python drops exceptions. A Ctrl-C after the last ``check()`` is raised
    when the block ends. ``enabled`` False: ``check()`` does nothing, signals are left alone.
    """
    if not enabled:
        yield lambda: None
        return
    hits: list[int] = []

    def check() -> None:
        if hits:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, lambda signum, frame: hits.append(signum))
    try:
        yield check
        check()
    finally:
        signal.signal(signal.SIGINT, previous)
