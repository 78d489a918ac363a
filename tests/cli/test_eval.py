"""`sugar eval` end to end on predictions files written here: JSON, report, plots, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sugar_cli.commands.eval import cli
from sugar_core.predictions import Predictions, write_predictions
from sugar_core.tokenize.store import TokenSet, write_tokens

NAMES = ["waving", "clapping", "kicking", "squatting"]
N = 24


def _predictions(rng, features=False, metrics=None) -> Predictions:
    labels = np.arange(N) % 4
    pred = labels.copy()
    pred[:6] = (labels[:6] + 1) % 4  # 6 wrong
    pred[6] = -1  # 1 off list
    top5 = np.stack([np.roll(np.arange(4), -int(c)) for c in labels])  # label ranked first
    top5 = np.concatenate([top5, -np.ones((N, 1), np.int64)], axis=1)
    return Predictions(
        labels=labels,
        pred=pred,
        top5=top5,
        class_names=NAMES,
        sample_ids=[f"s{i:03d}" for i in range(N)],
        raw_text=["it is " + NAMES[int(q)] if q >= 0 else "dancing" for q in pred],
        features=(rng.normal(size=(N, 8)) + 4 * np.eye(8)[labels]) if features else None,
        metrics=metrics if metrics is not None else {"top1": 0.123, "split": "xsub"},
    )


def _tokens(path, rng, ids, labels, shift=0.0):
    n = len(ids)
    write_tokens(
        TokenSet(
            tokens=[rng.normal(size=(3, 8)).astype(np.float16) for _ in range(n)],
            features=(rng.normal(size=(n, 8)) + shift * np.eye(8)[labels]).astype(np.float32),
            projected=rng.normal(size=(n, 4)).astype(np.float32),
            labels=np.asarray(labels),
            class_names=NAMES,
            sample_ids=list(ids),
        ),
        path,
    )


def test_json_recomputes_metrics(tmp_path, rng):
    f = tmp_path / "aligned.h5"
    write_predictions(_predictions(rng), f, "aligned")
    res = CliRunner().invoke(cli, [str(f), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for key in ("top1", "top5", "mean_class_acc", "n", "off_list_rate", "protocol", "split"):
        assert key in out
    assert out["n"] == N
    assert out["top1"] == pytest.approx(17 / 24)  # not the stored 0.123
    assert out["top5"] == 1.0
    assert out["off_list_rate"] == pytest.approx(1 / 24)
    assert out["split"] == "xsub" and out["protocol"] is None
    assert out["confusion_classes"] == NAMES and len(out["confusion"]) == len(NAMES)
    assert sum(map(sum, out["confusion"])) + sum(out["confusion_off_list"]) == N
    assert set(out["per_class"]) == set(NAMES)
    assert out["confused_pairs"][0]["count"] >= 1
    assert out["off_list_answers"] == [{"text": "dancing", "count": 1}]
    # the human report went to stderr, including the disagreement with the stored top-1
    assert "differs" in res.stderr and "per class" in res.stderr


def test_without_json_stdout_is_empty(tmp_path, rng):
    f = tmp_path / "zs.h5"
    write_predictions(_predictions(rng, metrics={"protocol": "ucla-8/2"}), f, "zeroshot")
    res = CliRunner().invoke(cli, [str(f)])
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    assert "ucla-8/2" in res.stderr and "top-1" in res.stderr


def _assert_png(path):
    assert path.is_file()
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100


def test_plots_from_the_files_features(tmp_path, rng):
    f = tmp_path / "aligned.h5"
    write_predictions(_predictions(rng, features=True), f, "aligned")
    figs = tmp_path / "figs"
    res = CliRunner().invoke(cli, [str(f), "--plots", str(figs)])
    assert res.exit_code == 0, res.output
    assert res.stdout.split() == [str(figs / "confusion.png"), str(figs / "tsne.png")]
    _assert_png(figs / "confusion.png")
    _assert_png(figs / "tsne.png")
    assert not list(figs.glob(".*"))  # no temporary files left behind


def test_plots_from_tokens_and_before_after(tmp_path, rng):
    p = _predictions(rng)
    f = tmp_path / "aligned.h5"
    write_predictions(p, f, "aligned")
    # tokens files hold more samples, in another order
    ids = list(reversed(p.sample_ids)) + ["extra1", "extra2"]
    labels = np.concatenate([p.labels[::-1], [0, 1]])
    _tokens(tmp_path / "tokens.h5", rng, ids, labels, shift=4.0)
    _tokens(tmp_path / "tokens_ce.h5", rng, ids, labels, shift=0.0)
    figs = tmp_path / "figs"
    args = [str(f), "--json", "--plots", str(figs), "--features", str(tmp_path / "tokens.h5")]
    res = CliRunner().invoke(cli, args + ["--before", str(tmp_path / "tokens_ce.h5")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [p.rsplit("/", 1)[-1] for p in out["plots"]] == [
        "confusion.png",
        "tsne.png",
        "tsne_before_after.png",
    ]
    _assert_png(figs / "tsne_before_after.png")
    with Image.open(figs / "tsne_before_after.png") as im:
        assert im.size[0] > 1.5 * im.size[1]  # two panels side by side


def test_plots_without_features_notes_the_missing_tsne(tmp_path, rng):
    f = tmp_path / "aligned.h5"
    write_predictions(_predictions(rng), f, "aligned")
    res = CliRunner().invoke(cli, [str(f), "--plots", str(tmp_path / "figs")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "figs" / "confusion.png").exists()
    assert not (tmp_path / "figs" / "tsne.png").exists()
    assert "--features" in res.stderr


def _one_line_error(res, *words):
    assert res.exit_code == 1, res.output
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.output
    for w in words:
        assert w in lines[0]


def test_bad_files(tmp_path, rng):
    runner = CliRunner()
    _one_line_error(runner.invoke(cli, [str(tmp_path / "nope.h5")]), "nope.h5", "no such file")
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    _one_line_error(runner.invoke(cli, [str(text)]), "notes.txt", "not an HDF5 file")
    tok = tmp_path / "tokens.h5"
    _tokens(tok, rng, ["a", "b"], [0, 1])
    _one_line_error(runner.invoke(cli, [str(tok)]), "tokens.h5", "expected 'aligned'")


def test_features_missing_ids_writes_nothing(tmp_path, rng):
    f = tmp_path / "aligned.h5"
    write_predictions(_predictions(rng), f, "aligned")
    tok = tmp_path / "tokens.h5"
    _tokens(tok, rng, ["s000", "s001"], [0, 1])
    figs = tmp_path / "figs"
    res = CliRunner().invoke(cli, [str(f), "--plots", str(figs), "--features", str(tok)])
    _one_line_error(res, "tokens.h5", "22 of 24", "s002")
    assert not (figs / "confusion.png").exists()


def test_before_needs_plots(tmp_path, rng):
    f = tmp_path / "aligned.h5"
    write_predictions(_predictions(rng), f, "aligned")
    res = CliRunner().invoke(cli, [str(f), "--before", str(f)])
    _one_line_error(res, "--plots")
