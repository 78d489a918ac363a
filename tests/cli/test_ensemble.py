"""Streams end to end (tokenize stores the stream, reuse keeps it) and `sugar ensemble` on tiny
trained encoders: fitted on validation, given weights, refusals, read by `sugar eval`."""

import json
import shutil

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from sugar_cli.main import cli
from sugar_core import schema
from sugar_core.predictions import Predictions, read_predictions, write_predictions
from sugar_core.priors.store import write_priors
from sugar_core.skeleton.dataset import write_skeletons
from sugar_core.tokenize.store import load_encoder, read_tokens
from tests.helpers.tokenize import tiny_priors, tiny_set

TINY = ["--epochs", "1", "--batch-size", "6", "--set", "frames=8", "--set", "channels=[16,16]",
        "--set", "strides=[2,1]"]  # fmt: skip
SHARE = ["--set", 'validation="share:0.34"']


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _tokenize(d, name, *extra):
    out = d / f"{name}.h5"
    r = _run("tokenize", d / "data.h5", "--priors", d / "priors.h5", "--split", "xsub", "-o",
             out, *TINY, *extra)  # fmt: skip
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("ens")
    data = tiny_set(n=36, k=3)
    write_skeletons(data, d / "data.h5")
    write_priors(tiny_priors(data.class_names), d / "priors.h5")
    write_priors(tiny_priors(data.class_names, seed=5), d / "other-priors.h5")
    both = ["--objective", "both", *SHARE]
    _tokenize(d, "joint", *both)
    _tokenize(d, "bone-motion", *both, "--set", 'prep.stream="bone-motion"')
    _tokenize(d, "joint-motion", *SHARE, "--set", 'prep.stream="joint-motion"')  # mil-nce
    _tokenize(d, "subjects", "--objective", "both")  # validation auto: subjects on xsub
    return d


def test_the_stream_is_stored_and_every_reuse_of_the_encoder_keeps_it(files):
    from sugar_core.skeleton.dataset import read_skeletons
    from sugar_core.tokenize.encoding import encode

    ts = read_tokens(files / "bone-motion.h5")
    assert ts.encoder_config["prep"]["stream"] == "bone-motion"
    assert ts.encoder_config["in_channels"] == 3
    trained = load_encoder(files / "bone-motion.h5")
    assert trained.prep.stream == "bone-motion"
    again = files / "reused.h5"
    r = _run("tokenize", files / "data.h5", "--encoder", files / "bone-motion.h5", "-o", again)
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(read_tokens(again).features, ts.features, rtol=1e-4, atol=1e-5)
    assert read_tokens(again).encoder_config["prep"]["stream"] == "bone-motion"
    data = read_skeletons(files / "data.h5")  # the same encoder fed joints: other features
    joint = trained.prep.__class__(**{**trained.prep.to_dict(), "stream": "joint"})
    other = encode(data, trained.encoder, trained.heads, prep=joint)
    assert not np.allclose(other.features, ts.features, atol=1e-3)


def test_ensemble_fits_weights_on_validation_and_eval_reads_the_file(files):
    from sugar_core.tokenize.bank import split_parts
    from sugar_core.tokenize.config import TokenizeConfig

    out = files / "fused.h5"
    r = _run("ensemble", files / "joint.h5", files / "bone-motion.h5", files / "joint-motion.h5",
             "-o", out, "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["fitted"] and len(got["weights"]) == 3 and got["protocol"] == "ensemble"
    assert got["split"] == "xsub" and got["off_list_rate"] == 0.0  # design.md's metric keys
    assert [s["readout"] for s in got["sources"]] == ["ce", "ce", "probe"]  # no ce head: probe
    # the validation part is the one training carved, not a new one
    from sugar_core.skeleton.dataset import read_skeletons

    data = read_skeletons(files / "data.h5")
    _, val, _, _ = split_parts(data, "xsub", [0, 1, 2], TokenizeConfig(validation="share:0.34"))
    assert (
        got["validation"]["n"] == len(val) == read_tokens(files / "joint.h5").history[-1]["val_n"]
    )
    p, kind = read_predictions(out)
    assert kind == "ensemble" and len(p.labels) == 18
    cfg = json.loads(h5py.File(out, "r").attrs["config"])
    assert cfg["weights"] == got["weights"] and len(cfg["sources"]) == 3
    r = _run("eval", out, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["top1"] == pytest.approx(got["top1"])
    assert json.loads(r.stdout)["kind"] == "ensemble"


def test_given_weights_reproduce_the_sources_scores(files):
    from sugar_core.evaluate.ensemble import normalise
    from sugar_core.evaluate.sources import load_source

    out = files / "given.h5"
    a, b = files / "joint.h5", files / "bone-motion.h5"
    r = _run("ensemble", a, b, "--weights", "1,0.5", "--norm", "zscore", "-o", out)
    assert r.exit_code == 0, r.output
    sa, sb = load_source(a), load_source(b)
    hand = normalise(sa.test_scores, "zscore") + 0.5 * normalise(sb.test_scores, "zscore")
    ts = read_tokens(a)  # ce read-out: the head's logits of the pooled features
    w, bias = ts.head_state["cls.weight"].numpy(), ts.head_state["cls.bias"].numpy()
    test = ts.split_indices("xsub", "test")
    np.testing.assert_allclose(sa.test_scores, ts.features[test] @ w.T + bias, rtol=1e-4,
                               atol=1e-5)  # fmt: skip
    p, _ = read_predictions(out)
    assert p.pred.tolist() == hand.argmax(1).tolist()
    np.testing.assert_allclose(p.scores[:, :3], -np.sort(-hand, 1), rtol=1e-5, atol=1e-6)


def test_test_labels_decide_nothing(files, tmp_path):
    outs = []
    for tag in ("same", "changed"):
        paths = []
        for name in ("joint", "joint-motion"):
            path = tmp_path / f"{name}-{tag}.h5"
            shutil.copy(files / f"{name}.h5", path)
            if tag == "changed":
                with h5py.File(path, "r+") as f:
                    split = f["splits/xsub"][...]
                    labels = f["labels"][...]
                    labels[split == 0] = (labels[split == 0] + 1) % 3
                    f["labels"][...] = labels
            paths.append(path)
        r = _run("ensemble", *paths, "--readout", "probe", "-o", tmp_path / f"{tag}.h5", "--json")
        assert r.exit_code == 0, r.output
        outs.append(json.loads(r.stdout))
    assert outs[0]["weights"] == outs[1]["weights"]
    assert outs[0]["validation"] == outs[1]["validation"]


def _aligned(files, path, **change):
    """A hand-made aligned file over joint.h5's test part (rank scores, top-5 of 3 classes)."""
    ts = read_tokens(files / "joint.h5", weights=False)
    test = ts.split_indices("xsub", "test")
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(len(test), 3))
    order = np.argsort(-raw, 1)
    top5 = np.hstack([order, np.full((len(test), 2), -1)])
    scores = np.hstack([np.take_along_axis(raw, order, 1), np.zeros((len(test), 2))])
    kw = dict(labels=ts.labels[test], pred=order[:, 0], top5=top5, class_names=ts.class_names,
              sample_ids=[ts.sample_ids[i] for i in test], scores=scores.astype(np.float32),
              metrics={"split": "xsub", "decode": "rank"})  # fmt: skip
    kw.update(change)
    write_predictions(Predictions(**kw), path, "aligned")
    return path, raw


def test_aligned_files_join_with_given_weights_only(files, tmp_path):
    from sugar_core.evaluate.sources import load_source

    path, raw = _aligned(files, tmp_path / "aligned.h5")
    src = load_source(path)
    np.testing.assert_allclose(src.test_scores, raw, rtol=1e-6)  # all 3 classes were ranked
    r = _run("ensemble", files / "joint.h5", path, "-o", tmp_path / "f.h5")
    assert r.exit_code == 1 and "aligned.h5: no validation scores" in r.output
    assert "--weights" in r.output and "Traceback" not in r.output
    r = _run("ensemble", files / "joint.h5", path, "--weights", "1,1", "-o", tmp_path / "f.h5")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"metrics": {"split": "xview"}}, "split 'xview', but"),
        ({"class_names": ["action 0", "hop", "action 2"]}, "class 1 is 'hop'"),
    ],
)
def test_other_splits_and_classes_are_one_line_naming_the_file(files, tmp_path, change, message):
    path, _ = _aligned(files, tmp_path / "bad.h5", **change)
    r = _run("ensemble", files / "joint.h5", path, "--weights", "1,1", "-o", tmp_path / "f.h5")
    assert r.exit_code == 1 and message in r.output and "bad.h5" in r.output


def test_other_samples_are_refused_naming_the_first_one(files, tmp_path):
    ts = read_tokens(files / "joint.h5", weights=False)
    ids = [ts.sample_ids[i] for i in ts.split_indices("xsub", "test")]
    ids[4] = "stranger"
    path, _ = _aligned(files, tmp_path / "bad.h5", sample_ids=ids)
    r = _run("ensemble", files / "joint.h5", path, "--weights", "1,1", "-o", tmp_path / "f.h5")
    assert r.exit_code == 1 and "bad.h5: test sample 4 is 'stranger'" in r.output


def test_text_read_out_needs_the_priors_that_trained_it(files, tmp_path):
    a, b = files / "joint.h5", files / "joint-motion.h5"
    r = _run("ensemble", a, b, "--readout", "text", "-o", tmp_path / "f.h5")
    assert r.exit_code == 1 and "needs --priors" in r.output
    r = _run("ensemble", a, b, "--readout", "text", "--priors", files / "other-priors.h5", "-o",
             tmp_path / "f.h5")  # fmt: skip
    assert r.exit_code == 1 and "not the priors file that trained" in r.output
    r = _run("ensemble", a, b, "--readout", "text", "--priors", files / "priors.h5", "-o",
             tmp_path / "f.h5", "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert [s["readout"] for s in json.loads(r.stdout)["sources"]] == ["text", "text"]


def test_a_subject_validation_part_comes_from_the_file_or_the_data_file(files, tmp_path):
    import shutil

    import h5py

    a = files / "subjects.h5"
    rule = read_tokens(a, weights=False).history[-1]["validation"]
    assert rule.startswith("subjects:")
    # the tokens file records the rows its encoder validated on: no --data needed
    r = _run("ensemble", a, a, "-o", tmp_path / "f.h5", "--json")
    assert r.exit_code == 0, r.output
    recorded = json.loads(r.stdout)["validation"]
    # a file from before those rows: carved again from the subjects, which --data gives
    old = tmp_path / "old.h5"
    shutil.copy(a, old)
    with h5py.File(old, "a") as f:
        del f[schema.ENCODER_VALIDATION]
    r = _run("ensemble", old, old, "-o", tmp_path / "g.h5")
    assert r.exit_code == 1 and "--data" in r.output
    r = _run("ensemble", old, old, "--data", files / "data.h5", "-o", tmp_path / "g.h5", "--json")
    assert r.exit_code == 0, r.output
    carved = json.loads(r.stdout)["validation"]
    assert carved["rule"] == recorded["rule"] == rule
    assert carved == recorded  # the same rows, so the same counts and fitted weights


def test_bad_weights_and_help(files, tmp_path):
    r = _run("ensemble", files / "joint.h5", files / "bone-motion.h5", "--weights", "1",
             "-o", tmp_path / "f.h5")  # fmt: skip
    assert r.exit_code == 1 and "1 numbers for 2 sources" in r.output
    assert not (tmp_path / "f.h5").exists() and list(tmp_path.iterdir()) == []  # nothing written
    r = _run("ensemble", "--help")
    assert r.exit_code == 0 and "Examples:" in r.output and "sugar ensemble" in r.output


def test_random_sampling_trains_and_tta_is_stored_for_every_later_encoding(files, tmp_path):
    out = _tokenize(files, "augmented", "--set", "prep.random_sampling=true", "--set",
                    "prep.tta=3")  # fmt: skip
    prep = read_tokens(out, weights=False).encoder_config["prep"]
    assert prep["random_sampling"] is True and prep["tta"] == 3
    assert load_encoder(out).prep.tta == 3
    again = tmp_path / "again.h5"
    r = _run("tokenize", files / "data.h5", "--encoder", out, "-o", again)
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(read_tokens(again).features, read_tokens(out).features,
                               rtol=1e-4, atol=1e-5)  # fmt: skip


def test_best_read_out_is_chosen_per_file_on_validation(files, tmp_path):
    from sugar_core.evaluate.sources import load_source

    a, b = files / "joint.h5", files / "joint-motion.h5"
    pri = files / "priors.h5"
    r = _run("ensemble", a, b, "--readout", "best", "--priors", pri, "-o", tmp_path / "f.h5",
             "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    chosen = [s["readout"] for s in json.loads(r.stdout)["sources"]]
    for path, pick, names in ((a, chosen[0], ("ce", "text", "probe")), (b, chosen[1],
                              ("text", "probe"))):  # fmt: skip
        val = {}
        for name in names:
            s = load_source(path, name, pri)
            val[name] = float((s.val_scores.argmax(1) == s.val_labels).mean())
        assert pick == max(names, key=lambda n: (val[n], -names.index(n)))
    reused = files / "reused-best.h5"
    assert _run("tokenize", files / "data.h5", "--encoder", a, "-o", reused).exit_code == 0
    r = _run("ensemble", reused, b, "--readout", "best", "-o", tmp_path / "g.h5")
    assert r.exit_code == 1 and "chosen on the validation part" in r.output
