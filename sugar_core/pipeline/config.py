"""Settings of a whole run (``sugar demo``): what to run on, and the stage configs it uses.

The stage settings are the shipped recipes ``demo`` (two CPU cores, a few minutes) and
``demo-fast`` (seconds, for tests), with the user's ``--config`` / ``--set`` laid on top
(sections ``tokenize``, ``align`` and ``demo``), through the one strict settings reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sugar_core import settings
from sugar_core.errors import ConfigError

STAGES = ("import", "priors", "tokenize", "align", "eval", "zeroshot", "sample")


@dataclass
class DemoConfig:
    data: str | None = None  # raw data set to run on instead of the synthetic one
    format: str | None = None  # its format (required with data)
    split: str | None = None  # train/test split; None: xsub (synthetic) or the data's only one
    unseen: str | None = None  # zero-shot split: registry name or file; None: a default
    llm: str | None = None  # None: smollm2 if installed (fast: tiny random), else tiny random
    text_encoder: str = "minilm"  # embeds the priors (encoders.load_text_encoder spec)
    fast: bool = False  # minimal settings (tests): tiny encoder and LLM, one epoch
    seed: int = 0  # data, weights and the seeded zero-shot split
    per_class: int | None = None  # synthetic takes per class; None: 40 (fast: 8)
    describe: bool = True  # aligned.h5 predictions carry generated descriptions
    settings: dict = field(default_factory=dict)  # sections tokenize / align / demo, on top

    def check(self) -> None:
        if (self.data is None) != (self.format is None):
            raise ConfigError("--data and --format go together (e.g. --data dir --format ntu)")
        if self.per_class is not None and self.data is not None:
            raise ConfigError("--per-class sizes the synthetic set; it does not apply to --data")
        if self.per_class is not None and self.per_class < 4:
            raise ConfigError(f"--per-class must be at least 4, got {self.per_class}")


@dataclass
class DemoRun:
    """The ``demo`` section of a recipe."""

    max_new_tokens: int = 16  # description length at prediction (0 = no descriptions)
    zs_per_class: int = 0  # cap on each seen class's zero-shot alignment samples (0 = all)


@dataclass
class Settings:
    """The stage configs the demo runs with (``stage_configs``)."""

    tokenize: object  # TokenizeConfig, shared by tokenize and the zero-shot encoder
    align: object  # AlignConfig, shared by align and the zero-shot alignment
    max_new_tokens: int  # description length at prediction (0 = no descriptions)
    zs_per_class: int  # cap on each seen class's zero-shot alignment samples (0 = all)


def stage_configs(cfg: DemoConfig, llm: str, where: str = "demo settings") -> Settings:
    """The recipe (``demo`` or ``demo-fast``) under ``cfg.settings``, seeded by ``cfg.seed``
    and pointed at ``llm``; unknown keys and wrong types are refused with the key named."""
    from sugar_core.align.config import AlignConfig
    from sugar_core.tokenize.config import TokenizeConfig

    d = settings.merge(settings.read_file("demo-fast" if cfg.fast else "demo"), cfg.settings)
    unknown = sorted(set(d) - {"tokenize", "align", "demo"})
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {unknown}; known: tokenize, align, demo")
    tok = TokenizeConfig.from_settings(d.get("tokenize", {}), where)
    align = AlignConfig.from_settings(d.get("align", {}), where)
    run = settings.build(DemoRun, d.get("demo", {}), where, prefix="demo.")
    tok = replace(tok, seed=cfg.seed)
    align = replace(align, seed=cfg.seed, llm=replace(align.llm, spec=llm))
    return Settings(tok, align, run.max_new_tokens if cfg.describe else 0, run.zs_per_class)
