import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from sugar_cli.main import cli
from sugar_core.priors.store import write_priors
from sugar_core.skeleton.dataset import write_skeletons
from sugar_core.tokenize.store import read_tokens
from tests.helpers.tokenize import tiny_priors, tiny_set

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
    # 6 training samples (a subject's held out for validation), counted from both processes;
    # validation and the 6 test samples gathered from both
    assert h["world_size"] == 2 and h["n_train"] + h["val_n"] == 6 and h["test_n"] == 6
    assert "val_text_top1" in h and "val_ce_top1" not in h
    assert len(ts) == 12 and len({t.shape for t in ts.tokens}) == 1
    files_written = sorted(p.name for p in tmp_path.iterdir())
    assert files_written == ["t.h5", "t.h5.run"]
    assert sorted(p.name for p in (tmp_path / "t.h5.run").iterdir()) == ["checkpoint.pt"]


def _config_of(path) -> dict:
    import h5py

    from sugar_core import schema

    with h5py.File(path, "r") as f:
        return schema.root_info(f)["config"]


def test_config_file_set_and_options_layer_in_that_order(files, tmp_path):
    conf = tmp_path / "train.json"
    conf.write_text(json.dumps({"epochs": 3, "dropout": 0.1, "prep": {"mirror": 0.5}}))
    out = tmp_path / "t.h5"
    args = ["tokenize", str(files / "data.h5"), "--priors", str(files / "priors.h5")]
    args += ["--split", "xsub", "-o", str(out), "--config", str(conf), "--batch-size", "6"]
    args += ["--set", "epochs=2", "--set", "prep.body_scale=true", "--set", "text_mix=pick"]
    r = CliRunner().invoke(cli, [*args, "--epochs", "1"])
    assert r.exit_code == 0, r.output
    c = _config_of(out)
    assert c["epochs"] == 1 and len(read_tokens(out).history) == 1  # option beats --set
    assert c["dropout"] == 0.1 and c["prep"]["mirror"] == 0.5  # from the file
    assert c["prep"]["body_scale"] is True and c["text_mix"] == "pick"  # from --set
    assert read_tokens(out).encoder_config["prep"]["body_scale"] is True


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--set", "epoch=2"], "unknown setting(s) epoch; known: preset"),
        (["--set", "prep.mirrors=0.5"], "unknown setting(s) prep.mirrors"),
        (["--set", "epochs=two"], "epochs = 'two'; expected a whole number"),
        (["--set", "prep.scale=[1]"], "prep.scale = [1]; expected a list of 2 numbers"),
        (["--set", "prep.frames=30"], "prep.frames follows the encoder; set frames"),
        (["--set", "dropout"], "--set 'dropout': expected KEY=VALUE"),
        (["--set", "epochs.x=1"], "epochs = {'x': 1}; expected a whole number"),
        (["--set", "epochs=3", "--set", "epochs.x=1"], "'epochs' is not an object of settings"),
        (["--set", "objective=rank"], "objective 'rank'; expected one of"),
    ],
)
def test_bad_settings_are_one_line_errors(files, tmp_path, extra, message):
    out = tmp_path / "x.h5"
    args = ["tokenize", str(files / "data.h5"), "--priors", str(files / "priors.h5")]
    r = CliRunner().invoke(cli, [*args, "--split", "xsub", "-o", str(out), *extra])
    assert r.exit_code == 2, r.output  # settings mistakes are usage errors
    assert message in r.output and "Traceback" not in r.output
    assert not out.exists()


def test_bad_config_files_name_the_file_and_line(files, tmp_path):
    args = ["tokenize", str(files / "data.h5"), "--priors", str(files / "priors.h5")]
    args += ["--split", "xsub", "-o", str(tmp_path / "x.h5"), "--config"]
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "epochs": 2,\n  "dropout": oops\n}\n')
    r = CliRunner().invoke(cli, [*args, str(broken)])
    assert r.exit_code == 2 and f"{broken}:3: not JSON" in r.output
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    r = CliRunner().invoke(cli, [*args, str(listed)])
    assert r.exit_code == 2 and "expected a JSON object of settings" in r.output
    typed = tmp_path / "typed.json"
    typed.write_text('{"prep": {"view_normalise": "yes"}}')
    r = CliRunner().invoke(cli, [*args, str(typed)])
    assert r.exit_code == 2
    assert f"{typed}: prep.view_normalise = 'yes'; expected true or false" in r.output
    r = CliRunner().invoke(cli, [*args, str(tmp_path / "absent.json")])
    assert r.exit_code == 2 and f"{tmp_path / 'absent.json'}: no such file" in r.output


def test_training_settings_with_encoder_are_refused(files, tmp_path):
    r = CliRunner().invoke(
        cli,
        ["tokenize", str(files / "data.h5"), "--encoder", str(files / "data.h5")]
        + ["-o", str(tmp_path / "x.h5"), "--set", "dropout=0.2", "--epochs", "3"],
    )
    assert r.exit_code == 2 and "--encoder reuses a trained encoder" in r.output
    assert "--epochs" in r.output and "--set" in r.output


def test_cli_structured_tokens_and_the_part_loss(files, tmp_path):
    from tests.tokenize.test_structured_tokens import _part_priors

    data = str(files / "data.h5")
    args = ["tokenize", data, "--split", "xsub", *FAST, "--set", "token_layout=time-parts"]
    r = CliRunner().invoke(cli, [*args, "--priors", str(files / "priors.h5"),
                                 "-o", str(tmp_path / "parts.h5")])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert read_tokens(tmp_path / "parts.h5").tokens[0].shape == (13 * 6, 128)  # Ls = T_s x 6
    # the part loss needs each part's motion text: refused cleanly without them ...
    weighted = [*args, "--set", "part_weight=0.5", "--priors"]
    r = CliRunner().invoke(cli, [*weighted, str(files / "priors.h5"), "-o", str(tmp_path / "n.h5")])
    assert r.exit_code != 0 and "motion:" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "n.h5").exists()
    # ... and trained with them
    names = read_tokens(tmp_path / "parts.h5", weights=False).class_names
    write_priors(_part_priors(names, dim=16), tmp_path / "part-priors.h5")
    r = CliRunner().invoke(cli, [*weighted, str(tmp_path / "part-priors.h5"), "-o",
                                 str(tmp_path / "p.h5")])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "part_nce" in read_tokens(tmp_path / "p.h5").history[-1]
