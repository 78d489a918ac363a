"""Peak resident memory of one encoder training step, per batch size, at a data set's shape.

    .venv/bin/python bench/step_memory.py                       # NTU shape: 2 x 52 x 25 x 3
    .venv/bin/python bench/step_memory.py --layout kinect20 --bodies 1 --batches 16 32
    .venv/bin/python bench/step_memory.py --preset paper --precision bf16 --json out.json

Each batch size runs in a fresh process, which reads its own high-water mark (``VmHWM`` on
Linux; the resource module's peak keeps the parent's, so it is only the fallback): it builds
the encoder (``base``: peak after building), then runs one training step (forward, backward,
SGD step) on random joints (``step``: peak after it).
``step - base`` is what the step's activations, gradients and the allocator hold; its slope
over the batch sizes is the memory one more clip in a batch costs. What an epoch of ``sugar
tokenize`` peaks at is this plus the data path (``bench/train_epoch_hdf5.py --read-only``)
and the joints cache of a lazily read file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

CHILD = """
import resource, sys, torch
from sugar_core.tokenize.config import EncoderConfig
from sugar_core.tokenize.encoder import SkeletonEncoder
preset, layout, bodies, frames, batch, threads, precision = sys.argv[1:8]
torch.set_num_threads(int(threads))
torch.manual_seed(0)
def peak():  # VmHWM: this process image's own high-water mark (ru_maxrss keeps the parent's)
    try:
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
cfg = EncoderConfig.preset_named(preset, layout, frames=int(frames), max_bodies=int(bodies))
enc = SkeletonEncoder(cfg).train()
opt = torch.optim.SGD(enc.parameters(), lr=0.01, momentum=0.9)
x = torch.randn(int(batch), cfg.max_bodies, cfg.frames, cfg.num_joints, cfg.in_channels)
base = peak()
with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
    _, pooled = enc(x)
    loss = pooled.float().square().mean()
opt.zero_grad()
loss.backward()
opt.step()
print(base, peak())
"""


def measure(args, batch: int) -> tuple[float, float]:
    """(base, step) peak RSS in MB of a fresh process training one step on ``batch`` clips."""
    argv = [args.preset, args.layout, args.bodies, args.frames, batch, args.threads,
            args.precision]  # fmt: skip
    out = subprocess.run([sys.executable, "-c", CHILD, *map(str, argv)], capture_output=True,
                         text=True)  # fmt: skip
    if out.returncode:
        raise SystemExit(f"batch {batch}: the step failed:\n{out.stderr.strip()[-2000:]}")
    base, step = map(float, out.stdout.split())
    return base, step


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="small", help="encoder preset (small | paper)")
    ap.add_argument("--layout", default="ntu25", help="joint layout (ntu25, kinect20, ...)")
    ap.add_argument("--bodies", type=int, default=2, help="bodies per clip (M)")
    ap.add_argument("--frames", type=int, default=52, help="frames per clip (T)")
    ap.add_argument("--batches", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    if any(b < 1 for b in args.batches):
        raise SystemExit("--batches: every batch size must be at least 1")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"one training step, {args.preset} preset, {args.precision}, clips of {args.bodies} "
          f"x {args.frames} x {args.layout}, {args.threads} thread(s), load {load}")  # fmt: skip
    print(f"{'batch':>6}{'base MB':>10}{'step MB':>10}{'step - base':>13}")
    rows = []
    for batch in args.batches:
        base, step = measure(args, batch)
        rows.append({"batch": batch, "base_mb": base, "step_mb": step})
        print(f"{batch:6d}{base:10.0f}{step:10.0f}{step - base:13.0f}", flush=True)
    out = {"args": vars(args), "load": load, "rows": rows}
    if len(rows) > 1:
        b = np.array([r["batch"] for r in rows], float)
        d = np.array([r["step_mb"] - r["base_mb"] for r in rows])
        out["mb_per_clip"] = float(np.polyfit(b, d, 1)[0])
        print(f"slope: {out['mb_per_clip']:.1f} MB per clip in a batch")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main()
