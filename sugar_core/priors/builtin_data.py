"""The builtin text priors shipped as package data (``sugar_core/priors/builtin/*.json``).

One JSON file per class list. Each maps a class name to an entry::

    {"motion": {"head": ..., "hand": ..., "arm": ..., "hip": ..., "leg": ..., "foot": ...},
     "visual": [at least three one- or two-sentence frame descriptions],
     "description": "one sentence, the LLM target's description"}

The motion parts follow the method's six-part decomposition (``MOTION_PARTS``, in that order);
the visual texts stand in for what a vision-language model would say about kept frames. They
were written by hand for every class of NTU RGB+D 120 (A1..A60 are NTU-60), NW-UCLA and
MSR Action3D, so the pipeline runs offline with no LLM or VLM.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
from pathlib import Path

from sugar_core.errors import ConfigError, SchemaError
from sugar_core.priors.store import MOTION_PARTS
from sugar_core.skeleton.classes import MSR, NTU120, NW_UCLA
from sugar_core.skeleton.synthetic import SYNTHETIC_CLASSES

BUILTIN_SETS = ("ntu120", "nw-ucla", "msr", "synthetic")
# Which class list each file covers; "ntu60" is the first 60 classes of the NTU-120 file.
_CLASS_LISTS: dict[str, tuple[str, ...]] = {
    "ntu120": NTU120,
    "nw-ucla": NW_UCLA,
    "msr": MSR,
    "synthetic": SYNTHETIC_CLASSES,  # the embedded demo dataset (sugar_core/synthetic.py)
}
_ALIASES = {"ntu60": ("ntu120", 60)}
DATA_DIR = Path(__file__).with_name("builtin")


def _norm(name: str) -> str:
    """Case- and spacing-insensitive form used as a fallback match."""
    return " ".join(name.lower().split())


@functools.cache
def _read(dataset: str) -> dict[str, dict]:
    path = DATA_DIR / f"{dataset}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(f"{path}: builtin priors file missing from the installation") from None
    except json.JSONDecodeError as e:
        raise SchemaError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    for name, entry in data.items():
        _check_entry(path, name, entry)
    return data


def _check_entry(path: Path, name: str, entry) -> None:
    where = f"{path}: class {name!r}"
    if not isinstance(entry, dict):
        raise SchemaError(f"{where}: entry should be an object, got {type(entry).__name__}")
    motion = entry.get("motion")
    if not isinstance(motion, dict) or tuple(motion) != MOTION_PARTS:
        got = list(motion) if isinstance(motion, dict) else motion
        raise SchemaError(f"{where}: motion keys should be {list(MOTION_PARTS)}, got {got}")
    visual = entry.get("visual")
    if not isinstance(visual, list) or not visual or not all(isinstance(v, str) for v in visual):
        raise SchemaError(f"{where}: visual should be a non-empty list of strings")
    if not isinstance(entry.get("description"), str) or not entry["description"]:
        raise SchemaError(f"{where}: description should be a non-empty string")


def _resolve_set(dataset: str) -> tuple[str, int | None]:
    key = dataset.lower()
    if key in _ALIASES:
        return _ALIASES[key]
    if key in _CLASS_LISTS:
        return key, None
    known = ", ".join(BUILTIN_SETS + tuple(_ALIASES))
    raise ConfigError(f"no builtin priors for {dataset!r}; known: {known}")


def load_builtin(dataset: str) -> dict[str, dict]:
    """All entries of one builtin set, keyed by class name in the dataset's label order.

    ``dataset`` is one of ``BUILTIN_SETS`` or ``"ntu60"``. Returns deep copies, so callers may
    edit them freely.
    """
    name, limit = _resolve_set(dataset)
    data = _read(name)
    classes = _CLASS_LISTS[name][:limit] if limit else _CLASS_LISTS[name]
    return {c: copy.deepcopy(data[c]) for c in classes if c in data}


def _search_order(dataset: str | None) -> list[str]:
    if dataset is None:
        return list(BUILTIN_SETS)
    first, _ = _resolve_set(dataset)
    return [first] + [s for s in BUILTIN_SETS if s != first]


def lookup(class_name: str, dataset: str | None = None) -> dict | None:
    """The builtin entry for one class name, or None when no builtin set has it.

    An exact match wins over a case/spacing-insensitive one. A name present in several sets
    (e.g. "throw" in NTU and NW-UCLA) comes from ``dataset`` when given, else from the first
    set of ``BUILTIN_SETS`` that has it.
    """
    order = _search_order(dataset)
    for s in order:
        if class_name in _read(s):
            return copy.deepcopy(_read(s)[class_name])
    want = _norm(class_name)
    for s in order:
        for name, entry in _read(s).items():
            if _norm(name) == want:
                return copy.deepcopy(entry)
    return None


def known_names() -> list[str]:
    """Every class name that has a builtin entry (each once, in set order)."""
    seen: dict[str, None] = {}
    for s in BUILTIN_SETS:
        seen.update(dict.fromkeys(_read(s)))
    return list(seen)


def close_matches(class_name: str, n: int = 3) -> list[str]:
    """Builtin class names that look like ``class_name`` (difflib ratio, case-insensitive)."""
    names = known_names()
    by_norm = {_norm(x): x for x in names}
    hits = difflib.get_close_matches(_norm(class_name), list(by_norm), n=n, cutoff=0.6)
    return [by_norm[h] for h in hits]


def require(class_names: list[str], dataset: str | None = None) -> list[dict]:
    """Entries for every name, in order; ConfigError naming the unknown ones otherwise.

    The message lists, per unknown name, the closest builtin names, so a typo or a renamed
    class is easy to spot; names with no builtin text need another priors backend.
    """
    entries = [lookup(c, dataset) for c in class_names]
    missing = [c for c, e in zip(class_names, entries) if e is None]
    if missing:
        parts = []
        for c in missing[:5]:
            near = close_matches(c)
            parts.append(f"{c!r} (did you mean {', '.join(map(repr, near))}?)" if near else repr(c))
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ConfigError(
            f"no builtin priors for class(es) {'; '.join(parts)}{more}; "
            "use another priors backend (openai, hf, file) for these classes"
        )
    return entries


def motion_sentence(entry: dict) -> str:
    """The six parts as one sentence, e.g. ``"head tilts back; hand grasps cup; ..."``."""
    return "; ".join(entry["motion"][p] for p in MOTION_PARTS) + "."
