"""Public names that load on first use: what a package's ``__init__`` re-exports without
importing torch (or anything heavy) until a name is asked for."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def exports(package: str, api: dict[str, str], names: list[str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``: ``api`` maps a public name to the module
    that defines it; ``names`` is what ``dir()`` lists (the package's ``__all__``)."""

    def __getattr__(name: str):
        if name not in api:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(api[name]), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
