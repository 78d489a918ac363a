"""`sugar data import` / `sugar data info` through click: outputs, config, and one-line errors."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from sugar_cli.commands import data as data_cmd
from sugar_cli.commands.data import cli
from sugar_core.skeleton import io
from sugar_core.skeleton.dataset import read_skeletons
from tests.conftest import shared_path
from tests.helpers.readers import (
    msr_text,
    ntu_text,
    ntu_tracks,
    person,
    write_msr_dir,
    write_ntu_dir,
    write_pickle,
    write_ucla_dir,
)

NTU = ["S001C001P001R001A001", "S001C002P002R001A002", "S002C003P003R002A003"]


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_formats_listed_in_the_cli_match_the_library():
    assert data_cmd.FORMATS == io.FORMATS + ("auto",)


def test_import_writes_a_file_that_reads_back_exactly(tmp_path, rng):
    write_ntu_dir(tmp_path / "raw", rng, NTU)
    out = tmp_path / "ntu.h5"
    res = _run("import", tmp_path / "raw", "--format", "ntu", "-o", out, "--workers", 2)
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(out)
    assert "3 samples, 60 classes" in res.stderr
    back = read_skeletons(out)
    want = io.read_dataset(tmp_path / "raw", "ntu")
    assert back.sample_ids == want.sample_ids
    for a, b in zip(back.samples, want.samples):
        np.testing.assert_array_equal(a.joints, b.joints)
    with h5py.File(out) as f:
        config = json.loads(f.attrs["config"])
        inputs = json.loads(f.attrs["inputs"])
    assert config["format"] == "ntu" and config["files"] == 3 and config["skipped"] == []
    assert config["notes"]["class_list"] == "ntu60"
    assert inputs[0]["sha256"].startswith("listing:")


def test_info_human_and_json(tmp_path, rng):
    write_ucla_dir(tmp_path / "raw", rng)
    out = tmp_path / "u.h5"
    assert _run("import", tmp_path / "raw", "-f", "nw-ucla", "-o", out).exit_code == 0
    res = _run("info", out)
    assert res.exit_code == 0 and res.stdout == ""
    assert "7 samples, layout kinect20" in res.stderr and "pick up with one hand" in res.stderr
    res = _run("info", out, "--json")
    desc = json.loads(res.stdout)
    assert desc["kind"] == "skeletons" and desc["config"]["format"] == "nw-ucla"
    summary = desc["summary"]
    assert summary["n"] == 7 and summary["splits"]["xview"] == {"train": 4, "test": 3, "unused": 0}
    assert summary["classes"][9] == {"id": 9, "name": "carry", "count": 2}
    assert summary["bodies"] == {"1": 7} and summary["meta"]["view"]["distinct"] == 3
    assert desc["datasets"]["joints"]["shape"][1:] == [1, 20, 3]


def test_info_on_other_kinds_and_on_non_sugar_files(tmp_path):
    from sugar_core.priors.store import Priors, write_priors

    p = Priors(
        ["a", "b"],
        np.array([["x"], ["y"]], dtype=object),
        ["motion"],
        np.ones((2, 1, 4), np.float32),
        np.ones((2, 1), bool),
        ["da", "db"],
    )
    write_priors(p, tmp_path / "priors.h5")
    res = _run("info", tmp_path / "priors.h5", "--json")
    desc = json.loads(res.stdout)
    assert desc["kind"] == "priors" and desc["datasets"]["embeddings"]["shape"] == [2, 1, 4]
    assert "summary" not in desc
    assert "embeddings" in _run("info", tmp_path / "priors.h5").stderr
    (tmp_path / "x.h5").write_text("hello")
    res = _run("info", tmp_path / "x.h5")
    assert res.exit_code == 1 and "not an HDF5 file" in res.stderr


def _one_line_error(res, *words):
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    for w in words:
        assert w in lines[0], lines[0]


def _ntu_damaged(tmp_path, rng, damage):
    root = tmp_path / "raw"
    write_ntu_dir(root, rng, NTU[:2])
    bad = root / "S001C001P001R001A009.skeleton"
    bad.write_text(damage(ntu_text(ntu_tracks((3, person(rng, 4), 0)))), newline="")
    return root, bad


NTU_CASES = [
    (lambda t: "\r\n".join(t.split("\r\n")[:40]) + "\r\n", ":41:", "file ends early"),
    (lambda t: t.replace("\r\n25\r\n", "\r\n20\r\n", 1), ":4:", "expected 25 joints"),
    (
        lambda t: t.replace("\r\n0.", "\r\nzero", 1).replace("\r\n-0.", "\r\nzero", 1),
        ":",
        "is not a finite number",
    ),
    (lambda t: '{"file_name": "x"}\n', ":1:", "expected the frame count"),
]


@pytest.mark.parametrize("damage, where, words", NTU_CASES)
def test_ntu_bad_file_one_line_error_and_skip_bad(tmp_path, rng, damage, where, words):
    root, bad = _ntu_damaged(tmp_path, rng, damage)
    out = tmp_path / "o.h5"
    res = _run("import", root, "-f", "ntu", "-o", out, "-j", 1)
    _one_line_error(res, f"{bad}{where}", words)
    assert not out.exists() and list(tmp_path.glob(".o.h5*")) == []
    res = _run("import", root, "-f", "ntu", "-o", out, "--skip-bad")
    assert res.exit_code == 0, res.output
    assert f"skipped {bad}" in res.stderr and words in res.stderr
    assert "skipped 1" in res.stderr
    assert len(read_skeletons(out)) == 2
    with h5py.File(out) as f:
        skipped = json.loads(f.attrs["config"])["skipped"]
    assert [s["path"] for s in skipped] == [str(bad)]


def _ucla_cases(tmp_path, rng):
    write_ucla_dir(tmp_path / "raw", rng)
    bad = tmp_path / "raw" / "a01_s09_e01_v01.json"
    return tmp_path / "raw", bad


@pytest.mark.parametrize(
    "content, where, words",
    [
        ('{"file_name": "a01_s09_e01_v01", "label": 1}', "", "missing key 'skeletons'"),
        ('{"skeletons": [[[1, 2, 3]]],\n "label": 1,\n}', ":3:", "not valid JSON"),
        ("S001\r\n1\r\n", ":1:", "not valid JSON"),
    ],
)
def test_ucla_bad_files(tmp_path, rng, content, where, words):
    root, bad = _ucla_cases(tmp_path, rng)
    bad.write_text(content)
    res = _run("import", root, "-f", "nw-ucla", "-o", tmp_path / "o.h5")
    _one_line_error(res, f"{bad}{where}", words)
    assert not (tmp_path / "o.h5").exists()


def test_msr_bad_files_and_skip_bad(tmp_path, rng):
    write_msr_dir(tmp_path / "raw", rng, ["a01_s01_e01", "a02_s02_e01"])
    bad = tmp_path / "raw" / "a03_s01_e01_skeleton3D.txt"
    bad.write_text(msr_text(person(rng, 2, v=20)).replace(" 1.000000", " high", 1))
    res = _run("import", tmp_path / "raw", "-f", "msr", "-o", tmp_path / "o.h5")
    _one_line_error(res, f"{bad}:1:", "'high' is not a finite number")
    res = _run("import", tmp_path / "raw", "-f", "msr", "-o", tmp_path / "o.h5", "--skip-bad")
    assert res.exit_code == 0 and len(read_skeletons(tmp_path / "o.h5")) == 2


def test_pyskl_npz_numpy_bad_files(tmp_path, rng):
    class Foreign:
        pass

    globals()["Foreign"] = Foreign  # picklable by reference, refused on load
    Foreign.__qualname__ = "Foreign"
    pkl = write_pickle(tmp_path / "a.pkl", {"annotations": [Foreign()]})
    _one_line_error(
        _run("import", pkl, "-f", "pyskl", "-o", tmp_path / "o.h5"),
        str(pkl),
        f"refusing to unpickle {__name__}.Foreign",  # tests.cli.test_data
    )
    pkl = write_pickle(tmp_path / "b.pkl", {"split": {}})
    _one_line_error(
        _run("import", pkl, "-f", "pyskl", "-o", tmp_path / "o.h5"),
        str(pkl),
        "missing key 'annotations'",
    )
    npz = tmp_path / "c.npz"
    np.savez(npz, x_train=np.zeros((1, 4, 75)))
    _one_line_error(
        _run("import", npz, "-f", "npz", "-o", tmp_path / "o.h5"),
        str(npz),
        "missing array 'y_train'",
    )
    _one_line_error(
        _run("import", pkl, "-f", "numpy", "-o", tmp_path / "o.h5"), str(pkl), "not an .npz archive"
    )
    assert not (tmp_path / "o.h5").exists()


def test_directory_problems_and_option_mistakes(tmp_path, rng):
    (tmp_path / "empty").mkdir()
    _one_line_error(
        _run("import", tmp_path / "empty", "-f", "msr", "-o", tmp_path / "o.h5"),
        str(tmp_path / "empty"),
        "no MSR Action3D skeleton files",
    )
    _one_line_error(
        _run("import", tmp_path / "nothing", "-f", "ntu", "-o", tmp_path / "o.h5"),
        "no such file or directory",
    )
    write_ucla_dir(tmp_path / "u", rng)
    _one_line_error(
        _run("import", tmp_path / "u", "-f", "ntu", "-o", tmp_path / "o.h5"),
        "no NTU RGB+D .skeleton files",
    )
    _one_line_error(
        _run("import", tmp_path / "u", "-f", "nw-ucla", "-o", tmp_path / "o.h5", "--no-file-list"),
        "--no-file-list applies to --format msr",
    )
    assert not (tmp_path / "o.h5").exists()


def test_show_is_listed_when_its_module_exists():
    res = CliRunner().invoke(cli, ["--help"])
    assert "import" in res.output and "info" in res.output
    if data_cmd._available("data_show"):
        assert "show" in res.output


@pytest.mark.integration
def test_real_ucla_and_msr_through_the_cli(tmp_path):
    ucla = shared_path("nw-ucla", "all_sqe")
    msr = shared_path("msr-action3d")
    for src, fmt, extra, n, splits in [
        (ucla, "nw-ucla", [], 1484, {"xview": (1020, 464)}),
        (
            msr,
            "msr",
            [],
            557,
            {"xsub": (284, 273), "as1": (114, 105), "as2": (116, 112), "as3": (111, 111)},
        ),
    ]:
        out = tmp_path / f"{fmt}{len(extra)}.h5"
        res = _run("import", src, "-f", fmt, "-o", out, "-j", 2, *extra)
        assert res.exit_code == 0, res.output
        summary = json.loads(_run("info", out, "--json").stdout)["summary"]
        assert summary["n"] == n
        if splits:
            got = {k: (v["train"], v["test"]) for k, v in summary["splits"].items()}
            assert got == splits
