"""`sugar data import --format auto` on a user's class folders, `sugar data show` on 2D poses,
`sugar predict`'s reading of pose clips, and the README's "Bring your own data" commands run
on NW-UCLA clips laid out as a user would (integration)."""

from __future__ import annotations

import json
import re
import shlex
import time

import numpy as np
import pytest
from click.testing import CliRunner

from sugar_cli.main import cli
from sugar_core.pipeline.predict import read_inputs
from tests.conftest import REPO, shared_path
from tests.helpers.poses import from_kinect, write_mmpose, write_openpose


def _clip(rng, v: int = 25, t: int = 5) -> np.ndarray:
    xy = rng.uniform(100, 300, (1, t, v, 2))
    return np.round(np.concatenate([xy, rng.uniform(0.5, 1, (1, t, v, 1))], -1), 4)


def test_import_auto_says_what_it_found_and_show_draws_it(tmp_path, rng):
    for cls in ("wave", "clap"):
        for i in range(3):
            write_openpose(tmp_path / "clips" / cls / f"take{i}", _clip(rng))
    out = tmp_path / "mine.h5"
    res = CliRunner().invoke(
        cli, ["data", "import", str(tmp_path / "clips"), "--format", "auto", "-o", str(out),
              "--test-fraction", "0.34", "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "--format auto: openpose (OpenPose JSON, recognised in" in res.stderr
    summary = json.loads(res.stdout)
    assert summary["layout"] == "body25" and summary["classes"] == 2
    assert summary["splits"] == {"default": {"train": 4, "test": 2}}
    gif = tmp_path / "clip.gif"
    res = CliRunner().invoke(cli, ["data", "show", str(out), "--sample", "0", "-o", str(gif)])
    assert res.exit_code == 0, res.output
    assert gif.stat().st_size > 0 and "body25" in res.stderr


def test_import_mistakes_are_one_line(tmp_path, rng):
    write_openpose(tmp_path / "clips" / "wave" / "t", _clip(rng))
    args = ["data", "import", str(tmp_path / "clips"), "--format", "auto"]
    res = CliRunner().invoke(cli, [*args, "--test-fraction", "1.5", "-o", str(tmp_path / "x.h5")])
    assert res.exit_code != 0 and "--test-fraction must lie in (0, 1)" in res.output
    assert not (tmp_path / "x.h5").exists()
    (tmp_path / "clips" / "wave" / "t" / "t_000000000000_keypoints.json").write_text("{}")
    res = CliRunner().invoke(cli, ["data", "import", str(tmp_path / "clips"), "-f", "openpose",
                                   "-o", str(tmp_path / "x.h5")])  # fmt: skip
    assert res.exit_code != 0 and "expected an object with a 'people' list" in res.output


def test_predict_reads_pose_clips_by_content(tmp_path, rng):
    folder = write_openpose(tmp_path / "take", _clip(rng, v=18))
    mm = write_mmpose(tmp_path / "b.json", _clip(rng, v=17))
    raws = read_inputs([str(folder), str(mm)])
    assert [(r.fmt, r.layout) for r in raws] == [("openpose", "coco18"), ("mmpose", "coco17")]
    assert raws[0].samples[0].joints.shape == (1, 5, 18, 3)
    (raw,) = read_inputs([str(mm)], "auto")
    assert raw.fmt == "mmpose"


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Bring your own data") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    joined = block.replace("\\\n", " ")
    return [c.strip() for line in joined.splitlines() for c in line.split("&&") if c.strip()]


def _user_folder(root, per_class: int) -> tuple[list[str], object]:
    """NW-UCLA clips of three classes as MMPose files in class folders; one held back."""
    from sugar_core.skeleton.classes import NW_UCLA
    from sugar_core.skeleton.io import ReadOptions
    from sugar_core.skeleton.readers import ucla

    data = shared_path("nw-ucla", "all_sqe")
    names, written = [], []
    for action in (1, 4, 6):  # pick up with one hand, walk around, stand up
        name = NW_UCLA[ucla.ACTION_TO_LABEL[action] - 1]
        names.append(name)
        for f in sorted(data.glob(f"a{action:02d}_*.json"))[: per_class + 1]:
            s = ucla.parse(f, ReadOptions(), strict=True)
            path = root / "my-clips" / name / f"{s.sample_id}.json"
            written.append(write_mmpose(path, from_kinect(s.joints, "coco17", 2)))
    return names, written[-1].rename(root / "my-new-clip.json")  # a "stand up" clip, unseen


@pytest.mark.integration
def test_readme_commands_train_and_predict_a_user_folder(tmp_path, monkeypatch, tiny_llm_dir):
    from sugar_core.models import minilm_path

    if minilm_path() is None:
        pytest.skip("MiniLM package not installed")
    names, _ = _user_folder(tmp_path, per_class=12)
    monkeypatch.chdir(tmp_path)
    commands = _readme_commands()
    assert [c.split()[:2] for c in commands] == [["sugar", "data"], ["sugar", "priors"],
        ["sugar", "tokenize"], ["sugar", "align"], ["sugar", "predict"]]  # fmt: skip
    llm = ["--llm", str(tiny_llm_dir)]  # a tiny random LLM: the run is about the commands
    quick = {  # the README's commands, with the test's quick settings appended
        "tokenize": ["--config", "demo-fast", "--set", "epochs=30", "--json"],
        "align": ["--config", "demo-fast", "--set", "epochs=10", *llm],
        "predict": ["--no-describe", *llm],
    }
    t0 = time.perf_counter()
    for command in commands:
        # the folders carry NW-UCLA class names: the builtin texts stand in for SmolLM2's
        args = ["builtin" if a == "hf" else a for a in shlex.split(command)[1:]]
        res = CliRunner().invoke(cli, args + quick.get(args[0], []))
        assert res.exit_code == 0, (command, res.output)
        if args[0] == "tokenize":
            encoder = json.loads(res.stdout)
    seconds = time.perf_counter() - t0
    answer = res.stdout.strip().split("\t")
    assert answer[0] == "my-new-clip.json" and answer[1] in names
    res = CliRunner().invoke(cli, ["eval", "aligned.h5", "--json"])
    metrics = json.loads(res.stdout)
    print(f"custom folder: 3 classes, {metrics['n']} test clips, encoder text top-1 "
          f"{encoder['test_text_top1']:.2f}, aligned (tiny LLM) top-1 {metrics['top1']:.2f}, "
          f"{seconds:.0f} s, new clip named {answer[1]!r}")  # fmt: skip
    assert metrics["n"] >= 6 and 0.0 <= metrics["top1"] <= 1.0
