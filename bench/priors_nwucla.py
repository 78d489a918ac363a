"""`sugar priors` on the NW-UCLA class list: builtin, hf (SmolLM2-135M) and an offline replay.

Usage: .venv/bin/python bench/priors_nwucla.py [WORKDIR]

Writes WORKDIR/{ucla.h5, p_builtin.h5, p_hf.h5, p_replay.h5} and prints one JSON summary:
wall time of each command, the hf run's per-class generation time and the fraction of classes
SmolLM2 answered validly (first try and after retries). The data file comes from
`sugar data import` of ../shared/data/nw-ucla/all_sqe when that works, else from a tiny
SkeletonSet with the NW-UCLA class list (priors only read the class names).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUGAR = [sys.executable, "-m", "sugar_cli.main"]
UCLA = Path(os.environ.get("SUGAR_SHARED_DATA", REPO.parent / "shared" / "data")) / "nw-ucla"


def sugar(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run([*SUGAR, *args], capture_output=True, text=True, cwd=REPO)
    return time.perf_counter() - t0, proc


def data_file(work: Path) -> tuple[Path, str]:
    out = work / "ucla.h5"
    if (UCLA / "all_sqe").exists():
        src = str(UCLA / "all_sqe")
        _, proc = sugar("data", "import", src, "--format", "nw-ucla", "-o", str(out))
        if proc.returncode == 0:
            return out, "sugar data import (real NW-UCLA)"
        print(f"[data] import failed: {proc.stderr.strip()[-200:]}", file=sys.stderr)
    import numpy as np

    from sugar_core.skeleton.classes import NW_UCLA
    from sugar_core.skeleton.dataset import Sample, SkeletonSet, write_skeletons

    samples = [Sample(np.zeros((1, 4, 20, 3), np.float32), i, f"s{i}") for i in range(10)]
    write_skeletons(SkeletonSet(samples, list(NW_UCLA), "kinect20", source="nw-ucla"), out)
    return out, "tiny SkeletonSet with the NW-UCLA class list"


def main() -> None:
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="priors-"))
    work.mkdir(parents=True, exist_ok=True)
    data, how = data_file(work)
    report: dict = {"data": how, "workdir": str(work)}

    runs = {
        "builtin": ["--backend", "builtin", "-o", str(work / "p_builtin.h5")],
        "hf": ["--backend", "hf", "--allow-fallback", "builtin", "--cache-dir",
               str(work / "cache"), "-o", str(work / "p_hf.h5")],
        "hf_offline_replay": ["--backend", "hf", "--allow-fallback", "builtin", "--offline",
                              "--cache-dir", str(work / "cache"), "-o", str(work / "p_replay.h5")],
    }  # fmt: skip
    for name, args in runs.items():
        wall, proc = sugar("priors", "--classes-from", str(data), *args, "--json")
        if proc.returncode != 0:
            report[name] = {"error": proc.stderr.strip()[-400:], "wall_s": round(wall, 1)}
            continue
        s = json.loads(proc.stdout)
        report[name] = {
            "wall_s": round(wall, 1),
            "seconds": s["seconds"],
            "generation_s_per_class": s["generation_seconds_per_class"],
            "valid_first_try": s["valid_first_try"],
            "valid_after_retries": s["valid_after_retries"],
            "fallback": s["fallback"],
            "questions": s["questions"],
            "stderr_tail": proc.stderr.strip().splitlines()[-6:],
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
