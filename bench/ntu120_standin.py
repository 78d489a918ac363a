"""Write an NTU RGB+D 120-shaped stand-in: raw ``.skeleton`` files in the real NTU format.

Names on NTU-120's grid (120 actions, 106 performers, 32 setups, 3 cameras, 2 replications),
one or two bodies (the mutual actions have two), lengths like NTU's (log-normal, median 80
frames, 32-300), smooth random motion: see ``sugar_core/skeleton/standin.py``. For measuring
``sugar data import --format ntu`` at scale (``bench/import_scale.py``), not for accuracy.
The full set (114,480 files) takes about 33 GB.

    .venv/bin/python bench/ntu120_standin.py /tmp/ntu120 --files 2000 --workers 2
    .venv/bin/python bench/ntu120_standin.py /tmp/ntu120          # all 114,480 files
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from sugar_core.skeleton.standin import NTU120_FILES, write_standin


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="folder to write the .skeleton files into (made if missing)")
    ap.add_argument("--files", type=int, default=NTU120_FILES, help="how many (a seeded subset)")
    ap.add_argument("--seed", type=int, default=0, help="draws the subset and the motion")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes writing")
    args = ap.parse_args()
    start = time.perf_counter()
    shown = [0.0]

    def report(done: int, total: int) -> None:
        if time.perf_counter() - shown[0] > 5 or done == total:
            shown[0] = time.perf_counter()
            print(f"{done}/{total} files", file=sys.stderr)

    paths = write_standin(args.root, args.files, args.seed, args.workers, report)
    mb = sum(p.stat().st_size for p in paths) / 1e6
    print(
        f"wrote {len(paths)} files, {mb:.0f} MB, to {args.root} in "
        f"{time.perf_counter() - start:.0f} s (load average {os.getloadavg()[0]:.2f})",
        file=sys.stderr,
    )
    print(args.root)


if __name__ == "__main__":
    main()
