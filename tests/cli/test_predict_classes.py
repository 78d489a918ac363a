"""`sugar predict --class / --classes`: new classes on the candidate list, --json keys, the
no-prior note, --only-new, the priors cache, the chosen backend, and one-line errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sugar_cli.main import cli
from sugar_core.priors.backends.builtin import BuiltinBackend
from sugar_core.skeleton.export import write_numpy
from sugar_core.skeleton.synthetic import SYNTHETIC_CLASSES
from tests.helpers.predict_model import write_model

pytestmark = pytest.mark.usefixtures("one_thread")

KEYS = {"file", "sample_id", "class", "top5", "description", "new", "new_classes",
        "class_description", "baseline", "notes"}  # fmt: skip
WALK = "walk around: a person walks in a circle"  # a name the builtin texts know (NW-UCLA)
JUGGLE = "juggle three balls: hands toss balls in turn"  # a name no builtin text knows


@pytest.fixture(scope="module")
def model(tmp_path_factory, tiny_llm_dir, tiny_bert_dir):
    d = tmp_path_factory.mktemp("predict-classes")
    data, d = write_model(d, tiny_llm_dir, tiny_bert_dir)
    write_numpy(data.subset([0, len(data) - 1]), d / "two.npz")
    return d


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh sugar cache per test, so a cache hit is this test's own."""
    monkeypatch.setenv("SUGAR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def lookups(monkeypatch):
    """Every builtin lookup made during the test."""
    calls = []
    real = BuiltinBackend.lookup

    def counted(self, name):
        calls.append(name)
        return real(self, name)

    monkeypatch.setattr(BuiltinBackend, "lookup", counted)
    return calls


def _run(*args):
    return CliRunner().invoke(cli, ["predict", *map(str, args)])


def test_json_names_new_classes_with_the_baseline_and_notes(model, cache, tmp_path):
    mine = tmp_path / "mine.txt"
    mine.write_text(f"# mine\n{JUGGLE}\n")
    res = _run("--model", model / "aligned.h5", model / "two.npz", "--class", WALK,
               "--classes", mine, "--json", "--no-describe")  # fmt: skip
    assert res.exit_code == 0, res.output
    answers = json.loads(res.stdout)
    assert len(answers) == 2
    new = ["juggle three balls", "walk around"]  # the file's classes, then --class ones
    for a in answers:
        assert set(a) == KEYS
        assert a["new_classes"] == new and a["new"] == (a["class"] in new)
        assert len(a["top5"]) == 5
        for t in a["top5"]:
            assert t["class"] in (*SYNTHETIC_CLASSES, *new) and t["new"] == (t["class"] in new)
        base = a["baseline"]
        assert base["class"] == base["top5"][0]["class"] and base["new"] == (base["class"] in new)
        cos = [t["score"] for t in base["top5"]]
        assert cos == sorted(cos, reverse=True) and all(-1.0 <= c <= 1.0 for c in cos)
        assert len(a["notes"]) == 1 and "no prior for 'juggle three balls'" in a["notes"][0]
        assert "name and description only" in a["notes"][0]
    assert "note: no prior for 'juggle three balls'" in res.stderr


def test_only_new_ranks_only_the_given_classes(model, cache):
    res = _run("--model", model / "aligned.h5", model / "two.npz", "--class", WALK, "--class",
               JUGGLE, "--class", "waving", "--only-new", "--json", "--no-describe")  # fmt: skip
    assert res.exit_code == 0, res.output
    for a in json.loads(res.stdout):
        assert {t["class"] for t in a["top5"]} == {"walk around", "juggle three balls", "waving"}
        assert a["new_classes"] == ["walk around", "juggle three balls"]
        assert any("'waving' (--class) is one of the model's classes" in n for n in a["notes"])


def test_second_call_takes_the_priors_from_the_cache(model, cache, lookups, monkeypatch):
    from sugar_core.pipeline import class_priors

    args = ("--model", model / "aligned.h5", model / "two.npz", "--class", WALK, "--json",
            "--no-describe")  # fmt: skip
    first = _run(*args)
    assert first.exit_code == 0, first.output
    assert lookups  # the first call asked the backend
    assert list(cache.rglob("classes/*/*.h5"))
    lookups.clear()

    def no_load(spec):
        raise AssertionError("the text encoder was loaded on a cache hit")

    monkeypatch.setattr(class_priors, "load_text_encoder", no_load)
    second = _run(*args)
    assert second.exit_code == 0, second.output
    assert lookups == []  # no backend call
    assert json.loads(second.stdout) == json.loads(first.stdout)


def test_priors_backend_file_and_the_human_table(model, cache, tmp_path):
    texts = {
        "spin around": {
            "motion": {p: f"{p} turns" for p in ("head", "hand", "arm", "hip", "leg", "foot")},
            "visual": ["a person turns on the spot"],
            "description": "a person turns a full circle on the spot.",
        }
    }
    (tmp_path / "mine.json").write_text(json.dumps(texts))
    res = _run("--model", model / "aligned.h5", model / "two.npz", "--class", "spin around",
               "--priors-backend", "file", "--priors-descriptions", tmp_path / "mine.json",
               "--no-describe")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "note:" not in res.stderr  # the file had texts for it
    assert "baseline" in res.stderr and "1 new: spin around" in res.stderr
    assert len(res.stdout.strip().splitlines()) == 2


@pytest.mark.parametrize(
    "text, words",
    [
        ("wave\n: no name here\n", "bad.txt:2: no class name"),
        ("wave:\n", "bad.txt:1: nothing after ':'"),
        ("# only a comment\n", "bad.txt: no classes"),
    ],
)
def test_a_bad_class_file_is_one_line_naming_file_and_line(model, tmp_path, text, words):
    bad = tmp_path / "bad.txt"
    bad.write_text(text)
    res = _run("--model", model / "aligned.h5", model / "two.npz", "--classes", bad)
    assert res.exit_code == 1
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and words in err[0] and "Traceback" not in res.output
    assert res.stdout == ""


def test_usage_errors(model):
    res = _run("--model", model / "aligned.h5", model / "two.npz", "--only-new")
    assert res.exit_code == 2 and "--only-new needs classes" in res.output
    res = _run("--model", model / "aligned.h5", model / "two.npz", "--priors-backend", "hf")
    assert res.exit_code == 2 and "--priors-backend needs classes" in res.output
    res = _run("--model", model / "aligned.h5", model / "two.npz", "--class", "a", "--class", "A")
    assert res.exit_code == 1 and "'A' given twice (--class and --class)" in res.stderr


def test_help_shows_an_example_of_new_classes():
    res = CliRunner().invoke(cli, ["predict", "--help"])
    assert res.exit_code == 0
    assert "--classes my-classes.txt" in res.output and "--only-new" in res.output


def test_calibration_is_chosen_at_prediction_time(model, cache):
    """--calibration overrides the model's own; reference works on new names; a bad one is a
    usage error."""
    runs = {}
    for cal in (None, "none", "reference"):
        flags = ["--calibration", cal] if cal else []
        res = _run("--model", model / "aligned.h5", model / "two.npz", "--class", WALK,
                   "--json", "--no-describe", *flags)  # fmt: skip
        assert res.exit_code == 0, res.output
        runs[cal] = [[t["score"] for t in a["top5"]] for a in json.loads(res.stdout)]
    assert runs[None] == runs["none"]  # the model's own calibration is none
    assert runs["reference"] != runs["none"]  # scores minus the reference means
    res = _run("--model", model / "aligned.h5", model / "two.npz", "--calibration", "pmi")
    assert res.exit_code == 2 and "pmi" in res.output


def test_reference_calibration_shifts_each_baseline_class_by_one_constant(model, cache):
    """Under --calibration reference the baseline subtracts each class's mean cosine over the
    model's reference samples: the same shift for a class on every sample, a different one
    for different classes; under none it is the plain cosine."""
    runs = {}
    for cal in ("none", "reference"):
        res = _run("--model", model / "aligned.h5", model / "two.npz", "--class", WALK,
                   "--json", "--no-describe", "--calibration", cal)  # fmt: skip
        assert res.exit_code == 0, res.output
        runs[cal] = [a["baseline"] for a in json.loads(res.stdout)]
    shifts: dict[str, list] = {}
    for plain, shifted in zip(runs["none"], runs["reference"]):
        assert plain["calibration"] == "none" and shifted["calibration"] == "reference"
        cos = {t["class"]: t["score"] for t in plain["top5"]}
        for t in shifted["top5"]:
            if t["class"] in cos:
                shifts.setdefault(t["class"], []).append(cos[t["class"]] - t["score"])
    assert any(len(s) > 1 for s in shifts.values())  # a class seen on both samples
    assert all(max(s) - min(s) < 1e-5 for s in shifts.values())  # one constant per class
    firsts = sorted(s[0] for s in shifts.values())
    assert firsts[-1] - firsts[0] > 1e-3  # per class, not one shift for all
