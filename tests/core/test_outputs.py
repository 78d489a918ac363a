"""The output guard, the guarded file, Ctrl-C during a write and stale temporary files."""

from __future__ import annotations

import errno
import multiprocessing as mp
import os
import signal
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from sugar_core import outputs, schema
from sugar_core.errors import OutputError
from sugar_core.skeleton import io as skeleton_io
from tests.helpers.faults import FullDisk, InterruptOnCollect


def _write(path, value: float = 1.0, hook=lambda: None) -> None:
    """A minimal valid sugar file (kind aligned) holding ``value``; ``hook`` runs mid-write."""
    with schema.create(path, "aligned", config={}, seed=0) as f:
        hook()
        f.create_dataset(schema.LABELS, data=np.zeros(2, np.int64))
        schema.write_strings(f, schema.CLASS_NAMES, ["a", "b"])
        f.create_dataset(schema.PRED, data=np.zeros(2, np.int64))
        f.create_dataset(schema.TOP5, data=np.zeros((2, 5), np.int64))
        schema.write_json(f, schema.METRICS, {"value": value})
        f.create_dataset("big", data=np.full(50_000, value, np.float32))


def _value(path) -> float:
    with h5py.File(path, "r") as f:
        return float(f["big"][0])


def _no_temps(folder) -> bool:
    return not [p for p in Path(folder).iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------------------------------------
# check_output


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink", "dotted"])
def test_an_output_that_is_an_input_is_refused(tmp_path, link):
    src = tmp_path / "data.h5"
    src.write_bytes(b"input")
    out = {"same": src, "dotted": tmp_path / "." / "data.h5"}.get(link, tmp_path / "out.h5")
    if link == "symlink":
        out.symlink_to(src)
    elif link == "hardlink":
        os.link(src, out)
    with pytest.raises(OutputError, match="is also an input"):
        outputs.check_output(out, inputs=[src])
    assert src.read_bytes() == b"input"


def test_folder_problems_are_named(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        outputs.check_output(blocker / "sub" / "out.h5")
    with pytest.raises(OutputError, match="is a folder"):
        outputs.check_output(tmp_path)
    with pytest.raises(OutputError, match="is a file; give the name of a folder"):
        outputs.check_output(blocker, folder=True)
    with pytest.raises(OutputError, match="name too long"):
        outputs.check_output(tmp_path / ("n" * 250 + ".h5"))
    with pytest.raises(OutputError, match="name too long"):
        outputs.check_output(tmp_path / ("d" * 300) / "out.h5")
    assert outputs.check_output(tmp_path / "new" / "deeper" / "out.h5").name == "out.h5"
    monkeypatch.setattr(outputs.os, "access", lambda *a, **k: False)
    with pytest.raises(OutputError, match="is not writable"):
        outputs.check_output(tmp_path / "out.h5")


def test_no_room_is_refused_before_the_work(tmp_path, monkeypatch):
    src = tmp_path / "in.bin"
    src.write_bytes(b"x" * 4000)
    usage = outputs.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        outputs.shutil, "disk_usage", lambda p: usage._replace(free=outputs.MIN_FREE + 500)
    )
    outputs.check_output(tmp_path / "out.h5")  # 1 MiB asked, 1 MiB + 500 free
    with pytest.raises(OutputError, match=r"only 1\.0 MiB free.*needs about"):
        outputs.check_output(tmp_path / "out.h5", inputs=[src])  # + a quarter of 4000 bytes


# ---------------------------------------------------------------------------------------------
# writes: a full disk, Ctrl-C


def test_a_full_disk_is_one_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    out = tmp_path / "p.h5"
    _write(out, 1.0)
    monkeypatch.setattr(outputs, "open", FullDisk, raising=False)
    with pytest.raises(OutputError, match=r"p\.h5: cannot write: No space left.*disk is full"):
        _write(out, 2.0)
    monkeypatch.undo()
    assert _value(out) == 1.0 and _no_temps(tmp_path)


def test_guarded_file_drops_writes_after_the_first_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "open", lambda *a, **k: FullDisk(*a, room=10), raising=False)
    with pytest.raises(OSError) as err, outputs.GuardedFile(tmp_path / "x") as fh:
        assert fh.write(b"12345") == 5
        assert fh.write(b"678901") == 6 and fh.error is not None  # failed, remembered
        assert fh.write(b"more") == 4 and fh.tell() == 15  # dropped, position kept
    assert err.value.errno == errno.ENOSPC


def test_ctrl_c_inside_a_clean_up_callback_still_stops_the_write(tmp_path):
    out = tmp_path / "p.h5"
    _write(out, 1.0)
    with pytest.raises(KeyboardInterrupt):
        _write(out, 2.0, hook=InterruptOnCollect)  # collected at once: lands in __del__
    assert _value(out) == 1.0 and _no_temps(tmp_path)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_output_named_in_its_own_inputs_is_refused_by_create(tmp_path):
    out = tmp_path / "p.h5"
    _write(out, 1.0)
    with pytest.raises(OutputError, match="is also an input"):
        with schema.create(out, "aligned", inputs=schema.input_record([out])):
            pass
    assert _value(out) == 1.0


# ---------------------------------------------------------------------------------------------
# stale temporary files, orphaned workers


def _dead_pid() -> int:
    proc = mp.get_context("fork").Process(target=int)
    proc.start()
    proc.join()
    return proc.pid


def test_stale_temps_of_dead_runs_are_removed_and_nothing_else(tmp_path):
    old = time.time() - 3600
    dead = _dead_pid()
    names = {
        "stale": f".p.h5.sugar-{dead}-abcd_123.tmp",
        "stale_png": f".c.png.sugar-{dead}-zzzzzzzz.png",
        "ours": f".p.h5.sugar-{os.getpid()}-abcdefgh.tmp",
        "alive": f".p.h5.sugar-{os.getppid()}-abcdefgh.tmp",
        "legacy": ".p.h5.abcdefgh.tmp",  # an old-style or a user's file: not ours to judge
        "user": "p.h5.sugar-1-abcdefgh.tmp",  # not hidden
    }
    for path in (tmp_path / n for n in names.values()):
        path.write_text("x")
        os.utime(path, (old, old))
    young = tmp_path / f".q.h5.sugar-{dead}-abcdefgh.tmp"
    young.write_text("x")  # written after this process started: left alone
    (tmp_path / f".d.sugar-{dead}-abcdefgh.dir").mkdir()  # folders: left alone
    _write(tmp_path / "p.h5")  # any write into the folder cleans it
    left = {p.name for p in tmp_path.iterdir()}
    assert names["stale"] not in left and names["stale_png"] not in left
    assert {names[k] for k in ("ours", "alive", "legacy", "user")} <= left
    assert young.name in left and f".d.sugar-{dead}-abcdefgh.dir" in left


def _worker_state(queue) -> None:
    import ctypes

    skeleton_io._quiet_worker(os.getppid())
    sig = ctypes.c_int(0)
    ctypes.CDLL(None).prctl(2, ctypes.byref(sig))  # PR_GET_PDEATHSIG
    queue.put((signal.getsignal(signal.SIGINT) is signal.SIG_IGN, sig.value))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux only")
def test_reader_workers_leave_ctrl_c_to_the_parent_and_die_with_it():
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_worker_state, args=(queue,))
    proc.start()
    ignored, death_signal = queue.get(timeout=20)
    proc.join()
    assert ignored and death_signal == signal.SIGKILL


def test_a_failed_write_leaves_no_new_folder(tmp_path):
    keep = tmp_path / "kept"
    keep.mkdir()
    with pytest.raises(RuntimeError), outputs.atomic_path(keep / "new" / "deeper" / "out.h5") as t:
        t.write_text("half")
        raise RuntimeError("the reader failed")
    assert keep.is_dir() and list(keep.iterdir()) == []  # the folders it made are gone
    (keep / "new").mkdir()
    (keep / "new" / "theirs.txt").write_text("x")  # someone else's file: that folder stays
    with pytest.raises(RuntimeError), outputs.atomic_path(keep / "new" / "sub" / "out.h5"):
        raise RuntimeError("again")
    assert sorted(p.name for p in (keep / "new").iterdir()) == ["theirs.txt"]
    with outputs.atomic_path(keep / "ok" / "out.h5") as t:  # success keeps them
        t.write_text("whole")
    assert (keep / "ok" / "out.h5").read_text() == "whole"
