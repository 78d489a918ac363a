"""Classes named at prediction time: the user's list, and the candidate list they join.

    given = gather_classes("my-classes.txt", ["wave: a person waves one hand"])
    trained, recorded, warnings = model_priors("aligned.h5")
    cands = build_candidates(model.class_names, given, trained, make=lambda cs: ...)

A class list file holds one class per line, ``name`` or ``name: description`` (the first colon
splits); blank lines and lines starting with ``#`` are skipped. Errors name the file and line.
Candidates are the model's own classes followed by the new ones (``only_new``: the given
classes only), each with the prior it is scored with: the model's priors file for a trained
class, else one made on the fly (``class_priors.make_class_priors``). The embedding baseline
uses each candidate's prototype (``priors.prototypes.class_prototypes``), the same function
the zero-shot protocol scores unseen classes with.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sugar_core import schema
from sugar_core.errors import ConfigError, InputFormatError, SchemaError
from sugar_core.pipeline.class_priors import MadePriors, NewClass
from sugar_core.priors.prototypes import class_prototypes
from sugar_core.priors.store import Priors, read_priors
from sugar_core.zeroshot.plan import norm_name

FORM = "expected 'name' or 'name: description'"


# ---------------------------------------------------------------------------------------------
# the user's classes


def _split(text: str) -> tuple[str, str]:
    """(name, description) of one ``name`` or ``name: description``; ValueError saying why
    not."""
    name, colon, description = text.partition(":")
    name, description = " ".join(name.split()), " ".join(description.split())
    if not name:
        raise ValueError(f"no class name in {text.strip()!r}; {FORM}")
    if colon and not description:
        raise ValueError(f"nothing after ':' in {text.strip()!r}; {FORM}")
    if "{" in name or "}" in name:
        raise ValueError(f"class name {name!r} holds a brace, which answers reserve")
    return name, description


def parse_class(text: str, where: str = "--class") -> NewClass:
    """One ``--class`` value; ConfigError starting with ``where``."""
    try:
        name, description = _split(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return NewClass(name, description, where)


def read_class_file(path: str | os.PathLike) -> list[NewClass]:
    """The classes of a class list file (module docstring); InputFormatError naming the line."""
    p = Path(path)
    if not p.is_file():
        raise InputFormatError(p, "is a directory" if p.is_dir() else "no such class list file")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputFormatError(p, f"not UTF-8 text (byte {exc.start})") from None
    out: list[NewClass] = []
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        try:
            name, description = _split(text)
        except ValueError as exc:
            raise InputFormatError(p, str(exc), line=number) from None
        out.append(NewClass(name, description, f"{p}:{number}"))
    if not out:
        raise InputFormatError(p, f"no classes (one a line, {FORM})")
    return out


def gather_classes(path: str | os.PathLike | None = None, options=()) -> list[NewClass]:
    """The classes of a class list file, then of ``--class`` options; a name given twice
    (ignoring case and spacing) is a ConfigError naming both places."""
    given = read_class_file(path) if path is not None else []
    given += [parse_class(t, "--class") for t in options]
    first: dict[str, NewClass] = {}
    for c in given:
        prev = first.setdefault(norm_name(c.name), c)
        if prev is not c:
            raise ConfigError(f"class {c.name!r} given twice ({prev.where} and {c.where})")
    return given


# ---------------------------------------------------------------------------------------------
# the model's own priors


def model_priors(
    aligned: str | os.PathLike, priors: str | os.PathLike | None = None
) -> tuple[Priors | None, dict | None, list[str]]:
    """(priors, the priors file's config, warnings) of the priors file ``aligned`` was trained
    with: ``priors`` when given, else its recorded input of kind priors; (None, None, [a
    warning]) when that file is not where it was."""
    if priors is not None:
        with schema.open_file(priors, "priors") as f:
            config = schema.root_info(f)["config"]
        return read_priors(priors), config, []
    with schema.open_file(aligned, "aligned") as f:
        recorded = schema.root_info(f)["inputs"]
    for rec in recorded:
        path = Path(rec.get("path", ""))
        if not path.is_file():
            continue
        try:
            with schema.open_file(path, "priors") as f:
                config = schema.root_info(f)["config"]
        except SchemaError:
            continue
        warnings = []
        if schema.sha256(path) != rec.get("sha256"):
            warnings.append(
                f"{path}: changed since {aligned} was trained (sha256 differs from the recorded "
                "one); its classes' texts may not be the ones the model learned"
            )
        return read_priors(path), config, warnings
    return None, None, [
        f"{aligned}: the priors file it was trained with is not where it was; the model's "
        "classes take priors from the priors backend (pass --priors priors.h5 to use it)"
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the candidate list


@dataclass
class Candidates:
    """The action list a prediction ranks, and what each class is scored with."""

    names: list[str]  # (K,) in the order shown to the LLM
    new: list[bool]  # (K,) given at prediction time (not one of the model's classes)
    descriptions: list[str]  # (K,) the class's description text ("" = none known)
    sources: list[str]  # (K,) where its prior came from: "model priors", a backend id, ...
    priors: Priors | None  # K classes in list order (the LLM's notes, the baseline); None = none
    prototypes: np.ndarray | None  # (K, E) unit rows for the embedding baseline; None = none
    cached: list[bool] = field(default_factory=list)  # (K,) its prior came from the cache
    notes: list[str] = field(default_factory=list)  # for stderr and --json

    @property
    def new_names(self) -> list[str]:
        return [n for n, is_new in zip(self.names, self.new) if is_new]


def merge_priors(rows: list[Priors]) -> Priors:
    """One Priors of every row's classes, in order; text columns are the union of the rows'
    kinds (a kind as often as the row with most of it has it), cells a row lacks masked out.
    The rows must share one text space (AssertionError naming the widths otherwise)."""
    dims = {r.dim for r in rows}
    assert len(dims) == 1, f"priors in several text spaces: widths {sorted(dims)}"
    slots: dict[str, int] = {}  # kind -> columns it needs
    for r in rows:
        for kind in dict.fromkeys(r.text_kinds):
            slots[kind] = max(slots.get(kind, 0), r.text_kinds.count(kind))
    kinds = [k for k, n in slots.items() for _ in range(n)]
    first = {k: kinds.index(k) for k in slots}
    k, p = sum(len(r.class_names) for r in rows), len(kinds)
    texts = np.full((k, p), "", dtype=object)  # (K, P)
    emb = np.zeros((k, p, dims.pop()), dtype=np.float32)  # (K, P, E)
    mask = np.zeros((k, p), dtype=bool)  # (K, P)
    at = 0
    for r in rows:
        seen: dict[str, int] = {}
        for j, kind in enumerate(r.text_kinds):
            col = first[kind] + seen.get(kind, 0)
            seen[kind] = seen.get(kind, 0) + 1
            rows_at = slice(at, at + len(r.class_names))
            texts[rows_at, col] = r.texts[:, j]
            emb[rows_at, col] = r.embeddings[:, j]  # (K_r, E)
            mask[rows_at, col] = r.mask[:, j]
        at += len(r.class_names)
    return Priors(
        class_names=[n for r in rows for n in r.class_names],
        texts=texts,
        text_kinds=kinds,
        embeddings=emb,
        mask=mask,
        descriptions=[d for r in rows for d in r.descriptions],
        encoder_id=rows[0].encoder_id,
    )


def _pick(model_names: list[str], given: list[NewClass], only_new: bool):
    """(names, new flags, given descriptions, notes) of the candidate list."""
    own = {norm_name(n): n for n in model_names}
    names = [] if only_new else list(model_names)
    new = [False] * len(names)
    desc: dict[str, str] = {}
    notes: list[str] = []
    for c in given:
        trained = own.get(norm_name(c.name))
        if trained is not None:
            notes.append(f"{c.name!r} ({c.where}) is one of the model's classes: kept as trained")
            if only_new:
                names.append(trained)
                new.append(False)
            continue
        names.append(c.name)
        new.append(True)
        if c.description:
            desc[c.name] = c.description
    return names, new, desc, notes


def build_candidates(
    model_names: list[str],
    given: list[NewClass],
    trained: Priors | None = None,
    make: Callable[[list[NewClass]], MadePriors] | None = None,
    only_new: bool = False,
) -> Candidates:
    """The candidate list (module docstring). ``trained``: the model's priors (None: not
    found); ``make``: makes one-class priors for the classes that lack one (the new ones, and
    trained ones missing from ``trained``); without it there is no embedding baseline."""
    names, new, desc, notes = _pick(model_names, given, only_new)
    if not names:
        raise ConfigError("no candidate classes: give new classes or leave out --only-new")
    by_name = {c.name: c for c in given}
    have = set(trained.class_names) if trained is not None else set()
    lacking = [n for n, is_new in zip(names, new) if is_new or n not in have]
    made = MadePriors()
    if make is not None and lacking:
        made = make([by_name.get(n, NewClass(n, "", "model")) for n in lacking])
        notes += made.notes
    rows, sources = [], []
    for n in names:
        row = made.priors.get(n) or (trained.select([n]) if n in have else None)
        rows.append(row)
        sources.append(made.source[n] if n in made.priors else "model priors" if row else "none")
    descriptions = [desc.get(n) or (r.descriptions[0] if r else "") for n, r in zip(names, rows)]
    priors = protos = None
    if all(r is not None for r in rows):
        if len({r.dim for r in rows}) == 1:
            priors = merge_priors(rows)
            priors.descriptions = descriptions
            protos = class_prototypes(priors, names)  # (K, E), as zero-shot scores unseen ones
        else:
            notes.append("no embedding baseline: the candidates' priors live in different text "
                         f"spaces (widths {sorted({r.dim for r in rows})})")  # fmt: skip
    cached = [n in made.cached for n in names]
    return Candidates(names, new, descriptions, sources, priors, protos, cached, notes)
