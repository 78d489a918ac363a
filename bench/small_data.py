"""Small training sets with every default (issue 21): does the pipeline learn, or collapse?

Subsets a user could have, full test sets, three seeds:

    ucla-10   NW-UCLA xview, 10 training clips per class (a seeded draw per seed; 100 clips)
    msr-xsub  MSR Action3D xsub, its 5 training subjects (about 280 clips)

Each run is the README pipeline through the library with every default (``TokenizeConfig()``,
``AlignConfig()``: auto epochs, the small-set rule, the validation parts, SmolLM2): tokenize,
align, rank-predict the test part. Prints, per subset and seed, the encoder's linear probe and
text-prior top-1 on the test part, the LLM's top-1, the read-out that answered, chance, the
warnings count and the wall times; then mean +- std per subset. --json-out keeps every row.

    .venv/bin/python bench/small_data.py --seeds 0,1,2
    .venv/bin/python bench/small_data.py --subsets ucla-10 --seeds 0 --budget tiny   # smoke

The alignment schedule sweep (choices made on the validation part, val_* columns): keep each
subset-seed's tokens once, then align again with other settings on the same tokens:

    .venv/bin/python bench/small_data.py --subsets msr-xsub --seeds 0 --tokens-dir runs/tok \
        --align-set min_steps=250

--budget tiny caps both stages (min_steps 20 / 4, min_epochs 1) and the test part (60 clips):
a smoke test of the script, saying nothing about accuracy. A full-budget run on two shared CPU
cores takes hours (the encoder's floor is 1,200 steps, the alignment's 100).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from sugar_core.errors import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    align_config,
    key_values,
    load_msr,
    load_priors,
    load_ucla,
    machine_load,
    seed_list,
    spread,
    stratified_take,
)
from _tokenize_bench import workdir  # noqa: E402

SUBSETS = {"ucla-10": ("nw-ucla", "xview", 10), "msr-xsub": ("msr", "xsub", 0)}


def subset(data, split: str, per_class: int, seed: int, test_limit: int):
    """``data`` with a split ``small`` keeping at most ``per_class`` training clips of each
    class (0 = all) and, with ``test_limit``, a stratified share of the test part."""
    s = data.splits[split].copy()
    rng = np.random.default_rng(seed)
    if per_class:
        for c in np.unique(data.labels):
            rows = np.flatnonzero((s == 1) & (data.labels == c))
            s[rng.permutation(rows)[per_class:]] = -1
    if test_limit:
        test = np.flatnonzero(s == 0)
        keep = stratified_take(test, data.labels[test], test_limit, rng)
        s[np.setdiff1d(test, keep)] = -1
    data.splits = {**data.splits, "small": s.astype(np.int8)}
    return data


def configs(seed: int, budget: str, align_set: list[str] | tuple[str, ...] = ()):
    """(TokenizeConfig, AlignConfig) of a run: every default, the tiny budget's caps, and the
    ``KEY=VALUE`` items of --align-set (dotted keys for nested settings, as ``--set`` takes
    them: ``bridge.anchor=fitted``), checked as the CLI checks them."""
    from sugar_core.tokenize.config import TokenizeConfig

    tok, base = TokenizeConfig(seed=seed), {"seed": seed}
    if budget == "tiny":
        tok = replace(tok, min_steps=20, min_epochs=1, warmup_epochs=0)
        base.update(min_steps=4, llm={"max_description_tokens": 8})
    return tok, align_config(base, align_set)


def one(name: str, seed: int, args) -> dict:
    from sugar_core.align.inference import predict_split
    from sugar_core.evaluate.metrics import compute_metrics
    from sugar_core.tokenize.encoding import encode, take_validation_rows
    from sugar_core.tokenize.store import read_tokens, write_tokens
    from sugar_core.tokenize.training import train_encoder

    kind, split, per_class = SUBSETS[name]
    data, _ = load_ucla() if kind == "nw-ucla" else load_msr()
    priors, _ = load_priors(kind, data.class_names, workdir())
    data = subset(data, split, per_class, seed, 60 if args.budget == "tiny" else 0)
    tok_cfg, align_cfg = configs(seed, args.budget, args.align_set)
    kept = args.tokens_dir / f"{name}-s{seed}-{args.budget}.h5" if args.tokens_dir else None
    t0 = time.perf_counter()
    reused = kept is not None and kept.exists()
    if reused:
        ts = read_tokens(kept)
        print(f"[bench] tokens reused from {kept}", file=sys.stderr)
    else:
        enc, heads, history = train_encoder(data, priors, tok_cfg, "small")
        history, rows = take_validation_rows(history)
        ts = encode(data, enc, heads, prep=tok_cfg.prep, history=history, train_split="small",
                    encoder_validation=rows)  # fmt: skip
        if kept is not None:
            kept.parent.mkdir(parents=True, exist_ok=True)
            write_tokens(ts, kept, seed=seed)
    history = ts.history
    t1 = time.perf_counter()
    from sugar_core.align.training import train_alignment

    model = train_alignment(ts, priors, align_cfg, "small")
    t2 = time.perf_counter()
    p = predict_split(model, ts, ts.split_indices("small", "test"), describe=False)
    m = compute_metrics(p.labels, p.pred, p.top5, p.class_names, candidates=p.candidates)
    last, al = history[-1], model.history[-1]
    return {
        "subset": name, "seed": seed, "n_train": int((ts.splits["small"] == 1).sum()),
        "n_test": m["n"], "chance": 1.0 / len(data.class_names),
        "probe": last.get("test_probe_top1"), "text_prior": last.get("test_text_top1"),
        "llm": p.metrics.get("llm_top1", m["top1"]), "answer_top1": m["top1"],
        "readout": p.metrics.get("readout", "llm"),
        "encoder_plan": last.get("schedule"), "align_plan": al.get("schedule"),
        "val_llm": al.get("val_llm_top1"), "val_text_prior": al.get("val_text_prior_top1"),
        "align_set": key_values(args.align_set, "--align-set"), "tokens_reused": reused,
        "warnings": last.get("warnings", []) + al.get("warnings", []),
        "tokenize_s": t1 - t0, "align_s": t2 - t1, "predict_s": time.perf_counter() - t2,
    }  # fmt: skip


def table(rows: list[dict]) -> None:
    cols = ("probe", "text_prior", "llm", "answer_top1", "val_llm", "val_text_prior", "chance")
    print(f"{'subset':10} {'seed':>4} " + " ".join(f"{c:>11}" for c in cols) + "   steps  warn  s")
    for r in rows:
        figs = " ".join(f"{r[c]:11.3f}" if r[c] is not None else f"{'-':>11}" for c in cols)
        steps = f"{r['encoder_plan']['steps']}/{r['align_plan']['steps']}"
        wall = r["tokenize_s"] + r["align_s"] + r["predict_s"]
        print(f"{r['subset']:10} {r['seed']:>4} {figs} {steps:>7} {len(r['warnings']):>5} "
              f"{wall:.0f}  {r['readout']}")  # fmt: skip
    for name in dict.fromkeys(r["subset"] for r in rows):
        mine = [r for r in rows if r["subset"] == name]
        cells = (f"{c} {spread((r[c] for r in mine), percent=False, digits=3)}" for c in cols)
        print(f"{name:10} mean " + "  ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subsets", default=",".join(SUBSETS), help="Comma-separated names.")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--budget", choices=("default", "tiny"), default="default")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--tokens-dir",
        type=Path,
        default=None,
        help="Keep each subset-seed's tokens file here and reuse it when present.",
    )
    ap.add_argument(
        "--align-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="An AlignConfig setting for every run (repeatable; dotted keys as --set takes them), "
        "e.g. min_steps=250 or bridge.anchor=fitted.",
    )
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args()
    try:
        configs(0, args.budget, args.align_set)  # a bad --align-set stops here, before any work
    except ConfigError as e:
        ap.error(str(e))
    torch.set_num_threads(args.threads)
    print(f"[bench] {machine_load()}, budget {args.budget}", file=sys.stderr)
    rows = []
    for name in args.subsets.split(","):
        for seed in seed_list(args.seeds):
            rows.append(one(name, seed, args))
            print(f"[bench] {name} seed {seed}: {json.dumps(rows[-1], default=str)}",
                  file=sys.stderr)  # fmt: skip
    table(rows)
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
