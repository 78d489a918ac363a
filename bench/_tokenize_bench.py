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

from sugar_core import settings  # noqa: E402
from sugar_core.tokenize import probe  # noqa: E402
from sugar_core.tokenize.config import TokenizeConfig  # noqa: E402
from sugar_core.tokenize.encoding import encode, take_validation_rows  # noqa: E402
from sugar_core.tokenize.training import train_encoder  # noqa: E402


def parse(argv, default_epochs: int):
    ap = argparse.ArgumentParser()
    ap.add_argument("--objective", nargs="+", default=["ce", "mil-nce", "both"])
    ap.add_argument("--epochs", type=int, default=default_epochs)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", default=None, help="comma-separated seeds, e.g. 0,1,2")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument(
        "--set", nargs="*", default=[], help="TokenizeConfig fields KEY=JSON (prep.mirror=0.5)"
    )
    ap.add_argument("--config", default=None, help="JSON file of TokenizeConfig fields")
    ap.add_argument("--log", default=None, help="append JSON lines of every run here")
    return ap.parse_args(argv)


def run(data, priors, split: str, args, label: str) -> None:
    """Every objective x seed; a row per run on stderr, then mean +- std per objective."""
    torch.set_num_threads(args.threads)
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [args.seed]
    rows = [
        _one(data, priors, split, args, objective, seed, label)
        for objective in args.objective
        for seed in seeds
    ]
    _table(rows, seeds, label, args)


def _one(data, priors, split, args, objective: str, seed: int, label: str) -> dict:
    """One training run: test figures read once at the end, choices made on validation."""
    kw, _ = settings.layered(args.config, tuple(args.set), command="tokenize")
    kw.update(objective=objective, epochs=args.epochs, batch_size=args.batch_size, seed=seed,
              precision=args.precision, eval_every=args.eval_every)  # fmt: skip
    if args.lr is not None:
        kw["lr"] = args.lr
    cfg = TokenizeConfig.from_settings(kw, where="bench settings")
    load0 = machine_load()
    t0, c0 = time.perf_counter(), time.process_time()

    def report(e):
        if e["event"] == "epoch":
            keys = ("loss", "train_acc", "val_text_top1", "val_ce_top1", "val_probe_top1")
            shown = " ".join(f"{k}={e[k]:.3f}" for k in keys if k in e)
            print(f"  [{objective} s{seed}] epoch {e['epoch']:3d} {shown} ({e['seconds']:.1f}s)",
                  file=sys.stderr, flush=True)  # fmt: skip

    enc, heads, hist = train_encoder(data, priors, cfg, split, callback=report)
    train_s = time.perf_counter() - t0
    hist, rows = take_validation_rows(hist)
    ts = encode(data, enc, heads, prep=cfg.prep, history=hist, train_split=split,
                encoder_validation=rows)  # fmt: skip
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    test, last = ts.split_indices(split, "test"), hist[-1]
    y = ts.labels
    protos = _protos(priors, data.class_names, cfg)
    if heads.cls is not None:
        with torch.no_grad():
            pred = heads.cls(torch.from_numpy(ts.features[test])).argmax(1).numpy()
    else:
        pred = probe.nearest_text(ts.projected[test], protos)
    row = dict(
        bench=label, objective=objective, seed=seed, text_top1=last.get("test_text_top1"),
        ce_top1=last.get("test_ce_top1"), probe_top1=last.get("test_probe_top1"),
        validation=last.get("validation"), selected_epoch=last.get("selected_epoch"),
        val_text_top1=max((h.get("val_text_top1", 0) for h in hist), default=None),
        train_s=train_s, wall_s=wall, cpu_s=cpu, epochs=args.epochs, load_before=load0,
        load_after=machine_load(), ls=ts.tokens[0].shape[0], d=ts.dim, threads=args.threads,
        config=cfg.to_dict(), confused=_confused(pred, y[test], data.class_names),
    )  # fmt: skip
    if args.log:
        with open(args.log, "a") as fh:
            fh.write(json.dumps(row) + "\n")
    print(
        f"  [{objective} s{seed}] test text={row['text_top1']} ce={row['ce_top1']} "
        f"probe={row['probe_top1']} wall={wall:.0f}s {row['load_after']}\n"
        f"  most confused: {'; '.join(row['confused'])}",
        file=sys.stderr,
        flush=True,
    )
    return row


def _stat(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4f} (1 seed)"
    return f"{np.mean(values):.4f} +- {np.std(values, ddof=1):.4f}"


def _table(rows: list[dict], seeds: list[int], label: str, args) -> None:
    """Mean +- sample std over seeds, per objective, of the test figures and wall time."""
    print(f"\n{label}  (threads={args.threads}, epochs={args.epochs}, seeds {seeds}, "
          f"validation {rows[0]['validation']}, pid {os.getpid()})")  # fmt: skip
    print(f"{'objective':10s} {'text-prior':>22s} {'ce-head':>22s} {'probe':>22s} "
          f"{'wall s':>8s}  load before -> after (last run)")  # fmt: skip
    for objective in dict.fromkeys(r["objective"] for r in rows):
        mine = [r for r in rows if r["objective"] == objective]
        cols = [_stat([r[k] for r in mine]) for k in ("text_top1", "ce_top1", "probe_top1")]
        wall = np.mean([r["wall_s"] for r in mine])
        print(f"{objective:10s} {cols[0]:>22s} {cols[1]:>22s} {cols[2]:>22s} {wall:8.0f}  "
              f"{mine[-1]['load_before']} -> {mine[-1]['load_after']}")  # fmt: skip


def _confused(pred, true, names, top: int = 5) -> list[str]:
    """The most frequent (true -> predicted) mistakes, as 'true -> predicted xN'."""
    pairs: dict[tuple[int, int], int] = {}
    for t, p in zip(true.tolist(), pred.tolist()):
        if t != p:
            pairs[(t, p)] = pairs.get((t, p), 0) + 1
    ranked = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [f"{names[t]} -> {names[p]} x{n}" for (t, p), n in ranked]


def _protos(priors, names, cfg):
    from sugar_core.tokenize.bank import text_table
    from sugar_core.tokenize.losses import class_prototypes

    emb, mask = text_table(priors.select(names), cfg.text_kinds)
    return class_prototypes(emb, mask).numpy()


def workdir() -> Path:
    d = Path(os.environ.get("SUGAR_BENCH_DIR", Path(tempfile.gettempdir()) / "sugar-bench"))
    d.mkdir(parents=True, exist_ok=True)
    return d


__all__ = ["parse", "run", "workdir", "np"]
