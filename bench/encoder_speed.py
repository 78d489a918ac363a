"""Encoder throughput at the NW-UCLA shape (1 body x 52 frames x 20 joints x 3), before and
after the fast formulation, in fp32 and bf16, side by side in one process.

    .venv/bin/python bench/encoder_speed.py [--threads 1] [--batch 16] [--presets small paper]
        [--precisions fp32 bf16] [--rounds 3] [--memory]

Every configuration (preset x precision x formulation) is timed in turn, round after round,
so a change in the machine's load falls on all of them alike. Prints samples/s for inference
(eval, no grad) and for a training step (forward, backward, SGD step), per wall second and per
CPU second of this process (steadier on a shared machine), with the load average before and
after. "before" is the plain formulation (sugar_core/tokenize/encoder_reference.py: every 1x1
layer a convolution), "after" is SkeletonEncoder.forward; both run the same parameters. bf16 is
what ``precision: bf16`` does in tokenize: autocast over fp32 weights.

The official CTR-GCN is not in this repository (no code from other projects); its figures come
from ../shared/docs/anchors.md (77.5 forward / 19.9 training samples/s, fp32, batch 16, two
threads, wall) and issue 18 (28.0 / 9.1 side by side with this encoder on a loaded machine).
``--memory``: also the peak resident memory of a fresh process per preset (after, fp32).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import time

ANCHOR = {
    "anchors.md (2 threads, wall)": (77.5, 19.9),
    "issue 18 (loaded, side by side)": (28.0, 9.1),
}


def _setup(preset: str, batch: int):
    import torch

    from sugar_core.tokenize.config import EncoderConfig
    from sugar_core.tokenize.encoder import SkeletonEncoder

    torch.manual_seed(0)
    cfg = EncoderConfig.preset_named(preset, "kinect20", frames=52, max_bodies=1)
    return cfg, SkeletonEncoder(cfg), torch.randn(batch, 1, 52, 20, 3)


def _runner(model, x, precision: str, training: bool):
    """A closure doing one inference batch or one training step of ``model`` on ``x``."""
    import torch

    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        auto = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
        model.train(training)
        if not training:
            with torch.no_grad(), auto:
                model(x)
            return
        with auto:
            _, pooled = model(x)
            loss = pooled.float().square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def _configs(presets, precisions, batch: int) -> tuple[list[dict], dict]:
    """One entry per preset x precision x formulation x mode, each with its own model copy."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from sugar_core.tokenize.encoder import count_parameters
    from sugar_core.tokenize.encoder_reference import ReferenceEncoder

    configs, info = [], {}
    for preset in presets:
        cfg, enc, x = _setup(preset, batch)
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            enc.eval()(x[:1])
        info[preset] = (count_parameters(enc) / 1e6, fc.get_total_flops() / 1e9, cfg.dim)
        for precision in precisions:
            for form in ("before", "after"):
                for mode in ("inference", "training"):
                    model = copy.deepcopy(enc)
                    model = ReferenceEncoder(model) if form == "before" else model
                    step = _runner(model, x, precision, mode == "training")
                    key = dict(preset=preset, precision=precision, form=form, mode=mode)
                    configs.append({**key, "step": step, "wall": 0.0, "cpu": 0.0, "n": 0})
    return configs, info


def measure(args) -> tuple[list[dict], dict, str, str]:
    """Interleaved timing: per round, every configuration runs ``reps`` steps after a warm-up."""
    import torch

    torch.set_num_threads(args.threads)
    configs, info = _configs(args.presets, args.precisions, args.batch)
    load0 = _load()
    for c in configs:  # warm-up: first calls allocate and pick kernels
        c["step"]()
    for r in range(args.rounds):
        for c in configs:
            reps = args.reps if c["preset"] != "paper" else max(1, args.reps // 3)
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(reps):
                c["step"]()
            c["wall"] += time.perf_counter() - t0
            c["cpu"] += time.process_time() - c0
            c["n"] += reps * args.batch
        print(f"round {r + 1}/{args.rounds} done, load {_load()}", file=sys.stderr, flush=True)
    return configs, info, load0, _load()


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _rate(configs, **key) -> tuple[float, float]:
    c = next(c for c in configs if all(c[k] == v for k, v in key.items()))
    return c["n"] / c["wall"], c["n"] / c["cpu"]


def report(args, configs, info, load0, load1) -> None:
    print(
        f"encoder speed, NW-UCLA shape (1 x 52 x 20 x 3), batch {args.batch}, {args.threads} "
        f"thread(s), {args.rounds} interleaved rounds; loadavg before {load0}, after {load1}"
    )
    cols = ("infer/s", "infer/cpu-s", "train/s", "train/cpu-s")
    print(f"{'preset':7s} {'prec':5s} {'form':7s} " + " ".join(f"{c:>11s}" for c in cols))
    for preset in args.presets:
        params, gflop, d = info[preset]
        print(f"-- {preset}: {params:.2f}M parameters, {gflop:.3f} GFLOP forward/sample, D={d}")
        for precision in args.precisions:
            for form in ("before", "after"):
                key = dict(preset=preset, precision=precision, form=form)
                rates = (*_rate(configs, mode="inference", **key),
                         *_rate(configs, mode="training", **key))  # fmt: skip
                shown = " ".join(f"{r:11.1f}" for r in rates)
                print(f"{preset:7s} {precision:5s} {form:7s} {shown}")
        base = dict(preset=preset, precision="fp32", form="before")
        for precision in args.precisions:
            now = dict(preset=preset, precision=precision, form="after")
            ri, rt = (_rate(configs, mode=m, **now)[1] / _rate(configs, mode=m, **base)[1]
                      for m in ("inference", "training"))  # fmt: skip
            print(f"   after {precision} / before fp32, per CPU-s: inference {ri:.2f}x, "
                  f"training {rt:.2f}x")  # fmt: skip
    print("official CTR-GCN, not run here (no code from other projects), fp32, batch 16:")
    for where, (fi, ft) in ANCHOR.items():
        print(f"   {where}: {fi} inference / {ft} training samples/s")


def peak_memory(preset: str, batch: int) -> float:
    """Peak resident MB of a fresh process that builds ``preset`` and trains one step."""
    code = (
        "import sys, resource; sys.path.insert(0, sys.argv[1]); import encoder_speed as b; "
        "cfg, enc, x = b._setup(sys.argv[2], int(sys.argv[3])); "
        "[b._runner(enc, x, 'fp32', t)() for t in (False, True)]; "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run([sys.executable, "-c", code, here, preset, str(batch)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return float(out.stdout.strip())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--reps", type=int, default=6, help="steps per round (paper: a third)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    ap.add_argument("--presets", nargs="+", default=["small", "paper"])
    ap.add_argument("--memory", action="store_true", help="peak RSS of a fresh process per preset")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    # first, while this process is small: a child's peak RSS starts from its parent's at fork
    peaks = {p: peak_memory(p, args.batch) for p in args.presets} if args.memory else {}
    configs, info, load0, load1 = measure(args)
    report(args, configs, info, load0, load1)
    for preset, mb in peaks.items():
        print(f"peak RSS {preset} (fresh process, fp32, one inference and one training step): "
              f"{mb:.0f} MB")  # fmt: skip
    if args.json:
        rows = [{k: v for k, v in c.items() if k != "step"} for c in configs]
        with open(args.json, "w") as fh:
            json.dump({"load_before": load0, "load_after": load1, "rows": rows,
                       "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                       "args": vars(args)}, fh, indent=1)  # fmt: skip


if __name__ == "__main__":
    main()
