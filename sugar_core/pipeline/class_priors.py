"""Priors for classes named at prediction time: made on the fly by a priors backend, cached.

    made = make_class_priors([NewClass("wave", "a person waves one hand")], cfg, encoder_id)
    made.priors["wave"]    # a one-class Priors: texts, embeddings, description
    made.notes             # one line per class that got no prior

Per class, in order:
1. the class cache: one priors file per class under ``<sugar cache>/priors/classes``, named by
   the hash of its key (sugar version, backend id and settings, the descriptions file's hash,
   the text encoder, the name and the description). A hit costs no backend call and no text
   encoder;
2. the backend (``build_priors`` on that one class): a looking-up one (builtin, file) by name;
   a generating one (hf, openai) asked with the user's description as context (the name its
   prompts see is ``name (description)``), its answers kept in the priors answer cache as for
   ``sugar priors``. A user's description replaces the backend's description text;
3. no prior (the backend has no texts for the name, or its answers stayed malformed): a note,
   and a name-only prior, the name (and the description) embedded, which is all the class is
   then scored with. A looking-up backend's "no" is cached too (it is the same next time); a
   generating backend's failure is not (a server may answer next time).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sugar_core import events, schema
from sugar_core.errors import BackendError, SugarError
from sugar_core.priors.backends import Backend, BackendConfig, make_backend
from sugar_core.priors.build import build_priors, default_cache_dir
from sugar_core.priors.config import PriorsConfig
from sugar_core.priors.encoders import (
    DEFAULT_TEXT_ENCODER,
    TextEncoder,
    encoder_spec,
    load_text_encoder,
)
from sugar_core.priors.store import Priors, read_priors, write_priors
from sugar_core.version import __version__

NAME_ONLY = "name only"  # the source of a class that got no prior


@dataclass(frozen=True)
class NewClass:
    """A class named at prediction time."""

    name: str
    description: str = ""  # the user's description ("" = none given)
    where: str = ""  # where it was given, for messages: "classes.txt:3" or "--class"


@dataclass
class MadePriors:
    """One-class priors per class name, where each came from, and the notes to show."""

    priors: dict[str, Priors] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)  # backend id, or NAME_ONLY
    cached: set[str] = field(default_factory=set)  # names read from the class cache
    notes: list[str] = field(default_factory=list)


def priors_settings(
    recorded: dict | None,
    encoder_id: str = "",
    backend: str | None = None,
    **overrides,
) -> PriorsConfig:
    """Settings for on-the-fly priors: the model's priors run's (``recorded``, the priors
    file's ``config``) when ``backend`` is None or the same backend, else ``backend`` with its
    defaults; ``overrides`` (model, base_url, descriptions) win when not None. The text
    encoder is the one that embedded the model's priors (``encoder_id``), else the recorded
    one, else the default."""
    recorded = recorded or {}
    rec_backend = recorded.get("backend") or {}
    known = {f.name for f in dataclasses.fields(BackendConfig)}
    if backend is None or backend == rec_backend.get("name"):
        bcfg = BackendConfig(**{k: v for k, v in rec_backend.items() if k in known})
    else:
        bcfg = BackendConfig(name=backend)
    for key, value in overrides.items():
        if value is not None:
            setattr(bcfg, key, value)
    spec = encoder_spec(encoder_id) or recorded.get("text_encoder") or DEFAULT_TEXT_ENCODER
    keep = {k: recorded[k] for k in ("retries", "fallback", "visual_k") if k in recorded}
    return PriorsConfig(backend=bcfg, text_encoder=str(spec), **keep)


class ClassPriorCache:
    """One-class priors files under ``root``, one ``<hash>.h5`` per key (its ``config``)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache_dir() / "classes"

    def path(self, key: dict) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
        return self.root / digest[:2] / f"{digest}.h5"

    def get(self, key: dict) -> Priors | None:
        """The cached priors of ``key``, or None (absent, unreadable, or another key)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with schema.open_file(path, "priors") as f:
                if schema.root_info(f)["config"] != json.loads(json.dumps(key)):
                    return None
            return read_priors(path)
        except (SugarError, OSError, ValueError):
            return None  # rewritten by put()

    def put(self, key: dict, priors: Priors) -> Priors:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_priors(priors, path, config=key)
        return priors


class _LazyEncoder:
    """The text encoder, loaded on first use only (a cache hit needs none)."""

    def __init__(self, encoder: TextEncoder | None, spec: str, expected_id: str, notes: list):
        self.encoder, self.spec, self.expected, self.notes = encoder, spec, expected_id, notes

    def get(self) -> TextEncoder:
        if self.encoder is None:
            self.encoder = load_text_encoder(self.spec)
            if "@" in self.expected and self.encoder.id != self.expected:
                self.notes.append(
                    f"text encoder {self.spec!r} loads as {self.encoder.id}, not "
                    f"{self.expected} that embedded the model's priors; the embedding baseline "
                    "of new classes may not be comparable"
                )
        return self.encoder


def _file_hash(cfg: PriorsConfig) -> str:
    path = cfg.backend.descriptions
    if cfg.backend.name != "file" or not path or not Path(path).is_file():
        return ""
    return schema.sha256(path)


def prior_key(backend: Backend, cfg: PriorsConfig, encoder_id: str, c: NewClass) -> dict:
    """What a cached class prior depends on (never a secret: backend ids hold none)."""
    return {
        "what": "class-prior",
        "sugar_version": __version__,
        "backend": backend.id,
        "backend_file": _file_hash(cfg),
        "text_encoder": encoder_id,
        "retries": cfg.retries,
        "fallback": cfg.fallback,
        "visual_k": cfg.visual_k,
        "name": c.name,
        "description": c.description,
    }


def name_only_priors(c: NewClass, encoder: TextEncoder) -> Priors:
    """A prior holding only the class's name (and description), embedded: (1, P<=2, E)."""
    texts = [c.name] + ([c.description] if c.description else [])
    emb = encoder.encode(texts)  # (P, E)
    return Priors(
        class_names=[c.name],
        texts=np.array([texts], dtype=object),
        text_kinds=["name", "description"][: len(texts)],
        embeddings=emb[None].astype(np.float32),
        mask=np.ones((1, len(texts)), dtype=bool),
        descriptions=[c.description],
        encoder_id=encoder.id,
        sources={"backend": NAME_ONLY},
    )


def _no_texts(backend: Backend, c: NewClass) -> str:
    near = getattr(backend, "suggest", lambda n: [])(c.name)[:3]
    return f"{backend.id} has no texts for it" + (f" (close: {near})" if near else "")


def _from_backend(backend: Backend, cfg: PriorsConfig, c: NewClass, enc: _LazyEncoder):
    """(one-class Priors, "") from the backend, or (None, why not)."""
    if not backend.can_complete and backend.lookup(c.name) is None:
        return None, _no_texts(backend, c)
    query = f"{c.name} ({c.description})" if c.description and backend.can_complete else c.name
    one = dataclasses.replace(cfg, descriptions="derive" if c.description else cfg.descriptions)
    try:
        priors, _ = build_priors([query], one, backend=backend, text_encoder=enc.get())
    except BackendError as exc:
        return None, str(exc)
    per_class = priors.sources.get("per_class", {})
    if query in per_class:
        per_class = {c.name: per_class[query]}
    if c.description:
        priors.descriptions = [c.description]
        per_class.setdefault(c.name, {})["description"] = "user"
    priors.class_names = [c.name]
    priors.sources = {**priors.sources, "per_class": per_class}
    return priors, ""


def _note(c: NewClass, why: str) -> str:
    what = "its name and description" if c.description else "its name"
    return f"no prior for {c.name!r}: {why}; it is scored with {what} only"


def make_class_priors(
    classes: list[NewClass],
    cfg: PriorsConfig,
    encoder_id: str = "",
    backend: Backend | None = None,
    text_encoder: TextEncoder | None = None,
    cache: ClassPriorCache | None = None,
    callback: events.Callback | None = None,
) -> MadePriors:
    """A one-class prior for each of ``classes`` (see the module docstring).

    ``encoder_id``: the text encoder the model's priors were embedded with (the embeddings
    must share its space); default ``cfg.text_encoder``. ``backend`` / ``text_encoder`` may be
    injected; otherwise they are made from ``cfg`` when first needed. ``callback`` gets a
    progress event per class; the notes (a class without a prior, an encoder that differs
    from the model's) are in ``MadePriors.notes``.
    """
    backend = backend if backend is not None else make_backend(cfg.backend)
    cache = cache if cache is not None else ClassPriorCache()
    expected = encoder_id or cfg.text_encoder
    out = MadePriors()
    enc = _LazyEncoder(text_encoder, cfg.text_encoder, expected, out.notes)
    for done, c in enumerate(classes, start=1):
        key = prior_key(backend, cfg, expected, c)
        got = cache.get(key)
        why = ""
        if got is not None:
            out.cached.add(c.name)
            why = str(got.sources.get("no_prior", ""))
        else:
            got, why = _from_backend(backend, cfg, c, enc)
            if got is None:
                got = name_only_priors(c, enc.get())
                got.sources["no_prior"] = why
            if not why or not backend.can_complete:  # a generating backend may answer later
                cache.put(key, got)
        out.priors[c.name] = got
        out.source[c.name] = NAME_ONLY if why else backend.id
        if why:
            out.notes.append(_note(c, why))
        events.progress(callback, "priors", "new classes", done=done, total=len(classes))
    return out
