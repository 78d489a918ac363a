"""Memory and speed of `sugar data import --format ntu` as the number of files grows.

For each ``--files N`` (or one ``--src`` folder of .skeleton files): write N NTU-120-shaped
stand-in files (``bench/ntu120_standin.py``), then in the same run measure

* ``cat``: reading every byte of the files (``xargs cat > /dev/null``, best of two; the files
  are in the page cache after writing, as they are for the imports);
* ``sugar data import --format ntu`` with ``--workers 1`` and ``--workers 2``, each in its own
  process: wall time, files/s, MB/s, the ratio to ``cat``, and peak RSS of the import and its
  worker processes together. RSS comes from /proc, sampled every 20 ms: ``peak sum`` is the
  largest sum over the process tree seen at one time, ``sum of peaks`` adds each process's
  own high-water mark (VmHWM), a bound that sampling cannot miss.

Targets (issue 18): peak RSS < 1 GB at 114,480 files, and files/s at least 1/8 of ``cat``.
The machine is shared: the load average is printed at the start and end of every row.
``--pythonpath DIR`` runs the imports from another checkout (e.g. ``git archive HEAD``),
to compare with the previous version on the same files.

    .venv/bin/python bench/import_scale.py --files 2000 20000
    .venv/bin/python bench/import_scale.py --src /data/nturgb+d_skeletons --workers 4
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import h5py

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sugar_core.skeleton.standin import write_standin  # noqa: E402


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc/*/stat)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                parent[int(entry)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += [c for c, pp in parent.items() if pp == p]
    return out


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssWatch:
    """Samples the RSS of a process tree: peak of the sum, and each process's VmHWM."""

    def __init__(self, pid: int, every: float = 0.02):
        self.pid, self.every = pid, every
        self.peak_sum_kb = 0
        self.hwm_kb: dict[int, int] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set():
            pids = _tree(self.pid)
            self.peak_sum_kb = max(self.peak_sum_kb, sum(_status_kb(p, "VmRSS") for p in pids))
            for p in pids:
                self.hwm_kb[p] = max(self.hwm_kb.get(p, 0), _status_kb(p, "VmHWM"))
            self.done.wait(self.every)

    def stop(self) -> tuple[float, float, int]:
        """(peak sum MB, sum of peaks MB, processes seen)."""
        self.done.set()
        self.thread.join()
        return self.peak_sum_kb / 1024, sum(self.hwm_kb.values()) / 1024, len(self.hwm_kb)


def time_cat(files: list[Path]) -> float:
    """Best of two: seconds to read every byte of ``files`` with cat."""
    listing = b"\0".join(os.fsencode(p) for p in files)
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        subprocess.run(["xargs", "-0", "cat"], input=listing, stdout=subprocess.DEVNULL, check=True)
        best = min(best, time.perf_counter() - t0)
    return best


def run_import(src: Path, out: Path, workers: int, pythonpath: str | None) -> dict:
    """One ``sugar data import`` in its own process: wall seconds and RSS figures."""
    env = dict(os.environ, PYTHONPATH=pythonpath or str(REPO), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "sugar_cli.main", "data", "import", str(src), "-f", "ntu",
           "-o", str(out), "-j", str(workers)]  # fmt: skip
    t0 = time.perf_counter()
    cwd = pythonpath or str(REPO)  # python -m puts the working folder first on sys.path
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watch = RssWatch(proc.pid)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    peak_sum, sum_peaks, procs = watch.stop()
    if proc.returncode != 0:
        raise SystemExit(f"import failed ({proc.returncode}): {stderr.decode()[-2000:]}")
    with h5py.File(out) as f:
        n = f["labels"].shape[0]
    return {"wall": wall, "peak_sum": peak_sum, "sum_peaks": sum_peaks, "procs": procs, "n": n}


def measure(src: Path, files: list[Path], workers: list[int], pythonpath, tmp: Path) -> None:
    mb = sum(p.stat().st_size for p in files) / 1e6
    n = len(files)
    print(f"\n{n} files, {mb:.0f} MB in {src}; load average {_load()}", flush=True)
    cat = time_cat(files)
    print(f"{'':24s} {'wall s':>8s} {'files/s':>8s} {'MB/s':>8s} {'vs cat':>7s} "
          f"{'peak sum MB':>12s} {'sum of peaks MB':>16s}  load average (end)")  # fmt: skip
    print(f"{'cat':24s} {cat:8.1f} {n / cat:8.0f} {mb / cat:8.0f} {1:7.2f} {'':12s} {'':16s}  "
          f"{_load()}", flush=True)  # fmt: skip
    for w in workers:
        out = tmp / f"import-{n}-{w}.h5"
        r = run_import(src, out, w, pythonpath)
        assert r["n"] <= n, r
        print(f"{f'import --workers {w}':24s} {r['wall']:8.1f} {n / r['wall']:8.0f} "
              f"{mb / r['wall']:8.0f} {cat / r['wall']:7.3f} {r['peak_sum']:12.0f} "
              f"{r['sum_peaks']:16.0f}  {_load()}  ({r['procs']} processes, "
              f"{r['n']} samples)", flush=True)  # fmt: skip
        out.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, nargs="+", default=[2000], help="stand-in sizes to run")
    ap.add_argument("--src", type=Path, help="a folder of .skeleton files instead of stand-ins")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="--workers to run")
    ap.add_argument("--seed", type=int, default=0, help="stand-in seed")
    ap.add_argument("--tmp", type=Path, help="where stand-ins and outputs go (default: a temp dir)")
    ap.add_argument("--pythonpath", help="run the imports from this checkout instead")
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores; {sys.version.split()[0]}; imports from "
          f"{args.pythonpath or REPO}")  # fmt: skip
    base = Path(tempfile.mkdtemp(prefix="sugar-scale-", dir=args.tmp))
    try:
        if args.src:
            files = sorted(args.src.rglob("*.skeleton"))
            measure(args.src, files, args.workers, args.pythonpath, base)
            return
        for n in args.files:
            root = base / f"standin-{n}"
            t0 = time.perf_counter()
            files = write_standin(root, n, args.seed, workers=os.cpu_count() or 1)
            print(f"wrote {n} stand-in files in {time.perf_counter() - t0:.0f} s", flush=True)
            measure(root, files, args.workers, args.pythonpath, base)
            shutil.rmtree(root)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
