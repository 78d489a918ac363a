"""Outputs the guard refuses before any work: every writing command x every bad path. Each
command is given inputs it runs on (checked with a good output first), so a refusal can only
come from the output; the one ``Error:`` line must say what is wrong with it, the inputs stay
byte for byte as they were and no temporary file is left behind."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from sugar_cli.main import cli
from sugar_core import outputs
from sugar_core.priors.store import write_priors
from sugar_core.skeleton.dataset import write_skeletons
from tests.helpers import zeroshot as zs
from tests.helpers.hostile import fuzz_files, tokenize_args

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def d(tmp_path_factory, tiny_llm_dir) -> Path:
    d = fuzz_files(tmp_path_factory.mktemp("fuzz-guard"))
    write_skeletons(zs.tiny_data(), d / "zdata.h5")
    write_priors(zs.tiny_priors(), d / "zpriors.h5")
    (d / "unseen.txt").write_text("sit down\nstand up\n")
    cfg = zs.tiny_config(tiny_llm_dir).to_dict()
    for key in ("frames", "max_bodies", "channels"):  # settings: the encoder decides these
        cfg["tokenize"]["prep"].pop(key)
    (d / "zs.json").write_text(json.dumps({"tokenize": cfg["tokenize"], "align": cfg["align"]}))
    (d / "msr.txt").write_text("high arm wave\nhammer\n")  # classes the builtin backend knows
    return d


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def digest(paths) -> dict:
    return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def hidden(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.startswith(".")}


def error_line(r) -> str:
    lines = [line for line in r.output.splitlines() if line.startswith("Error:")]
    assert r.exit_code != 0 and len(lines) == 1 and "Traceback" not in r.output, r.output
    return lines[0]


FILE_COMMANDS = ("data import", "data show", "priors", "tokenize", "align", "zeroshot")


def file_commands(d: Path, llm: Path, bert: Path) -> dict[str, tuple[list, list[Path]]]:
    """command -> (arguments without -o, the files it reads); each runs in seconds."""
    data, priors, z = d / "data.h5", d / "priors.h5", d / "zdata.h5"
    return {
        "data import": (["data", "import", d / "x.npz", "--format", "numpy"], [d / "x.npz"]),
        "data show": (["data", "show", data, "--sample", "0"], [data]),
        "priors": (["priors", "--classes", d / "msr.txt", "--text-encoder", bert], [d / "msr.txt"]),
        "tokenize": (tokenize_args(d), [data, priors]),
        "align": (
            [
                "align",
                d / "tokens.h5",
                "--priors",
                d / "apriors.h5",
                "--llm",
                llm,
                "--epochs",
                "1",
                "--queries",
                "2",
                "--width",
                "16",
                "--heads",
                "2",
                "--lora-r",
                "2",
            ],
            [d / "tokens.h5", d / "apriors.h5"],
        ),  # fmt: skip
        "zeroshot": (
            [
                "zeroshot",
                z,
                "--priors",
                d / "zpriors.h5",
                "--unseen-split",
                d / "unseen.txt",
                "--config",
                d / "zs.json",
                "--decode",
                "rank",
            ],
            [z, d / "zpriors.h5", d / "unseen.txt"],
        ),  # fmt: skip
    }


def folder_commands(d: Path) -> dict[str, tuple[list, str, list[Path]]]:
    return {
        "eval --plots": (["eval", d / "aligned.h5"], "--plots", [d / "aligned.h5"]),
        "demo": (["demo", "--fast"], "-o", []),
    }


# what the one Error line must say for each bad output (sugar_core.outputs, or the commands'
# own "is a directory" check that comes first for align and zeroshot)
SAYS = {
    "input": "is also an input", "symlink": "is also an input", "hardlink": "is also an input",
    "under-a-file": "is a file, not a folder", "too-long": "name too long",
    "long-folder": "name too long", "a-folder": "is a (folder|directory)",
    "unwritable": "is not writable", "no-room": "free on the disk of",
    "a-file": "is a file",  # Click's own Path(file_okay=False) check, or the guard's
}  # fmt: skip
BAD_FILES = ("input", "symlink", "hardlink", "under-a-file", "too-long", "long-folder",
             "a-folder", "unwritable", "no-room")  # fmt: skip
BAD_FOLDERS = ("a-file", "under-a-file", "too-long", "unwritable", "no-room")


def bad_output(kind: str, d: Path, first_input: Path | None, monkeypatch, case: str) -> Path:
    """Make the bad output ``kind`` (files or patches) and return its path."""
    spot = d / f"case-{abs(hash(case)) % 10**8}"
    spot.mkdir(exist_ok=True)
    if kind == "input":
        return first_input
    if kind in ("symlink", "hardlink"):
        out = spot / f"{kind}.h5"
        out.unlink(missing_ok=True)
        out.symlink_to(first_input) if kind == "symlink" else os.link(first_input, out)
        return out
    if kind in ("under-a-file", "a-file"):
        return (d / "data.h5" / "out.h5") if kind == "under-a-file" else d / "data.h5"
    if kind == "too-long":
        return spot / ("n" * 300 + ".h5")
    if kind == "long-folder":
        return spot / ("f" * 300) / "out.h5"
    if kind == "a-folder":
        return spot
    if kind == "unwritable":
        real = os.access  # patched for all callers: refuse writing only, inputs stay readable
        monkeypatch.setattr(outputs.os, "access", lambda p, m, **k: not m & os.W_OK and real(p, m))
    if kind == "no-room":
        usage = outputs.shutil.disk_usage(d)
        monkeypatch.setattr(outputs.shutil, "disk_usage", lambda p: usage._replace(free=100))
    return spot / "out.h5"


def assert_says(line: str, kind: str, out: Path) -> None:
    assert re.search(SAYS[kind], line), (kind, line)
    if kind not in ("too-long", "long-folder"):  # those name the over-long part only
        assert str(out) in line, (out, line)


@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_the_file_commands_run_on_their_inputs(d, tiny_llm_dir, tiny_bert_dir, tmp_path, command):
    """The control for the next test: with a good output each command writes it."""
    args, _ = file_commands(d, tiny_llm_dir, tiny_bert_dir)[command]
    out = tmp_path / ("out.gif" if command == "data show" else "out.h5")
    run_dir = ["--run-dir", tmp_path / "run"] if command == "tokenize" else []
    r = invoke(*args, *run_dir, "-o", out)
    assert r.exit_code == 0, r.output
    assert out.is_file()


@pytest.mark.parametrize("kind", BAD_FILES)
@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_bad_file_outputs_are_one_line_and_touch_nothing(
    d, tiny_llm_dir, tiny_bert_dir, command, kind, monkeypatch
):
    args, inputs = file_commands(d, tiny_llm_dir, tiny_bert_dir)[command]
    out = bad_output(kind, d, inputs[0], monkeypatch, command + kind)
    before, temps = digest(inputs), hidden(d)
    r = invoke(*args, "-o", out)
    monkeypatch.undo()
    assert_says(error_line(r), kind, out)
    assert digest(inputs) == before and hidden(d) == temps


@pytest.mark.parametrize("kind", BAD_FOLDERS)
@pytest.mark.parametrize("command", list(folder_commands(Path("."))))
def test_bad_folder_outputs_are_one_line(d, command, kind, monkeypatch):
    args, option, inputs = folder_commands(d)[command]
    out = bad_output(kind, d, None, monkeypatch, command + kind)
    before = digest(inputs + [d / "data.h5"])
    r = invoke(*args, option, out)
    monkeypatch.undo()
    assert_says(error_line(r), kind, out)
    assert digest(inputs + [d / "data.h5"]) == before
