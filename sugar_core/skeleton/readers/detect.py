"""``--format auto``: which pose format a user's folder (or index CSV, or one clip) holds.

The first clip found is asked of each pose reader in turn (``sniff``: a look at its header or
first frame, no full parse); the first that recognises it names the format.
"""

from __future__ import annotations

import csv
from pathlib import Path

from sugar_core.errors import InputFormatError
from sugar_core.skeleton.readers import mediapipe, mmpose, openpose, plain_csv

POSE_READERS = {"openpose": openpose, "mmpose": mmpose, "mediapipe": mediapipe, "csv": plain_csv}
MAX_LOOKS = 20  # candidates examined before giving up


def _candidates(src: Path):
    """Paths that may be clips: an index's listed files, class folders' entries, or ``src``."""
    if src.is_file() and src.suffix.lower() == ".csv":
        try:
            with open(src, newline="", encoding="utf-8") as fh:
                rows = csv.reader(fh)
                head = [h.strip().lower() for h in next(rows, [])]
                if "file" in head and "label" in head:
                    for row in rows:
                        if len(row) == len(head):
                            yield src.parent / row[head.index("file")].strip()
                    return
        except (OSError, UnicodeDecodeError, csv.Error):
            pass
    if src.is_dir():
        for d in sorted(x for x in src.iterdir() if x.is_dir() and not x.name.startswith(".")):
            yield from sorted(d.iterdir())
        return
    yield src


def detect_format(src: str | Path) -> tuple[str, str]:
    """(format name, what was seen) for ``src``; InputFormatError when nothing fits."""
    src = Path(src)
    if not src.exists():
        raise InputFormatError(src, "no such file or directory")
    for i, path in enumerate(_candidates(src)):
        if i >= MAX_LOOKS:
            break
        for name, reader in POSE_READERS.items():
            if reader.sniff(path):
                return name, f"{reader.WHAT}, recognised in {path}"
    raise InputFormatError(
        src, "--format auto found no clips it knows (expected class folders holding OpenPose "
        "clip folders, MMPose .json, MediaPipe .csv/.json or key point .csv files); name the "
        "format with --format",
    )  # fmt: skip
