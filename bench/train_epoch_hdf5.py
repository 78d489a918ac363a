"""One training epoch of the stage-1 encoder read lazily from a skeletons file: memory and speed.

    .venv/bin/python bench/train_epoch_hdf5.py --data /tmp/standin-2k.h5 --make-standin 2000
    .venv/bin/python bench/train_epoch_hdf5.py --data ntu120.h5 --preset small --limit 4000

The file is opened with ``open_skeletons(lazy=True)``: labels, lengths and splits in memory,
joints read per sample through a cache of ``--cache-mb``. ``--limit N`` trains on N samples
drawn at random from the whole file (so reads are spread over it), else on every sample but
the ``--test`` ones kept for the one test evaluation ``train_encoder`` ends with. Priors are
random unit vectors (one text per class): the data path is measured, not accuracy.

``--read-only`` builds the same epoch's batches without a model: the data path alone.
``--in-memory`` reads the file whole with ``read_skeletons`` instead, for comparison.

Prints the peak resident memory of the process (``resource.getrusage`` maxrss), training
samples per second of the epoch, the file size, joints read from the file and the cache's
final size, and the load average before and after (the machine is shared).

``--make-standin N`` first writes an NTU-shaped file of N sequences (25 joints, 1 body, or 2
for the 26 two-person classes, lengths 30-300, 120 classes, splits xsub and xset) to --data,
in blocks straight into HDF5 (never whole in memory), in a child process so its memory does
not count. ``--chunk-frames`` sets the frames per HDF5 chunk (full M, V, C per chunk); 0 gives
h5py's own guess (``chunks=True``: thin chunks across joints, as ``write_skeletons`` wrote
files before the streaming writer), which a per-sample read pays for several times over.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

NTU_JOINTS, NTU_CLASSES = 25, 120
TWO_PERSON = set(range(49, 60)) | set(range(105, 120))  # NTU-120 A050-A060, A106-A120 (0-based)
BLOCK = 512  # standin samples generated and written at a time


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _standin_block(rng, labels, lengths, bodies, pose) -> np.ndarray:
    """Frames (sum T, 2, V, 3) of some standin samples: a class's pose waving one joint."""
    out = np.zeros((int(lengths.sum()), 2, NTU_JOINTS, 3), dtype=np.float32)
    at = 0
    for label, t, m in zip(labels, lengths, bodies):
        phase = np.linspace(0.0, 2.0 + label % 7, t, dtype=np.float32)
        j = np.repeat(pose[label][None, None], t, axis=1).repeat(m, axis=0)  # (M, T, V, 3)
        j[:, :, label % NTU_JOINTS, 1] += np.sin(phase)[None]
        j += rng.normal(scale=0.01, size=j.shape).astype(np.float32)
        j[1:, :, :, 0] += 0.8  # a second body stands beside the first
        out[at : at + t, :m] = j.transpose(1, 0, 2, 3)
        at += t
    return out


def make_standin(path: Path, n: int, chunk_frames: int, seed: int = 0) -> None:
    """Write an NTU-shaped skeletons file of ``n`` sequences, block by block (atomic)."""
    from sugar_core import schema

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, NTU_CLASSES, n)
    lengths = rng.integers(30, 301, n)
    bodies = np.where(np.isin(labels, sorted(TWO_PERSON)), 2, 1)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    subjects, setups = rng.integers(1, 107, n), rng.integers(1, 33, n)
    pose = rng.normal(scale=0.3, size=(NTU_CLASSES, NTU_JOINTS, 3)).astype(np.float32)
    shape = (int(offsets[-1]), 2, NTU_JOINTS, 3)
    chunks = (min(chunk_frames, shape[0]), 2, NTU_JOINTS, 3) if chunk_frames else True
    config = {"standin": n, "chunk_frames": chunk_frames}
    with schema.create(path, "skeletons", config=config, seed=seed) as f:
        f.attrs["layout"], f.attrs["source"] = "ntu25", "standin"
        ds = f.create_dataset(schema.JOINTS, shape, np.float32, chunks=chunks, compression="lzf")
        for s in range(0, n, BLOCK):
            e = min(n, s + BLOCK)
            ds[offsets[s] : offsets[e]] = _standin_block(
                rng, labels[s:e], lengths[s:e], bodies[s:e], pose
            )
            print(f"[standin] {e}/{n} sequences", file=sys.stderr, flush=True)
        f.create_dataset(schema.OFFSETS, data=offsets)
        f.create_dataset(schema.LENGTHS, data=lengths.astype(np.int64))
        f.create_dataset(schema.BODIES, data=bodies.astype(np.int64))
        f.create_dataset(schema.LABELS, data=labels.astype(np.int64))
        schema.write_strings(f, schema.CLASS_NAMES, [f"action {c + 1}" for c in range(120)])
        schema.write_strings(f, schema.SAMPLE_IDS, [f"standin{i:07d}" for i in range(n)])
        meta = f.create_group(schema.META)
        meta.create_dataset("subject", data=subjects.astype(np.int64))
        meta.create_dataset("setup", data=setups.astype(np.int64))
        sp = f.create_group(schema.SPLITS)
        sp.create_dataset("xsub", data=(subjects % 2).astype(np.int8))
        sp.create_dataset("xset", data=(setups % 2 == 0).astype(np.int8))


def random_priors(names: list[str], dim: int = 64, seed: int = 0):
    """One random unit-norm text per class (the benchmark measures the data path only)."""
    from sugar_core.priors.store import Priors

    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(len(names), 1, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=-1, keepdims=True)
    texts = np.array([[n] for n in names], dtype=object)
    mask = np.ones((len(names), 1), bool)
    return Priors(list(names), texts, ["motion"], emb, mask, list(names), encoder_id="random")


def bench_split(n: int, limit: int | None, test: int, seed: int) -> np.ndarray:
    """(N,) int8: ``limit`` (or all but ``test``) random samples train, ``test`` test."""
    order = np.random.default_rng(seed).permutation(n)
    n_train = min(limit or n, n - test)
    split = np.full(n, -1, dtype=np.int8)
    split[order[:n_train]] = 1
    split[order[n_train : n_train + test]] = 0
    return split


def read_epoch(data, cfg, workers: int) -> tuple[int, float]:
    """(samples, seconds) of one epoch's batches built from ``data``, no model: the data path
    alone (reads, preparation, augmentation), as ``train_encoder`` builds them."""
    import torch

    from sugar_core.tokenize.bank import EpochBatches, epoch_plan, subset_params
    from sugar_core.tokenize.config import prep_for
    from sugar_core.tokenize.run_data import make_bank

    t0 = time.perf_counter()  # the in-memory bank prepares every sample here: counted
    prep = prep_for(cfg.encoder_config(data), cfg.prep)
    bank = make_bank(data, data.split_indices("bench", "train"), prep)
    cfg = replace(cfg, prep=prep)
    plan, params = epoch_plan(len(bank), cfg, torch.Generator().manual_seed(cfg.seed), 1)
    batches = EpochBatches(bank, [(pos, subset_params(params, rows)) for pos, rows in plan])
    loader = torch.utils.data.DataLoader(batches, batch_size=None, num_workers=workers)
    done = 0
    for step, (x, _) in enumerate(loader):
        done += len(x)
        if (step + 1) % max(1, len(plan) // 10) == 0:
            print(f"[read] step {step + 1}/{len(plan)} load {_loadavg()}", file=sys.stderr)
    return done, time.perf_counter() - t0


def run_epoch(args) -> dict:
    import torch

    from sugar_core.skeleton.lazy_set import open_skeletons
    from sugar_core.tokenize.config import TokenizeConfig
    from sugar_core.tokenize.training import train_encoder

    t_open = time.perf_counter()
    data = open_skeletons(args.data, lazy=not args.in_memory, cache_bytes=args.cache_mb << 20)
    t_open = time.perf_counter() - t_open
    data.splits["bench"] = bench_split(len(data), args.limit, args.test, args.seed)
    fixed = dict(epochs=1, eval_every=0, validation="none", probe="none", sampler="shuffle")
    cfg = TokenizeConfig(preset=args.preset, small_data=False, warmup_epochs=0,
                         batch_size=args.batch_size, workers=args.workers, seed=args.seed,
                         **fixed)  # fmt: skip
    shown = [0]

    def progress(ev: dict) -> None:
        if ev["event"] == "progress" and ev["done"] * 10 // ev["total"] > shown[0]:
            shown[0] = ev["done"] * 10 // ev["total"]
            print(f"[epoch] step {ev['done']}/{ev['total']} load {_loadavg()}", file=sys.stderr)

    load_before, t0 = _loadavg(), time.perf_counter()
    if args.read_only:
        n_train, seconds = read_epoch(data, cfg, args.workers)
    else:
        _, _, history = train_encoder(data, random_priors(data.class_names), cfg, "bench",
                                      callback=progress)  # fmt: skip
        n_train, seconds = history[0]["n_train"], history[0]["seconds"]
    wall = time.perf_counter() - t0
    lazy = getattr(data, "file", None)
    return {
        "mode": "read only (no model)" if args.read_only else "train",
        "reader": "in memory (read_skeletons)" if lazy is None else "lazy (open_skeletons)",
        "file": str(args.data),
        "file_mb": round(os.path.getsize(args.data) / 2**20, 1),
        "n_file": len(data),
        "n_train": n_train,
        "preset": args.preset,
        "batch_size": args.batch_size,
        "workers": args.workers,
        "threads": torch.get_num_threads(),
        "open_seconds": round(t_open, 2),  # the whole read, in memory
        "epoch_seconds": round(seconds, 1),
        "samples_per_s": round(n_train / seconds, 1),
        "wall_seconds": round(wall, 1),
        **(
            {}
            if lazy is None
            else {
                "reads_from_file": lazy.reads,
                "cache_mb": args.cache_mb,
                "cache_used_mb": round(lazy.cache.nbytes / 2**20, 1),
                "cache_entries": len(lazy.cache),
            }
        ),  # fmt: skip
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "loadavg_before": load_before,
        "loadavg_after": _loadavg(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="skeletons file to train from")
    p.add_argument("--make-standin", type=int, metavar="N", help="first write N NTU-shaped "
                   "sequences to --data (refused if it exists)")  # fmt: skip
    p.add_argument("--standin-only", action="store_true", help="write the standin and stop")
    p.add_argument("--chunk-frames", type=int, default=256, help="standin frames per chunk")
    p.add_argument("--preset", default="small", help="encoder preset (small | paper)")
    p.add_argument("--limit", type=int, help="train on at most N samples (random, file-wide)")
    p.add_argument("--test", type=int, default=64, help="samples of the final test evaluation")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--cache-mb", type=int, default=384, help="joints cache of the lazy set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--read-only", action="store_true", help="build the epoch's batches, no model")
    p.add_argument("--in-memory", action="store_true", help="read_skeletons instead (today's path)")
    args = p.parse_args()
    if args.make_standin:
        if args.data.exists():
            sys.exit(f"error: {args.data} exists; remove it or drop --make-standin")
        if args.standin_only:
            make_standin(args.data, args.make_standin, args.chunk_frames, args.seed)
            return
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--data", str(args.data), "--standin-only",
               "--make-standin", str(args.make_standin), "--chunk-frames", str(args.chunk_frames),
               "--seed", str(args.seed)]  # fmt: skip
        subprocess.run(cmd, check=True)  # its own process: its memory is not this run's peak
        took = time.perf_counter() - t0
        print(f"[standin] {args.data} written in {took:.1f} s, load {_loadavg()}", file=sys.stderr)
    print(json.dumps(run_epoch(args), indent=1))


if __name__ == "__main__":
    main()
