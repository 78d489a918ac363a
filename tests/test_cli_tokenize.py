import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from tokenize_helpers import tiny_priors, tiny_set

from sugar_cli.main import cli
from sugar_core.priors.store import write_priors
from sugar_core.skeleton.dataset import write_skeletons
from sugar_core.tokenset import read_tokens

FAST = ["--epochs", "1", "--batch-size", "6", "--eval-every", "1"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tok")
    data = tiny_set(n=12, k=3)
    write_skeletons(data, d / "data.h5")
    write_priors(tiny_priors(data.class_names), d / "priors.h5")
    write_skeletons(tiny_set(n=4, k=3, layout="ntu25"), d / "ntu.h5")
    return d


def test_cli_trains_writes_tokens_and_reuses_the_encoder(files):
    out = files / "t.h5"
    r = CliRunner().invoke(
        cli,
        [
            "tokenize",
            str(files / "data.h5"),
            "--priors",
            str(files / "priors.h5"),
            "--split",
            "xsub",
            "-o",
            str(out),
            "--objective",
            "both",
            *FAST,
        ],
    )
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == str(out)
    ts = read_tokens(out)
    assert len(ts) == 12 and ts.tokens[0].shape == (13, 128)  # small preset: T=52 -> Ls=13
    assert ts.train_split == "xsub" and len(ts.priors_sha256) == 64 and len(ts.history) == 1
    assert (files / "t.h5.run" / "checkpoint.pt").exists()
    again = files / "t2.h5"
    r = CliRunner().invoke(
        cli, ["tokenize", str(files / "data.h5"), "--encoder", str(out), "-o", str(again), "--json"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["ls"] == 13
    import numpy as np

    np.testing.assert_allclose(read_tokens(again).features, ts.features, rtol=1e-4, atol=1e-5)


def test_cli_errors_are_one_line(files):
    runner = CliRunner()
    r = runner.invoke(
        cli, ["tokenize", str(files / "data.h5"), "--split", "xsub", "-o", str(files / "x.h5")]
    )
    assert r.exit_code == 1 and "needs --priors" in r.output and "Traceback" not in r.output
    r = runner.invoke(
        cli,
        [
            "tokenize",
            str(files / "data.h5"),
            "--priors",
            str(files / "priors.h5"),
            "--split",
            "nope",
            "-o",
            str(files / "x.h5"),
            *FAST,
        ],
    )
    assert r.exit_code == 1 and "no split 'nope'" in r.output
    r = runner.invoke(
        cli,
        [
            "tokenize",
            str(files / "missing.h5"),
            "--priors",
            str(files / "priors.h5"),
            "--split",
            "xsub",
            "-o",
            str(files / "x.h5"),
        ],
    )
    assert r.exit_code == 1 and "missing.h5" in r.output
    assert not (files / "x.h5").exists()


def test_two_processes_gather_metrics_and_write_one_file(files, tmp_path):
    """accelerate launch --multi_gpu --num_processes 2 on CPU = two gloo processes."""
    out = tmp_path / "t.h5"
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "sugar_cli.main",
        "tokenize",
        str(files / "data.h5"),
        "--priors",
        str(files / "priors.h5"),
        "--split",
        "xsub",
        "-o",
        str(out),
        "--threads",
        "1",
        "--json",
        *FAST,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)
    assert summary["world_size"] == 2
    ts = read_tokens(out)
    h = ts.history[-1]
    # 6 training samples, 3 per process per epoch, counted from both; 6 test samples gathered
    assert h["world_size"] == 2 and h["n_train"] == 6 and h["val_n"] == 6
    assert "val_text_top1" in h and "val_ce_top1" not in h
    assert len(ts) == 12 and len({t.shape for t in ts.tokens}) == 1
    files_written = sorted(p.name for p in tmp_path.iterdir())
    assert files_written == ["t.h5", "t.h5.run"]
    assert sorted(p.name for p in (tmp_path / "t.h5.run").iterdir()) == ["checkpoint.pt"]
