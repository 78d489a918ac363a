"""The ``builtin`` backend: hand-written texts shipped with sugar (see ``builtin_data``)."""

from __future__ import annotations

from sugar_core.priors import builtin_data
from sugar_core.priors.backends.base import Backend, Knowledge


class BuiltinBackend(Backend):
    """Looks classes up in the shipped NTU-120 / NW-UCLA / MSR texts; no model, no network."""

    def __init__(self, dataset: str | None = None):
        self.dataset = dataset  # which set wins for a name several sets share
        self.id = "builtin" + (f":{dataset}" if dataset else "")
        if dataset is not None:
            builtin_data.load_builtin(dataset)  # ConfigError now for an unknown set name

    def lookup(self, class_name: str) -> Knowledge | None:
        entry = builtin_data.lookup(class_name, self.dataset)
        if entry is None:
            return None
        return Knowledge(
            motion=dict(entry["motion"]),
            visual=list(entry["visual"]),
            description=str(entry["description"]),
        )

    def suggest(self, class_name: str) -> list[str]:
        """Builtin names close to ``class_name`` (for the error about a missing one)."""
        return builtin_data.close_matches(class_name)
