"""Where prior texts come from: one small interface, four backends.

A backend either *knows* texts per class (``lookup``: builtin, file) or *generates* them from
prompts (``complete``; ``describe_image`` for a vision-language model: openai, hf). ``id``
names the backend, its model and the settings that change answers; the answer cache is keyed
by it, so it must never contain a secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from sugar_core.errors import BackendError, ConfigError

BACKENDS = ("builtin", "openai", "hf", "file")


@dataclass
class Knowledge:
    """Texts a backend already has for one class."""

    motion: dict[str, str]  # the six part phrases, MOTION_PARTS order
    visual: list[str]  # one or more visual descriptions
    description: str  # one sentence


class Backend:
    """Base class: says what it cannot do, so each backend implements only what it can."""

    id: str = ""
    concurrency: int = 1  # how many describe_image calls may run at once
    can_complete: bool = False  # True: complete() answers prompts
    can_describe_images: bool = False  # True: describe_image() works

    def complete(self, prompts: list, attempt: int = 0) -> list[str]:
        """One answer per prompt (a string or a chat conversation, see prompts.Prompt), in
        order. ``attempt`` > 0 marks a retry (may sample)."""
        raise BackendError(f"backend {self.id} does not answer prompts")

    def describe_image(self, prompt: str, image, attempt: int = 0) -> str:
        """Answer ``prompt`` about one PIL image."""
        raise BackendError(
            f"backend {self.id} cannot describe images; use --backend openai with a "
            "vision-language model for --videos, or leave --videos out"
        )

    def lookup(self, class_name: str) -> Knowledge | None:
        """Texts this backend holds for ``class_name``, or None."""
        return None


@dataclass
class BackendConfig:
    name: str = "builtin"  # one of BACKENDS
    model: str | None = None  # openai: model name (required); hf: LLM spec (default smollm2)
    base_url: str = "https://api.openai.com/v1"  # openai: any OpenAI-compatible server
    api_key_env: str = "OPENAI_API_KEY"  # openai: env var holding the key (never stored)
    timeout: float = 60.0  # openai: seconds per HTTP request
    http_retries: int = 4  # openai: re-sends on 429 / 5xx / timeout before giving up
    backoff: float = 1.0  # openai: first wait in seconds, doubled each retry (Retry-After wins)
    concurrency: int = 4  # openai: requests in flight at once
    batch_size: int = 8  # hf: prompts per generate() call
    max_new_tokens: int = 160  # hf / openai: answer length cap (six phrases fit in ~80)
    temperature: float = 0.0  # first attempt; 0 = greedy, most reproducible
    retry_temperature: float = 0.7  # retries sample, so they can differ from a bad first answer
    seed: int = 0  # hf: sampling seed for retries
    dataset: str | None = None  # builtin: which list wins for names in several (e.g. "throw")
    descriptions: str | None = None  # file: the user's JSON or CSV


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
