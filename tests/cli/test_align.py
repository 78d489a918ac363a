import json

import h5py
import pytest
from click.testing import CliRunner

from sugar_cli.main import cli
from sugar_core import schema
from sugar_core.align.config import CALIBRATIONS
from sugar_core.errors import ConfigError
from sugar_core.predictions import read_predictions
from sugar_core.priors.store import write_priors
from sugar_core.tokenize.store import write_tokens
from tests.helpers.align import synthetic_priors, synthetic_tokens

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_llm_dir):
    d = tmp_path_factory.mktemp("align-cli")
    write_tokens(synthetic_tokens(), d / "tokens.h5")
    write_priors(synthetic_priors(), d / "priors.h5")
    return d, tiny_llm_dir


def _args(d, llm, *extra):
    return [
        "align", str(d / "tokens.h5"), "--priors", str(d / "priors.h5"), "--llm", str(llm),
        "--queries", "3", "--chunk", "4", "--width", "16", "--heads", "2", "--lora-r", "4",
        "--epochs", "1", "--max-new-tokens", "6", "--max-description-tokens", "6", *extra,
    ]  # fmt: skip


def test_align_writes_an_aligned_file_and_prints_its_path(files):
    d, llm = files
    out = d / "aligned.h5"
    res = CliRunner().invoke(cli, _args(d, llm, "-o", str(out)))
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(out)
    p, kind = read_predictions(out)
    assert kind == "aligned" and len(p.labels) == 16 and (p.pred >= 0).all()
    assert p.metrics["split"] == "xview" and 0 <= p.metrics["top1"] <= 1
    assert len(p.description) == 16 and p.raw_text[0].startswith("{")
    ev = CliRunner().invoke(cli, ["eval", str(out), "--json"])
    assert ev.exit_code == 0 and json.loads(ev.stdout)["n"] == 16


def test_generate_with_json_and_no_lora(files, monkeypatch):
    import sugar_cli.commands.align as align_cmd

    asked = []  # (spec, the matcher it gave) of each embedding matcher the command made

    def spy(spec, *rest, real=align_cmd.embedder):
        asked.append((spec, real(spec, *rest)))
        return asked[-1][1]

    monkeypatch.setattr(align_cmd, "embedder", spy)
    d, llm = files
    out = d / "gen.h5"
    extra = ["--decode", "generate", "--no-lora", "--json", "--match-encoder", "none"]
    res = CliRunner().invoke(cli, _args(d, llm, *extra, "-o", str(out)))
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)
    assert m["decode"] == "generate" and m["n"] == 16 and 0 <= m["off_list_rate"] <= 1
    with h5py.File(out) as f:
        stored = json.loads(f.attrs["config"])
        lora_tensors = len(f[schema.WEIGHTS][schema.LORA])
    assert stored["llm"]["lora"] is False and stored["decode"] == "generate"
    assert stored["match_encoder"] == "none"  # the file says which matcher named its answers
    assert lora_tensors == 0  # no adapter trained or stored
    # --match-encoder reaches the matcher, which is none, so no answer is matched by embedding
    assert asked == [("none", None)]
    assert "embedding" not in read_predictions(out)[0].metrics["match_rules"]


@pytest.mark.parametrize(
    "extra, message, code",
    [
        (["--split", "xsub"], "no split 'xsub'", 1),
        (["--resume"], "--resume needs --run-dir", 1),
        (["--lora-targets", "nope_proj"], "LoRA targets", 1),
        (["--heads", "3"], "not divisible", 2),  # a settings mistake: usage, before any read
    ],
)
def test_user_mistakes_give_one_line_and_no_file(files, extra, message, code):
    d, llm = files
    out = d / "bad.h5"
    res = CliRunner().invoke(cli, _args(d, llm, *extra, "-o", str(out)))
    assert res.exit_code == code, res.output
    assert message in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_calibration_auto_is_chosen_on_validation_and_reported(files):
    d, llm = files
    out = d / "cal.h5"
    res = CliRunner().invoke(cli, _args(d, llm, "--calibration", "auto", "--no-describe",
                                        "--json", "-o", str(out)))  # fmt: skip
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)
    assert m["calibration"] in CALIBRATIONS
    assert abs(sum(m["prior_share"].values()) - 1) < 1e-6
    with h5py.File(out) as f:
        last = schema.read_json(f, schema.ALIGN_HISTORY)[-1]
        stored = f.attrs["calibration"]
    rec = last["calibration"]  # align/validation.py judge: chosen on the validation rows
    assert rec["val_n"] == last["val_n"] > 0
    scores = rec["val_top1"]  # every candidate's validation top-1 (all inputs are there)
    assert set(scores) == set(CALIBRATIONS) and all(0 <= v <= 1 for v in scores.values())
    best = max(CALIBRATIONS, key=lambda k: (scores[k], -CALIBRATIONS.index(k)))
    assert rec["chosen"] == best == m["calibration"] == stored  # the one reported and kept


def test_missing_tokens_file_names_it(files):
    d, llm = files
    res = CliRunner().invoke(cli, ["align", str(d / "nope.h5"), "--priors", str(d / "priors.h5"),
                                   "-o", str(d / "x.h5")])  # fmt: skip
    assert res.exit_code == 1 and "nope.h5: no such file" in res.output


def test_help_has_examples():
    res = CliRunner().invoke(cli, ["align", "--help"])
    assert res.exit_code == 0 and "Examples:" in res.output and "--no-lora" in res.output


def test_set_reaches_settings_without_an_option(files):
    d, llm = files
    out = d / "set.h5"
    items = ["warmup=0.2", "bridge.dropout=0.1", "llm.lora_dropout=0.05"]
    items += ['llm.lora_targets=["q_proj"]']  # a list, as JSON
    sets = [arg for item in items for arg in ("--set", item)]
    res = CliRunner().invoke(cli, _args(d, llm, *sets, "-o", str(out)))
    assert res.exit_code == 0, res.output
    with h5py.File(out) as f:
        stored = json.loads(f.attrs["config"])
    assert stored["warmup"] == 0.2 and stored["bridge"]["dropout"] == 0.1
    assert stored["llm"]["lora_dropout"] == 0.05 and stored["llm"]["lora_targets"] == ["q_proj"]
    assert stored["bridge"]["queries"] == 3  # the named option still counts


@pytest.mark.parametrize(
    "sets, message",
    [
        (["--set", "warmupp=0.1"], "--set / options: unknown setting(s) warmupp"),
        (["--set", "bridge.kindd=pool"], "unknown setting(s) bridge.kindd"),
        (["--set", "grad_accum=two"], "grad_accum = 'two'; expected a whole number"),
        (["--set", "llm.lora=maybe"], "llm.lora = 'maybe'; expected true or false"),
        (["--set", "precision=fp16"], "unknown precision 'fp16'"),
        (["--set", "epochs"], "expected KEY=VALUE"),
    ],
)
def test_bad_set_items_give_one_line_and_no_file(files, sets, message):
    d, llm = files
    out = d / "bad-set.h5"
    res = CliRunner().invoke(cli, _args(d, llm, *sets, "-o", str(out)))
    assert res.exit_code == 2, res.output  # settings mistakes are usage errors
    assert message in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_named_options_win_over_set_which_wins_over_config(tmp_path):
    from sugar_cli.commands.align import _config

    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"epochs": 5, "lr": 0.5, "bridge": {"kind": "pool", "width": 32}}))
    named = dict.fromkeys(("queries", "lora", "lora_targets", "llm"))  # options not given
    cfg = _config(path, ("epochs=4", "bridge.width=64"), {**named, "epochs": 3})
    assert (cfg.epochs, cfg.lr, cfg.bridge.kind, cfg.bridge.width) == (3, 0.5, "pool", 64)
    assert cfg.bridge.queries == 16 and cfg.llm.lora and cfg.llm.spec == "smollm2"  # defaults
    with pytest.raises(ConfigError, match=f"--config {path} / --set: unknown setting"):
        _config(path, ("nope=1",), named)
    recipe = _config("nwucla", ("bridge.width=32",), named)  # its align section
    assert (recipe.bridge.kind, recipe.llm.prompt) == ("pool", "list-first")
    assert recipe.bridge.width == 32
