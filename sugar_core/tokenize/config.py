"""Stage-1 settings: ``TokenizeConfig`` (encoder size, objective, optimisation, validation) and
``prep_for``, the pre-processing a trained encoder expects.

The bottom of the tokenize package: it imports the encoder's config and the skeleton
transforms, never training code. User settings go through the strict reader
(``from_settings``), stored configs through the lenient one (``from_dict``); both are
``sugar_core.settings.build``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sugar_core import settings
from sugar_core.errors import ConfigError
from sugar_core.skeleton.dataset import SkeletonSet
from sugar_core.skeleton.transforms import PrepConfig, stream_factor
from sugar_core.tokenize.encoder import EncoderConfig

OBJECTIVES = ("mil-nce", "ce", "both")
# prep fields the encoder decides (its T, M and input channels); a user setting them under
# prep would be silently overridden by prep_for, so they are refused with the right key to use
FOLLOW_ENCODER = {
    "frames": "prep.frames follows the encoder; set frames at the top level",
    "max_bodies": "prep.max_bodies follows the encoder; set max_bodies at the top level",
    "channels": "prep.channels follows the encoder's input channels",
}


@dataclass
class TokenizeConfig:
    preset: str = "small"  # encoder size: small (two CPU cores) or paper (CTR-GCN, GPUs)
    frames: int | None = None  # T: override the preset's input length
    channels: tuple[int, ...] | None = None  # override the preset's block widths
    strides: tuple[int, ...] | None = None  # override the temporal strides (sets Ls)
    max_bodies: int | None = None  # M; None: the most bodies any sample has, capped at 2
    dropout: float = 0.0  # on the pooled feature during training
    prep: PrepConfig = field(default_factory=PrepConfig)  # centring, view, augmentation
    objective: str = "mil-nce"  # mil-nce | ce | both
    ce_weight: float = 1.0  # weight of the ce term under "both"
    label_smoothing: float = 0.1  # ce only; softens over-confident logits on small data
    text_kinds: tuple[str, ...] = ("motion", "visual")  # priors columns used as positives
    text_mix: str = "random"  # random (Dirichlet mix of a class's texts) | pick | mean
    symmetric: bool = False  # add the text-to-skeleton direction of the contrastive loss
    temperature: float = 0.07  # initial tau (CLIP's)
    learn_temperature: bool = True  # tau is a parameter, clamped to >= 0.01
    epochs: int = 60  # passes over the training part
    batch_size: int = 32  # global batch (split across processes)
    optimizer: str = "sgd"  # sgd (nesterov momentum, as CTR-GCN) | adamw
    lr: float = 0.05  # peak learning rate
    momentum: float = 0.9
    weight_decay: float = 5e-4  # not applied to norms, biases, topologies, temperature
    warmup_epochs: int = 3  # linear warm-up before the cosine decay
    schedule: str = "cosine"  # cosine (to 0) | step (x0.1 at 60 % and 85 %) | constant
    grad_clip: float = 0.0  # max global grad norm, 0 = off
    ema: float = 0.0  # decay of a moving average of the weights used for results; 0 = off
    precision: str = "fp32"  # fp32 | bf16 (autocast where the device has it)
    seed: int = 0
    eval_every: int = 1  # validate every n epochs (and always after the last); 0 = never
    probe: str = "logistic"  # linear probe on pooled features: logistic | ridge | none
    patience: int = 0  # early stopping: epochs without a better monitor value; 0 = off
    val_holdout: float = 0.0  # > 0: validate on this stratified share of the train part
    workers: int = 0  # DataLoader processes building batches (0 = in the training process)
    eval_batch_size: int = 128

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"objective {self.objective!r}; expected one of {OBJECTIVES}")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision {self.precision!r}; expected fp32 or bf16")
        if self.optimizer not in ("sgd", "adamw"):
            raise ConfigError(f"optimizer {self.optimizer!r}; expected sgd or adamw")
        if self.schedule not in ("cosine", "step", "constant"):
            raise ConfigError(f"schedule {self.schedule!r}; expected cosine, step or constant")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"ema {self.ema} must lie in [0, 1) (0 = off, 0.999 = slow)")
        if self.epochs < 1 or self.batch_size < 2:
            raise ConfigError(f"epochs {self.epochs} and batch size {self.batch_size} too small")
        if isinstance(self.prep, dict):
            self.prep = PrepConfig(**self.prep)

    def to_dict(self) -> dict:
        return settings.to_dict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TokenizeConfig:
        """Lenient: a stored config (extra bookkeeping keys such as run_dir are ignored)."""
        return settings.build(cls, d, "stored tokenize config", strict=False)

    @classmethod
    def from_settings(cls, d: dict, where: str = "settings") -> TokenizeConfig:
        """Strict: user settings (a --config file, --set items); unknown keys, values of the
        wrong type and prep fields the encoder decides are a ConfigError naming ``where`` and
        the key."""
        cfg = settings.build(cls, d, where)
        prep = d.get("prep")
        fixed = sorted(set(prep) & set(FOLLOW_ENCODER)) if isinstance(prep, dict) else []
        if fixed:
            raise ConfigError(f"{where}: {FOLLOW_ENCODER[fixed[0]]}")
        return cfg

    def encoder_config(self, data: SkeletonSet) -> EncoderConfig:
        """The encoder for ``data``: the preset, sized by the data's C and M, with overrides."""
        c = int(data.samples[0].joints.shape[-1])
        m = self.max_bodies or min(2, max(s.bodies for s in data.samples))
        kw = {"in_channels": min(3, c) * stream_factor(self.prep.stream), "max_bodies": m}
        if self.frames:
            kw["frames"] = self.frames
        enc = EncoderConfig.preset_named(self.preset, data.layout, **kw)
        over = {k: getattr(self, k) for k in ("channels", "strides") if getattr(self, k)}
        return replace(enc, dropout=self.dropout, **over) if over or self.dropout else enc

    @property
    def uses_text(self) -> bool:
        return self.objective in ("mil-nce", "both")

    @property
    def uses_ce(self) -> bool:
        return self.objective in ("ce", "both")


def prep_for(enc: EncoderConfig, prep: PrepConfig) -> PrepConfig:
    """The pre-processing an encoder expects (its T, M and C win over the prep's own)."""
    channels = enc.in_channels // stream_factor(prep.stream)
    return replace(prep, frames=enc.frames, max_bodies=enc.max_bodies, channels=channels)
