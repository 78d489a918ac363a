"""Settings of a priors run, and the report it returns (the bottom of the priors package)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from sugar_core.errors import ConfigError
from sugar_core.priors.backends.base import BackendConfig
from sugar_core.priors.encoders import DEFAULT_TEXT_ENCODER
from sugar_core.redact import public_url

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class PriorsConfig:
    backend: BackendConfig = field(default_factory=BackendConfig)  # where texts come from
    text_encoder: str = DEFAULT_TEXT_ENCODER  # embeds every text (encoders.load_text_encoder)
    retries: int = 2  # re-asks after a malformed answer; weak models need a second chance
    fallback: str | None = None  # "builtin": still-malformed classes take shipped texts
    visual_k: int = 3  # visual texts per class: frames kept, or sentences asked without videos
    videos: str | None = None  # folder of training videos / frame folders, one per class
    clip: str = "openai/clip-vit-base-patch32"  # CLIP image encoder that thins the frames
    frames_per_video: int = 8  # frames sampled evenly from each video before thinning
    max_videos: int = 8  # videos per class read (bounds CLIP and VLM cost)
    descriptions: str = "ask"  # "ask" the model, or "derive" from the motion sentence
    cache_dir: str | None = None  # answer cache; None = <sugar cache>/priors
    offline: bool = False  # replay cached answers only; a miss is an error
    embed_batch: int = 64  # texts per text-encoder forward pass

    def check(self) -> None:
        if self.fallback not in (None, "builtin"):
            raise ConfigError(f"--allow-fallback takes 'builtin', got {self.fallback!r}")
        if self.retries < 0 or self.visual_k < 1 or self.frames_per_video < 1:
            raise ConfigError(
                f"retries >= 0, visual_k >= 1, frames_per_video >= 1 expected; got "
                f"{self.retries}, {self.visual_k}, {self.frames_per_video}"
            )
        if self.descriptions not in ("ask", "derive"):
            raise ConfigError(f"descriptions should be 'ask' or 'derive': {self.descriptions!r}")

    def as_record(self) -> dict:
        """The config as stored in the priors file (no secrets: only the key's env-var name,
        and the server's address without user info or query)."""
        record = asdict(self)
        record["backend"]["base_url"] = public_url(self.backend.base_url)
        return record


@dataclass
class BuildReport:
    """What a run did, for the CLI to print: timings, validity, fallbacks."""

    n_classes: int
    backend: str
    seconds: dict[str, float] = field(default_factory=dict)  # stage -> wall seconds
    valid_first: dict[str, int] = field(default_factory=dict)  # task -> classes valid at try 1
    valid: dict[str, int] = field(default_factory=dict)  # task -> classes valid after retries
    questions: dict[str, int] = field(default_factory=dict)  # task -> prompts asked
    fallback: dict[str, list[str]] = field(default_factory=dict)  # task -> classes
    dropped_frames: int = 0  # frame descriptions that stayed malformed (left out)

    @property
    def generation_seconds_per_class(self) -> float:
        gen = sum(v for k, v in self.seconds.items() if k in ("motion", "visual", "description"))
        return gen / max(1, self.n_classes)
