"""Where outputs go: one guard before the work, and writes that fail cleanly.

Every command that writes a file calls ``check_output`` before it reads or trains anything:

    check_output("tokens.h5", inputs=["data.h5", "priors.h5"])   # OutputError, or the path

It refuses an output that is one of the inputs (the same file after links, hard links
included), a path whose folder cannot be made or written (a part of it is a file, the folder is
read-only, a name longer than the file system allows) and a file system without room for a
modest estimate of the output. ``schema.atomic_path`` does the writing; from this module it
takes the rest of the safety net:

- ``GuardedFile``: the file object HDF5 and torch write through. The first failed write (a full
  disk) is remembered and later writes go nowhere, so the HDF5 library never sees a failed
  write (it crashes on one at close); the remembered error is raised once the writer is done.
- ``deferred_interrupt``: Ctrl-C during a write is held until the write ends, then raised, so it
  cannot vanish inside HDF5's clean-up callbacks (where Python ignores exceptions).
- ``temp_prefix`` / ``remove_stale_temps``: temporary files are named
  ``.<output>.sugar-<pid>-<random><suffix>``; the next write into the same folder removes the
  ones whose process is gone and that are older than the running process. Nothing else is
  ever removed, and temporary folders (``.dir``) are left alone.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from sugar_core.errors import OutputError

MIN_FREE = 1 << 20  # bytes every output needs at the least
NAME_MAX = 255  # bytes in one file name on common file systems (pathconf says where it can)
SHARE_OF_INPUTS = 0.25  # the room asked for beyond MIN_FREE: a quarter of the input files
TEMP_MARK = "sugar-"
TEMP_EXTRA = len(f".{TEMP_MARK}4194304-abcdefgh.tmp") + 1  # what a temp name adds to a name
_TEMP = re.compile(r"^\..+\." + TEMP_MARK + r"(?P<pid>\d+)-[a-z0-9_]{8}\.[a-z]{2,5}$")
_STARTED = time.time()  # temps younger than this process are never touched


def _human(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover - the loop always returns


def reason(exc: OSError) -> str:
    """A short, one-line reason for an OS error (HDF5's own messages span lines)."""
    if exc.errno is not None and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split())[:200] or exc.__class__.__name__


def write_failure(path: str | os.PathLike, exc: OSError) -> OutputError:
    """The OutputError for an OS error met while writing ``path``."""
    other = exc.filename if exc.filename and not _is_temp_of(exc.filename, path) else None
    where = f" ({other})" if other and str(other) != str(path) else ""
    hint = " (the disk is full)" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
    return OutputError(f"{path}: cannot write: {reason(exc)}{where}{hint}")


def _is_temp_of(name, path) -> bool:
    return Path(name).name.startswith(f".{Path(path).name}.{TEMP_MARK}")


# ---------------------------------------------------------------------------------------------
# the guard


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name one file (links followed, hard links included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return Path(a).resolve() == Path(b).resolve()


def _existing_ancestor(folder: Path) -> Path:
    """The nearest part of ``folder`` that exists (the folder itself when it does)."""
    folder = Path(os.path.abspath(folder))
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf here: assume the common limit
        return 255


def _input_bytes(inputs: Iterable) -> int:
    total = 0
    for p in inputs:
        with contextlib.suppress(OSError, TypeError):
            if p is not None and Path(p).is_file():
                total += Path(p).stat().st_size
    return total


def check_output(
    path: str | os.PathLike,
    inputs: Iterable[str | os.PathLike | None] = (),
    need_bytes: int | None = None,
    folder: bool = False,
) -> Path:
    """Refuse, before any work, an output that cannot or must not be written; return it.

    inputs: files (or folders) the run reads; the output may be none of them.
    need_bytes: room the output needs; default MIN_FREE plus a quarter of the input files.
    folder: the output is a folder (``demo``, ``--plots``), not a file.
    Raises OutputError naming the path and what is wrong.
    """
    out, inputs = Path(path), list(inputs)
    if not str(path) or out.name in ("", ".", ".."):
        raise OutputError(f"{str(path)!r}: not a file name")
    _check_names(out, NAME_MAX, folder)  # before any stat: a long name fails those too
    if out.is_dir() and not folder:
        raise OutputError(f"{out}: is a folder; give the name of a file to write")
    if out.exists() and not out.is_dir() and folder:
        raise OutputError(f"{out}: is a file; give the name of a folder to write into")
    for inp in inputs:
        if inp is not None and (out.exists() or out.is_symlink()) and same_file(out, inp):
            raise OutputError(
                f"{out}: is also an input ({inp}); writing it would destroy the input, "
                "give another output name"
            )
    check_folder(out if folder else out.parent, out)
    if need_bytes is None:
        need_bytes = MIN_FREE + int(SHARE_OF_INPUTS * _input_bytes(inputs))
    check_room(out if folder else out.parent, need_bytes, out)
    return out


def _check_names(out: Path, limit: int, folder: bool) -> None:
    """Each part of ``out`` fits in ``limit`` bytes; a file's name leaves room for its temp."""
    for i, name in enumerate(out.parts):
        extra = TEMP_EXTRA if i == len(out.parts) - 1 and not folder else 0
        if len(os.fsencode(name)) + extra > limit:
            raise OutputError(
                f"{name[:40]}...: name too long ({len(os.fsencode(name))} bytes; the file system "
                f"takes {limit - extra} here{', with room for a temporary name' if extra else ''})"
            )


def check_folder(folder: str | os.PathLike, out: str | os.PathLike) -> Path:
    """The part of ``folder`` that exists must be a writable folder; names must fit."""
    folder = Path(folder)
    base = _existing_ancestor(folder)
    if not base.is_dir():
        raise OutputError(f"{out}: {base} is a file, not a folder")
    _check_names(Path(out), _name_max(base), folder=Path(out) == folder)
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: folder {base} is not writable")
    return base


def check_room(folder: str | os.PathLike, need: int, out: str | os.PathLike) -> None:
    """OutputError when the file system holding ``folder`` has less than ``need`` bytes free."""
    base = _existing_ancestor(Path(folder))
    try:
        free = shutil.disk_usage(base).free
    except OSError:  # a file system that cannot say: let the write itself find out
        return
    if free < need:
        raise OutputError(
            f"{out}: only {_human(free)} free on the disk of {base}; the output needs about "
            f"{_human(need)}. Free some space or write elsewhere"
        )


# ---------------------------------------------------------------------------------------------
# the write


class GuardedFile(io.RawIOBase):
    """A binary file that survives its first failed write by carrying on in memory.

    HDF5 (through h5py's file-object driver) and ``torch.save`` write through it; neither ever
    sees a write fail, so neither is left half-closed. After the first failure (a full disk)
    the bytes written so far are copied into memory and every later read and write goes there,
    so the writer reads back what it wrote and finishes consistently (HDF5 reading back
    metadata that was dropped crashed the process). ``with`` closes the file and raises the
    remembered OSError, if any, in place of whatever the writer raised after it.
    """

    def __init__(self, path: str | os.PathLike):
        super().__init__()
        self.fh = open(path, "w+b", buffering=0)  # noqa: SIM115 - closed by close()
        self.error: OSError | None = None
        self.target = self.fh  # the real file until a write fails, then a BytesIO

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.target.seek(pos, whence)

    def tell(self) -> int:
        return self.target.tell()

    def readinto(self, buffer) -> int:
        return self.target.readinto(buffer)

    def _spill(self, exc: OSError, pos: int) -> None:
        """Remember ``exc``; go on in memory from a copy of what the file holds."""
        self.error = exc
        try:
            self.fh.seek(0)
            held = self.fh.read()
        except OSError:
            held = b""
        self.target = io.BytesIO(held)
        self.target.seek(pos)

    def write(self, data) -> int:
        size = memoryview(data).nbytes
        if self.error is None:
            pos = self.fh.tell()
            try:
                written = self.fh.write(data)
                if written == size:
                    return written
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.fh.name))
            except OSError as exc:
                self._spill(exc, pos)
        return self.target.write(data)

    def truncate(self, size: int | None = None) -> int:
        if self.error is None:
            try:
                return self.fh.truncate(size)
            except OSError as exc:
                self._spill(exc, self.fh.tell())
        return self.target.truncate(size)

    def flush(self) -> None:
        if self.error is None and not self.fh.closed:
            try:
                self.fh.flush()
            except OSError as exc:
                self._spill(exc, self.fh.tell())

    def close(self) -> None:
        if not self.fh.closed:
            self.flush()
            self.fh.close()
        if self.target is not self.fh:
            self.target.close()
        super().close()

    def __exit__(self, *exc_info):
        self.close()
        if self.error is not None:
            raise self.error
        return False


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) while the body runs; raise KeyboardInterrupt when it has ended.

    Only in the main thread and only where SIGINT has Python's default handler (a handler of
    the caller's, or an ignored SIGINT, is left as it is)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    hits: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: hits.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if hits:
        raise KeyboardInterrupt


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    On any exception, KeyboardInterrupt included, the temporary file is removed and ``path`` is
    left as it was (absent or the previous version). Ctrl-C during the body is held until the
    body ends (``deferred_interrupt``); an OS error (a full disk, no permission) becomes
    an OutputError naming ``path``. Temporary files that killed runs left in the folder are
    removed first (``remove_stale_temps``).
    """
    path = Path(path)
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]  # deepest first
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=suffix, dir=path.parent)
    except OSError as exc:
        _remove_empty(made)
        raise write_failure(path, exc) from None
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)  # mkstemp makes 0600 files; outputs get the usual 0666 & ~umask
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)
    try:
        with deferred_interrupt():
            yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        _remove_empty(made)  # a failed write leaves no new folder either
        if isinstance(exc, OSError):
            raise write_failure(path, exc) from None
        raise


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders (deepest first) that are still empty; others are left alone."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (someone else wrote there), or already gone
            return


def temp_prefix(path: str | os.PathLike) -> str:
    """The start of a temporary name beside ``path``: ``.<name>.sugar-<pid>-``."""
    return f".{Path(path).name}.{TEMP_MARK}{os.getpid()}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # Windows: os.kill(pid, 0) is not a probe
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # someone else's process: alive
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that killed runs left in ``folder``; return them.

    Only regular files named like ours, whose process no longer runs and that are older than
    the running process. Errors (a file that vanished, no permission) are skipped quietly.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m is None or _alive(int(m["pid"])):
            continue
        with contextlib.suppress(OSError):
            st = entry.stat(follow_symlinks=False)
            if entry.is_file(follow_symlinks=False) and st.st_mtime < _STARTED:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed
