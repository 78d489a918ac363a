"""Garbled sugar HDF5 files of every kind, and each stage's inputs: one error naming the file
(library: a SugarError; CLI: one ``Error:`` line, no traceback, no output file).

The raw readers are tests/fuzz/test_inputs.py.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.helpers.hostile import run_cli

RNG = np.random.default_rng(0)


def _nan_npz(path: Path) -> Path:
    """sugar's numpy format with every joint value NaN."""
    np.savez(path, joints=np.full((2, 1, 4, 20, 3), np.nan, np.float32), lengths=np.array([4, 3]),
             labels=np.array([0, 1]), class_names=np.array(["a", "b"]),
             layout=np.array("kinect20"))  # fmt: skip
    return path


# ---------------------------------------------------------------------------------------------
# HDF5 files of every kind, garbled


def _valid_h5(kind: str, path: Path) -> Path:
    from sugar_core.predictions import Predictions, write_predictions
    from sugar_core.priors.store import write_priors
    from sugar_core.skeleton.dataset import write_skeletons
    from sugar_core.tokenize.store import write_tokens
    from tests.helpers.align import synthetic_tokens
    from tests.helpers.tokenize import tiny_priors, tiny_set

    if kind == "skeletons":
        write_skeletons(tiny_set(n=6, k=3), path)
    elif kind == "priors":
        write_priors(tiny_priors(["a", "b", "c"]), path)
    elif kind == "tokens":
        write_tokens(synthetic_tokens(n_per_class=2), path)
    else:
        n = 4
        p = Predictions(np.arange(n) % 3, np.arange(n) % 3, np.full((n, 5), -1), ["a", "b", "c"],
                        [f"s{i}" for i in range(n)], metrics={"top1": 1.0})  # fmt: skip
        write_predictions(p, path, kind)
    return path


FLOATS = {"skeletons": "joints", "priors": "embeddings", "tokens": "tokens", "aligned": None,
          "zeroshot": None}  # fmt: skip
ATTR_DAMAGE = {"sugar_kind": 5, "schema_version": "abc", "seed": "x", "config": "{",
               "inputs": "[[", "created_utc": np.zeros(3)}  # fmt: skip


def _replace(f: h5py.File, name: str, data) -> None:
    del f[name]
    f.create_dataset(name, data=data)


def _garble(f: h5py.File, kind: str, damage: str) -> None:
    """Apply one named damage to an open sugar file of ``kind``."""
    from sugar_core import schema

    first = schema.KINDS[kind][0].name
    if damage.startswith("attr-"):
        f.attrs[damage[5:]] = ATTR_DAMAGE[damage[5:]]
    elif damage == "newer-schema":
        f.attrs["schema_version"] = 99
    elif damage == "missing":
        del f[first]
    elif damage == "wrong-dtype":  # numbers where strings belong, strings where numbers do
        wrong = np.zeros(f[first].shape) if schema.KINDS[kind][0].dtype == "S" else None
        _replace(f, first, wrong if wrong is not None else np.full(f[first].shape, b"x"))
    elif damage == "wrong-ndim":
        _replace(f, first, np.zeros((2, 2, 2, 2, 2), np.float32))
    elif damage == "nan":
        arr = f[FLOATS[kind]][...]
        arr.flat[3] = np.nan
        _replace(f, FLOATS[kind], arr)
    elif damage == "labels-out-of-range":
        _replace(f, "labels", f["labels"][...] + 50)
    elif damage == "offsets":
        name = "token_offsets" if kind == "tokens" else "offsets"
        _replace(f, name, f[name][...][::-1].copy())
    elif damage == "top5-one-column":
        _replace(f, "top5", f["pred"][...][:, None])
    elif damage == "metrics-not-json":
        del f["metrics"]
        f.create_dataset("metrics", data="{oops", dtype=h5py.string_dtype())


H5_DAMAGE = [f"attr-{a}" for a in ATTR_DAMAGE] + ["newer-schema", "missing", "wrong-dtype",
                                                  "wrong-ndim"]  # fmt: skip
H5_CASES = [(k, d) for k in FLOATS for d in H5_DAMAGE]
H5_CASES += [(k, "nan") for k, v in FLOATS.items() if v] + [
    ("skeletons", "labels-out-of-range"), ("skeletons", "offsets"), ("tokens", "offsets"),
    ("aligned", "top5-one-column"), ("zeroshot", "top5-one-column"),
    ("aligned", "labels-out-of-range"), ("aligned", "metrics-not-json"),
]  # fmt: skip
H5_CASES += [(k, d) for k in FLOATS for d in ("truncated", "garbage", "empty")]
CONTENT = ("nan", "labels-out-of-range", "offsets")


def _read(kind: str, path: Path) -> None:
    from sugar_core.predictions import read_predictions
    from sugar_core.priors.store import read_priors
    from sugar_core.skeleton.dataset import read_skeletons
    from sugar_core.tokenize.store import read_tokens

    {"skeletons": read_skeletons, "priors": read_priors, "tokens": read_tokens,
     "aligned": read_predictions, "zeroshot": read_predictions}[kind](path)  # fmt: skip


@pytest.mark.parametrize(("kind", "damage"), H5_CASES, ids=[f"{k}-{d}" for k, d in H5_CASES])
def test_garbled_sugar_files_are_one_error_naming_the_file(tmp_path, kind, damage):
    from sugar_core.errors import SugarError

    path = _valid_h5(kind, tmp_path / f"{kind}.h5")
    whole = path.read_bytes()
    if damage in ("truncated", "garbage", "empty"):
        cut = {"truncated": whole[: len(whole) // 2], "empty": b"",
               "garbage": whole[:8] + bytes(RNG.integers(0, 256, 4000, np.uint8))}  # fmt: skip
        path.write_bytes(cut[damage])
    else:
        with h5py.File(path, "r+") as f:
            _garble(f, kind, damage)
    with pytest.raises(SugarError, match=str(tmp_path)):
        _read(kind, path)
    if kind in ("aligned", "zeroshot"):
        run_cli("eval", path)
    elif damage not in CONTENT:  # `data info` describes a file without reading its arrays
        run_cli("data", "info", path)


# ---------------------------------------------------------------------------------------------
# each stage's input


def test_stage_inputs_with_nan_or_bad_settings_fail_before_any_work(tmp_path):
    data = _valid_h5("skeletons", tmp_path / "data.h5")
    priors = _valid_h5("priors", tmp_path / "priors.h5")
    nan_priors = _valid_h5("priors", tmp_path / "nan.h5")
    with h5py.File(nan_priors, "r+") as f:
        _garble(f, "priors", "nan")
    nan_tokens = _valid_h5("tokens", tmp_path / "tokens.h5")
    with h5py.File(nan_tokens, "r+") as f:
        _garble(f, "tokens", "nan")
    out = tmp_path / "out.h5"
    cases = [
        ["tokenize", data, "--priors", nan_priors, "--split", "xsub", "-o", out],
        ["tokenize", data, "--priors", priors, "--split", "xsub", "--lr", "nan", "-o", out],
        ["tokenize", data, "--priors", priors, "--split", "xsub", "--set", "lr=-1", "-o", out],
        ["align", nan_tokens, "--priors", priors, "-o", out],
        ["zeroshot", data, "--priors", nan_priors, "--unseen-split", "x", "-o", out],
        ["eval", data],
        ["predict", "--model", data, _nan_npz(tmp_path / "in.npz")],
    ]
    reasons = ["'embeddings': 1 value is not finite", "lr = nan; expected a number", "lr -1",
               "'tokens': 1 value is not finite", "'embeddings'", "expected 'aligned'",
               "joint values are not finite"]  # fmt: skip
    for args, reason in zip(cases, reasons):
        assert reason in run_cli(*args).replace("\n", ""), args
        assert not out.exists(), args
