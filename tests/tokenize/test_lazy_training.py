"""Training and tokenizing from a lazily read skeletons file give what the in-memory set gives."""

import numpy as np
import pytest
import torch

from sugar_core.skeleton.dataset import Sample, SkeletonSet, read_skeletons, write_skeletons
from sugar_core.skeleton.lazy_set import LazySkeletonSet, open_skeletons
from sugar_core.tokenize.bank import PreparedBank
from sugar_core.tokenize.config import TokenizeConfig
from sugar_core.tokenize.encoding import encode
from sugar_core.tokenize.run_data import LazyBank, make_bank
from sugar_core.tokenize.training import train_encoder
from tests.helpers.tokenize import tiny_priors, tiny_set


def _cfg(**kw) -> TokenizeConfig:
    base = dict(frames=8, channels=(16, 16), strides=(2, 1), epochs=2, batch_size=8,
                eval_every=1, probe="ridge", workers=0, small_data=False, sampler="shuffle",
                objective="both")  # fmt: skip
    base.update(kw)
    return TokenizeConfig(**base)


@pytest.fixture(scope="module")
def path(tmp_path_factory):
    """24 samples of 3 classes; every third sample has a second body."""
    data = tiny_set(n=24, k=3, bodies=2)
    samples = [
        Sample(s.joints if i % 3 == 0 else s.joints[:1].copy(), s.label, s.sample_id, s.meta)
        for i, s in enumerate(data.samples)
    ]
    p = tmp_path_factory.mktemp("lazy") / "d.h5"
    write_skeletons(SkeletonSet(samples, data.class_names, data.layout, data.splits), p, seed=0)
    return p


def _run(data, cfg):
    enc, heads, hist = train_encoder(data, tiny_priors(data.class_names), cfg, "xsub")
    tokens = encode(data, enc, heads, prep=cfg.prep, history=hist)
    return enc.state_dict(), heads.state_dict(), hist, tokens


def _timeless(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if "seconds" not in k} for e in history]


@pytest.mark.parametrize(
    ("cache_bytes", "workers", "validation"),
    [(384 << 20, 0, "auto"), (2000, 0, "share:0.25"), (384 << 20, 2, "auto")],
    ids=["cached", "cache-too-small", "dataloader-workers"],
)
def test_training_from_the_lazy_set_is_identical(path, cache_bytes, workers, validation):
    eager = read_skeletons(path)
    lazy = open_skeletons(path, lazy=True, cache_bytes=cache_bytes)
    assert isinstance(lazy, LazySkeletonSet) and lazy.samples[0].bodies == 2
    cfg = _cfg(validation=validation)
    want = _run(eager, cfg)
    got = _run(lazy, TokenizeConfig(**{**cfg.__dict__, "workers": workers}))
    for a, b in zip(want[:2], got[:2]):
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), k
    assert _timeless(got[2]) == _timeless(want[2]) and len(got[2]) == 2
    for t, u in zip(want[3].tokens, got[3].tokens):
        np.testing.assert_array_equal(t, u)
    np.testing.assert_array_equal(want[3].features, got[3].features)
    assert want[3].sample_ids == got[3].sample_ids
    if cache_bytes < 4000:
        assert lazy.file.cache.nbytes <= cache_bytes and lazy.file.reads > 3 * len(lazy)


def test_make_bank_prepares_on_read_for_a_lazy_set_only(path):
    eager, lazy = read_skeletons(path), open_skeletons(path, lazy=True)
    prep = _cfg().prep
    idx = np.array([5, 0, 7])
    a, b = make_bank(eager, idx, prep), make_bank(lazy, idx, prep)
    assert type(a) is PreparedBank and isinstance(b, LazyBank) and lazy.file.reads == 0
    assert len(a) == len(b) == 3
    torch.testing.assert_close(a.batch([2, 0]), b.batch([2, 0]), rtol=0, atol=0)
    assert lazy.file.reads == 2
    sub = lazy.subset([7, 5])  # a subset's bank reads the same file rows
    torch.testing.assert_close(make_bank(sub, [0], prep).batch([0]), a.batch([2]), rtol=0, atol=0)


def test_cli_tokenize_reads_a_large_file_lazily(path, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from sugar_cli.main import cli
    from sugar_core.priors.store import write_priors
    from sugar_core.skeleton import lazy_set
    from sugar_core.tokenize.store import read_tokens

    write_priors(tiny_priors(read_skeletons(path).class_names), tmp_path / "p.h5")
    opened = []
    real = lazy_set.LazySkeletonSet.__init__

    def spy(self, *a, **kw):
        opened.append(self)
        real(self, *a, **kw)

    monkeypatch.setattr(lazy_set.LazySkeletonSet, "__init__", spy)
    outs = {}
    for above in (1 << 40, 0):  # the file is small: in memory; with no threshold: lazy
        monkeypatch.setattr(lazy_set, "LAZY_ABOVE_BYTES", above)
        outs[above] = tmp_path / f"t{above}.h5"
        args = ["tokenize", str(path), "--priors", str(tmp_path / "p.h5"), "--split", "xsub",
                "-o", str(outs[above]), "--epochs", "1", "--batch-size", "6"]  # fmt: skip
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 0, r.output
        assert bool(opened) == (above == 0)
    a, b = read_tokens(outs[1 << 40]), read_tokens(outs[0])
    np.testing.assert_array_equal(a.features, b.features)
    assert _timeless(a.history) == _timeless(b.history) and opened[0].file.reads == len(a)


TWO_PROCESSES = """
import json, sys, torch
from sugar_core.accel import make_accelerator
from sugar_core.priors.store import read_priors
from sugar_core.skeleton.dataset import read_skeletons
from sugar_core.skeleton.lazy_set import open_skeletons
from sugar_core.tokenize.config import TokenizeConfig
from sugar_core.tokenize.training import train_encoder

data_path, priors_path, out = sys.argv[1:4]
acc = make_accelerator("fp32")
cfg = TokenizeConfig(frames=8, channels=(16, 16), strides=(2, 1), epochs=2, batch_size=8,
                     probe="ridge", small_data=False, sampler="shuffle", objective="both")
priors = read_priors(priors_path)
runs = []
for data in (read_skeletons(data_path), open_skeletons(data_path, lazy=True)):
    enc, heads, hist = train_encoder(data, priors, cfg, "xsub", accelerator=acc)
    runs.append((enc.state_dict(), [{k: v for k, v in e.items() if "seconds" not in k}
                                    for e in hist]))
same = all(torch.equal(runs[0][0][k], runs[1][0][k]) for k in runs[0][0])
record = {"rank": acc.process_index, "same_weights": same, "same_history": runs[0][1] == runs[1][1],
          "reads": data.file.reads, "handles": len(data.file._handles)}
with open(f"{out}.{acc.process_index}.json", "w") as fh:
    json.dump(record, fh)
"""


def test_two_processes_each_read_the_file_through_their_own_handle(path, tmp_path):
    """accelerate launch --multi_gpu --num_processes 2 on CPU: lazy == in memory on both."""
    import json
    import os
    import subprocess
    import sys

    from sugar_core.priors.store import write_priors

    write_priors(tiny_priors(read_skeletons(path).class_names), tmp_path / "p.h5")
    script = tmp_path / "two.py"
    script.write_text(TWO_PROCESSES)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
           "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           str(script), str(path), str(tmp_path / "p.h5"), str(tmp_path / "out")]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    records = [json.loads((tmp_path / f"out.{rank}.json").read_text()) for rank in (0, 1)]
    for rec in records:
        assert rec["same_weights"] and rec["same_history"], rec
        assert rec["reads"] > 0 and rec["handles"] == 1, rec
