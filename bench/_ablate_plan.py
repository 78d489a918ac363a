"""The ablation's rows (``bench/ablate.py``): data sets, the named variants, budgets, and the
jobs built from them, each with the settings it hands the library and a fingerprint.

A variant is a pair of settings objects, laid over the library defaults in the form of
``--set`` (``sugar_core.settings``): what stage 1 (``TokenizeConfig``) and the alignment
(``AlignConfig``) change. Everything a variant does not name keeps its default, but for the
anchor token: every row pins ``bridge.anchor`` none unless it names one, so the small-set rule
(which adds the fitted anchor under 400 training clips, MSR included) does not mix the anchor
into the bridge and knowledge tables (the paper's bridges have none). Variants with
the same stage-1 settings share one tokens file per (data set, seed); the file name carries a
hash of those settings, so a changed setting never reuses a stale file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

# name: (split, class list). Rows use the data set's own split under its own name (the
# validation rule auto reads it: xsub holds out subjects), its test part capped by the budget
DATASETS = {"ucla": ("xview", "nw-ucla"), "msr": ("xsub", "msr")}
AXES = ("bridge", "knowledge", "extra")
BASE_ALIGN = {"bridge": {"anchor": "none"}}  # under every variant (module docstring)


@dataclass(frozen=True)
class Variant:
    axis: str  # the table the row belongs to
    stage1: str  # label of its tokens in file names (the settings' hash decides the sharing)
    what: str  # one line for --list
    tokenize: dict = field(default_factory=dict)  # TokenizeConfig settings it changes
    align: dict = field(default_factory=dict)  # AlignConfig settings it changes


def _bridge(**kw) -> dict:
    return {"bridge": kw}


_PARTS = {"token_layout": "time-parts", "part_weight": 1.0}
VARIANTS = {
    "tqp": Variant("bridge", "default", "the method: TQP, every default"),
    "qformer": Variant("bridge", "default", "one Q-Former over the whole sequence",
                       align=_bridge(kind="qformer")),
    "xattn": Variant("bridge", "default", "cross-attention only (learned queries, one read)",
                     align=_bridge(kind="xattn")),
    "linear": Variant("bridge", "default", "one linear layer (tokens resampled to Q)",
                      align=_bridge(kind="linear")),
    "pool": Variant("bridge", "default", "mean pooling to one token", align=_bridge(kind="pool")),
    "ce": Variant("knowledge", "ce", "no knowledge: stage 1 with cross-entropy only",
                  tokenize={"objective": "ce"}),
    "motion": Variant("knowledge", "motion", "motion priors only (the six-part sentence)",
                      tokenize={"text_kinds": ["motion"]}),
    "visual": Variant("knowledge", "visual", "visual priors only",
                      tokenize={"text_kinds": ["visual"]}),
    "both": Variant("knowledge", "default", "motion + visual priors (the default: tqp's run)"),
    "tqp-abs": Variant("extra", "default", "TQP with absolute time (place + chunk index)",
                       align=_bridge(time_embedding="absolute")),
    "tqp-llmscale": Variant("extra", "default", "TQP, tokens at the LLM's embedding norm",
                            align=_bridge(output_scale="llm")),
    "tqp-anchor": Variant("extra", "default", "TQP + the fitted text-space anchor token",
                          align=_bridge(anchor="fitted")),
    "tqp-even": Variant("extra", "default", "TQP, chunks of near-equal length (13: 3,3,3,4)",
                        align=_bridge(chunking="even")),
    "tqp-summary": Variant("extra", "default", "TQP after one pooled token (summary pool)",
                           align=_bridge(summary="pool")),
    "tqp-all": Variant("extra", "default", "TQP with absolute time, LLM scale and fitted anchor",
                       align=_bridge(time_embedding="absolute", output_scale="llm",
                                     anchor="fitted")),
    "parts-layout": Variant("extra", "parts-layout", "time x body-part tokens, no part loss",
                            tokenize={"token_layout": "time-parts"}),
    "parts": Variant("extra", "parts", "time x body-part tokens + part loss (weight 1)",
                     tokenize=_PARTS),
    "parts-abs": Variant("extra", "parts", "parts tokens; TQP reads one time step (6 tokens) "
                         "a chunk, absolute time", tokenize=_PARTS,
                         align=_bridge(chunk=6, time_embedding="absolute")),
}  # fmt: skip
DEFAULT_LISTS = {axis: [n for n, v in VARIANTS.items() if v.axis == axis] for axis in AXES}


@dataclass(frozen=True)
class Budget:
    tokenize: dict  # settings under the variant's
    align: dict
    test_cap: int  # test samples kept (stratified, seeded draw); 0 = the whole test part


BUDGETS = {
    "default": Budget({}, {}, 0),
    # a smoke of the script, saying nothing about accuracy: about 20 encoder steps, one
    # alignment epoch, short answers, 40 test samples
    "tiny": Budget(
        {"min_steps": 20, "min_epochs": 1, "warmup_epochs": 0},
        {"min_steps": 4, "min_samples_per_class": 1, "llm": {"max_description_tokens": 8}},
        40,
    ),
}


def digest(obj) -> str:
    """Twelve hex digits of the SHA-256 of ``obj`` as canonical JSON."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Job:
    """One row: a variant of one data set with one seed, and the settings it runs."""

    dataset: str
    variant: str
    seed: int
    budget: str
    tokenize: dict  # what goes to TokenizeConfig.from_settings
    align: dict  # what goes to AlignConfig.from_settings

    @property
    def axis(self) -> str:
        return VARIANTS[self.variant].axis

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.axis}/{self.variant}/s{self.seed}"

    def tokens_record(self) -> dict:
        """What decides the tokens: equal records share one tokens file."""
        cap = BUDGETS[self.budget].test_cap
        return {"dataset": self.dataset, "budget": self.budget, "test_cap": cap,
                "tokenize": self.tokenize}  # fmt: skip

    def tokens_name(self) -> str:
        stage1, h = VARIANTS[self.variant].stage1, digest(self.tokens_record())
        return f"{self.dataset}-{stage1}-{self.budget}-s{self.seed}-{h}.h5"

    def fingerprint(self) -> str:
        """Equal for two jobs that would run the same experiment (a row can be copied)."""
        return digest({**self.tokens_record(), "align": self.align})

    def configs(self):
        """(TokenizeConfig, AlignConfig) through the strict readers: a ConfigError names the
        variant and the bad key."""
        from sugar_core.align.config import AlignConfig
        from sugar_core.tokenize.config import TokenizeConfig

        where = f"variant {self.variant}"
        tok = TokenizeConfig.from_settings(self.tokenize, f"{where} (stage 1)")
        return tok, AlignConfig.from_settings(self.align, f"{where} (alignment)")


def variant_names(axis: str | None, variants: str | None) -> list[str]:
    """The variants to run: the explicit comma list, else the axis' default list."""
    if not variants:
        if axis is None:
            raise SystemExit("give --axis (bridge, knowledge, extra) or --variants")
        return DEFAULT_LISTS[axis]
    names = [v.strip() for v in variants.split(",") if v.strip()]
    for name in names:
        if name not in VARIANTS:
            raise SystemExit(f"--variants: unknown variant {name!r}; known: {', '.join(VARIANTS)}")
        if axis is not None and VARIANTS[name].axis != axis:
            raise SystemExit(f"--variants: {name} belongs to axis {VARIANTS[name].axis}, "
                             f"not --axis {axis}")  # fmt: skip
    return names


def make_jobs(datasets, names, seeds, budget: str, tokenize_sets=(), align_sets=()) -> list[Job]:
    """Jobs in run order: data set, then seed, then variant (a whole seed of the table comes
    first; its tokens are reused at once). ``*_sets``: ``KEY=VALUE`` items laid over every
    variant (dotted keys, JSON values, as ``sugar --set``). Every job's configs are built
    here, so a bad setting stops the run before any training."""
    from sugar_core.errors import ConfigError
    from sugar_core.settings import apply_sets, merge

    b = BUDGETS[budget]
    jobs = []
    for dataset in datasets:
        if dataset not in DATASETS:
            raise SystemExit(f"--dataset: unknown {dataset!r}; known: {', '.join(DATASETS)}")
        for seed in seeds:
            for name in names:
                v = VARIANTS[name]
                try:
                    tok = apply_sets(merge(b.tokenize, v.tokenize), tokenize_sets)
                    align = apply_sets(merge(merge(BASE_ALIGN, b.align), v.align), align_sets)
                    job = Job(dataset, name, seed, budget, {**tok, "seed": seed},
                              {**align, "seed": seed})  # fmt: skip
                    job.configs()
                except ConfigError as exc:
                    raise SystemExit(f"error: {exc}") from None
                jobs.append(job)
    return jobs
