"""Stage 2 settings: the bridge, the frozen LLM and the alignment run, at the package's bottom.

Plain data only (no torch): the CLI reads these for its choices and ``--help``, stored
configs come back through ``AlignConfig.from_dict``, user settings (``--config``, ``--set``,
named options) through the strict ``AlignConfig.from_settings``, both via
``sugar_core.settings.build``. The prompt texts live here too: ``LLMConfig.prompt`` names one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sugar_core import settings
from sugar_core.errors import ConfigError
from sugar_core.sampling import check_sampler
from sugar_core.schedule import check_epochs

BRIDGES = ("tqp", "qformer", "linear", "pool", "xattn")
QUERY_BRIDGES = ("tqp", "qformer", "xattn")  # learned queries reading positioned tokens
TIME_EMBEDDINGS = ("chunk", "absolute")  # BridgeConfig.time_embedding
OUTPUT_SCALES = ("none", "llm")  # BridgeConfig.output_scale
ANCHORS = ("auto", "none", "linear", "fitted")  # BridgeConfig.anchor (align/anchor.py)
SUMMARIES = ("none", "pool")  # BridgeConfig.summary
CHUNKINGS = ("fixed", "even")  # BridgeConfig.chunking
# BridgeConfig's fields with a fixed set of values (``BridgeConfig.check``)
CHOICES = {"time_embedding": TIME_EMBEDDINGS, "output_scale": OUTPUT_SCALES, "anchor": ANCHORS,
           "summary": SUMMARIES, "chunking": CHUNKINGS}  # fmt: skip
CALIBRATIONS = ("none", "length", "null", "length+null", "reference")  # align/calibration.py
PRECISIONS = ("fp32", "bf16")
LLM_DTYPES = ("float32", "bfloat16", "float16")  # names of torch dtypes (llm.DTYPES)
VALIDATIONS = ("auto", "share", "encoder", "none")
DECODES = ("rank", "generate")  # how `predict` reads the class: score every name, or generate
KNOWLEDGE = ("none", "motion", "description", "motion+description")  # align/listing.py
RANK_TEXTS = ("name", "answer")  # what rank decoding scores per candidate (align/listing.py)

ACTION = "<action>"  # the placeholder the bridge's action tokens replace
PROMPTS = {
    "paper": (
        "Given a sequence of action tokens " + ACTION + ", please choose the most compatible "
        "action from: [{names}], and describe the action."
    ),
    "list-first": (
        "Choose the most compatible action from: [{names}]. Given a sequence of action tokens "
        + ACTION
        + ", name the action and describe it."
    ),
}
PROMPT = PROMPTS["paper"]


@dataclass
class BridgeConfig:
    kind: str = "tqp"  # tqp | qformer | linear | pool | xattn (the ablation in method.md)
    queries: int = 16  # Q action tokens handed to the LLM (paper: 128; few keep CPU prompts short)
    chunk: int = 4  # S tokens per TQP step (paper: unreported; 4 = 4 steps over 13 NW-UCLA tokens)
    width: int = 256  # H of the Q-Former (paper: unreported)
    depth: int = 1  # Q-Former layers per step (paper: unreported)
    heads: int = 4  # attention heads; must divide width
    ffn_mult: int = 2  # feed-forward hidden = ffn_mult * width
    dropout: float = 0.0  # inside the Q-Former; 0 keeps runs deterministic
    linear_len: int = 0  # tokens the `linear` bridge resamples to; 0 = same as `queries`
    standardize: bool = False  # (x - mean) / std per channel, statistics of the train tokens
    # what the query bridges (tqp, qformer, xattn) add to each token: chunk = a sine code of
    # its position inside the chunk TQP reads (qformer, xattn: inside the whole sequence), so
    # TQP's shared step cannot tell chunk 1 from chunk 4 | absolute = sine codes of its
    # position in the whole sequence and of its chunk index, position // chunk (bridges.py)
    time_embedding: str = "chunk"
    # how TQP cuts a sample's valid tokens into chunks: fixed = runs of `chunk` tokens, the
    # last one whatever is left (13 tokens: 4, 4, 4, 1) | even = ceil(n / chunk) chunks of
    # near-equal length (13: 3, 3, 3, 4), so no step reads a short tail on its own
    chunking: str = "fixed"
    # none | llm: every action token rescaled to one learned norm, initialised to the mean
    # norm of the LLM's word-embedding rows (SmolLM2: 3.2; TQP's tokens at init: about 14)
    output_scale: str = "none"
    # none | linear | fitted: one more action token after the bridge's, the sample's place
    # among the priors: the stage-1 text head (frozen, copied from the tokens file) applied
    # to the tokens' mean, through a trainable linear layer into the LLM's width; fitted
    # starts that layer as a ridge map from the seen classes' prior embeddings to the LLM's
    # mean input embedding of the same texts (align/anchor.py) | auto: fitted under 400
    # training clips with small_data on (where the tokens hold a text head in the priors'
    # space; not in zero-shot), else none (align/plan.py)
    anchor: str = "auto"
    # fitted: ridge lambda as a share of the mean eigenvalue of the prior embeddings' centred
    # Gram matrix (scale-free). 0.1: on builtin MiniLM priors and SmolLM2, a fit on 80 % of
    # the classes puts a held-out class's texts nearest their own LLM embedding 58 % (NW-UCLA)
    # / 70 % (NTU-60) of the time, near the best of 0.001..3; smaller overfits the seen texts
    anchor_ridge: float = 0.1
    # none | pool: one more action token before the bridge's own, the mean of the valid
    # tokens through its own linear layer (what the pool bridge hands over: the time-mean
    # stage 1 supervises), so a query or linear bridge's tokens add the time structure to it
    summary: str = "none"

    @property
    def anchored(self) -> bool:
        """Whether the bridge ends in an anchor token (``auto`` is resolved before training;
        unresolved, it adds none)."""
        return self.anchor in ("linear", "fitted")

    def check(self) -> None:
        if self.kind not in BRIDGES:
            raise ConfigError(f"unknown bridge {self.kind!r}; choose one of {', '.join(BRIDGES)}")
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"bridge {name} {getattr(self, name)!r}; choose one of "
                                  f"{', '.join(allowed)}")  # fmt: skip
        if self.time_embedding != "chunk" and self.kind not in QUERY_BRIDGES:
            raise ConfigError(f"bridge time_embedding {self.time_embedding!r} needs a bridge "
                              f"with positions ({', '.join(QUERY_BRIDGES)}); {self.kind} has "
                              "none")  # fmt: skip
        if self.chunking != "fixed" and self.kind != "tqp":
            raise ConfigError(f"bridge chunking {self.chunking!r} is TQP's; {self.kind} reads "
                              "the sequence whole")  # fmt: skip
        if self.summary == "pool" and self.kind == "pool":
            raise ConfigError("bridge summary pool adds a pooled token to another bridge; "
                              "the pool bridge is that token alone")  # fmt: skip
        if not self.anchor_ridge > 0:  # NaN fails too
            raise ConfigError(f"bridge anchor_ridge must be > 0, got {self.anchor_ridge}")
        for name in ("queries", "chunk", "width", "depth", "heads", "ffn_mult"):
            if getattr(self, name) < 1:
                raise ConfigError(f"bridge {name} must be >= 1, got {getattr(self, name)}")
        if self.width % self.heads:
            raise ConfigError(f"bridge width {self.width} is not divisible by heads {self.heads}")


@dataclass
class LLMConfig:
    spec: str = "smollm2"  # `smollm2`, a local folder or a hub id for AutoModelForCausalLM
    lora: bool = True  # False = train the bridge alone (--no-lora)
    lora_r: int = 64  # adapter rank (paper: 64)
    lora_alpha: int = 16  # adapter scale numerator (paper: 16)
    lora_dropout: float = 0.0  # 0: the wrapper keeps the LLM in eval mode anyway
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj")  # modules with adapters (paper: unsaid)
    dtype: str = "float32"  # weights in memory; bfloat16 for 7B models on GPUs
    gradient_checkpointing: bool = False  # trade compute for memory (7B)
    max_description_tokens: int = 32  # the target's description is cut here (CPU budget)
    share_prefix: bool = True  # run the prompt's common prefix once per batch (same result)
    prompt: str = "paper"  # paper | list-first (the action list before the action tokens)
    # knowledge in the prompt (align/listing.py): each listed name followed by its prior text
    # in parentheses, in training and at test (zero-shot: the unseen classes' priors). none |
    # motion (the six-part motion sentence) | description (the one-line description) | both.
    # Long lists make long prompts: list-first keeps them in the prefix that runs once a batch
    knowledge: str = "none"
    knowledge_tokens: int = 16  # each candidate's prior text is cut to this many LLM tokens

    def __post_init__(self):
        # a tuple whatever came in (stored configs hold JSON lists), so configs compare equal
        self.lora_targets = tuple(self.lora_targets)

    def check(self) -> None:
        if self.prompt not in PROMPTS:
            raise ConfigError(f"unknown prompt {self.prompt!r}; choose one of {list(PROMPTS)}")
        if self.knowledge not in KNOWLEDGE:
            raise ConfigError(f"knowledge {self.knowledge!r}; choose one of {list(KNOWLEDGE)}")
        if self.knowledge_tokens < 1:
            raise ConfigError(f"knowledge_tokens must be >= 1, got {self.knowledge_tokens}")
        if self.dtype not in LLM_DTYPES:
            raise ConfigError(f"unknown LLM dtype {self.dtype!r}; choose one of {list(LLM_DTYPES)}")
        if self.lora and (self.lora_r < 1 or not self.lora_targets):
            raise ConfigError(
                f"LoRA needs r >= 1 and target modules (r={self.lora_r}, {list(self.lora_targets)})"
            )


@dataclass
class AlignConfig(settings.Configurable):
    bridge: BridgeConfig = field(default_factory=BridgeConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    # passes over the train split (paper: 1): a number, or auto = max(min_epochs,
    # ceil(min_steps / optimiser steps per epoch)) (sugar_core/schedule.py)
    epochs: int | str = "auto"
    min_epochs: int = 1  # auto: at least this many epochs (NW-UCLA: one of about 110 steps)
    min_steps: int = 100  # auto: at least this many optimiser steps (a 100-clip set: 8 ep.)
    # auto: at least this many training samples seen per trained class, in optimiser steps
    # ceil(K x this / (batch_size x grad_accum x processes)) when that exceeds min_steps
    # (align/plan.py step_floor). 100 at batch 8: 10 classes 125 steps, MSR's 20 250 (measured
    # there, seed 0, tokens kept: 124 steps LLM 0.604, 279 steps 0.824, probe 0.868; issue 21)
    min_samples_per_class: int = 100
    # batch order (sugar_core/sampling.py): shuffle | balanced | auto (balanced below 400
    # training samples or when the classes are imbalanced)
    sampler: str = "auto"
    # below 400 training samples, fields still at their defaults are strengthened:
    # weight_decay 0 -> 0.01, token_noise 0 -> 0.1 (align/plan.py); false: as given
    small_data: bool = True
    lr: float = 1e-3  # AdamW peak (paper: 2e-5 on LLaMA2-7B; a fresh bridge on 1k samples: more)
    weight_decay: float = 0.0  # the bridge is small; decay not needed
    warmup: float = 0.05  # fraction of optimizer steps with linear warm-up, then cosine to 0
    batch_size: int = 8  # samples per device per forward
    grad_accum: int = 1  # forwards per optimizer step (paper: total batch 128)
    precision: str = "fp32"  # fp32 | bf16 (autocast; AMX CPUs and GPUs run it fast)
    grad_clip: float = 1.0  # max gradient norm; 0 = off
    token_noise: float = 0.0  # training: Gaussian noise on tokens, x the train tokens' channel std
    seed: int = 0  # bridge init, LoRA init and batch order
    checkpoint_every: int = 0  # optimizer steps between checkpoints (0: at each epoch end)
    cpu: bool = False  # stay on CPU even when a GPU is visible
    # rank scores (calibration.py): none | length | null | length+null | reference, or auto:
    # chosen by top-1 on a stratified validation share of the train part (held out of training)
    calibration: str = "none"
    # training samples kept with the model as the reference inputs of calibration reference
    # (a class-balanced, seeded draw; scored once per predict call that needs them); 0: none
    reference_samples: int = 64
    validation_share: float = 0.15  # the stratified share of the train part held out
    # the validation part (align/validation.py: calibration auto, health warnings, fallback
    # read-out): auto (a share held out when calibration is auto or below 400 training
    # samples) | share (always) | encoder (always: the trained classes' rows the tokens file
    # records as the encoder's validation part, so neither stage trained on them and the
    # text-prior read-out is not flattered; needs tokens trained with a validation part and
    # no refit) | none (never; the test predictions are still checked)
    validation: str = "auto"
    # list-reading training (align/listing.py): each batch's prompt lists a seeded random
    # subset of the trained names, in random order, of a size drawn in [list_min, list_max]
    # (0 = every name) and always holding the batch's true classes, so the answer has to come
    # from the action tokens and the list, not from one fixed list learned by heart
    list_sampling: bool = False
    list_min: int = 2  # smallest list drawn (raised to the batch's distinct classes)
    list_max: int = 0  # largest list drawn; 0 = all trained names
    # what rank decoding scores per candidate: name ("{name}") | answer ("{name}. description",
    # the description from the priors cut to llm.max_description_tokens: the full trained
    # answer, so the class's knowledge is scored too; calibrate it with null or length+null)
    rank_text: str = "name"
    SETTINGS_CHECKS = {"epochs": check_epochs}  # settings.build: the dotted key in errors

    def check(self) -> None:
        self.bridge.check()
        self.llm.check()
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; choose fp32 or bf16")
        check_epochs(self.epochs)
        check_sampler(self.sampler)
        if self.validation not in VALIDATIONS:
            raise ConfigError(f"validation {self.validation!r}; expected one of {VALIDATIONS}")
        if self.validation == "none" and self.calibration == "auto":
            raise ConfigError("calibration auto chooses on a validation part; validation is none")
        for name in (
            "min_epochs",
            "min_steps",
            "min_samples_per_class",
            "batch_size",
            "grad_accum",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        for name in ("token_noise", "weight_decay", "grad_clip"):
            if not getattr(self, name) >= 0:  # NaN fails too
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.calibration not in CALIBRATIONS + ("auto",):
            raise ConfigError(
                f"calibration {self.calibration!r}; expected auto or one of {CALIBRATIONS}"
            )
        self._check_lists()
        if not 0.0 < self.validation_share < 1.0:
            raise ConfigError(f"validation_share must lie in (0, 1), got {self.validation_share}")
        # a negative seed is "none" in files
        for name in ("seed", "checkpoint_every", "reference_samples"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")

    def _check_lists(self) -> None:
        """List sampling sizes and the rank text (align/listing.py)."""
        if self.rank_text not in RANK_TEXTS:
            raise ConfigError(f"rank_text {self.rank_text!r}; choose one of {list(RANK_TEXTS)}")
        if self.list_min < 1 or self.list_max < 0:
            raise ConfigError(f"list_min must be >= 1 and list_max >= 0, got "
                              f"{self.list_min}, {self.list_max}")  # fmt: skip
        if self.list_max and self.list_max < self.list_min:
            raise ConfigError(f"list_max {self.list_max} is below list_min {self.list_min}")
