"""Stage-1 settings: ``TokenizeConfig`` (encoder size, objective, optimisation, validation) and
``prep_for``, the pre-processing a trained encoder expects.

The bottom of the tokenize package: it imports the encoder's config and the skeleton
transforms, never training code. User settings go through the strict reader
(``from_settings``), stored configs through the lenient one (``from_dict``); both are
``sugar_core.settings.build``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from sugar_core import settings
from sugar_core.errors import ConfigError
from sugar_core.sampling import check_sampler
from sugar_core.schedule import check_epochs
from sugar_core.skeleton.dataset import SkeletonSet
from sugar_core.skeleton.layouts import BODY_PARTS, get_layout, joint_parts
from sugar_core.skeleton.prep import PrepConfig, stream_factor
from sugar_core.skeleton.validation import check_rule

OBJECTIVES = ("mil-nce", "ce", "both")
TOKEN_LAYOUTS = ("time", "time-parts", "time-joints")  # EncoderConfig.token_layout
PART_MATCHES = ("mean", "best-step")  # TokenizeConfig.part_match
# prep fields the encoder decides (its T, M and input channels); a user setting them under
# prep would be silently overridden by prep_for, so they are refused with the right key to use
FOLLOW_ENCODER = {
    "frames": "prep.frames follows the encoder; set frames at the top level",
    "max_bodies": "prep.max_bodies follows the encoder; set max_bodies at the top level",
    "channels": "prep.channels follows the encoder's input channels",
}


@dataclass
class EncoderConfig(settings.Configurable):
    layout: str = "ntu25"  # joint layout: sets V and the graph (skeleton/graph.py)
    in_channels: int = 3  # C: 3 for x y z, 2 for image-plane poses
    max_bodies: int = 1  # M: bodies per sample (the input BN normalises each body slot)
    frames: int = 52  # T the encoder is trained on; tokenize resamples every sample to it
    channels: tuple[int, ...] = (64, 64, 128, 128)  # width of each block; D = channels[-1]
    strides: tuple[int, ...] = (2, 1, 2, 1)  # temporal stride of each block; Ls = ceil(T/prod)
    rel_reduction: int = 8  # relation channels = max(8, C_in // rel_reduction) (CTR-GCN: 8)
    kernel: int = 5  # temporal kernel of the dilated branches (CTR-GCN: 5)
    dilations: tuple[int, ...] = (1, 2)  # one temporal branch per dilation (CTR-GCN: 1, 2)
    dropout: float = 0.0  # on the pooled feature only; tokens stay dropout-free
    # "sum": each partition has its own value projection, summed (CTR-GCN, 3x the cost);
    # "split": one projection whose channels are dealt out among the partitions (CPU preset)
    partition_mode: str = "sum"
    # what one token stands for; T_s = ceil(T / prod(strides)) time steps, tokens time-major
    # (step 1's tokens, then step 2's, ...), the pooled feature always the mean over time and
    # joints: time = a time step, joints and bodies averaged, Ls = T_s (the method's) |
    # time-parts = a time step x body part (head, hand, arm, hip, leg, foot: skeleton/layouts.py
    # joint_parts, mean over the part's joints), Ls = T_s x 6 | time-joints = a time step x
    # joint, Ls = T_s x V. The structured two need the layout's body-part map (part loss)
    token_layout: str = "time"
    preset: str = field(default="custom")  # name of the preset this came from (bookkeeping)

    def __post_init__(self):
        self.channels = tuple(int(c) for c in self.channels)
        self.strides = tuple(int(s) for s in self.strides)
        self.dilations = tuple(int(d) for d in self.dilations)
        if len(self.channels) != len(self.strides) or not self.channels:
            raise ConfigError(
                f"encoder channels {self.channels} and strides {self.strides} must be non-empty "
                "and of equal length"
            )
        branches = len(self.dilations) + 2
        bad = [c for c in self.channels if c % branches]
        if bad:
            raise ConfigError(
                f"encoder widths {bad} must be divisible by {branches} (dilated branches + 2)"
            )
        if self.partition_mode not in ("sum", "split"):
            raise ConfigError(f"partition_mode {self.partition_mode!r}; expected sum or split")
        if self.token_layout not in TOKEN_LAYOUTS:
            raise ConfigError(
                f"token_layout {self.token_layout!r}; expected one of {', '.join(TOKEN_LAYOUTS)}"
            )
        get_layout(self.layout)
        if self.token_layout != "time":
            joint_parts(self.layout)  # ConfigError for a layout without a body-part map

    @property
    def num_joints(self) -> int:
        return get_layout(self.layout).num_joints

    @property
    def dim(self) -> int:
        """D: width of every token and of the pooled feature."""
        return self.channels[-1]

    @property
    def total_stride(self) -> int:
        return int(np.prod(self.strides))

    @property
    def token_groups(self) -> int:
        """Tokens per time step: 1 (time), 6 body parts (time-parts) or V joints (time-joints)."""
        groups = {"time": 1, "time-parts": len(BODY_PARTS), "time-joints": self.num_joints}
        return groups[self.token_layout]

    def time_steps(self, frames: int | None = None) -> int:
        """T_s, the time steps left of ``frames`` frames (default: the training length)."""
        t = self.frames if frames is None else int(frames)
        for s in self.strides:
            t = math.ceil(t / s)
        return t

    def token_length(self, frames: int | None = None) -> int:
        """Ls for an input of ``frames`` frames (default: the training length): T_s x groups."""
        return self.time_steps(frames) * self.token_groups

    @classmethod
    def small(cls, layout: str, in_channels: int = 3, max_bodies: int = 1, frames: int = 52):
        """CPU preset: four blocks, an early stride, about 0.1 GFLOP per 52-frame sample."""
        return cls(layout, in_channels, max_bodies, frames, partition_mode="split", preset="small")

    @classmethod
    def paper(cls, layout: str, in_channels: int = 3, max_bodies: int = 2, frames: int = 64):
        """The CTR-GCN-sized network (ten blocks, 64-128-256 wide) for GPUs."""
        return cls(
            layout,
            in_channels,
            max_bodies,
            frames,
            channels=(64, 64, 64, 64, 128, 128, 128, 256, 256, 256),
            strides=(1, 1, 1, 1, 2, 1, 1, 2, 1, 1),
            preset="paper",
        )

    @classmethod
    def preset_named(cls, name: str, layout: str, **kw) -> EncoderConfig:
        makers = {"small": cls.small, "paper": cls.paper}
        if name not in makers:
            raise ConfigError(f"unknown encoder preset {name!r}; known: {', '.join(makers)}")
        return makers[name](layout, **kw)


@dataclass
class TokenizeConfig(settings.Configurable):
    preset: str = "small"  # encoder size: small (two CPU cores) or paper (CTR-GCN, GPUs)
    frames: int | None = None  # T: override the preset's input length
    channels: tuple[int, ...] | None = None  # override the preset's block widths
    strides: tuple[int, ...] | None = None  # override the temporal strides (sets Ls)
    # time | time-parts | time-joints: a token per time step, per time step x body part (Ls =
    # T_s x 6) or per time step x joint (Ls = T_s x V); EncoderConfig.token_layout
    token_layout: str = "time"
    max_bodies: int | None = None  # M; None: the most bodies any sample has, capped at 2
    dropout: float = 0.0  # on the pooled feature during training
    prep: PrepConfig = field(default_factory=PrepConfig)  # centring, view, augmentation
    objective: str = "mil-nce"  # mil-nce | ce | both
    ce_weight: float = 1.0  # weight of the ce term under "both"
    label_smoothing: float = 0.1  # ce only; softens over-confident logits on small data
    # weight of the part loss: each body part's token stream against that part's motion text
    # (priors kinds motion:<part>), beside the whole-action loss; 0 = off. Needs token_layout
    # time-parts or time-joints and a text objective (mil-nce, both)
    part_weight: float = 0.0
    # how a part's stream meets its text: mean = its time-pooled token | best-step = MIL over
    # time steps, the best-matching step scores (tokenize/losses.py part_nce)
    part_match: str = "mean"
    text_kinds: tuple[str, ...] = ("motion", "visual")  # priors columns used as positives
    text_mix: str = "random"  # random (Dirichlet mix of a class's texts) | pick | mean
    symmetric: bool = False  # add the text-to-skeleton direction of the contrastive loss
    temperature: float = 0.07  # initial tau (CLIP's)
    learn_temperature: bool = True  # tau is a parameter, clamped to >= 0.01
    # passes over the training part: a number, or auto = max(min_epochs, ceil(min_steps /
    # steps per epoch)) (sugar_core/schedule.py): small sets get steps, NW-UCLA-sized ones 60
    epochs: int | str = "auto"
    min_epochs: int = 60  # auto: at least this many epochs (the cost NW-UCLA was sized on)
    min_steps: int = 1200  # auto: at least this many optimiser steps (a 100-clip set: 400 ep.)
    # batch order (sugar_core/sampling.py): shuffle | balanced (every class equally often) |
    # auto (balanced below 400 training samples or when the classes are imbalanced)
    sampler: str = "auto"
    # below 400 training samples, fields still at their defaults are strengthened: weight
    # decay x2, crop_min 0.5, per_axis_scale 0.1 (tokenize/small_data.py); false: as given
    small_data: bool = True
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
    patience: int = 0  # early stopping: epochs without a better validation value; 0 = off
    # validation part carved from the train part (skeleton/validation.py): auto | none |
    # share:F | subjects:N; the test part is read once, at the end (test_* in the history)
    validation: str = "auto"
    refit: bool = False  # after selection, retrain on train + validation for the chosen epochs
    workers: int = 0  # DataLoader processes building batches (0 = in the training process)
    eval_batch_size: int = 128
    SETTINGS_CHECKS = {"epochs": check_epochs}  # settings.build: the dotted key in errors

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"objective {self.objective!r}; expected one of {OBJECTIVES}")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision {self.precision!r}; expected fp32 or bf16")
        if self.optimizer not in ("sgd", "adamw"):
            raise ConfigError(f"optimizer {self.optimizer!r}; expected sgd or adamw")
        if self.schedule not in ("cosine", "step", "constant"):
            raise ConfigError(f"schedule {self.schedule!r}; expected cosine, step or constant")
        if not (self.lr >= 0 and self.weight_decay >= 0 and self.temperature > 0):  # NaN too
            raise ConfigError(f"lr {self.lr} and weight_decay {self.weight_decay} must be >= 0 "
                              f"and temperature {self.temperature} > 0")  # fmt: skip
        self._check_parts()
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"ema {self.ema} must lie in [0, 1) (0 = off, 0.999 = slow)")
        check_epochs(self.epochs)
        check_sampler(self.sampler)
        if self.batch_size < 2 or self.min_epochs < 1 or self.min_steps < 1:
            raise ConfigError(
                f"batch size {self.batch_size} (>= 2), min_epochs {self.min_epochs} and "
                f"min_steps {self.min_steps} (>= 1) too small"
            )
        if isinstance(self.prep, dict):
            self.prep = PrepConfig(**self.prep)
        check_rule(self.validation)
        for name in ("seed", "workers", "eval_every", "patience", "warmup_epochs", "grad_clip"):
            if not getattr(self, name) >= 0:  # a negative seed is "none" in files; NaN fails too
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")

    def _check_parts(self) -> None:
        """The structured-token fields: a known layout and match, a part loss it can feed."""
        if self.token_layout not in TOKEN_LAYOUTS:
            raise ConfigError(
                f"token_layout {self.token_layout!r}; expected one of {', '.join(TOKEN_LAYOUTS)}"
            )
        if self.part_match not in PART_MATCHES:
            raise ConfigError(f"part_match {self.part_match!r}; expected mean or best-step")
        if not self.part_weight >= 0:  # NaN too
            raise ConfigError(f"part_weight must be >= 0 (0 = off), got {self.part_weight}")
        if self.part_weight and (self.token_layout == "time" or not self.uses_text):
            raise ConfigError(
                f"part_weight {self.part_weight} needs token_layout time-parts or time-joints "
                f"(got {self.token_layout}) and objective mil-nce or both (got {self.objective})"
            )

    @classmethod
    def from_settings(cls, d: dict, where: str = "settings") -> TokenizeConfig:
        """Strict: user settings (a --config file, --set items); unknown keys, values of the
        wrong type and prep fields the encoder decides are a ConfigError naming ``where`` and
        the key."""
        cfg = super().from_settings(d, where)
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
        if self.token_layout != "time":
            over["token_layout"] = self.token_layout
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
