"""Root attributes of a sugar file, checked before anything trusts them.

``schema.validate`` calls ``check_root_attrs`` first, so a garbled attribute (unreadable, of the
wrong type, or JSON that does not parse) is one SchemaError naming the file and the attribute
instead of a traceback wherever the value is first used.
"""

from __future__ import annotations

import json

import h5py
import numpy as np

from sugar_core.errors import SchemaError

# attribute -> what its value must be (the others only need to be readable)
WHOLE_NUMBERS = ("schema_version", "seed")
TEXTS = ("sugar_kind", "sugar_version", "created_utc")
JSON_TEXTS = ("config", "inputs")


def check_root_attrs(f: h5py.File, name: str) -> None:
    """SchemaError ``'<name>: attribute 'seed' is 'abc', expected a whole number'`` for the
    first root attribute that cannot be read or is not what sugar writes there."""
    for attr in f.attrs:
        try:
            value = f.attrs[attr]
        except (OSError, TypeError, ValueError) as exc:
            raise SchemaError(f"{name}: attribute {attr!r} cannot be read ({exc})") from None
        value = value.item() if isinstance(value, np.generic) else value
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        wanted = _problem(attr, value)
        if wanted is not None:
            raise SchemaError(
                f"{name}: attribute {attr!r} is {str(value)[:40]!r}, expected {wanted}"
            )


def _problem(attr: str, value) -> str | None:
    """What ``value`` should have been, or None if it is fine."""
    if attr in WHOLE_NUMBERS:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "a whole number"
    if attr in TEXTS:
        return None if isinstance(value, str) else "a text"
    if attr in JSON_TEXTS:
        try:
            json.loads(value)
        except (TypeError, ValueError, RecursionError):
            return "JSON text"
    return None
