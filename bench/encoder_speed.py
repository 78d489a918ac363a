"""Encoder throughput and memory at the NW-UCLA shape (1 body x 52 frames x 20 joints x 3).

    .venv/bin/python bench/encoder_speed.py [--threads 2] [--batch 16] [--presets small paper]

Prints samples/s for inference (eval, no grad) and for a training step (forward, backward,
SGD step), both per wall second and per CPU second of this process (the latter is steadier on
a shared machine), parameters, forward GFLOP per sample (counted by torch's FLOP counter),
and the peak resident memory of a fresh process per preset. anchors.md: the official CTR-GCN
does 77.5 forward / 19.9 training samples/s here (fp32, batch 16, 2 threads).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def measure(preset: str, threads: int, batch: int, reps: int, precision: str) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from sugar_core.tokenize.config import EncoderConfig
    from sugar_core.tokenize.encoder import SkeletonEncoder, count_parameters

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = EncoderConfig.preset_named(preset, "kinect20", frames=52, max_bodies=1)
    model = SkeletonEncoder(cfg)
    x = torch.randn(batch, 1, 52, 20, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    auto = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model.eval()(x[:1])
    gflop = fc.get_total_flops() / 1e9

    def infer():
        with torch.no_grad(), auto:
            model(x)

    def train():
        with auto:
            _, pooled = model(x)
            loss = pooled.float().square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    out = {}
    for name, fn, mode in (("inference", infer, model.eval), ("training", train, model.train)):
        mode()
        for _ in range(2):
            fn()
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(reps):
            fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out[name] = {"per_wall_s": batch * reps / wall, "per_cpu_s": batch * reps / cpu}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "preset": preset,
        "params_m": count_parameters(model) / 1e6,
        "gflop_fwd_per_sample": gflop,
        "ls": cfg.token_length(),
        "d": cfg.dim,
        "peak_rss_mb": peak_mb,
        "threads": threads,
        "batch": batch,
        "precision": precision,
        **out,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--presets", nargs="+", default=["small", "paper"])
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:  # child process: one preset, JSON on stdout
        print(json.dumps(measure(args.one, args.threads, args.batch, args.reps, args.precision)))
        return
    rows = []
    for preset in args.presets:  # a fresh process each, so peak memory is per preset
        cmd = [
            sys.executable,
            __file__,
            "--one",
            preset,
            "--threads",
            str(args.threads),
            "--batch",
            str(args.batch),
            "--reps",
            str(args.reps),
            "--precision",
            args.precision,
        ]
        rows.append(
            json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
        )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"encoder speed, NW-UCLA shape (1 x 52 x 20 x 3), batch {args.batch}, "
        f"{args.threads} threads, {args.precision}; loadavg after: {load}"
    )
    print(
        f"{'preset':7s} {'params':>7s} {'GFLOP':>6s} {'Ls':>3s} {'D':>4s} "
        f"{'infer/s':>8s} {'infer/cpu-s':>11s} {'train/s':>8s} {'train/cpu-s':>11s} "
        f"{'peak MB':>8s}"
    )
    for r in rows:
        print(
            f"{r['preset']:7s} {r['params_m']:6.2f}M {r['gflop_fwd_per_sample']:6.3f} "
            f"{r['ls']:3d} {r['d']:4d} {r['inference']['per_wall_s']:8.1f} "
            f"{r['inference']['per_cpu_s']:11.1f} {r['training']['per_wall_s']:8.1f} "
            f"{r['training']['per_cpu_s']:11.1f} {r['peak_rss_mb']:8.0f}"
        )


if __name__ == "__main__":
    main()
