"""What every reader shares: the options dataclass, skipped-file records, file listing and class
lists given by name or file."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sugar_core.errors import ConfigError, InputFormatError
from sugar_core.skeleton.classes import NAMED_LISTS


@dataclass
class ReadOptions:
    """Options of ``read_dataset``; each format uses the ones that concern it."""

    # all formats
    workers: int = 1  # processes parsing files in parallel (directory formats); 1 = in-process
    skip_bad: bool = False  # leave unreadable files (or pickle entries) out and list them, not stop
    classes: str | None = None  # class list: a known name (ntu60, ntu120, ...) or a text file
    layout: str | None = None  # joint layout when the joint count alone is ambiguous (arrays)
    # ntu
    drop_list: str | None = None  # file of NTU sample names to leave out (missing skeletons)
    cleanup: bool = True  # drop noise bodies and empty frames (off: every body id, every frame)
    max_bodies: int = 2  # tracks kept after clean-up; NTU actions have one or two people
    # msr
    file_list: bool = True  # keep only the 557 sequences of the CVPR 2012 list
    # npz
    split_name: str | None = None  # name of the file's train/test split (default: from file name)
    # pose formats (openpose, mmpose, mediapipe, csv): a user's own class folders
    test_fraction: float = 0.2  # share of each class's clips (or of the subjects) for test
    seed: int = 0  # draws the test clips / subjects


@dataclass
class Skipped:
    """A file (or an entry inside a file) left out by ``skip_bad``."""

    path: str
    reason: str
    line: int | None = None

    @classmethod
    def from_error(cls, exc: InputFormatError) -> Skipped:
        return cls(exc.path, exc.reason, exc.line)

    def message(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"

    def as_dict(self) -> dict:
        return {"path": self.path, "reason": self.reason, "line": self.line}


@dataclass
class Notes:
    """Facts a reader records about an import (stored in the output file's config)."""

    items: dict = field(default_factory=dict)

    def __setitem__(self, key: str, value) -> None:
        self.items[key] = value


def list_files(src: str | os.PathLike, suffix: str, what: str) -> list[Path]:
    """Files ending in ``suffix`` under ``src`` (recursively, sorted by name), or ``[src]``."""
    src = Path(src)
    if not src.exists():
        raise InputFormatError(src, "no such file or directory")
    if src.is_file():
        if not src.name.endswith(suffix):
            raise InputFormatError(src, f"expected a {what} file ending in {suffix!r}")
        return [src]
    found = sorted(src.rglob(f"*{suffix}"), key=lambda p: p.name)
    for p in found:
        _check_listed(p)
    files = [p for p in found if p.is_file()]
    if not files:
        raise InputFormatError(src, f"no {what} files (*{suffix}) in this directory")
    seen: dict[str, Path] = {}
    for p in files:
        if p.name in seen:
            raise InputFormatError(
                p, f"same file name as {seen[p.name]}; sample ids must be unique"
            )
        seen[p.name] = p
    return files


def _check_listed(p: Path) -> None:
    """Refuse, before any file is read, a listed name UTF-8 cannot store (it becomes a sample
    id) and a symbolic link whose target is gone (it would vanish from the data silently)."""
    try:
        p.name.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(p).decode("utf-8", "backslashreplace")
        raise InputFormatError(shown, "file name is not valid UTF-8; rename the file") from None
    if p.is_symlink() and not p.exists():
        raise InputFormatError(p, f"broken symbolic link (its target {os.readlink(p)} is gone)")


def resolve_classes(spec: str, known: tuple[str, ...] = tuple(NAMED_LISTS)) -> list[str]:
    """A class list from a known name or a text file with one class name per line."""
    if spec in NAMED_LISTS:
        if spec not in known:
            raise ConfigError(f"--classes {spec} does not fit this format; use one of {known}")
        return list(NAMED_LISTS[spec])
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(
            f"--classes {spec!r}: neither a known class list ({', '.join(NAMED_LISTS)}) "
            "nor a text file"
        )
    names = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not names:
        raise InputFormatError(path, "no class names (expected one name per line)")
    return names


# what one input file may unpack to in memory: compression (npz) and repeated references
# (pickle) let a small file ask for far more; a genuine file stays well under 100x its size
EXPANSION = 100
EXPANSION_FLOOR = 256 << 20  # bytes; small files may always unpack to this much


def memory_budget(path: str | os.PathLike) -> int:
    """Bytes a reader may build from the file ``path``: max(256 MiB, 100 x its size)."""
    return max(EXPANSION_FLOOR, EXPANSION * os.path.getsize(path))


MAX_GENERIC_CLASSES = 10_000  # skeleton benchmarks have up to 120 classes; NTU-120 x 80 is ample


def generic_classes(k: int, path: str | os.PathLike | None = None) -> list[str]:
    """``class 0`` .. ``class k-1`` for labels that come without names; refused past
    MAX_GENERIC_CLASSES (one huge label in a tiny file must not build a list that long)."""
    if k > MAX_GENERIC_CLASSES:
        message = (
            f"labels reach {k - 1}: more than {MAX_GENERIC_CLASSES} classes without names "
            "(labels are 0-based class indices; pass --classes FILE to name that many)"
        )
        raise InputFormatError(path, message) if path is not None else ConfigError(message)
    return [f"class {i}" for i in range(k)]
