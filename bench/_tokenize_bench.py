"""The body of bench/tokenize_ucla.py and bench/tokenize_msr.py: train, tokenize, print a table."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_load  # noqa: E402

from sugar_cli.util import read_settings  # noqa: E402
from sugar_core.tokenize import probe  # noqa: E402
from sugar_core.tokenize.config import TokenizeConfig  # noqa: E402
from sugar_core.tokenize.encoding import encode  # noqa: E402
from sugar_core.tokenize.training import train_encoder  # noqa: E402


def parse(argv, default_epochs: int):
    ap = argparse.ArgumentParser()
    ap.add_argument("--objective", nargs="+", default=["ce", "mil-nce", "both"])
    ap.add_argument("--epochs", type=int, default=default_epochs)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument(
        "--set", nargs="*", default=[], help="TokenizeConfig fields KEY=JSON (prep.mirror=0.5)"
    )
    ap.add_argument("--config", default=None, help="JSON file of TokenizeConfig fields")
    ap.add_argument("--log", default=None, help="append JSON lines of every run here")
    return ap.parse_args(argv)


def run(data, priors, split: str, args, label: str) -> None:
    torch.set_num_threads(args.threads)
    rows = []
    for objective in args.objective:
        kw = read_settings(args.config, tuple(args.set))
        kw.update(
            objective=objective,
            epochs=args.epochs,
            batch_size=args.batch_size,
            seed=args.seed,
            precision=args.precision,
            eval_every=args.eval_every,
        )
        if args.lr is not None:
            kw["lr"] = args.lr
        cfg = TokenizeConfig.from_settings(kw, where="bench settings")
        load0 = machine_load()
        t0, c0 = time.perf_counter(), time.process_time()

        def report(e, objective=objective):
            if e["event"] == "epoch":
                keys = ("loss", "train_acc", "val_text_top1", "val_ce_top1", "val_probe_top1")
                shown = " ".join(f"{k}={e[k]:.3f}" for k in keys if k in e)
                print(
                    f"  [{objective}] epoch {e['epoch']:3d} {shown} ({e['seconds']:.1f}s)",
                    file=sys.stderr,
                    flush=True,
                )

        enc, heads, hist = train_encoder(data, priors, cfg, split, callback=report)
        train_s = time.perf_counter() - t0
        ts = encode(data, enc, heads, prep=cfg.prep, history=hist, train_split=split)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        test = ts.split_indices(split, "test")
        train = ts.split_indices(split, "train")
        y = ts.labels
        protos = _protos(priors, data.class_names, cfg)
        text = probe.top1(probe.nearest_text(ts.projected[test], protos), y[test])
        pr = probe.top1(
            probe.linear_probe(ts.features[train], y[train], ts.features[test]), y[test]
        )
        ce = hist[-1].get("val_ce_top1")
        if heads.cls is not None:
            with torch.no_grad():
                pred = heads.cls(torch.from_numpy(ts.features[test])).argmax(1).numpy()
        else:
            pred = probe.nearest_text(ts.projected[test], protos)
        confused = _confused(pred, y[test], data.class_names)
        row = dict(
            bench=label,
            objective=objective,
            text_top1=text,
            ce_top1=ce,
            probe_top1=pr,
            train_s=train_s,
            wall_s=wall,
            cpu_s=cpu,
            epochs=args.epochs,
            load_before=load0,
            load_after=machine_load(),
            ls=ts.tokens[0].shape[0],
            d=ts.dim,
            threads=args.threads,
            config=cfg.to_dict(),
            best_epoch_text=max((h.get("val_text_top1", 0), h["epoch"]) for h in hist),
            confused=confused,
        )
        rows.append(row)
        if args.log:
            with open(args.log, "a") as fh:
                fh.write(json.dumps(row) + "\n")
        print(
            f"  [{objective}] text={text:.4f} ce={ce} probe={pr:.4f} wall={wall:.0f}s "
            f"cpu={cpu:.0f}s {row['load_after']}\n  most confused: {'; '.join(confused)}",
            file=sys.stderr,
            flush=True,
        )
    print(f"\n{label}  (threads={args.threads}, epochs={args.epochs}, pid {os.getpid()})")
    print(
        f"{'objective':10s} {'text-prior':>10s} {'ce-head':>8s} {'probe':>7s} "
        f"{'wall s':>7s} {'cpu s':>7s}  load before -> after"
    )
    for r in rows:
        ce = "-" if r["ce_top1"] is None else f"{r['ce_top1']:.4f}"
        print(
            f"{r['objective']:10s} {r['text_top1']:10.4f} {ce:>8s} {r['probe_top1']:7.4f} "
            f"{r['wall_s']:7.0f} {r['cpu_s']:7.0f}  {r['load_before']} -> {r['load_after']}"
        )


def _confused(pred, true, names, top: int = 5) -> list[str]:
    """The most frequent (true -> predicted) mistakes, as 'true -> predicted xN'."""
    pairs: dict[tuple[int, int], int] = {}
    for t, p in zip(true.tolist(), pred.tolist()):
        if t != p:
            pairs[(t, p)] = pairs.get((t, p), 0) + 1
    ranked = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [f"{names[t]} -> {names[p]} x{n}" for (t, p), n in ranked]


def _protos(priors, names, cfg):
    from sugar_core.tokenize.losses import class_prototypes
    from sugar_core.tokenize.training import text_table

    emb, mask = text_table(priors.select(names), cfg.text_kinds)
    return class_prototypes(emb, mask).numpy()


def workdir() -> Path:
    d = Path(os.environ.get("SUGAR_BENCH_DIR", Path(tempfile.gettempdir()) / "sugar-bench"))
    d.mkdir(parents=True, exist_ok=True)
    return d


__all__ = ["parse", "run", "workdir", "np"]
