"""Hostile outputs, full disks, Ctrl-C, crafted checkpoints, secrets and bad numbers, across
every command. Cases are generated here (no data files); each must end with exit status not 0,
exactly one ``Error:`` line, no traceback, the inputs byte for byte as they were, an existing
output untouched and no temporary file left behind. Outputs the guard refuses before any work
are tests/fuzz/test_output_guard.py."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from sugar_cli.main import cli
from sugar_core import outputs
from tests.helpers.backends import FakeServer
from tests.helpers.faults import FullDisk, InterruptOnCollect
from tests.helpers.hostile import fuzz_files, tokenize_args

pytestmark = pytest.mark.usefixtures("one_thread")
SECRET = "sk-fuzz-NEVER-SHOWN-0123456789"


@pytest.fixture(scope="module")
def d(tmp_path_factory) -> Path:
    return fuzz_files(tmp_path_factory.mktemp("fuzz-out"))


def invoke(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


def hidden(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.startswith(".")}


def assert_one_line(r, code: int | None = None) -> None:
    lines = [line for line in r.output.splitlines() if line.startswith("Error:")]
    assert r.exit_code != 0 and (code is None or r.exit_code == code), r.output
    assert len(lines) == 1 and "Traceback" not in r.output, r.output
    assert SECRET not in r.output


# ---------------------------------------------------------------------------------------------
# a full disk and Ctrl-C during the write


def writing_runs(d: Path, tiny_bert_dir) -> dict[str, list]:
    return {
        "data import": ["data", "import", d / "x.npz", "--format", "numpy"],
        "priors": ["priors", "--classes-list", "msr", "--text-encoder", tiny_bert_dir],
        "tokenize": tokenize_args(d),
    }


@pytest.mark.parametrize("fault", ["full-disk", "ctrl-c"])
@pytest.mark.parametrize("command", ["data import", "priors", "tokenize"])
def test_a_fault_during_the_write_keeps_the_old_output(
    d, tiny_bert_dir, tmp_path, monkeypatch, command, fault
):
    out = tmp_path / "out.h5"
    out.write_bytes(b"the previous output")
    args = writing_runs(d, tiny_bert_dir)[command]
    if fault == "full-disk":
        monkeypatch.setattr(outputs, "open", FullDisk, raising=False)
    else:
        real = outputs.GuardedFile.write

        def write(self, data):
            if not getattr(self, "hit", False):
                self.hit = True
                InterruptOnCollect()
            return real(self, data)

        monkeypatch.setattr(outputs.GuardedFile, "write", write)
    run_dir = ["--run-dir", tmp_path / "run"] if command == "tokenize" else []
    r = invoke(*args, "-o", out, *run_dir)
    monkeypatch.undo()
    if fault == "full-disk":
        assert_one_line(r, 1)
        assert "No space left on device" in r.output and "disk is full" in r.output
    else:
        assert r.exit_code == 130 and "interrupted" in r.output and "Traceback" not in r.output
    assert out.read_bytes() == b"the previous output"
    assert not hidden(tmp_path), hidden(tmp_path)


def test_a_real_write_limit_is_one_line_not_a_crash(d, tmp_path):
    """The file-size limit makes the kernel refuse writes as a full disk does (the HDF5
    library crashed on it at exit, status 139)."""
    script = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (8000, 8000));"
        "from sugar_cli.main import cli; sys.argv[0] = 'sugar'; cli()"
    )
    out = tmp_path / "out.h5"
    r = subprocess.run(
        [sys.executable, "-c", script, "data", "import", str(d / "x.npz"), "--format", "numpy",
         "-o", str(out)],  # fmt: skip
        capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert r.stderr.count("Error:") == 1 and "Traceback" not in r.stderr, r.stderr
    assert str(out) in r.stderr and not out.exists() and not hidden(tmp_path)


def test_stale_temps_of_killed_runs_go_at_the_next_write(d, tmp_path):
    stale = tmp_path / ".out.h5.sugar-999999999-abcdefgh.tmp"  # no such process
    stale.write_bytes(b"half a file")
    old = time.time() - 30 * 86400  # before this (long-running) test process started
    os.utime(stale, (old, old))
    r = invoke("data", "import", d / "x.npz", "--format", "numpy", "-o", tmp_path / "out.h5")
    assert r.exit_code == 0, r.output
    assert not stale.exists() and (tmp_path / "out.h5").exists()


# ---------------------------------------------------------------------------------------------
# crafted and damaged checkpoints on --resume


class Payload:
    """Unpickling this runs code: it would create ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def checkpoints(run: Path, marker: Path) -> dict:
    good = {"epoch": 1, "net": {"w": torch.zeros(3)}, "optimizer": {}, "config": {}}
    return {
        "code": lambda p: torch.save({**good, "net": Payload(marker)}, p),
        "truncated": lambda p: (torch.save(good, p), p.write_bytes(p.read_bytes()[:300])),
        "garbage": lambda p: p.write_bytes(os.urandom(2000)),
        "empty": lambda p: p.write_bytes(b""),
        "a-list": lambda p: torch.save([1, 2, 3], p),
    }


@pytest.mark.parametrize("case", ["code", "truncated", "garbage", "empty", "a-list"])
@pytest.mark.parametrize("stage", ["tokenize", "align"])
def test_crafted_checkpoints_never_run_code(d, tmp_path, tiny_llm_dir, stage, case):
    run, marker = tmp_path / "run", tmp_path / "MARKER"
    run.mkdir()
    checkpoints(run, marker)[case](run / "checkpoint.pt")
    if stage == "tokenize":
        args = ["tokenize", d / "data.h5", "--priors", d / "priors.h5", "--split", "xsub",
                "--epochs", "1", "--batch-size", "4"]  # fmt: skip
    else:
        args = ["align", d / "tokens.h5", "--priors", d / "apriors.h5", "--llm", tiny_llm_dir,
                "--queries", "2", "--width", "16", "--heads", "2", "--lora-r", "2"]  # fmt: skip
    r = invoke(*args, "--run-dir", run, "--resume", "-o", tmp_path / "out.h5")
    assert_one_line(r, 1)
    assert "checkpoint.pt" in r.output and not marker.exists()
    assert not (tmp_path / "out.h5").exists()


# ---------------------------------------------------------------------------------------------
# the error boundary, numbers out of range, secrets


def test_unexpected_errors_are_one_line_and_a_traceback_with_v(d, monkeypatch):
    import sugar_core.pipeline.info as info

    monkeypatch.setattr(info, "describe", lambda p: (_ for _ in ()).throw(RuntimeError("boom")))
    r = invoke("data", "info", d / "data.h5")
    assert_one_line(r, 1)
    assert "unexpected RuntimeError: boom" in r.output and "-v" in r.output
    for exc, text in [
        (PermissionError(errno.EACCES, "Permission denied", "data.h5"), "data.h5: Permission"),
        (OSError(errno.ENAMETOOLONG, "File name too long"), "File name too long"),
        (MemoryError(), "out of memory"),
    ]:
        monkeypatch.setattr(info, "describe", lambda p, e=exc: (_ for _ in ()).throw(e))
        r = invoke("data", "info", d / "data.h5")
        assert_one_line(r, 1)
        assert text in r.output


def test_a_closed_stdout_pipe_is_one_line(d, monkeypatch):
    import sugar_cli.commands.data as data_cmd

    def closed(obj):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr(data_cmd, "echo_json", closed)
    r = invoke("data", "info", d / "data.h5", "--json")
    assert_one_line(r, 1)
    assert "broken pipe" in r.output


BAD_NUMBERS = [
    ["tokenize", "{data}", "--seed", "-1"], ["tokenize", "{data}", "--workers", "-1"],
    ["tokenize", "{data}", "--eval-every", "-2"], ["tokenize", "{data}", "--lr", "-1"],
    ["tokenize", "{data}", "--threads", "-1"], ["align", "{tokens}", "--seed", "-1"],
    ["align", "{tokens}", "--max-new-tokens", "0"], ["align", "{tokens}", "--predict-batch", "0"],
    ["align", "{tokens}", "--lr", "-1"], ["priors", "--classes-from", "{data}", "--timeout", "0"],
    ["priors", "--classes-from", "{data}", "--concurrency", "0"],
    ["priors", "--classes-from", "{data}", "--visual-k", "0"],
    ["priors", "--classes-from", "{data}", "--seed", "-5"],
    ["data", "import", "{npz}", "--format", "numpy", "-j", "0"],
    ["data", "import", "{npz}", "--format", "numpy", "--max-bodies", "0"],
    ["eval", "{aligned}", "--max-rows", "-1"], ["demo", "--seed", "-1"],
    ["predict", "{npz}", "--batch-size", "0"],
]  # fmt: skip


@pytest.mark.parametrize("args", BAD_NUMBERS, ids=lambda a: " ".join(a[:1] + a[-2:]))
def test_numbers_out_of_range_are_usage_errors(d, args):
    files = {"data": d / "data.h5", "tokens": d / "tokens.h5", "npz": d / "x.npz",
             "aligned": d / "aligned.h5"}  # fmt: skip
    filled = [a.format(**files) for a in args]
    extra = {"tokenize": ["--priors", d / "priors.h5", "--split", "xsub"],
             "align": ["--priors", d / "apriors.h5"]}.get(args[0], [])  # fmt: skip
    if args[0] in ("tokenize", "align", "priors", "data"):
        extra += ["-o", d / "never.h5"]
    r = invoke(*filled, *extra)
    assert_one_line(r, 2)
    assert "Usage:" in r.output and not (d / "never.h5").exists()


def test_secrets_stay_out_of_messages_and_files(d, tmp_path, tiny_bert_dir, monkeypatch):
    monkeypatch.setenv("FUZZ_KEY", SECRET)
    common = ["priors", "--classes-list", "msr", "--backend", "openai", "--model", "m",
              "--api-key-env", "FUZZ_KEY", "--text-encoder", tiny_bert_dir]  # fmt: skip

    def auth(srv, n) -> str:  # what a server that echoes the request would show first
        return f"Authorization: {srv.requests[n]['headers']['Authorization']} {srv.requests[n]}"

    echoes = {
        "not-json": lambda srv, n: (200, {}, f"<p>{auth(srv, n)}</p>".encode()),
        "no-choices": lambda srv, n: (200, {}, {"echo": auth(srv, n)}),
        "http-400": lambda srv, n: (400, {}, {"error": auth(srv, n)}),
    }
    for name, echo in echoes.items():
        held: dict = {}
        srv = held["srv"] = FakeServer(lambda n, body, e=echo, h=held: e(h["srv"], n))
        with srv:
            r = invoke(*common, "--base-url", f"{srv.url}?api_key={SECRET}",
                       "--cache-dir", tmp_path / name, "-o", tmp_path / f"{name}.h5")  # fmt: skip
        assert_one_line(r, 1)
        assert "***" in r.output, (name, r.output)
    with FakeServer() as srv:
        out = tmp_path / "p.h5"
        r = invoke(*common, "--base-url", f"{srv.url}?api_key={SECRET}", "--cache-dir",
                   tmp_path / "ok", "-o", out)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert f"api_key={SECRET}" in srv.requests[0]["path"]  # the server still gets it
    assert SECRET.encode() not in out.read_bytes()
    for f in (tmp_path / "ok").rglob("*"):
        assert not f.is_file() or SECRET.encode() not in f.read_bytes(), f
    r = invoke(*common, "--base-url", f"http://me:{SECRET}@127.0.0.1:9/v1", "-o", out)
    assert_one_line(r, 1)
    assert "user:password@" in r.output
