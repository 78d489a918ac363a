"""Running the CLI on a hostile input: it must fail cleanly (tests/fuzz)."""

from __future__ import annotations

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
