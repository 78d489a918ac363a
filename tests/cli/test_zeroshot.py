"""`sugar zeroshot` through Click: registry listing, a full tiny run, reuse, user errors."""

from __future__ import annotations

import json

import h5py
import pytest
from click.testing import CliRunner

from sugar_cli.commands.eval import cli as eval_cli
from sugar_cli.commands.zeroshot import cli
from sugar_core.priors.store import write_priors
from sugar_core.skeleton.dataset import write_skeletons
from sugar_core.zeroshot.splits import SPLITS
from tests.helpers.zeroshot import tiny_config, tiny_data, tiny_priors

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_llm_dir):
    d = tmp_path_factory.mktemp("zs-cli")
    write_skeletons(tiny_data(), d / "data.h5")
    write_priors(tiny_priors(), d / "priors.h5")
    cfg = tiny_config(tiny_llm_dir).to_dict()
    cfg.pop("decodes")
    for key in ("frames", "max_bodies", "channels"):  # settings: the encoder decides these
        cfg["tokenize"]["prep"].pop(key)
    (d / "tiny.json").write_text(json.dumps({"tokenize": cfg["tokenize"], "align": cfg["align"]}))
    (d / "unseen.txt").write_text("sit down\nstand up\n")
    return d


def _invoke(args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_list_splits_table_and_json():
    out = _invoke(["--list-splits"])
    assert out.exit_code == 0
    assert "nw-ucla-ru5" in out.stdout and "1,3,4,6,8" in out.stdout
    rows = json.loads(_invoke(["--list-splits", "--json"]).stdout)
    assert {r["name"] for r in rows} == set(SPLITS)
    ru2 = next(r for r in rows if r["name"] == "nw-ucla-ru2")
    assert ru2["unseen"] == [1, 4] and ru2["num_seen"] == 8 and ru2["protocol"] == "purls"


def test_missing_inputs_is_a_usage_error(files):
    out = _invoke([files / "data.h5", "--priors", files / "priors.h5", "-o", files / "x.h5"])
    assert out.exit_code == 2 and "--unseen-split" in out.output


def test_full_run_then_reuse_then_eval(files):
    d = files
    common = [d / "data.h5", "--priors", d / "priors.h5", "--config", d / "tiny.json"]
    out = _invoke(
        [*common, "--unseen-split", d / "unseen.txt", "--decode", "rank", "--save-tokens",
         d / "tok.h5", "--save-aligned", d / "al.h5", "--json", "-o", d / "zs.h5"]
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    m = json.loads(out.stdout)
    assert m["unseen_split"] == "unseen" and m["protocol"] == "zeroshot/user"
    assert m["split"] == "xs"  # design.md: `split` names the data file's split (tiny set: xs)
    assert "unseen split unseen data split xs" in " ".join(out.stderr.split())  # the report
    assert m["unseen"] == ["sit down", "stand up"] and m["n"] == 6
    assert set(m["llm"]) == {"rank"} and {"top1", "top5"} <= set(m["baseline"])
    assert m["chance"] == {"top1": 0.5, "top5": 1.0}

    ev = CliRunner().invoke(eval_cli, [str(d / "zs.h5"), "--json"])
    assert ev.exit_code == 0, ev.output
    assert json.loads(ev.stdout)["top1"] == pytest.approx(m["top1"])

    # reuse: same unseen classes, both artifacts, generalised setting; no output path on stdout
    out2 = _invoke(
        [*common, "--unseen-split", d / "unseen.txt", "--decode", "rank", "--tokens", d / "tok.h5",
         "--aligned", d / "al.h5", "--gzsl", "-o", d / "zs2.h5"]
    )  # fmt: skip
    assert out2.exit_code == 0, out2.output
    assert out2.stdout.strip() == str(d / "zs2.h5")

    # reuse for unseen classes the encoder did see: refused, nothing written
    (d / "leaky.txt").write_text("pick up, sit down\n")
    out3 = _invoke(
        [*common, "--unseen-split", d / "leaky.txt", "--tokens", d / "tok.h5", "-o", d / "z3.h5"]
    )
    assert out3.exit_code == 1
    assert "tok.h5" in out3.output and "pick up" in out3.output
    assert "Traceback" not in out3.output and not (d / "z3.h5").exists()


@pytest.mark.parametrize(
    "extra, message, code",
    [
        (["--unseen-split", "nw-ucla-ru9"], "unknown unseen split", 1),
        (["--unseen-split", "nw-ucla-ru2"], "is for nw-ucla (10 classes)", 1),
        (["--unseen-split", "{bad}"], "bad.txt:2: unknown class 'moonwalk'", 1),
        (["--unseen-split", "{unseen}", "--save-aligned", "a.h5"], "needs --save-tokens", 2),
        (["--unseen-split", "{unseen}", "--aligned", "a.h5"], "--aligned needs --tokens", 1),
        (["--unseen-split", "{unseen}", "--config", "{badcfg}"], "badcfg.json:1: not JSON", 2),
    ],
)
def test_user_errors_are_one_line(files, extra, message, code):
    d = files
    (d / "bad.txt").write_text("sit down\nmoonwalk\n")
    (d / "badcfg.json").write_text("{tokenize: 1}")
    extra = [e.format(bad=d / "bad.txt", unseen=d / "unseen.txt", badcfg=d / "badcfg.json")
             for e in extra]  # fmt: skip
    out = _invoke([d / "data.h5", "--priors", d / "priors.h5", *extra, "-o", d / "e.h5"])
    assert out.exit_code == code, out.output
    assert message in out.output and "Traceback" not in out.output
    assert not (d / "e.h5").exists()


def test_cross_dataset_run(files):
    d = files
    write_skeletons(tiny_data(layout="ntu25", seed=4), d / "ntu.h5")
    out = _invoke(
        [d / "ntu.h5", "--priors", d / "priors.h5", "--config", d / "tiny.json", "--test-data",
         d / "data.h5", "--unseen-split", d / "unseen.txt", "--decode", "generate",
         "--match-encoder", "none", "--json", "-o", d / "cross.h5"]
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    m = json.loads(out.stdout)
    assert m["protocol"] == "zeroshot/user/cross-dataset" and m["eval_part"] == "all"
    assert m["n"] == 12 and set(m["llm"]) == {"generate"}
    with h5py.File(d / "cross.h5") as f:
        assert json.loads(f.attrs["config"])["match_encoder"] == "none"


@pytest.mark.parametrize(
    "settings, key",
    [
        ({"tokenize": {"epochz": 3}}, "tokenize.epochz"),
        ({"tokenize": {"prep": {"mirorr": 0.5}}}, "tokenize.prep.mirorr"),
        ({"align": {"bridge": {"kindd": "pool"}}}, "align.bridge.kindd"),
        ({"align": {"epochs": "two"}}, "align.epochs"),
    ],
)
def test_config_typo_in_a_section_is_refused_by_name(files, settings, key):
    d = files
    (d / "typo.json").write_text(json.dumps(settings))
    out = _invoke(
        [d / "data.h5", "--priors", d / "priors.h5", "--unseen-split", d / "unseen.txt",
         "--config", d / "typo.json", "-o", d / "typo.h5"]
    )  # fmt: skip
    assert out.exit_code == 2, out.output  # a settings mistake: usage, before any data is read
    assert key in out.output and "typo.json" in out.output
    assert "Traceback" not in out.output and not (d / "typo.h5").exists()


def test_set_reaches_nested_fields_and_named_options_win(files):
    from sugar_core.schema import open_file, root_info

    d = files
    out = _invoke(
        [d / "data.h5", "--priors", d / "priors.h5", "--config", d / "tiny.json",
         "--unseen-split", d / "unseen.txt", "--decode", "rank", "--no-baseline",
         "--set", "align.bridge.kind=pool", "--set", "tokenize.epochs=1",
         "--set", "align.epochs=3", "--align-epochs", "1", "-o", d / "set.h5"]
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    with open_file(d / "set.h5", "zeroshot") as f:
        cfg = root_info(f)["config"]
    assert cfg["align"]["bridge"]["kind"] == "pool"  # --set reached a nested align field
    assert cfg["tokenize"]["epochs"] == 1  # --set beats --config (2)
    assert cfg["align"]["epochs"] == 1  # the named option beats --set
    assert cfg["decodes"] == ["rank"] and cfg["baseline"] is False


def test_help_shows_the_config_defaults():
    from sugar_core.zeroshot.config import ZeroShotConfig

    text = " ".join(_invoke(["--help"]).output.split())
    default = ZeroShotConfig()
    assert f"Alignment epochs [default: {default.align.epochs}]" in text
    assert f"Encoder epochs [default: {default.tokenize.epochs}]" in text
    assert "[default: both]" in text


def test_estimate_is_printed_first_and_kept_unless_no_estimate(files):
    from sugar_core.predictions import read_predictions

    d = files
    common = [d / "data.h5", "--priors", d / "priors.h5", "--config", d / "tiny.json",
              "--unseen-split", d / "unseen.txt", "--decode", "rank", "--json"]  # fmt: skip
    out = _invoke([*common, "-o", d / "est.h5"])
    assert out.exit_code == 0, out.output
    line = next(x for x in out.stderr.splitlines() if "on this machine" in x)
    assert line.strip().startswith("zero-shot: about ") and "encoder " in line
    assert out.stderr.index("on this machine") < out.stderr.index("training on")
    m = json.loads(out.stdout)
    assert m["estimate"]["work"]["test_pairs"] == m["n"] * len(m["unseen"])
    assert set(m["estimate"]["parts"]) == {"encoder", "alignment", "scoring"}
    kept, _ = read_predictions(d / "est.h5")  # the file's record keeps it too
    assert kept.metrics["estimate"]["message"] == m["estimate"]["message"]

    out = _invoke([*common, "--no-estimate", "-o", d / "no-est.h5"])
    assert out.exit_code == 0, out.output
    assert "on this machine: encoder" not in out.output
    assert "estimate" not in json.loads(out.stdout)
