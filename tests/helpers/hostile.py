"""Running the CLI on a hostile input: it must fail cleanly (tests/fuzz)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from sugar_cli.main import cli


def run_cli(*args) -> str:
    """Run ``sugar args``; assert it failed cleanly; return its output."""
    res = CliRunner().invoke(cli, [str(a) for a in args])
    out = res.output
    assert res.exit_code not in (0, None), out
    assert isinstance(res.exception, SystemExit), repr(res.exception)
    errors = [line for line in out.splitlines() if line.startswith("Error:")]
    assert "Traceback" not in out and len(errors) == 1, out
    return out


def tokenize_args(d: Path) -> list:
    """A one-epoch ``sugar tokenize`` of ``fuzz_files(d)`` without ``-o`` (seconds)."""
    return ["tokenize", d / "data.h5", "--priors", d / "priors.h5", "--split", "xsub",
            "--epochs", "1", "--batch-size", "4", "--eval-every", "0"]  # fmt: skip


def fuzz_files(d: Path) -> Path:
    """The small sugar files every command of tests/fuzz reads, written into ``d``."""
    import numpy as np

    from sugar_core.predictions import Predictions, write_predictions
    from sugar_core.priors.store import write_priors
    from sugar_core.skeleton.dataset import write_skeletons
    from sugar_core.skeleton.export import write_numpy
    from sugar_core.tokenize.store import write_tokens
    from tests.helpers import align as align_helpers
    from tests.helpers.tokenize import tiny_priors, tiny_set

    data = tiny_set(n=12, k=3)
    write_skeletons(data, d / "data.h5")
    write_priors(tiny_priors(data.class_names), d / "priors.h5")
    write_numpy(data, d / "x.npz")
    write_tokens(align_helpers.synthetic_tokens(), d / "tokens.h5")
    write_priors(align_helpers.synthetic_priors(), d / "apriors.h5")
    n, k = 4, 3
    pred = Predictions(np.arange(n) % k, np.arange(n) % k, np.tile(np.arange(5) % k, (n, 1)),
                       ["a", "b", "c"], [f"s{i}" for i in range(n)])  # fmt: skip
    write_predictions(pred, d / "aligned.h5", "aligned")
    return d
