"""`sugar predict`: raw files in every layout, the same answers as the stored tokens, JSON,
moved and foreign tokens files, and one-line errors for bad input."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from sugar_cli.main import cli
from sugar_core.errors import ConfigError
from sugar_core.pipeline.predict import guess_format
from sugar_core.skeleton.export import write_numpy
from sugar_core.skeleton.layouts import convert
from sugar_core.skeleton.synthetic import SYNTHETIC_CLASSES, make_synthetic
from tests.helpers.readers import msr_text, ntu_text, ntu_tracks

JSON_KEYS = {"file", "sample_id", "class", "top5", "description"}


pytestmark = pytest.mark.usefixtures("one_thread")


def _priors(dim: int = 8):
    from sugar_core.priors.store import Priors

    rng = np.random.default_rng(0)
    k = len(SYNTHETIC_CLASSES)
    emb = rng.normal(size=(k, 2, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=-1, keepdims=True)
    return Priors(
        class_names=list(SYNTHETIC_CLASSES),
        texts=np.array([[f"{c} motion", f"{c} look"] for c in SYNTHETIC_CLASSES], dtype=object),
        text_kinds=["motion", "visual"],
        embeddings=emb,
        mask=np.ones((k, 2), dtype=bool),
        descriptions=[f"a person does {c}." for c in SYNTHETIC_CLASSES],
        encoder_id="tiny",
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_llm_dir):
    """A tiny encoder (kinect20) and alignment trained on the synthetic set, saved as files."""
    from sugar_core.align.config import AlignConfig, BridgeConfig, LLMConfig
    from sugar_core.align.inference import predict
    from sugar_core.align.store import save_aligned
    from sugar_core.align.training import train_alignment
    from sugar_core.predictions import Predictions
    from sugar_core.priors.store import write_priors
    from sugar_core.schema import input_record
    from sugar_core.tokenize.config import TokenizeConfig
    from sugar_core.tokenize.encoding import encode
    from sugar_core.tokenize.store import write_tokens
    from sugar_core.tokenize.training import train_encoder

    d = tmp_path_factory.mktemp("predict")
    data = make_synthetic(n_per_class=4, subjects=2, seed=0, layout="kinect20")
    priors = _priors()
    tok = TokenizeConfig(frames=12, channels=(8, 8), strides=(2, 2), epochs=1, batch_size=8,
                         probe="none", warmup_epochs=0)  # fmt: skip
    enc, heads, hist = train_encoder(data, priors, tok, "xsub")
    ts = encode(data, enc, heads, prep=tok.prep, history=hist, train_split="xsub")
    write_priors(priors, d / "priors.h5")
    write_tokens(ts, d / "tokens.h5")
    cfg = AlignConfig(
        bridge=BridgeConfig(queries=2, chunk=2, width=16, heads=2),
        llm=LLMConfig(spec=str(tiny_llm_dir), lora_r=2, max_description_tokens=4),
        epochs=1, lr=5e-3, batch_size=8,
    )  # fmt: skip
    model = train_alignment(ts, priors, cfg, "xsub")
    test = ts.split_indices("xsub", "test")
    dec = predict(model, [ts.tokens[i] for i in test], model.class_names, describe=False)
    p = Predictions(labels=ts.labels[test], pred=dec.pred, top5=dec.top5,
                    class_names=ts.class_names, sample_ids=[ts.sample_ids[i] for i in test],
                    scores=dec.scores)  # fmt: skip
    save_aligned(d / "aligned.h5", model, p,
                 inputs=input_record([d / "tokens.h5", d / "priors.h5"]))  # fmt: skip
    # what predict must reproduce: the model's answers on the stored tokens of two samples
    rows = [0, len(data) - 1]
    ref = predict(model, [ts.tokens[i] for i in rows], model.class_names, describe=False)
    return d, data, rows, ref


def _run(*args):
    return CliRunner().invoke(cli, ["predict", *map(str, args)])


def _raw_files(d, data, rows):
    """The same two samples as numpy (kinect20), NTU .skeleton (ntu25 made from kinect20 is
    impossible, so the ntu25 set is drawn again with the same seed) and MSR (msr20) files."""
    write_numpy(data.subset(rows), d / "two.npz")
    ntu = make_synthetic(n_per_class=4, subjects=2, seed=0, layout="ntu25")
    paths = [d / "two.npz"]
    for i in rows:
        joints = ntu.samples[i].joints[0]  # (T, 25, 3)
        p = d / f"take{i}.skeleton"
        p.write_text(ntu_text(ntu_tracks((1, joints, 0)), fmt="{:.9g}"), newline="")
        m = d / f"a01_s01_e0{i % 9}_skeleton3D.txt"
        m.write_text(msr_text(convert(joints, "ntu25", "msr20")))
        paths += [p, m]
    return paths


def test_json_answers_match_the_stored_tokens_in_every_layout(trained, tmp_path):
    d, data, rows, ref = trained
    files = _raw_files(tmp_path, data, rows)
    res = _run("--model", d / "aligned.h5", *files, "--json", "--max-new-tokens", "3")
    assert res.exit_code == 0, res.output
    answers = json.loads(res.stdout)
    assert len(answers) == 2 + 2 * len(rows)  # the npz holds two samples
    for a in answers:
        assert set(a) == JSON_KEYS
        assert a["class"] in SYNTHETIC_CLASSES and a["class"] == a["top5"][0]["class"]
        scores = [t["score"] for t in a["top5"]]
        assert len(scores) == 5 and scores == sorted(scores, reverse=True)
        assert isinstance(a["description"], str)
    npz = [a for a in answers if a["file"].endswith("two.npz")]
    assert [a["sample_id"] for a in npz] == [data.sample_ids[i] for i in rows]
    names = SYNTHETIC_CLASSES
    for j, a in enumerate(npz):  # numpy file in the encoder's own layout: exactly the same
        assert [t["class"] for t in a["top5"]] == [names[k] for k in ref.top5[j]]
        np.testing.assert_allclose([t["score"] for t in a["top5"]], ref.scores[j], atol=1e-4)
    # ntu25 and msr20 files were mapped to kinect20: the same body gives the same answer
    for j, i in enumerate(rows):
        for stem in (f"take{i}", f"a01_s01_e0{i % 9}"):
            a = next(x for x in answers if stem in x["file"])
            np.testing.assert_allclose(
                [t["score"] for t in a["top5"]], ref.scores[j], atol=2e-3, err_msg=stem
            )


def test_human_output_is_one_line_per_sample_and_a_table(trained, tmp_path):
    d, data, rows, _ = trained
    write_numpy(data.subset(rows), tmp_path / "two.npz")
    res = _run("--model", d / "aligned.h5", tmp_path / "two.npz", "--max-new-tokens", "2")
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert len(lines) == len(rows)
    for line, i in zip(lines, rows):
        where, name, _ = line.split("\t")
        assert where == f"{tmp_path / 'two.npz'}:{data.sample_ids[i]}"
        assert name in SYNTHETIC_CLASSES
    assert "predictions" in res.stderr and "warning" not in res.stderr


def test_a_bad_file_is_one_line_naming_it(trained, tmp_path):
    d, data, rows, _ = trained
    bad = tmp_path / "broken.skeleton"
    bad.write_text("12\n1\nnot a body line\n")
    write_numpy(data.subset(rows), tmp_path / "ok.npz")
    res = _run("--model", d / "aligned.h5", tmp_path / "ok.npz", bad)
    assert res.exit_code == 1
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "Traceback" not in res.output
    assert res.stdout == ""
    for args, words in [
        ((tmp_path / "clip.mp4",), "cannot tell the format"),
        ((tmp_path / "missing.npz",), "no such file"),
    ]:
        if args[0].suffix == ".mp4":
            args[0].write_bytes(b"\0")
        res = _run("--model", d / "aligned.h5", *args)
        assert res.exit_code == 1 and words in res.stderr and str(args[0]) in res.stderr


def test_a_layout_with_no_mapping_names_the_file(trained, tmp_path):
    d, _, _, _ = trained
    coco = tmp_path / "coco.npz"
    arrays = dict(
        joints=np.ones((1, 1, 4, 17, 2), np.float32),
        lengths=np.array([4]),
        labels=np.array([0]),
        class_names=np.array(["x"]),
        layout=np.array("coco17"),
    )
    np.savez(coco, **arrays)
    res = _run("--model", d / "aligned.h5", coco)
    assert res.exit_code == 1
    assert str(coco) in res.stderr and "coco17" in res.stderr and "kinect20" in res.stderr


def test_moved_and_foreign_tokens_files(trained, tmp_path):
    from sugar_core.tokenize.store import read_tokens, write_tokens

    d, data, rows, _ = trained
    work = tmp_path / "moved"
    shutil.copytree(d, work)
    with h5py.File(work / "aligned.h5", "r+") as f:  # as if it had been trained in work/
        f.attrs["inputs"] = f.attrs["inputs"].replace(str(d.resolve()), str(work.resolve()))
    write_numpy(data.subset(rows[:1]), tmp_path / "one.npz")
    (work / "tokens.h5").rename(work / "elsewhere.h5")
    res = _run("--model", work / "aligned.h5", tmp_path / "one.npz")
    assert res.exit_code == 1 and "--tokens" in res.stderr and "aligned.h5" in res.stderr

    res = _run("--model", work / "aligned.h5", "--tokens", work / "elsewhere.h5",
               tmp_path / "one.npz", "--json", "--no-describe")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "warning" not in res.stderr  # same bytes as the recorded file: no warning
    assert json.loads(res.stdout)[0]["description"] == ""

    ts = read_tokens(work / "elsewhere.h5")
    ts.history = [{"epoch": 99}]
    write_tokens(ts, work / "other.h5")
    res = _run("--model", work / "aligned.h5", "--tokens", work / "other.h5",
               tmp_path / "one.npz", "--no-describe")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "warning" in res.stderr and "other.h5" in res.stderr


def test_guess_format_from_names():
    assert guess_format("S001C001P001R001A001.skeleton") == "ntu"
    assert guess_format("a01_s01_e01_skeleton3D.txt") == "msr"
    assert guess_format("a01_s01_e00_v01.json") == "nw-ucla"
    assert guess_format("mine.npz") == "numpy"
    assert guess_format("ann.pkl") == "pyskl"
    with pytest.raises(ConfigError, match="--format"):
        guess_format("clip.mp4")


def test_a_model_whose_llm_collapsed_answers_with_its_text_prior_readout(
    trained, tmp_path, monkeypatch
):
    """Align chose the text-prior read-out on validation (align/readout.py): raw files are
    then named by that classifier too, said in a warning and in --json, never silently."""
    from sugar_core.align import readout
    from sugar_core.align.store import load_aligned, save_aligned
    from sugar_core.predictions import read_predictions
    from sugar_core.priors.prototypes import class_prototypes, cosine_rank
    from sugar_core.tokenize.encoding import encode
    from sugar_core.tokenize.store import load_encoder

    d, data, rows, _ = trained
    model = load_aligned(d / "aligned.h5")
    model.readout = readout.FALLBACK
    model.prototypes = class_prototypes(_priors(), list(SYNTHETIC_CLASSES))
    p, _ = read_predictions(d / "aligned.h5")
    save_aligned(tmp_path / "fallback.h5", model, p,
                 inputs=[{"path": str(d / "tokens.h5"), "sha256": None}])  # fmt: skip
    write_numpy(data.subset(rows), tmp_path / "two.npz")

    def no_llm(*args, **kwargs):
        raise AssertionError("the collapsed LLM was run")

    monkeypatch.setattr("sugar_core.align.inference.predict", no_llm)
    res = _run("--model", tmp_path / "fallback.h5", "--tokens", d / "tokens.h5",
               tmp_path / "two.npz", "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "text-prior classifier" in " ".join(res.stderr.split())
    answers = json.loads(res.stdout)
    # what the text-prior classifier says on the encoder's own features of these samples
    encoder, heads, prep, _ = load_encoder(d / "tokens.h5")
    ts = encode(data.subset(rows), encoder, heads, prep=prep)
    _, top, _ = cosine_rank(ts.projected, model.prototypes, np.arange(len(SYNTHETIC_CLASSES)))
    for a, want in zip(answers, top):
        assert set(a) == JSON_KEYS | {"readout"} and a["readout"] == readout.FALLBACK
        assert [t["class"] for t in a["top5"]] == [SYNTHETIC_CLASSES[k] for k in want if k >= 0]
        assert a["description"] == ""  # the collapsed LLM does not describe
