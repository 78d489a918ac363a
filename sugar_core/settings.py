"""One strict settings reader for every stage config (tokenize, align, zero-shot, demo).

A run's settings come in layers, later wins: a recipe or ``--config`` JSON file, then
``--set KEY=VALUE`` items (dotted keys reach nested configs: ``prep.mirror=0.5``,
``align.bridge.kind=pool``), then the command's named options. ``build`` turns the merged
mapping into the dataclass and refuses, with the source and the key named, unknown keys and
values of the wrong type. Stored configs (read back from an HDF5 file) go through ``build``
with ``strict=False``: keys the dataclass no longer has are dropped.

Recipes are JSON files shipped inside the package (``sugar_core/recipes/``): ``recipes()``
lists them, and ``read_file`` accepts a recipe name wherever it accepts a path. A settings file
is either flat (the keys of one command's config) or has one section per command
(``{"tokenize": {...}, "align": {...}}``); ``section`` picks what a command reads, so one
recipe describes a whole run (``zeroshot`` and ``demo`` read the tokenize and align sections).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import types
import typing
from importlib import resources
from pathlib import Path

from sugar_core.errors import ConfigError, InputFormatError

RECIPES = "recipes"
SECTIONS = ("tokenize", "align", "zeroshot", "demo")


def recipes() -> dict[str, str]:
    """Name -> one-line description of every recipe shipped with the package."""
    out = {}
    for entry in sorted(resources.files("sugar_core").joinpath(RECIPES).iterdir(), key=str):
        if entry.name.endswith(".json"):
            out[entry.name[:-5]] = json.loads(entry.read_text("utf-8")).get("description", "")
    return out


def read_file(path: str | os.PathLike) -> dict:
    """A JSON object of settings from a file, or from a shipped recipe of that name."""
    p = Path(path)
    if not p.exists() and str(path) in recipes():
        text = resources.files("sugar_core").joinpath(RECIPES, f"{path}.json").read_text("utf-8")
        d = json.loads(text)
        d.pop("description", None)
        return d
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        known = ", ".join(recipes()) or "none"
        raise InputFormatError(path, f"no such file (shipped recipes: {known})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFormatError(path, f"cannot read ({exc.__class__.__name__})") from None
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, f"not JSON: {exc.msg}", line=exc.lineno) from None
    except RecursionError:
        raise InputFormatError(path, "not settings (JSON nested too deeply)") from None
    if not isinstance(d, dict):
        raise InputFormatError(path, "expected a JSON object of settings")
    d.pop("description", None)
    return d


def apply_sets(d: dict, sets: tuple[str, ...] | list[str]) -> dict:
    """``d`` with ``KEY=VALUE`` items applied (dotted keys; VALUE read as JSON, else a string)."""
    d = json.loads(json.dumps(d))  # a deep copy of plain data
    for item in sets:
        key, eq, raw = item.partition("=")
        path = key.strip().split(".")
        if not eq or not all(path):
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, for example prep.mirror=0.5")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = d
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is not an object of settings")
        node[path[-1]] = value
    return d


def merge(base: dict, over: dict) -> dict:
    """``over`` laid on ``base``; nested objects merge key by key."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def section(d: dict, command: str) -> dict:
    """What ``command`` reads from a settings file: the whole of a flat file, else its section
    (``zeroshot`` reads the tokenize and align sections as its nested configs; ``demo`` keeps
    the tokenize, align and demo sections as they are)."""
    if not any(k in SECTIONS for k in d):
        return d
    if command == "demo":
        return {k: v for k, v in d.items() if k != "zeroshot"}
    if command == "zeroshot":
        own = {k: v for k, v in d.items() if k not in ("zeroshot", "demo")}
        return merge(own, d.get("zeroshot", {}))
    return d.get(command, {})


def layered(
    config_file=None, sets=(), options: dict | None = None, command: str | None = None
) -> tuple[dict, str]:
    """The merged settings of ``command`` and a ``where`` naming their sources for errors."""
    d = read_file(config_file) if config_file else {}
    if command is not None:
        d = section(d, command)
    d = apply_sets(d, sets)
    named = {k: v for k, v in (options or {}).items() if v is not None}
    sources = [f"--config {config_file}"] if config_file else []
    sources += ["--set"] if sets else []
    sources += ["options"] if named or not sources else []
    return merge(d, _nest(named)), " / ".join(sources)


def _nest(flat: dict) -> dict:
    out: dict = {}
    for key, value in flat.items():
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


class Configurable:
    """What every config dataclass offers: ``to_dict`` (plain JSON data, as stored in files),
    lenient ``from_dict`` (a stored config; keys this version no longer has are dropped) and
    strict ``from_settings`` (user settings: unknown keys, wrong types and what the class's
    own ``check()`` refuses are a ConfigError naming ``where`` and the key)."""

    def to_dict(self) -> dict:
        return to_dict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str | None = None):
        return build(cls, d, where or f"stored {cls.__name__}", strict=False)

    @classmethod
    def from_settings(cls, d: dict, where: str = "settings"):
        cfg = build(cls, d, where, strict=True)
        check = getattr(cfg, "check", None)
        if check is not None:
            try:
                check()
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        return cfg


def to_dict(obj) -> dict:
    """A config dataclass as plain JSON data (tuples become lists, nested configs objects)."""
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            value = to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def build(cls, d: dict, where: str = "settings", strict: bool = True, prefix: str = ""):
    """An instance of the config dataclass ``cls`` from plain data ``d``.

    strict: unknown keys and wrong types raise ConfigError naming ``where`` and the dotted key;
    a class may refuse keys it derives itself through ``SETTINGS_REFUSED`` (dotted key ->
    reason), and check values beyond their type through ``SETTINGS_CHECKS`` (key ->
    ``fn(value, name)`` raising ConfigError). Not strict (stored configs): unknown keys are
    dropped and values trusted.
    """
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'settings'} must be an object")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(d) - set(fields))
    if unknown and strict:
        known = ", ".join(prefix + k for k in fields)
        bad = ", ".join(prefix + k for k in unknown)
        raise ConfigError(f"{where}: unknown setting(s) {bad}; known: {known}")
    if strict:
        refused = getattr(cls, "SETTINGS_REFUSED", {})
        for key in d:
            if key in refused:
                raise ConfigError(f"{where}: {prefix}{key}: {refused[key]}")
    kwargs = {}
    for key, value in d.items():
        if key not in fields:
            continue
        kind = hints[key]
        if dataclasses.is_dataclass(kind) and isinstance(kind, type):
            if dataclasses.is_dataclass(value):
                kwargs[key] = value
                continue
            value = build(kind, value, where, strict, f"{prefix}{key}.")
        elif strict:
            value = _checked(kind, value, f"{where}: {prefix}{key}")
            check = getattr(cls, "SETTINGS_CHECKS", {}).get(key)  # key -> fn(value, name)
            if check is not None:
                check(value, f"{where}: {prefix}{key}")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, ConfigError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _checked(kind, value, name: str):
    """``value`` if it fits the annotation ``kind`` (ints made from whole floats), else raise."""
    ok, expected, value = _fits(kind, value)
    if not ok:
        raise ConfigError(f"{name} = {value!r}; expected {expected}")
    return value


def _fits(kind, value) -> tuple[bool, str, object]:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return True, "", None
        options = [a for a in args if a is not type(None)]
        results = [_fits(a, value) for a in options]
        for ok, _, v in results:
            if ok:
                return True, "", v
        return False, " or ".join(e for _, e, _ in results) + " or null", value
    if origin is tuple:
        return _fits_tuple(args, value)
    if kind is bool:
        return isinstance(value, bool), "true or false", value
    if kind in (int, float):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind is int:
            whole = number and (isinstance(value, int) or float(value).is_integer())
            return whole, "a whole number", int(value) if whole else value
        # NaN, inf (or an int past float range) would train to NaN weights
        finite = number and abs(value) <= sys.float_info.max
        return finite, "a number", value
    if kind is str:
        return isinstance(value, str), "a string", value
    return True, "", value


def _fits_tuple(args, value) -> tuple[bool, str, object]:
    item = args[0] if args else object
    size = None if (len(args) == 2 and args[1] is Ellipsis) or not args else len(args)
    what = "strings" if item is str else "numbers"
    expected = f"a list of {size} {what}" if size else f"a list of {what}"
    if not isinstance(value, (list, tuple)) or (size is not None and len(value) != size):
        return False, expected, value
    checked = [_fits(item, v) for v in value]
    if not all(ok for ok, _, _ in checked):
        return False, expected, value
    return True, "", tuple(v for _, _, v in checked)
