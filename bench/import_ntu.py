"""Speed of `sugar data import --format ntu`, next to the raw read speed of the same bytes.

The five real NTU files (../shared/data/ntu-rgbd-samples) are copied under distinct sample names
into a temporary directory until there are ``--files`` of them. Then, best of ``--repeat`` runs:

* raw read: reading every file's bytes (the floor any reader stands on);
* per-line Python parse: every value of every joint line through ``float`` (the approach of
  the field's reference readers; parse only, no clean-up, no writing);
* ``sugar data import`` in-process with ``--workers 1`` and ``--workers 2``: parsing, clean-up
  and the HDF5 write included.

The machine is shared, so the script prints the load average and, next to wall-clock rates,
files per CPU-second (worker processes included), which load disturbs less; compare ratios
within one run.
anchors.md: the reference reader does 170 files/s (45.6 MB/s) here; the goal is 10x.

    .venv/bin/python bench/import_ntu.py --files 400
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

from sugar_cli.commands.data import cli
from sugar_core.skeleton.readers.ntu import parse_name

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SUGAR_SHARED_DATA", REPO.parent / "shared" / "data"))


def replicate(src: Path, dst: Path, n: int) -> list[Path]:
    """``n`` copies of the files in ``src`` under distinct NTU names (setup / performer vary)."""
    originals = sorted(src.glob("*.skeleton"))
    out = []
    for i in range(n):
        orig = originals[i % len(originals)]
        m = parse_name(orig.stem)
        group = i // len(originals)
        name = (
            f"S{1 + group // 100:03d}C{m['camera']:03d}P{1 + group % 100:03d}"
            f"R{m['repetition']:03d}A{m['action']:03d}.skeleton"
        )
        shutil.copyfile(orig, dst / name)
        out.append(dst / name)
    return out


def per_line_parse(path: Path) -> int:
    """Reference-style reading: walk the lines, convert every joint value with float()."""
    with open(path) as fh:
        lines = fh.read().splitlines()
    i, n_values = 1, 0
    for _ in range(int(lines[0])):
        bodies = int(lines[i])
        i += 1
        for _ in range(bodies):
            joints = int(lines[i + 1])
            i += 2
            for _ in range(joints):
                n_values += len([float(x) for x in lines[i].split()])
                i += 1
    return n_values


def best_of(repeat: int, fn) -> tuple[float, float]:
    """Best wall-clock seconds and the CPU seconds of that run (worker processes included)."""
    best = (float("inf"), 0.0)
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), _cpu()
        fn()
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        best = min(best, (wall, cpu))
    return best


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=400, help="files to import")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (best is kept)")
    args = ap.parse_args()
    src = DATA / "ntu-rgbd-samples"
    if not src.is_dir():
        raise SystemExit(f"real NTU samples not found at {src}")

    with tempfile.TemporaryDirectory(prefix="sugar-bench-ntu-") as tmp:
        raw = Path(tmp) / "raw"
        raw.mkdir()
        files = replicate(src, raw, args.files)
        mb = sum(p.stat().st_size for p in files) / 1e6
        print(
            f"{len(files)} files, {mb:.1f} MB; {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.2f} at start"
        )

        rows = [
            ("raw read (bytes only)", best_of(args.repeat, lambda: [p.read_bytes() for p in files]))
        ]
        some = files[: max(len(files) // 4, 5)]  # the slow one gets a quarter of the files
        wall, cpu = best_of(1, lambda: [per_line_parse(p) for p in some])
        scale = len(files) / len(some)
        rows.append(
            (
                "per-line Python parse, all values (reference-style, parse only)",
                (wall * scale, cpu * scale),
            )
        )
        for workers in (1, 2):
            out = Path(tmp) / f"ntu{workers}.h5"

            def run(workers=workers, out=out):
                res = CliRunner().invoke(
                    cli, ["import", str(raw), "-f", "ntu", "-o", str(out), "-j", str(workers)]
                )
                assert res.exit_code == 0, res.output

            rows.append(
                (
                    f"sugar data import --workers {workers} (parse + clean-up + HDF5)",
                    best_of(args.repeat, run),
                )
            )
        print(f"{'':68s} {'files/s':>8s} {'MB/s':>7s} {'files/CPU-s':>12s}")
        for name, (wall, cpu) in rows:
            print(f"{name:68s} {len(files) / wall:8.0f} {mb / wall:7.1f} {len(files) / cpu:12.0f}")
        print(
            f"load average {os.getloadavg()[0]:.2f} at end; anchors.md reference reader: "
            "170 files/s (45.6 MB/s), goal 1700 files/s"
        )


if __name__ == "__main__":
    main()
