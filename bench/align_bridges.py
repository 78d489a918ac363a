"""Bridge ablation (method.md: TQP vs one Q-Former vs one linear layer vs pooling).

Every bridge gets the same LLM, prompt, LoRA, optimiser, seed and training budget (the same
batches in the same order); only the bridge differs. Accuracy is read with rank decoding
(class only) on the test part of the split. Prints a table; --json-out keeps the numbers.

    .venv/bin/python bench/align_bridges.py tokens.h5 priors.h5 --epochs 1 --queries 8 --chunk 4

On a shared 2-core CPU one bridge with SmolLM2-135M takes tens of minutes per epoch over the
1020 NW-UCLA training samples; --train-per-class and --test-limit shrink the budget (equally
for every bridge).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import key_values, stratified_take  # noqa: E402


def subset_split(ts, split: str, per_class: int, test_limit: int, seed: int) -> str:
    """A new split name holding at most ``per_class`` train samples per class and at most
    ``test_limit`` test samples, a class-stratified seeded draw (the first N in file order
    were classes a01-a04 only); returns its name."""
    s = ts.splits[split].copy()
    rng = np.random.default_rng(seed)
    if per_class:
        for c in np.unique(ts.labels):
            rows = np.flatnonzero((s == 1) & (ts.labels == c))
            drop = rng.permutation(rows)[per_class:]
            s[drop] = -1
    if test_limit:
        test = np.flatnonzero(s == 0)
        s[np.setdiff1d(test, stratified_take(test, ts.labels[test], test_limit, rng))] = -1
    name = f"{split}-bench"
    ts.splits[name] = s
    return name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tokens")
    ap.add_argument("priors")
    ap.add_argument("--split", default=None)
    ap.add_argument("--bridges", default="tqp,qformer,linear,pool")
    ap.add_argument("--llm", default="smollm2")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--queries", type=int, default=8)
    ap.add_argument("--chunk", type=int, default=4)
    ap.add_argument("--no-lora", action="store_true")
    ap.add_argument("--standardize", action="store_true", help="per-channel token scaling")
    ap.add_argument("--prompt", default="paper", choices=["paper", "list-first"])
    ap.add_argument("--token-noise", type=float, default=0.0, help="x the tokens' channel std")
    ap.add_argument("--max-description-tokens", type=int, default=32, help="0: answer {class}")
    ap.add_argument("--train-per-class", type=int, default=0, help="0 = every train sample")
    ap.add_argument("--test-limit", type=int, default=0, help="0 = every test sample")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", default=None, help="comma-separated seeds, e.g. 0,1,2")
    ap.add_argument(
        "--bridge-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a BridgeConfig field for every bridge (repeatable), e.g. "
        "time_embedding=absolute, output_scale=llm, anchor=fitted",
    )
    ap.add_argument("--json-out")
    args = ap.parse_args()
    args.bridge_extra = key_values(args.bridge_set, "--bridge-set")
    torch.set_num_threads(args.threads)

    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    from sugar_core.priors.store import read_priors
    from sugar_core.tokenize.store import read_tokens

    ts = read_tokens(args.tokens, weights=args.bridge_extra.get("anchor", "none") != "none")
    priors = read_priors(args.priors)
    split = subset_split(
        ts, args.split or ts.train_split, args.train_per_class, args.test_limit, args.seed
    )
    test = ts.split_indices(split, "test")
    n_train = len(ts.split_indices(split, "train"))
    lengths = [len(ts.tokens[i]) for i in range(len(ts))]
    print(
        f"tokens Ls {min(lengths)}..{max(lengths)}, D {ts.dim}; train {n_train}, test {len(test)}"
    )
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [args.seed]
    rows = [_one(ts, priors, split, test, args, kind, seed)
            for kind in args.bridges.split(",") for seed in seeds]  # fmt: skip
    _table(rows, seeds)
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(dict(args=vars(args), n_train=n_train, n_test=len(test), rows=rows), fh,
                      indent=2)  # fmt: skip


def _one(ts, priors, split, test, args, kind: str, seed: int) -> dict:
    """Train one bridge with one seed; whole-test-set figures read once at the end."""
    from sugar_core.align.config import AlignConfig, BridgeConfig, LLMConfig
    from sugar_core.align.inference import predict_split
    from sugar_core.align.training import train_alignment

    cfg = AlignConfig(
        bridge=BridgeConfig(kind=kind, queries=args.queries, chunk=args.chunk,
                            standardize=args.standardize, **args.bridge_extra),
        llm=LLMConfig(spec=args.llm, lora=not args.no_lora,
                      max_description_tokens=args.max_description_tokens, prompt=args.prompt),
        epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=seed,
        token_noise=args.token_noise,
    )  # fmt: skip
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    model = train_alignment(ts, priors, cfg, split)
    train_s = time.perf_counter() - t0
    p = predict_split(model, ts, test, describe=False)
    row = dict(
        bridge=kind, bridge_set=args.bridge_extra, seed=seed, action_tokens=model.bridge.num_tokens,
        bridge_params=sum(q.numel() for q in model.bridge.parameters()),
        top1=float((p.pred == p.labels).mean()),
        top5=float((p.top5 == p.labels[:, None]).any(1).mean()),
        final_loss=model.history[-1]["loss"], train_s=train_s,
        predict_s_per_sample=p.metrics["seconds_per_sample"],
        load=f"{load0:.1f}-{os.getloadavg()[0]:.1f}",
    )  # fmt: skip
    print(json.dumps(row), flush=True)
    return row


def _table(rows: list[dict], seeds: list[int]) -> None:
    """Per bridge: mean +- sample std over seeds of top-1 / top-5, mean times."""
    print(f"\nseeds {seeds}")
    print(f"{'bridge':<9}{'tokens':>7}{'params':>10}{'top1':>18}{'top5':>18}{'train s':>9}"
          f"{'s/sample':>9}  load")  # fmt: skip
    for kind in dict.fromkeys(r["bridge"] for r in rows):
        mine = [r for r in rows if r["bridge"] == kind]

        def stat(key, mine=mine):
            v = [r[key] for r in mine]
            return f"{np.mean(v):.3f} +- {np.std(v, ddof=1):.3f}" if len(v) > 1 else f"{v[0]:.3f}"

        r0 = mine[0]
        train_s = np.mean([r["train_s"] for r in mine])
        per_sample = np.mean([r["predict_s_per_sample"] for r in mine])
        print(f"{kind:<9}{r0['action_tokens']:>7}{r0['bridge_params']:>10}{stat('top1'):>18}"
              f"{stat('top5'):>18}{train_s:>9.0f}{per_sample:>9.3f}  "
              f"{mine[-1]['load']}")  # fmt: skip


if __name__ == "__main__":
    main()
