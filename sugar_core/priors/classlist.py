"""Where the class names for a priors run come from: a sugar file, a text file or a named list."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sugar_core import schema
from sugar_core.errors import ConfigError, InputFormatError, SchemaError
from sugar_core.skeleton.classes import named_list

# sugar data sources (the `source` attribute of a skeletons file) -> builtin set to prefer
_SOURCE_TO_BUILTIN = {
    "ntu": "ntu120",
    "ntu120": "ntu120",
    "ntu60": "ntu60",
    "nw-ucla": "nw-ucla",
    "msr": "msr",
}


@dataclass
class ClassList:
    names: list[str]  # (K,) in label order
    dataset: str | None = None  # builtin set these names most likely come from
    inputs: list[str] = field(default_factory=list)  # files read (recorded in the priors file)


def from_sugar_file(path: str | os.PathLike) -> ClassList:
    """The class names stored in any sugar file that has them (skeletons, tokens, priors...)."""
    with schema.open_file(path) as f:
        if schema.CLASS_NAMES not in f:
            raise SchemaError(f"{path}: has no {schema.CLASS_NAMES!r} dataset to take classes from")
        names = [str(x) for x in schema.read_strings(f, schema.CLASS_NAMES)]
        source = str(f.attrs.get("source", ""))
    if not names:
        raise SchemaError(f"{path}: {schema.CLASS_NAMES!r} is empty")
    return ClassList(names, _SOURCE_TO_BUILTIN.get(source.lower()), [str(path)])


def from_text(path: str | os.PathLike, stdin: TextIO | None = None) -> ClassList:
    """One class name per line; blank lines and lines starting with '#' are skipped.

    ``path`` ``-`` reads ``stdin``. A repeated name is an error naming its line.
    """
    if str(path) == "-":
        if stdin is None:
            raise ConfigError("--classes - needs names on standard input")
        lines, where, inputs = stdin.read().splitlines(), "<stdin>", []
    else:
        p = Path(path)
        if not p.is_file():
            raise InputFormatError(p, "no such class-list file")
        lines, where, inputs = p.read_text(encoding="utf-8").splitlines(), str(p), [str(p)]
    names: list[str] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        name = raw.strip()
        if not name or name.startswith("#"):
            continue
        if name in seen:
            raise InputFormatError(
                where, f"class {name!r} repeats the one on line {seen[name]}", line=number
            )
        seen[name] = number
        names.append(name)
    if not names:
        raise InputFormatError(where, "no class names (one per line expected)")
    return ClassList(names, None, inputs)


def from_named(name: str) -> ClassList:
    """A list the toolkit knows: ntu60, ntu120, nw-ucla, msr."""
    return ClassList(named_list(name), name, [])


def resolve(
    classes_from: str | None = None,
    classes: str | None = None,
    classes_list: str | None = None,
    stdin: TextIO | None = None,
) -> ClassList:
    """Exactly one of the three sources, else ConfigError."""
    given = [x is not None for x in (classes_from, classes, classes_list)]
    if sum(given) != 1:
        raise ConfigError(
            "give exactly one class source: --classes-from DATA.h5, --classes FILE or "
            "--classes-list NAME"
        )
    if classes_from is not None:
        return from_sugar_file(classes_from)
    if classes is not None:
        return from_text(classes, stdin)
    return from_named(str(classes_list))
