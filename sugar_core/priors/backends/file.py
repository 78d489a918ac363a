"""The ``file`` backend: the user's own texts, as JSON (the builtin format) or CSV.

JSON: ``{class: {"motion": {head, hand, arm, hip, leg, foot}, "visual": [str, ...],
"description": str}}``, optionally wrapped as ``{"classes": {...}}``.

CSV, with a header row ``class,kind,part,text`` (columns in any order): ``kind`` is ``motion``
(``part`` one of the six), ``visual`` (one row per text, ``part`` empty) or ``description``.

Every class needs all six motion parts and at least one visual text; ``description`` may be
left out (it is then derived from the motion sentence, and the priors file says so). Errors name
the file, the line and the class.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from sugar_core.errors import InputFormatError
from sugar_core.priors.backends.base import Backend, Knowledge
from sugar_core.priors.store import MOTION_PARTS

CSV_COLUMNS = ("class", "kind", "part", "text")
KINDS = ("motion", "visual", "description")


class FileBackend(Backend):
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputFormatError(self.path, "no such descriptions file")
        if self.path.suffix.lower() == ".csv":
            self.entries = _read_csv(self.path)
        else:
            self.entries = _read_json(self.path)
        self.id = f"file:{self.path.name}"

    def lookup(self, class_name: str) -> Knowledge | None:
        return self.entries.get(class_name)


def _line_of(text: str, name: str) -> int | None:
    at = text.find(json.dumps(name, ensure_ascii=False) + ":")
    if at < 0:
        at = text.find(json.dumps(name) + ":")
    return text.count("\n", 0, at) + 1 if at >= 0 else None


def _read_json(path: Path) -> dict[str, Knowledge]:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, f"not valid JSON ({exc.msg})", line=exc.lineno) from None
    except RecursionError:
        raise InputFormatError(path, "not valid descriptions (JSON nested too deeply)") from None
    if isinstance(data, dict) and isinstance(data.get("classes"), dict):
        data = data["classes"]
    if not isinstance(data, dict) or not data:
        raise InputFormatError(path, "expected an object mapping class names to entries")
    return {str(name): _json_entry(path, text, name, entry) for name, entry in data.items()}


def _json_entry(path: Path, text: str, name: str, entry) -> Knowledge:
    """One class of the JSON form, checked field by field (errors name the class and line)."""
    line = _line_of(text, name)

    def fail(msg: str):
        raise InputFormatError(path, f"class {name!r}: {msg}", line=line)

    if not isinstance(entry, dict):
        fail(f"entry should be an object, got {type(entry).__name__}")
    unknown = sorted(set(entry) - set(KINDS))
    if unknown:
        fail(f"unknown key(s) {unknown}; expected {list(KINDS)}")
    motion = entry.get("motion")
    if not isinstance(motion, dict):
        fail(f"'motion' should be an object with keys {list(MOTION_PARTS)}")
    extra = sorted(set(motion) - set(MOTION_PARTS))
    missing = [p for p in MOTION_PARTS if not _text(motion.get(p))]
    if missing:
        fail(f"motion parts missing or empty: {missing}")
    if extra:
        fail(f"unknown motion part(s) {extra}; expected {list(MOTION_PARTS)}")
    visual = entry.get("visual")
    if not isinstance(visual, list) or not visual or not all(_text(v) for v in visual):
        fail("'visual' should be a non-empty list of non-empty strings")
    description = entry.get("description", "")
    if description != "" and not _text(description):
        fail("'description' should be a non-empty string")
    return Knowledge(
        motion={p: motion[p].strip() for p in MOTION_PARTS},
        visual=[v.strip() for v in visual],
        description=(description or "").strip(),
    )


def _csv_row(path, row: dict, line: int, motion, visual, description, first_line) -> None:
    """One CSV row into the per-class tables (errors name the line)."""
    if None in row or any(v is None for v in row.values()):
        raise InputFormatError(path, f"expected {len(CSV_COLUMNS)} columns", line=line)
    name, kind = row["class"].strip(), row["kind"].strip().lower()
    part, text = row["part"].strip().lower(), row["text"].strip()
    if not name:
        raise InputFormatError(path, "empty class name", line=line)
    where = f"class {name!r}"
    if not text:
        raise InputFormatError(path, f"{where}: empty text", line=line)
    first_line.setdefault(name, line)
    if kind == "motion":
        if part not in MOTION_PARTS:
            raise InputFormatError(
                path, f"{where}: part {part!r} is not one of {list(MOTION_PARTS)}", line
            )
        if part in motion.setdefault(name, {}):
            raise InputFormatError(path, f"{where}: motion part {part!r} twice", line)
        motion[name][part] = text
    elif kind == "visual":
        visual.setdefault(name, []).append(text)
    elif kind == "description":
        if name in description:
            raise InputFormatError(path, f"{where}: second description", line)
        description[name] = text
    else:
        raise InputFormatError(path, f"{where}: kind {kind!r} is not one of {list(KINDS)}", line)


def _read_csv(path: Path) -> dict[str, Knowledge]:
    motion: dict[str, dict[str, str]] = {}
    visual: dict[str, list[str]] = {}
    description: dict[str, str] = {}
    first_line: dict[str, int] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        if sorted(header) != sorted(CSV_COLUMNS):
            raise InputFormatError(
                path, f"header should be {','.join(CSV_COLUMNS)}, got {','.join(header)}", line=1
            )
        reader.fieldnames = header
        for row in reader:
            _csv_row(path, row, reader.line_num, motion, visual, description, first_line)
    if not first_line:
        raise InputFormatError(path, "no rows after the header")
    out = {}
    for name, line in first_line.items():
        missing = [p for p in MOTION_PARTS if p not in motion.get(name, {})]
        if missing:
            raise InputFormatError(path, f"class {name!r}: motion parts missing: {missing}", line)
        if not visual.get(name):
            raise InputFormatError(path, f"class {name!r}: no visual row", line)
        out[name] = Knowledge(motion[name], visual[name], description.get(name, ""))
    return out


def _text(value) -> bool:
    return isinstance(value, str) and bool(value.strip())
