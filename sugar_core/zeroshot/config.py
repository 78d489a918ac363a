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
from sugar_core.align.config import CALIBRATIONS, DECODES, RANK_TEXTS, AlignConfig
from sugar_core.errors import ConfigError
from sugar_core.tokenize.config import TokenizeConfig

EVAL_PARTS = ("test", "all")  # unseen samples scored: the split's test part, or every one
FUSE = ("off", "z", "softmax")  # zeroshot/fusion.py


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
    # pseudo-unseen validation (zeroshot/pseudo.py): this many seen classes (a seeded choice)
    # are held out of both training stages and play the unseen classes once, to choose the
    # options below marked "auto" / -1; 0 = none. The test's unseen classes choose nothing
    pseudo_unseen: int = 0
    pseudo_seed: int = 0  # which seen classes are held out
    # rank scores at the unseen test: "" = reference when the alignment kept reference inputs
    # (pseudo.default_calibration; older aligned files: their own calibration), one of
    # none | length | null | length+null | reference, or auto (best on the pseudo-unseen classes)
    calibration: str = ""
    rank_text: str = ""  # "" = the alignment's own, name | answer, or auto (as calibration)
    # LLM + embedding baseline, each normalised per sample (z | softmax), reported beside
    # both alone; off = not computed. fuse_weight: the LLM's weight in [0, 1], or -1 =
    # chosen on the pseudo-unseen classes
    fuse: str = "off"
    fuse_weight: float = -1.0
    conse: bool = False  # ConSE transfer from the LLM's seen-class probabilities, as a scorer
    conse_top: int = 0  # seen classes ConSE keeps per sample (0 = all)
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
        self._check_options()
        if self.eval_part and self.eval_part not in EVAL_PARTS:
            raise ConfigError(f"eval part {self.eval_part!r}; choose {' or '.join(EVAL_PARTS)}")

    def _check_options(self) -> None:
        """The scoring options' values, and that "auto" ones have pseudo-unseen classes."""
        if self.calibration not in ("", "auto", *CALIBRATIONS):
            raise ConfigError(f"calibration {self.calibration!r}; choose auto or {CALIBRATIONS}")
        if self.rank_text not in ("", "auto", *RANK_TEXTS):
            raise ConfigError(f"rank_text {self.rank_text!r}; choose auto or {RANK_TEXTS}")
        if self.fuse not in FUSE:
            raise ConfigError(f"fuse {self.fuse!r}; choose one of {', '.join(FUSE)}")
        if not (self.fuse_weight == -1.0 or 0.0 <= self.fuse_weight <= 1.0):
            raise ConfigError(f"fuse_weight {self.fuse_weight}; expected -1 (auto) or [0, 1]")
        if self.pseudo_unseen < 0 or self.conse_top < 0:
            raise ConfigError("pseudo_unseen and conse_top must be >= 0")
        auto = [k for k in ("calibration", "rank_text") if getattr(self, k) == "auto"]
        auto += ["fuse_weight"] if self.fuse != "off" and self.fuse_weight == -1.0 else []
        if auto and not self.pseudo_unseen:
            raise ConfigError(
                f"{', '.join(auto)} auto is chosen on pseudo-unseen classes: set pseudo_unseen "
                "(e.g. --set pseudo_unseen=3) or give a value"
            )

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
