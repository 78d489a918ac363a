"""Hostile and malformed raw inputs, generated here (no data files): every reader, and the
memory each may take. Each case must end cleanly: through the CLI an exit status other than 0,
one ``Error:`` line, no traceback and no output file; in the library a SugarError.

Garbled sugar HDF5 files and each stage's inputs are tests/fuzz/test_sugar_files.py.
The output side (the guard, disks, Ctrl-C, checkpoints) is tests/fuzz/test_output_guard.py and
tests/fuzz/test_outputs.py.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sugar_cli.main import cli
from tests.helpers.hostile import run_cli
from tests.helpers.readers import (
    msr_text,
    ntu_text,
    ntu_tracks,
    person,
    pyskl_annotations,
    ucla_doc,
)

RNG = np.random.default_rng(0)


# ---------------------------------------------------------------------------------------------
# directory readers: one valid file, damaged many ways

DIR_VALID = {
    "ntu": ("S001C001P001R001A001.skeleton", "S001C002P001R001A002.skeleton",
            lambda: ntu_text(ntu_tracks((7, person(RNG, 6), 0))).encode()),
    "nw-ucla": ("a01_s01_e01_v01.json", "a02_s01_e01_v01.json",
                lambda: json.dumps(ucla_doc(RNG, "a01_s01_e01_v01", 5, 1)).encode()),
    "msr": ("a01_s01_e01_skeleton3D.txt", "a02_s01_e01_skeleton3D.txt",
            lambda: msr_text(np.round(person(RNG, 3, v=20), 6)).encode()),
}  # fmt: skip


def _first_number(buf: bytes, by: bytes) -> bytes:
    """``buf`` with the first joint coordinate (a number with a dot) replaced by ``by``."""
    joints = buf.find(b"\r\n25\r\n")  # NTU: after the body-info line, whose values go unread
    at = buf.index(b".", max(joints, 0))
    start = max(buf.rfind(c, 0, at) for c in (b" ", b"\n", b"[")) + 1
    end = min(i for i in (buf.find(c, at) for c in (b" ", b"\n", b",", b"]")) if i > 0)
    return buf[:start] + by + buf[end:]


TEXT_DAMAGE = {
    "empty": lambda b: b"",
    "garbage": lambda b: RNG.integers(0, 256, 400, dtype=np.uint8).tobytes(),
    "zeros": lambda b: bytes(100),
    "half": lambda b: b[: len(b) // 2],
    "nan": lambda b: _first_number(b, b"nan"),
    "inf": lambda b: _first_number(b, b"-inf"),
    "overflow": lambda b: _first_number(b, b"1e39"),
    "not-utf8": lambda b: b"\xff\xfe" + b,
    "nested": lambda b: b"[" * 50_000 + b"]" * 50_000,
}
DIR_CASES = [(fmt, name) for fmt in DIR_VALID for name in TEXT_DAMAGE] + [
    ("ntu", "huge-frame-count"),
    ("ntu", "huge-body-count"),
    ("nw-ucla", "label-text"),
    ("nw-ucla", "skeletons-object"),
]


def _damaged(fmt: str, name: str) -> bytes:
    buf = DIR_VALID[fmt][2]()
    if name in TEXT_DAMAGE:
        return TEXT_DAMAGE[name](buf)
    if name == "huge-frame-count":
        return b"999999999999" + buf[buf.index(b"\r\n") :]
    if name == "huge-body-count":
        lines = buf.split(b"\r\n")
        return b"\r\n".join(lines[:1] + [b"99999999"] + lines[2:])
    doc = json.loads(buf)
    doc.update({"label-text": {"label": "1"}, "skeletons-object": {"skeletons": {"a": 1}}}[name])
    return json.dumps(doc).encode()


@pytest.mark.parametrize(("fmt", "name"), DIR_CASES, ids=[f"{f}-{n}" for f, n in DIR_CASES])
def test_directory_readers_fail_cleanly_and_skip_bad_keeps_the_rest(tmp_path, fmt, name):
    good, bad, make = DIR_VALID[fmt]
    src = tmp_path / "src"
    src.mkdir()
    (src / bad).write_bytes(_damaged(fmt, name))
    out = run_cli("data", "import", src, "--format", fmt, "-o", tmp_path / "o.h5", "-q")
    assert bad in out and not (tmp_path / "o.h5").exists()
    (src / good).write_bytes(make())
    from sugar_core.skeleton.io import ReadOptions, load

    imported = load(src, fmt, ReadOptions(skip_bad=True))
    assert len(imported.data) == 1 and [Path(s.path).name for s in imported.skipped] == [bad]


def test_an_unrelated_file_name_that_is_not_utf8_does_not_stop_the_import(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    good, _, make = DIR_VALID["msr"]
    (src / good).write_bytes(make())
    Path(os.fsdecode(bytes(src) + b"/caf\xe9 notes.txt")).write_bytes(b"x")  # latin-1 name
    res = CliRunner().invoke(cli, ["data", "import", str(src), "--format", "msr", "-o",
                                   str(tmp_path / "o.h5"), "-q"])  # fmt: skip
    assert res.exit_code == 0, res.output
    Path(os.fsdecode(bytes(src) + b"/a02_s01_e01\xe9_skeleton3D.txt")).write_bytes(make())
    out = run_cli("data", "import", src, "--format", "msr", "-o", tmp_path / "p.h5", "-q")
    assert "not valid UTF-8" in out and "\\xe9" in out


def test_a_broken_symbolic_link_is_named_not_dropped(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    good, bad, make = DIR_VALID["nw-ucla"]
    (src / good).write_bytes(make())
    (src / bad).symlink_to(tmp_path / "gone.json")
    out = run_cli("data", "import", src, "--format", "nw-ucla", "-o", tmp_path / "o.h5", "-q")
    assert bad in out and "broken symbolic link" in out


def test_text_helpers_never_raise_on_garbage():
    from sugar_core.skeleton.readers import text

    for _ in range(300):
        buf = RNG.choice(list(b"0123456789 .-+eE\r\n\tx"), int(RNG.integers(0, 80))).tobytes()
        a = np.frombuffer(buf, dtype=np.uint8)
        starts, ends = text.line_bounds(a)
        text.plain_whitespace(a, starts, ends)
        text.spaces_if_single(a, starts, ends)
        text.leading_tokens(buf, starts, 2)
        text.parse_decimals(buf, starts, ends)


# ---------------------------------------------------------------------------------------------
# single-file readers: pyskl pickles, CTR-GCN npz, sugar's numpy format


def _pyskl(**change) -> bytes:
    names = ["S001C001P001R001A001", "S001C002P002R001A002", "S001C003P003R001A003"]
    anns = pyskl_annotations(RNG, names, [0, 1, 2])
    anns[1].update(change)
    return pickle.dumps({"split": {"xsub_train": names[:2], "xsub_val": names[2:]},
                         "annotations": anns})  # fmt: skip


class _Marker:
    def __reduce__(self):
        import os

        return (os.system, ("touch MARKER_FILE",))


def _nested_list(depth: int) -> bytes:
    return b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."  # EMPTY_LIST, APPEND...


PYSKL_CASES = {
    "nan-keypoint": lambda: _pyskl(keypoint=np.full((1, 7, 25, 3), np.nan, np.float32)),
    "inf-keypoint": lambda: _pyskl(keypoint=np.full((1, 7, 25, 3), np.inf, np.float32)),
    "float64-overflow": lambda: _pyskl(keypoint=np.full((1, 7, 25, 3), 1e300)),
    "huge-label": lambda: _pyskl(label=10**12),
    "nan-label": lambda: _pyskl(label=float("nan")),
    "text-label": lambda: _pyskl(label="drink"),
    "list-frame-dir": lambda: _pyskl(frame_dir=["x"]),
    "list-total-frames": lambda: _pyskl(total_frames=[7]),
    "string-keypoint": lambda: _pyskl(keypoint="x"),
    "duplicate-id": lambda: _pyskl(frame_dir="S001C001P001R001A001"),
    "surrogate-id": lambda: _pyskl(frame_dir="S001\udcff"),
    "not-a-dict": lambda: pickle.dumps(5),
    "mixed-keys": lambda: pickle.dumps({1: 2, "a": 3}),
    "empty": lambda: b"",
    "garbage": lambda: RNG.integers(0, 256, 300, dtype=np.uint8).tobytes(),
    "truncated": lambda: _pyskl()[:700],
    "code": lambda: pickle.dumps(_Marker()),
    "bytearray-40GB": lambda: b"cbuiltins\nbytearray\n(I40000000000\ntR.",
    "bytes-40GB": lambda: b"cbuiltins\nbytes\n(I40000000000\ntR.",
    "list-of-range": lambda: b"cbuiltins\nlist\n(cbuiltins\nrange\n(I4000000000\ntRtR.",
    "ndarray-call": lambda: b"cnumpy\nndarray\n((I100000\nI100000\nttR.",
    "reconstruct-shape": lambda: (b"cnumpy._core.multiarray\n_reconstruct\n(cnumpy\nndarray\n"
                                  b"(I100000\nI100000\ntC\x01btR."),
    "object-dtype": lambda: pickle.dumps(np.array([None, 1], dtype=object), protocol=2),
    "codec": lambda: b"c_codecs\nencode\n(C\x01xVrot13\ntR.",
    "nested-10k": lambda: _nested_list(10_000),
}  # fmt: skip
NPZ_CASES = {
    "nan": dict(x_train=np.full((2, 5, 150), np.nan, np.float32)),
    "inf": dict(x_train=np.full((2, 5, 150), -np.inf, np.float32)),
    "huge-label": dict(y_train=np.array([0, 10**12])),
    "wide-one-hot": dict(y_train=np.eye(2, 20_000, dtype=np.uint8)),
    "object": dict(y_train=np.array([0, None], dtype=object)),
    "missing": dict(x_test=None),
    "3d-labels": dict(y_train=np.zeros((2, 1, 1))),
}
PLAIN_CASES = {
    "nan": dict(joints=np.full((2, 1, 4, 20, 3), np.nan, np.float32)),
    "duplicate-ids": dict(sample_ids=np.array(["a", "a"])),
    "surrogate-id": dict(sample_ids=np.array(["a", "\udcff"])),
    "surrogate-class": dict(class_names=np.array(["x", "\udcff"])),
    "long-length": dict(lengths=np.array([4, 9])),
    "label": dict(labels=np.array([0, 7])),
    "layout": dict(layout=np.array("nope")),
    "split": dict(split_x=np.array([2, 0])),
}


def _npz(path: Path, base: dict, change: dict) -> Path:
    arrays = {k: v for k, v in {**base, **change}.items() if v is not None}
    np.savez(path, **arrays)  # allow_pickle is the writer's default: object arrays go in
    return path


def _ctr_gcn():
    x = RNG.normal(size=(2, 5, 150)).astype(np.float32)
    return dict(x_train=x, y_train=np.array([0, 1]), x_test=x, y_test=np.array([1, 0]))


def _plain():
    return dict(joints=RNG.normal(size=(2, 1, 4, 20, 3)).astype(np.float32),
                lengths=np.array([4, 3]), labels=np.array([0, 1]),
                class_names=np.array(["a", "b"]), layout=np.array("kinect20"))  # fmt: skip


FILE_CASES = (
    [("pyskl", n) for n in PYSKL_CASES]
    + [("npz", n) for n in NPZ_CASES]
    + [("numpy", n) for n in PLAIN_CASES]
    + [(f, n) for f in ("npz", "numpy") for n in ("empty", "garbage", "npy", "truncated")]
)


def _file_case(tmp_path: Path, fmt: str, name: str) -> Path:
    path = tmp_path / ("in.pkl" if fmt == "pyskl" else "in.npz")
    if fmt == "pyskl":
        path.write_bytes(PYSKL_CASES[name]())
    elif name in ("empty", "garbage", "npy", "truncated"):
        _npz(path, _ctr_gcn() if fmt == "npz" else _plain(), {})
        whole = path.read_bytes()
        np.save(tmp_path / "a.npy", np.zeros(3))
        path.write_bytes({"empty": b"", "garbage": bytes(RNG.integers(0, 256, 99, np.uint8)),
                          "npy": (tmp_path / "a.npy").read_bytes(),
                          "truncated": whole[: len(whole) // 2]}[name])  # fmt: skip
    elif fmt == "npz":
        _npz(path, _ctr_gcn(), NPZ_CASES[name])
    else:
        _npz(path, _plain(), PLAIN_CASES[name])
    return path


@pytest.mark.parametrize(("fmt", "name"), FILE_CASES, ids=[f"{f}-{n}" for f, n in FILE_CASES])
def test_file_readers_fail_cleanly(tmp_path, monkeypatch, fmt, name):
    monkeypatch.chdir(tmp_path)
    path = _file_case(tmp_path, fmt, name)
    out = run_cli("data", "import", path, "--format", fmt, "-o", tmp_path / "o.h5", "-q")
    assert str(path) in out.replace("\n", ""), out
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "MARKER_FILE").exists()


def test_skip_bad_leaves_out_non_finite_and_duplicate_samples(tmp_path):
    from sugar_core.skeleton.io import ReadOptions, load

    joints = _plain()["joints"]
    joints[1, 0, 2, 5, 1] = np.nan
    path = _npz(tmp_path / "p.npz", _plain(), dict(joints=joints))
    got = load(path, "numpy", ReadOptions(skip_bad=True))
    assert got.data.sample_ids == ["000000"] and "body 1, frame 3, joint 6" in got.skipped[0].reason
    path.write_bytes(_pyskl(frame_dir="S001C001P001R001A001"))
    got = load(path, "pyskl", ReadOptions(skip_bad=True))
    assert len(got.data) == 2 and "same sample id as sample 0" in got.skipped[0].reason


def test_repeated_references_in_a_pickle_stop_at_the_memory_budget(tmp_path, monkeypatch):
    from sugar_core.errors import InputFormatError
    from sugar_core.skeleton.readers import common, pyskl

    monkeypatch.setattr(common, "EXPANSION_FLOOR", 1 << 20)
    kp = np.zeros((1, 100, 25, 3), np.float32)  # 30 kB, pickled once, referenced 400 times
    anns = [{"frame_dir": f"s{i}", "label": 0, "keypoint": kp} for i in range(400)]
    path = tmp_path / "memo.pkl"
    path.write_bytes(pickle.dumps(anns))
    with pytest.raises(InputFormatError, match="referenced again and again"):
        pyskl.read(path, "pyskl", common.ReadOptions(), common.Notes())


# ---------------------------------------------------------------------------------------------
# peak memory of tiny hostile files, measured in a fresh process

PEAK = """
import json, resource, sys
from sugar_core.errors import SugarError
from sugar_core.skeleton.io import load
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    load(sys.argv[1], sys.argv[2])
    error = None
except SugarError as exc:
    error = str(exc)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"extra_mb": (after - before) / 1024, "error": error}))
"""


def _zip_bomb(path: Path, unpacked: int) -> Path:
    """An .npz whose one member is ``unpacked`` bytes of zeros, deflated (about 1/1000)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("joints.npy", "w", force_zip64=True) as fh:
            header = {"descr": "<f4", "fortran_order": False, "shape": (unpacked // 4,)}
            np.lib.format.write_array_header_1_0(fh, header)
            block = bytes(16 << 20)
            for _ in range(unpacked // len(block)):
                fh.write(block)
    return path


def peak(path: Path, fmt: str) -> dict:
    import subprocess

    res = subprocess.run([sys.executable, "-c", PEAK, str(path), fmt], capture_output=True,
                         text=True, check=True, cwd=path.parent)  # fmt: skip
    return json.loads(res.stdout)


@pytest.mark.parametrize("unpacked_mb", [320, pytest.param(1100, marks=pytest.mark.slow)])
def test_a_small_npz_bomb_is_refused_within_bounded_memory(tmp_path, unpacked_mb):
    path = _zip_bomb(tmp_path / "bomb.npz", unpacked_mb << 20)
    assert path.stat().st_size < (unpacked_mb << 20) // 500
    got = peak(path, "numpy")
    assert "unpack to more than" in got["error"] and got["extra_mb"] < 200, got


def test_a_40_byte_pickle_asking_for_40_gb_is_refused_within_bounded_memory(tmp_path):
    path = tmp_path / "bomb.pkl"
    path.write_bytes(PYSKL_CASES["bytearray-40GB"]())
    assert len(path.read_bytes()) <= 40
    got = peak(path, "pyskl")
    assert "bytearray" in got["error"] and got["extra_mb"] < 200, got


def test_a_pickle_that_would_run_code_leaves_no_marker(tmp_path):
    path = tmp_path / "code.pkl"
    path.write_bytes(PYSKL_CASES["code"]())
    got = peak(path, "pyskl")
    assert "refusing to unpickle posix.system" in got["error"]
    assert not (tmp_path / "MARKER_FILE").exists()


# ---------------------------------------------------------------------------------------------
# the other JSON and pickle entry points, and what the guards must still let through


@pytest.mark.parametrize("reader", ["settings", "descriptions"])
def test_deeply_nested_json_is_a_bad_file_not_a_recursion_error(tmp_path, reader):
    from sugar_core.errors import InputFormatError
    from sugar_core.priors.backends.file import FileBackend
    from sugar_core.settings import read_file

    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(InputFormatError, match="nested too deeply"):
        (read_file if reader == "settings" else FileBackend)(path)


def test_python2_and_protocol0_pickles_of_plain_data_still_load(tmp_path):
    from sugar_core.skeleton.readers.safe_pickle import load_pickle

    path = tmp_path / "old.pkl"
    path.write_bytes(b"c__builtin__\nset\n((lp0\nI1\naI2\natp1\nRp2\n.")  # Python 2: set([1, 2])
    assert load_pickle(path) == {1, 2}
    kp = np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)
    for protocol in range(6):
        path.write_bytes(pickle.dumps({"k": kp, "b": b"", "t": (1.5, None)}, protocol=protocol))
        got = load_pickle(path)
        assert np.array_equal(got["k"], kp) and got["b"] == b"" and got["t"] == (1.5, None)
