"""The paper's two ablation tables, resumable (issues 14 and 16): bridges and knowledge.

A row is (data set, axis, variant, seed): NW-UCLA xview (``ucla``) or MSR Action3D xsub
(``msr``), a named variant (``--list``), one seed. Each row runs the library the way
``bench/small_data.py`` does, with every default except what the variant sets: stage 1
(``train_encoder``, its validation part carved from the training part, ``take_validation_rows``,
``encode``, ``write_tokens``), the alignment (``train_alignment``, its choices on its own
validation part), then the LLM's rank answers on the whole test part, read once. Variants
with the same stage-1 settings share one tokens file per (data set, seed) in ``--work``
(written to a temporary name and renamed, so a killed run leaves no half file).

Each finished row appends one JSON line to ``--results``; rows already there are skipped,
so the same command resumes a table after a stop. A row whose experiment another key already
ran (``both`` is ``tqp``'s run: same tokens, same alignment) is copied with ``copied_from``.
A key already in the file with other settings stops the run. ``--plan`` says what is left.

Reproduce the tables (one results file for both; run again after any stop):

    .venv/bin/python bench/ablate.py --dataset ucla,msr --axis bridge --seeds 0,1,2 \\
        --results ablate/rows.jsonl --work ablate/work
    .venv/bin/python bench/ablate.py --dataset ucla,msr --axis knowledge --seeds 0,1,2 \\
        --results ablate/rows.jsonl --work ablate/work
    .venv/bin/python bench/ablate.py --dataset ucla,msr --axis extra --seeds 0,1,2 \\
        --results ablate/rows.jsonl --work ablate/work          # the new bridge options
    .venv/bin/python bench/ablate.py --table --results ablate/rows.jsonl

``--tokenize-set`` / ``--align-set KEY=VALUE`` (dotted, as ``sugar --set``) change every row,
e.g. ``--align-set validation=encoder`` (align validates on the rows the encoder validated
on; under the defaults NW-UCLA's alignment holds out no validation part: 1,020 clips).

Cost per row, measured by the one smoke (``--dataset msr --axis bridge --variants pool
--seeds 0 --budget tiny``, ``--threads 1``, nice 15, beside a running benchmark, load 2.5-3):
a TINY-BUDGET figure (24 encoder steps, one alignment epoch of 31 steps, 40 test clips) that
says nothing about accuracy: stage 1 15 s (0.34 s a step), alignment 149 s (4.3 s a step,
SmolLM2), test 14 s; 3.1 min with loading the data and building the priors. From those step
times (an extrapolation, not a measurement): a full MSR row is about 1,200 encoder steps
(7 min, once per seed and stage-1 variant) + 279 alignment steps (20 min) + 1.5 min for its
~270 test clips; NW-UCLA: 10-25 min an encoder, 10-20 min an alignment (the brief's
estimate). A seed of the bridge table is one encoder and five alignments per data set.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ablate_plan import (  # noqa: E402
    AXES,
    BUDGETS,
    DATASETS,
    VARIANTS,
    make_jobs,
    variant_names,
)
from _ablate_results import append_row, plan_status, read_results, table  # noqa: E402
from _common import REPO, load_msr, load_priors, load_ucla, seed_list, stratified_take  # noqa: E402

LOADERS = {"ucla": load_ucla, "msr": load_msr}


def commit() -> str:
    """The repository's commit, ``+dirty`` when tracked files differ from it."""

    def git(*a):
        return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode:
        return "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return head.stdout.strip() + ("+dirty" if dirty else "")


def read_data(dataset: str, work: Path):
    """(skeletons, priors, how the priors were made) of a data set; priors cached in ``work``."""
    _, class_list = DATASETS[dataset]
    data, _ = LOADERS[dataset]()
    priors, how = load_priors(class_list, data.class_names, work)
    return data, priors, how


def cap_test(data, split: str, cap: int):
    """``data`` with its ``split``'s test part cut to about ``cap`` clips (a stratified draw,
    seed 0, the same for every row); 0 keeps the whole test part."""
    if cap:
        s = data.splits[split].copy()
        test = np.flatnonzero(s == 0)
        keep = stratified_take(test, data.labels[test], cap, np.random.default_rng(0))
        s[np.setdiff1d(test, keep)] = -1
        data.splits = {**data.splits, split: s}
    return data


def ensure_tokens(job, data, priors, work: Path, callback=None) -> tuple[Path, float | None, bool]:
    """(tokens file, seconds it took to make, reused?): the job's stage 1, made once;
    ``callback`` receives its progress events."""
    from sugar_core.schema import open_file, root_info
    from sugar_core.tokenize.encoding import encode, take_validation_rows
    from sugar_core.tokenize.store import write_tokens
    from sugar_core.tokenize.training import train_encoder

    path = work / job.tokens_name()
    if path.exists():
        with open_file(path, "tokens") as f:
            made = root_info(f)["config"].get("ablate", {})
        if made.get("record") != job.tokens_record():
            raise SystemExit(f"{path}: made with other settings ({made.get('record')}); "
                             "remove it or give another --work")  # fmt: skip
        return path, made.get("seconds"), True
    tok_cfg, _ = job.configs()
    split = DATASETS[job.dataset][0]
    t0 = time.perf_counter()
    enc, heads, history = train_encoder(data, priors, tok_cfg, split, callback=callback)
    history, rows = take_validation_rows(history)
    ts = encode(data, enc, heads, prep=tok_cfg.prep, history=history, train_split=split,
                encoder_validation=rows)  # fmt: skip
    seconds = time.perf_counter() - t0
    record = {"record": job.tokens_record(), "seconds": seconds, "commit": commit()}
    config = {**tok_cfg.to_dict(), "split": split, "ablate": record}  # as `sugar tokenize` writes
    write_tokens(ts, path, config=config, seed=job.seed)  # temp file + rename
    return path, seconds, False


def stage1_figures(history: list[dict]) -> dict:
    """The encoder's figures from its history: test_* (the one test read), validation."""
    last = history[-1] if history else {}
    val = {k: v for k, v in last.items() if k.startswith("val_") and isinstance(v, float)}
    return {
        "probe": last.get("test_probe_top1"), "text_prior": last.get("test_text_top1"),
        "ce_head": last.get("test_ce_top1"), "encoder_val": val,
        "encoder_validation": last.get("validation"), "encoder_plan": last.get("schedule"),
        "encoder_warnings": last.get("warnings", []),
    }  # fmt: skip


def align_figures(history: list[dict]) -> dict:
    """What the alignment chose on its validation part, and its plan."""
    last = history[-1] if history else {}
    return {
        "val_llm_top1": last.get("val_llm_top1"),
        "val_text_prior_top1": last.get("val_text_prior_top1"), "val_n": last.get("val_n"),
        "calibration": last.get("calibration"), "readout": last.get("readout", "llm"),
        "align_plan": last.get("schedule"), "align_warnings": last.get("warnings", []),
    }  # fmt: skip


def test_figures(model, ts, idx: np.ndarray, callback=None) -> dict:
    """The LLM's own rank answers on rows ``idx`` (top-1, top-5, mean class accuracy, recall
    per class) and the answer's top-1 (the text prior where validation chose it)."""
    from sugar_core.align import readout
    from sugar_core.align.inference import candidate_ids, predict_split
    from sugar_core.evaluate.metrics import compute_metrics

    own = model.readout
    model.readout = readout.LLM  # the LLM's ranks, whatever answers; one pass over the test
    try:
        p = predict_split(model, ts, idx, describe=False, callback=callback)
    finally:
        model.readout = own
    m = compute_metrics(p.labels, p.pred, p.top5, p.class_names, candidates=p.candidates)
    answer = m["top1"]
    if readout.applies(model, model.class_names):
        pos = readout.rank(ts.projected[idx], model.prototypes)[0]
        answer = float((candidate_ids(model, ts)[pos] == p.labels).mean())
    recall = {name: c["recall"] for name, c in m["per_class"].items()}
    return {"n_test": m["n"], "llm_top1": m["top1"], "llm_top5": m["top5"],
            "llm_mca": m["mean_class_acc"], "answer_top1": answer, "recall": recall}  # fmt: skip


def run_job(job, loaded, work: Path, callback=None) -> dict:
    """Train and test one row; the row as the results file keeps it. ``callback`` receives
    the progress events of its stages (the CLI's Reporter: bars, or a line every 10 s)."""
    from sugar_core.align.training import train_alignment
    from sugar_core.tokenize.store import read_tokens

    data, priors, how = loaded
    load_start = os.getloadavg()
    path, tok_s, reused = ensure_tokens(job, data, priors, work, callback)
    ts = read_tokens(path)  # the same path for fresh and reused tokens
    _, align_cfg = job.configs()
    split = DATASETS[job.dataset][0]
    t0 = time.perf_counter()
    model = train_alignment(ts, priors, align_cfg, split, callback=callback)
    t1 = time.perf_counter()
    figures = test_figures(model, ts, ts.split_indices(split, "test"), callback)
    seconds = {"tokenize": tok_s, "align": t1 - t0, "predict": time.perf_counter() - t1}
    return {
        **identity(job), "n_train": len(ts.split_indices(split, "train")),
        "chance": 1.0 / len(ts.class_names), **stage1_figures(ts.history),
        **align_figures(model.history), **figures, "seconds": seconds,
        "tokens_file": path.name, "tokens_reused": reused, "priors": how,
        "load_start": list(load_start), "load_end": list(os.getloadavg()), "commit": commit(),
        "settings": {"tokenize": job.tokenize, "align": job.align},
    }  # fmt: skip


def identity(job) -> dict:
    return {"key": job.key, "dataset": job.dataset, "axis": job.axis, "variant": job.variant,
            "seed": job.seed, "budget": job.budget, "fingerprint": job.fingerprint()}  # fmt: skip


def run_all(jobs, results: Path, work: Path, budget: str) -> None:
    """Every job not in ``results`` yet, appended as it finishes."""
    from sugar_cli.console import Reporter

    done = read_results(results)
    loaded: dict = {}
    for job in jobs:
        _, what, old = plan_status([job], done)[0]
        if what == "done":
            print(f"[ablate] {job.key}: in {results}, skipped", file=sys.stderr)
            continue
        if what == "copy":
            row = {**old, **identity(job), "copied_from": old.get("copied_from", old["key"])}
        else:
            if job.dataset not in loaded:
                data, priors, how = read_data(job.dataset, work)
                split = DATASETS[job.dataset][0]
                loaded[job.dataset] = (cap_test(data, split, BUDGETS[budget].test_cap), priors,
                                       how)  # fmt: skip
            print(f"[ablate] {job.key}: running", file=sys.stderr)
            titles = {"tokenize": f"{job.key} encoder", "align": f"{job.key} alignment"}
            with Reporter(titles) as report:
                row = run_job(job, loaded[job.dataset], work, report)
        append_row(results, row)
        done.append(row)
        wall = sum(v or 0.0 for v in row["seconds"].values())
        print(f"[ablate] {job.key}: {what} -> llm top-1 {row['llm_top1']:.3f}, {wall:.0f} s",
              file=sys.stderr)  # fmt: skip


def list_variants() -> None:
    for name, v in VARIANTS.items():
        print(f"{v.axis:10} {name:13} {v.what}")
        print(f"{'':24} stage 1 {v.tokenize or 'defaults'}; alignment {v.align or 'defaults'}")


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, help="The JSON-lines results file (resumed).")
    ap.add_argument("--work", type=Path, help="Folder for tokens files and cached priors.")
    ap.add_argument("--dataset", default="ucla,msr", help="ucla, msr or both, comma-separated.")
    ap.add_argument("--axis", choices=AXES, help="Run this table's default variants.")
    ap.add_argument("--variants", help="Comma-separated variant names (see --list).")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--budget", choices=tuple(BUDGETS), default="default")
    ap.add_argument("--threads", type=int, default=2)
    for stage in ("tokenize", "align"):
        what = f"A {stage} setting for every row (repeatable, dotted keys)."
        ap.add_argument(f"--{stage}-set", action="append", default=[], metavar="KEY=VALUE",
                        help=what)  # fmt: skip
    ap.add_argument("--table", action="store_true", help="Print the table of --results; no runs.")
    ap.add_argument("--plan", action="store_true", help="Say which rows are done, copied, left.")
    ap.add_argument("--list", action="store_true", help="List the variants and their settings.")
    return ap.parse_args(argv)


def main(argv=None) -> None:
    args = parse(argv)
    if args.list:
        return list_variants()
    if args.results is None:
        raise SystemExit("--results FILE.jsonl is required")
    if args.table:
        return table(read_results(args.results))
    names = variant_names(args.axis, args.variants)
    seeds = seed_list(args.seeds)
    datasets = [d.strip() for d in args.dataset.split(",")]
    jobs = make_jobs(datasets, names, seeds, args.budget, args.tokenize_set, args.align_set)
    if args.plan:
        for job, what, _ in plan_status(jobs, read_results(args.results)):
            print(f"{job.key:34} {what}")
        return None
    if args.work is None:
        raise SystemExit("--work DIR is required to run rows (tokens files live there)")
    import torch
    from transformers.utils import logging

    torch.set_num_threads(args.threads)
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    print(f"[ablate] {len(jobs)} rows, budget {args.budget}, commit {commit()}", file=sys.stderr)
    run_all(jobs, args.results, args.work, args.budget)
    table(read_results(args.results))
    return None


if __name__ == "__main__":
    main()
