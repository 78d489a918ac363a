"""The interface every priors backend implements, and the settings that pick one."""

from __future__ import annotations

from dataclasses import dataclass

from sugar_core.errors import BackendError

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
