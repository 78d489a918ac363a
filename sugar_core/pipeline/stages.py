"""The stages of ``sugar demo`` (``demo.py``): each runs one library stage and writes its file.

Every function takes the ``Run`` (output folder, timing, progress events, the results table
rows and numbers) and returns what the next stage needs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sugar_core import events, schema
from sugar_core.errors import ConfigError
from sugar_core.pipeline.config import DemoConfig, Settings
from sugar_core.skeleton.dataset import SkeletonSet
from sugar_core.zeroshot.splits import UnseenSplit

Callback = Callable[[dict], None]


@dataclass
class StageRow:
    stage: str  # one of STAGES
    file: str  # what it wrote, relative to the output folder
    result: str  # one line for people
    seconds: float


class Run:
    """Bookkeeping shared by the stages: output folder, timing, events."""

    def __init__(self, out: Path, callback: Callback | None):
        self.out = out
        self.callback = callback
        self.rows: list[StageRow] = []
        self.metrics: dict = {}

    def path(self, name: str) -> Path:
        return self.out / name

    def emit(self, event: str, stage: str, **fields) -> None:
        events.emit(self.callback, event, stage, **fields)

    def stage(self, name: str):
        """A context manager that times ``name`` and emits start / done events."""
        run = self

        class _Stage:
            def __enter__(self):
                self.t0 = time.perf_counter()
                run.emit("start", name)
                return self

            def __exit__(self, *exc):
                self.seconds = time.perf_counter() - self.t0
                if exc[0] is None:
                    run.emit("done", name, seconds=self.seconds)

        return _Stage()

    def progress(self, stage: str) -> Callback | None:
        """A callback for a stage library: its events under the demo stage ``stage`` (its own
        start / done lines are left out: the demo prints one pair per stage)."""
        inner = events.relay(self.callback, stage)
        if inner is None:
            return None
        return lambda ev: None if ev.get("event") in ("start", "done") else inner(ev)

    def add(self, stage: str, file: str, result: str, seconds: float) -> None:
        self.rows.append(StageRow(stage, file, result, round(seconds, 1)))


def import_data(run: Run, cfg: DemoConfig) -> tuple[SkeletonSet, str]:
    from sugar_core.skeleton.dataset import write_skeletons
    from sugar_core.skeleton.synthetic import make_synthetic

    path = run.path("data.h5")
    with run.stage("import") as st:
        if cfg.data is None:
            per_class = cfg.per_class or (8 if cfg.fast else 40)
            subjects = 4 if cfg.fast else 10
            data = make_synthetic(n_per_class=per_class, subjects=subjects, seed=cfg.seed)
            record = {"source": "synthetic", "n_per_class": per_class, "subjects": subjects}
            write_skeletons(data, path, config=record, seed=cfg.seed)
        else:
            from sugar_core.skeleton import io

            opts = io.ReadOptions(workers=max(1, min(4, os.cpu_count() or 1)))
            got = io.load(cfg.data, cfg.format, opts)
            data = got.data
            record = {"source": data.source, "format": cfg.format, "notes": got.notes}
            write_skeletons(data, path, config=record, seed=cfg.seed,
                            inputs=schema.input_record([cfg.data]))  # fmt: skip
        split = cfg.split or ("xsub" if cfg.data is None else "")
        from sugar_core.zeroshot.plan import default_split

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


def make_priors(run: Run, cfg: DemoConfig, data: SkeletonSet):
    from sugar_core.priors.backends import BackendConfig
    from sugar_core.priors.build import PriorsConfig, build_priors
    from sugar_core.priors.classlist import from_sugar_file
    from sugar_core.priors.store import write_priors

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


def tokenize_stage(run: Run, data, priors, split: str, tok_cfg):
    from sugar_core.tokenize.encoding import encode, take_validation_rows
    from sugar_core.tokenize.store import write_tokens
    from sugar_core.tokenize.training import train_encoder

    path = run.path("tokens.h5")
    with run.stage("tokenize") as st:
        enc, heads, history = train_encoder(
            data, priors, tok_cfg, split, callback=run.progress("tokenize")
        )
        history, rows = take_validation_rows(history)  # into the tokens file's own dataset
        ts = encode(data, enc, heads, prep=tok_cfg.prep, history=history, train_split=split,
                    priors_sha256=schema.sha256(run.path("priors.h5")),
                    encoder_validation=rows)  # fmt: skip
        write_tokens(
            ts,
            path,
            config={**tok_cfg.to_dict(), "split": split},
            seed=tok_cfg.seed,
            inputs=schema.input_record([run.path("data.h5"), run.path("priors.h5")]),
        )
    last = history[-1] if history else {}
    val = last.get("test_text_top1")
    widths = "-".join(str(c) for c in enc.cfg.channels)
    epochs = last.get("schedule", {}).get("epochs", tok_cfg.epochs)  # auto: the run's own
    result = f"encoder {widths} wide, {epochs} epoch(s), Ls {len(ts.tokens[0])} x D "
    result += f"{ts.dim}" + (f"; text-prior top-1 on test {100 * val:.1f}%" if val is not None
                             else "")  # fmt: skip
    run.add("tokenize", path.name, result, st.seconds)
    run.metrics["tokenize"] = {k: last[k] for k in ("loss", "train_acc", "test_text_top1")
                               if k in last}  # fmt: skip
    return ts


def align_stage(run: Run, ts, priors, split: str, align_cfg, max_new_tokens: int):
    from sugar_core.align.inference import predict_split
    from sugar_core.align.store import save_aligned
    from sugar_core.align.training import train_alignment
    from sugar_core.evaluate.metrics import compute_metrics

    path = run.path("aligned.h5")
    with run.stage("align") as st:
        model = train_alignment(ts, priors, align_cfg, split, callback=run.progress("align"))
        test = ts.split_indices(split, "test")
        p = predict_split(
            model, ts, test, decode="rank", describe=max_new_tokens > 0,
            max_new_tokens=max(1, max_new_tokens), callback=run.progress("align"),
        )  # fmt: skip
        m = compute_metrics(p.labels, p.pred, p.top5, ts.class_names, p.raw_text, p.candidates)
        p.metrics = {**p.metrics, **m, "protocol": "supervised", "split": split}
        run_cfg = dict(align_cfg.to_dict(), split=split, decode="rank",
                       max_new_tokens=max_new_tokens)  # fmt: skip
        inputs = schema.input_record([run.path("tokens.h5"), run.path("priors.h5")])
        save_aligned(path, model, p, config=run_cfg, inputs=inputs)
    run.add(
        "align",
        path.name,
        f"top-1 {100 * m['top1']:.1f}%, top-5 {100 * m['top5']:.1f}% "
        f"on {m['n']} test samples ({len(model.class_names)} classes)",
        st.seconds,
    )
    keys = ("top1", "top5", "mean_class_acc", "n", "off_list_rate", "protocol", "split")
    run.metrics["align"] = {k: p.metrics[k] for k in keys}
    hit = p.pred == p.labels
    first = int(np.argmax(hit)) if hit.any() else 0
    run.metrics["example"] = {
        "sample_id": p.sample_ids[first], "true": ts.class_names[p.labels[first]],
        "pred": ts.class_names[p.pred[first]], "description": p.description[first],
    }  # fmt: skip
    return test


def eval_stage(run: Run):
    from sugar_core.evaluate.report import evaluate_file

    with run.stage("eval") as st:
        m = evaluate_file(run.path("aligned.h5"), plots_dir=run.out, priors=run.path("priors.h5"))
    names = ", ".join(Path(p).name for p in m["plots"])
    pairs = m["confused_pairs"][:1]
    worst = f"; most confused: {pairs[0]['true']} -> {pairs[0]['pred']}" if pairs else ""
    faith = m.get("faithfulness")
    if faith and faith["n_described"]:
        run.metrics["faithfulness"] = faith
        worst += (f"; descriptions nearest to the named class's priors {100 * faith['named']:.0f}%"
                  f", to the true class's {100 * faith['true']:.0f}%")  # fmt: skip
    run.add("eval", names, f"mean class accuracy {100 * m['mean_class_acc']:.1f}%{worst}",
            st.seconds)  # fmt: skip


def zeroshot_stage(
    run: Run, data, priors, split: str, settings: Settings, us: UnseenSplit, seed: int
):
    from sugar_core.zeroshot.config import ZeroShotConfig
    from sugar_core.zeroshot.protocol import run_zeroshot
    from sugar_core.zeroshot.store import write_zeroshot

    path = run.path("zs.h5")
    zcfg = ZeroShotConfig(split=split, decodes=("rank",), tokenize=settings.tokenize,
                          align=settings.align, describe=False,
                          align_per_class=settings.zs_per_class)  # fmt: skip
    with run.stage("zeroshot") as st:
        result = run_zeroshot(data, priors, us, zcfg, callback=run.progress("zeroshot"),
                              priors_sha256=schema.sha256(run.path("priors.h5")))  # fmt: skip
        write_zeroshot(result, path, config={**zcfg.to_dict(), "unseen_split": us.name},
                       seed=seed, inputs=schema.input_record(
                           [run.path("data.h5"), run.path("priors.h5")]))  # fmt: skip
    m = result.metrics
    llm, base = m["llm"]["rank"]["top1"], m.get("baseline", {}).get("top1", float("nan"))
    run.add("zeroshot", path.name,
            f"unseen {', '.join(result.plan.unseen_names)} ({m['n']} samples): LLM-rank top-1 "
            f"{100 * llm:.1f}%, embedding baseline {100 * base:.1f}%, chance "
            f"{100 * m['chance']['top1']:.0f}%", st.seconds)  # fmt: skip
    run.metrics["zeroshot"] = {"unseen_split": us.name, "unseen": result.plan.unseen_names,
                               "n": m["n"], "llm_rank_top1": llm, "baseline_top1": base,
                               "chance_top1": m["chance"]["top1"]}  # fmt: skip


def sample_gif(run: Run, data: SkeletonSet, test: np.ndarray):
    from sugar_core.skeleton.render import animate

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
