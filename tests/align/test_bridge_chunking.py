"""TQP's ``chunking = "even"``: chunks of near-equal length, per sample."""

import numpy as np
import pytest
import torch

from sugar_core.align.bridges import build_bridge, even_chunks, pad_tokens
from sugar_core.align.config import AlignConfig, BridgeConfig
from sugar_core.align.inference import predict
from sugar_core.align.store import load_aligned
from sugar_core.errors import ConfigError
from tests.align.test_bridges_time import _small, _train_and_save
from tests.helpers.align import CLASSES

pytestmark = pytest.mark.usefixtures("one_thread")

D, D_LLM = 6, 10


def _tqp(**kw):
    torch.manual_seed(0)
    cfg = BridgeConfig(kind="tqp", queries=3, chunk=4, width=8, heads=2, **kw)
    return build_bridge(cfg, D, D_LLM).eval()


def _seqs(lengths, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, D, generator=g) for n in lengths]


def _run(bridge, seqs):
    with torch.no_grad():
        return bridge(*pad_tokens(seqs))


def _runs(index: np.ndarray) -> list[int]:
    return [int((index == j).sum()) for j in range(int(index.max()) + 1)]


CUTS = [(13, 4, [3, 3, 3, 4]), (12, 4, [4, 4, 4]), (5, 4, [2, 3]), (1, 4, [1]),
        (9, 2, [1, 2, 2, 2, 2])]  # fmt: skip


@pytest.mark.parametrize("n, size, want", CUTS)
def test_even_chunks_cut_every_row_into_near_equal_runs(n, size, want):
    index, place = even_chunks(torch.tensor([n, size]), size, 16)
    row = index[0, :n].numpy()
    assert _runs(row) == want and (np.diff(row) >= 0).all()
    starts = np.r_[0, np.cumsum(want)[:-1]]
    np.testing.assert_array_equal(place[0, :n].numpy(), np.arange(n) - starts[row])
    assert (index[0, n:] >= len(want)).all()  # past the valid tokens: no chunk
    assert _runs(index[1, :size].numpy()) == [size]  # each row cut by its own length


def test_even_equals_fixed_where_the_chunk_divides_the_length():
    fixed, even = _tqp(), _tqp(chunking="even")
    seqs = _seqs((8, 12, 4))
    torch.testing.assert_close(_run(even, seqs), _run(fixed, seqs), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("time", ["chunk", "absolute"])
def test_even_differs_where_fixed_leaves_a_tail_and_padding_changes_nothing(time):
    fixed, even = _tqp(time_embedding=time), _tqp(chunking="even", time_embedding=time)
    seqs = _seqs((13, 1, 6, 25))
    out = _run(even, seqs)
    assert not torch.allclose(out[0], _run(fixed, seqs)[0], atol=1e-3)  # 3,3,3,4 vs 4,4,4,1
    for i, s in enumerate(seqs):  # each sample alone: its own chunks, the same output
        torch.testing.assert_close(out[i : i + 1], _run(even, [s]), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"chunking": "balanced"}, "chunking 'balanced'; choose one of fixed, even"),
        ({"kind": "qformer", "chunking": "even"}, "is TQP's; qformer reads the sequence whole"),
    ],
)
def test_bad_chunkings_are_config_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        BridgeConfig(**kw).check()


def test_an_aligned_model_with_even_chunks_saves_and_loads(tiny_llm_dir, tmp_path):
    cfg = AlignConfig.from_settings({"bridge": {"chunking": "even"}}, "here")
    assert cfg.bridge.chunking == "even" and AlignConfig().bridge.chunking == "fixed"
    model, seqs, scores = _train_and_save(tiny_llm_dir, tmp_path / "a.h5", _small(chunking="even"))
    back = load_aligned(tmp_path / "a.h5")
    assert back.config.bridge.chunking == "even"
    again = predict(back, seqs, CLASSES, describe=False).scores
    np.testing.assert_allclose(again, scores, atol=1e-5)
