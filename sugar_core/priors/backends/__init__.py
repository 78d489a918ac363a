"""Where prior texts come from: one small interface, four backends.

A backend either *knows* texts per class (``lookup``: builtin, file) or *generates* them from
prompts (``complete``; ``describe_image`` for a vision-language model: openai, hf). ``id``
names the backend, its model and the settings that change answers; the answer cache is keyed
by it, so it must never contain a secret.
"""

from __future__ import annotations

from sugar_core.errors import ConfigError
from sugar_core.priors.backends.base import BACKENDS, Backend, BackendConfig, Knowledge

__all__ = ["BACKENDS", "Backend", "BackendConfig", "Knowledge", "make_backend"]


def make_backend(cfg: BackendConfig) -> Backend:
    """The backend ``cfg.name`` names. Heavy models load lazily, on the first question."""
    if cfg.name == "builtin":
        from sugar_core.priors.backends.builtin import BuiltinBackend

        return BuiltinBackend(cfg.dataset)
    if cfg.name == "file":
        from sugar_core.priors.backends.file import FileBackend

        if not cfg.descriptions:
            raise ConfigError("--backend file needs --descriptions FILE (JSON or CSV)")
        return FileBackend(cfg.descriptions)
    if cfg.name == "openai":
        from sugar_core.priors.backends.openai import OpenAIBackend

        return OpenAIBackend(cfg)
    if cfg.name == "hf":
        from sugar_core.priors.backends.hf import HFBackend

        return HFBackend(cfg)
    raise ConfigError(f"unknown priors backend {cfg.name!r}; known: {', '.join(BACKENDS)}")
