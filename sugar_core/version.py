"""The installed version, read from the package metadata (pyproject.toml is the one source)."""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("sugar-har")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0+unknown"
