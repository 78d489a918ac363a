"""`sugar priors` (generation) and `sugar priors show`, through the real CLI entry point."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from sugar_cli.main import cli
from sugar_core.priors.store import read_priors
from sugar_core.skeleton.classes import NW_UCLA
from sugar_core.skeleton.dataset import Sample, SkeletonSet, write_skeletons
from tests.helpers.backends import FakeServer
from tests.helpers.encoders import tiny_clip_vision, write_frames

SECRET = "sk-cli-SECRET-abcdef-0987"


pytestmark = pytest.mark.usefixtures("one_thread")


def run(*args, input=None, env=None):
    return CliRunner().invoke(cli, ["priors", *map(str, args)], input=input, env=env)


def tiny_ucla(path):
    rng = np.random.default_rng(0)
    samples = [
        Sample(rng.standard_normal((1, 5, 20, 3)).astype(np.float32), i % 10, f"s{i}")
        for i in range(10)
    ]
    write_skeletons(SkeletonSet(samples, list(NW_UCLA), "kinect20", source="nw-ucla"), path)
    return path


def test_builtin_from_a_data_file_then_show(tmp_path, tiny_bert_dir):
    data = tiny_ucla(tmp_path / "ucla.h5")
    out = tmp_path / "p.h5"
    r = run(
        "--classes-from", data, "--backend", "builtin", "--text-encoder", tiny_bert_dir, "-o", out
    )
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == str(out)
    assert "10 classes from builtin:nw-ucla" in r.stderr
    p = read_priors(out)
    assert p.class_names == list(NW_UCLA) and p.embeddings.shape == (10, p.mask.shape[1], 16)

    shown = run("show", out, "--class", "walk around")
    assert shown.exit_code == 0, shown.output
    assert "motion:foot" in shown.stdout and "walk around" in shown.stdout
    assert "throw" not in shown.stdout
    js = json.loads(run("show", out, "--json").stdout)
    assert [c["name"] for c in js["classes"]] == list(NW_UCLA)
    assert js["classes"][3]["texts"][0]["kind"] == "motion" and js["dim"] == 16
    bad = run("show", out, "--class", "fly")
    assert bad.exit_code == 1 and "no entry for class(es) ['fly']" in bad.stderr


def test_class_list_from_stdin_and_json_summary(tmp_path, tiny_bert_dir):
    out = tmp_path / "p.h5"
    r = run(
        "--classes", "-", "--text-encoder", tiny_bert_dir, "-o", out, "--json",
        input="throw\n# a comment\n\nsit down\n",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["classes"] == 2 and summary["sources"]["motion"] == "builtin"
    assert read_priors(out).class_names == ["throw", "sit down"]


def test_openai_run_caches_replays_offline_and_never_stores_the_key(tmp_path, tiny_bert_dir):
    out, again, cache = tmp_path / "p.h5", tmp_path / "again.h5", tmp_path / "cache"
    common = ["--classes-list", "nw-ucla", "--backend", "openai", "--model", "fake",
              "--text-encoder", tiny_bert_dir, "--cache-dir", cache]  # fmt: skip
    with FakeServer() as srv:
        r = run(*common, "--base-url", srv.url, "-o", out, env={"OPENAI_API_KEY": SECRET})
        url = srv.url
    assert r.exit_code == 0, r.output
    assert len(srv.requests) == 30  # 10 classes x (motion, visual, description)
    assert all(q["headers"]["Authorization"] == f"Bearer {SECRET}" for q in srv.requests)
    p = read_priors(out)
    assert p.sources["motion"] == "generated" and p.texts[8, 1] == "head looks toward the throw"
    files = [f for f in cache.rglob("*") if f.is_file()]
    assert len(files) == 30
    for f in [*files, out]:
        assert SECRET.encode() not in f.read_bytes(), f
    assert SECRET not in r.stdout + r.stderr

    # the server is gone and no key is set: --offline replays the same texts
    r2 = run(*common, "--base-url", url, "--offline", "-o", again, env={"OPENAI_API_KEY": None})
    assert r2.exit_code == 0, r2.output
    np.testing.assert_array_equal(read_priors(again).texts, p.texts)

    # a class never asked for is a clear miss, and nothing is written
    miss = tmp_path / "miss.h5"
    r3 = run("--classes-list", "msr", *common[2:], "--base-url", url, "--offline", "-o", miss)
    assert r3.exit_code == 1
    assert "--offline: no cached answer for class 'high arm wave'" in r3.stderr
    assert "Traceback" not in r3.output and not miss.exists()


def test_openai_with_videos_describes_kept_frames(tmp_path, tiny_bert_dir):
    clip = tiny_clip_vision()
    clip.model.save_pretrained(tmp_path / "clip")
    clip.processor.save_pretrained(tmp_path / "clip")
    videos = tmp_path / "videos"
    write_frames(videos / "throw" / "v1", [(250, 0, 0), (0, 250, 0), (0, 0, 250), (9, 9, 9)])
    write_frames(videos / "walk_around" / "v1", [(100, 100, 0), (0, 100, 100)])
    out = tmp_path / "p.h5"
    with FakeServer() as srv:
        r = run("--classes-list", "nw-ucla", "--backend", "openai", "--model", "vlm",
                "--base-url", srv.url, "--videos", videos, "--clip", tmp_path / "clip",
                "--visual-k", 2, "--text-encoder", tiny_bert_dir,
                "--cache-dir", tmp_path / "cache", "-o", out)  # fmt: skip
    assert r.exit_code == 0, r.output
    images = [q for q in srv.requests if isinstance(q["body"]["messages"][0]["content"], list)]
    assert len(images) == 4  # two kept frames for each of the two classes with videos
    p = read_priors(out)
    per = p.sources["per_class"]
    assert per["throw"]["visual"] == per["walk around"]["visual"] == "video"
    assert per["sit down"]["visual"] == "text" and p.sources["visual"] == "mixed"
    row = p.class_names.index("throw")
    assert p.texts[row, p.columns("visual")[0]].startswith("A person is shown doing throw")
    assert str(videos) in json.dumps(read_inputs(out))


def read_inputs(path):
    from sugar_core import schema

    with schema.open_file(path) as f:
        return schema.root_info(f)["inputs"]


def test_hf_gibberish_fails_by_class_unless_fallback(tmp_path, tiny_bert_dir, tiny_llm_dir):
    out = tmp_path / "p.h5"
    common = ["--classes-list", "nw-ucla", "--backend", "hf", "--model", tiny_llm_dir,
              "--max-new-tokens", 6, "--retries", 1, "--text-encoder", tiny_bert_dir,
              "--cache-dir", tmp_path / "cache", "-o", out]  # fmt: skip
    r = run(*common)
    assert r.exit_code == 1 and not out.exists()
    assert "motion answers from hf:" in r.stderr and "after 2 tries for 10 of 10" in r.stderr
    assert "'pick up with one hand'" in r.stderr and "--allow-fallback builtin" in r.stderr
    r = run(*common, "--allow-fallback", "builtin")
    assert r.exit_code == 0, r.output
    assert "builtin texts used for 10" in r.stderr and "s per class" in r.stderr
    assert read_priors(out).sources["motion"] == "builtin-fallback"


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["-o", "x.h5"], 1, "give exactly one class source"),
        (["--classes-list", "msr", "--classes", "-", "-o", "x.h5"], 1, "exactly one"),
        (["--classes-list", "msr"], 2, "missing -o/--output"),
        (["--classes-list", "nope", "-o", "x.h5"], 2, "'nope' is not one of"),
        (["--classes", "/no/such.txt", "-o", "x.h5"], 1, "/no/such.txt: no such class-list"),
        (["--classes-from", "/no/data.h5", "-o", "x.h5"], 1, "/no/data.h5: no such file"),
        (["-o", "x.h5", "show", "p.h5"], 2, "write: sugar priors show"),
        (["--classes-list", "msr", "--backend", "openai", "-o", "x.h5"], 1, "needs --model"),
    ],
)
def test_user_mistakes_are_one_line_errors(tmp_path, args, code, message):
    r = CliRunner().invoke(cli, ["priors", *args])
    assert r.exit_code == code, r.output
    assert message in r.output and "Traceback" not in r.output


def test_unknown_class_with_builtin_suggests_a_name(tmp_path, tiny_bert_dir):
    names = tmp_path / "names.txt"
    names.write_text("walk arround\n")
    r = run("--classes", names, "--text-encoder", tiny_bert_dir, "-o", tmp_path / "p.h5")
    assert r.exit_code == 1 and "'walk arround' (close: ['walk around'" in r.stderr


def test_help_forms():
    r = CliRunner().invoke(cli, ["priors", "--help"])
    assert r.exit_code == 0 and "Examples:" in r.output and "sugar priors show" in r.output
    assert r.output.splitlines()[2].strip().startswith("Write motion and visual text priors")
    assert "Commands:\n  show  Print the texts of a priors file" in r.output  # the subcommand
    assert "[required, but for `show`]" in " ".join(r.output.split())  # -o, as other commands
    bare = CliRunner().invoke(cli, ["priors"])
    assert "Usage:" in bare.output and bare.output == r.output  # no arguments: the whole help
