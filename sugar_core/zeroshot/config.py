"""Zero-shot settings, at the package's bottom: which split trains, what is scored, and the
two stages' own settings nested (``tokenize``, ``align``), exactly as ``sugar tokenize`` and
``sugar align`` read them.

Stored configs come back through the lenient ``ZeroShotConfig.from_dict``; user settings
(``sugar zeroshot --config``, ``--set``, named options) through the strict ``from_settings``,
which refuses a typo anywhere, a nested one named by its dotted key (``tokenize.epocs``). Both
go through ``sugar_core.settings.build``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sugar_core import settings
from sugar_core.align.config import DECODES, AlignConfig
from sugar_core.errors import ConfigError
from sugar_core.tokenize.config import TokenizeConfig

EVAL_PARTS = ("test", "all")  # unseen samples scored: the split's test part, or every one


@dataclass
class ZeroShotConfig(settings.Configurable):
    split: str = ""  # data split whose train part trains; "" = the data's only split
    eval_part: str = ""  # unseen samples scored: test | all; "" = test (same data), all (other)
    decodes: tuple[str, ...] = DECODES  # LLM decodings scored; the first fills the file's pred
    gzsl: bool = False  # also score seen + unseen candidates (seen test samples + unseen ones)
    baseline: bool = True  # the embedding baseline: no LLM, cosine to prior prototypes
    describe: bool = False  # rank: also generate a description per sample (a generation each)
    align_per_class: int = 0  # cap on each seen class's alignment samples (0 = all; CPU budget)
    predict_batch: int = 16  # samples per LLM forward at prediction time
    max_new_tokens: int = 48  # generate / describe: answer length cap
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)  # as `sugar tokenize`
    align: AlignConfig = field(default_factory=AlignConfig)  # as `sugar align`

    def __post_init__(self):
        if isinstance(self.tokenize, dict):
            self.tokenize = TokenizeConfig.from_dict(self.tokenize)
        if isinstance(self.align, dict):
            self.align = AlignConfig.from_dict(self.align)
        self.decodes = tuple(self.decodes)
        bad = [d for d in self.decodes if d not in DECODES]
        if bad or not self.decodes:
            raise ConfigError(f"decodes {list(self.decodes)}; choose from {', '.join(DECODES)}")
        if self.eval_part and self.eval_part not in EVAL_PARTS:
            raise ConfigError(f"eval part {self.eval_part!r}; choose {' or '.join(EVAL_PARTS)}")

    @classmethod
    def from_settings(cls, d: dict, where: str = "settings") -> ZeroShotConfig:
        """Strict: user settings (``--config``, ``--set``, options; dotted ``tokenize.`` and
        ``align.`` keys nest). Unknown keys, values of the wrong type and values a stage
        refuses are a ConfigError naming ``where`` and the key."""
        cfg = super().from_settings(d, where)
        # each stage's own refusals beyond types and names (prep fields the encoder decides,
        # the bridge and LLM checks), as `sugar tokenize` and `sugar align` apply them
        for key, stage in (("tokenize", TokenizeConfig), ("align", AlignConfig)):
            if isinstance(d.get(key), dict):
                stage.from_settings(d[key], f"{where}: {key}")
        return cfg
