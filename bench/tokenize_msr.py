"""MSR Action3D cross-subject (557 files, odd subjects train), small preset, per objective:
text-prior and linear-probe top-1.

    .venv/bin/python bench/tokenize_msr.py [--objective ce mil-nce both] [--epochs 60]

Target (issue 4): above 0.90 top-1 (Lie group SE(3): 0.8948).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_msr, load_priors  # noqa: E402
from _tokenize_bench import parse, run, workdir  # noqa: E402

if __name__ == "__main__":
    args = parse(sys.argv[1:], default_epochs=60)
    data, reader = load_msr()
    priors, how = load_priors("msr", data.class_names, workdir())
    print(f"data: {reader}; priors: {how}", file=sys.stderr)
    run(
        data,
        priors,
        "xsub",
        args,
        "MSR Action3D cross-subject (train subjects 1 3 5 7 9, test 2 4 6 8 10)",
    )
