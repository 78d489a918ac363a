"""NW-UCLA cross-view, joint stream, small preset: text-prior and linear-probe top-1 per objective.

    .venv/bin/python bench/tokenize_ucla.py [--objective ce mil-nce both] [--epochs 40]

Target (issue 4): >= 0.93 top-1 in under 30 minutes per run on two CPU cores.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_priors, load_ucla  # noqa: E402
from _tokenize_bench import parse, run, workdir  # noqa: E402

if __name__ == "__main__":
    args = parse(sys.argv[1:], default_epochs=40)
    data, reader = load_ucla()
    priors, how = load_priors("nw-ucla", data.class_names, workdir())
    print(f"data: {reader}; priors: {how}", file=sys.stderr)
    run(data, priors, "xview", args, "NW-UCLA cross-view (train v01+v02, test v03)")
