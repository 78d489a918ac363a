"""Bridge positions (chunk / absolute), LLM-scaled outputs and the cross-attention bridge."""

import dataclasses

import h5py
import numpy as np
import pytest
import torch

from sugar_core import schema
from sugar_core.align.bridges import absolute_codes, build_bridge, pad_tokens, sinusoid
from sugar_core.align.config import AlignConfig, BridgeConfig, LLMConfig
from sugar_core.align.inference import predict
from sugar_core.align.llm import mean_row_norm
from sugar_core.align.model import build_parts, load_llm
from sugar_core.align.store import load_aligned, save_aligned
from sugar_core.align.training import _check_resumable, train_alignment
from sugar_core.errors import ConfigError
from sugar_core.predictions import Predictions
from tests.helpers.align import CLASSES, synthetic_priors, synthetic_tokens

pytestmark = pytest.mark.usefixtures("one_thread")

D, D_LLM = 6, 10
KINDS = ["tqp", "qformer", "linear", "pool", "xattn"]
QUERY_KINDS = ["tqp", "qformer", "xattn"]


def _bridge(kind="tqp", embed_norm=None, **kw):
    torch.manual_seed(0)
    cfg = BridgeConfig(kind=kind, queries=3, chunk=4, width=8, heads=2, **kw)
    return build_bridge(cfg, D, D_LLM, embed_norm).eval()


def _batch(lengths=(1, 3, 13, 25), seed=1):
    g = torch.Generator().manual_seed(seed)
    return pad_tokens([torch.randn(n, D, generator=g) for n in lengths])


def _run(bridge, x, mask):
    with torch.no_grad():
        return bridge(x, mask)


# -- defaults: today's bridges, unchanged ---------------------------------------------------------

# (sum, sum of |.|) of each default bridge's output on ``_batch()``, recorded before
# time_embedding and output_scale existed
RECORDED = {
    "tqp": (-4.692502595484257, 59.28773959726095),
    "qformer": (-8.719009064137936, 60.915658570826054),
    "linear": (11.426400676369667, 45.862866058945656),
    "pool": (3.0768052600324154, 8.476643454283476),
}


@pytest.mark.parametrize("kind", list(RECORDED))
def test_default_bridges_give_the_outputs_recorded_before_the_new_settings(kind):
    y = _run(_bridge(kind), *_batch()).double()
    got = (y.sum().item(), y.abs().sum().item())
    np.testing.assert_allclose(got, RECORDED[kind], rtol=1e-6, atol=1e-5)
    explicit = _bridge(kind, time_embedding="chunk", output_scale="none")
    assert torch.equal(_run(explicit, *_batch()).double(), y)


def test_default_tqp_adds_the_position_inside_each_chunk():
    """Chunk mode: token t and token t + S carry the same code (S = chunk = 4)."""
    bridge = _bridge("tqp")
    pos = bridge.positions(10, 8, None)
    torch.testing.assert_close(pos[4:8], sinusoid(4, 8))
    torch.testing.assert_close(pos[8:10], sinusoid(4, 8)[:2])


# -- absolute time ------------------------------------------------------------------------------


def test_absolute_codes_hold_position_and_chunk_index():
    codes = absolute_codes(10, 16, 4)  # (10, 16)
    torch.testing.assert_close(codes[:, :8], sinusoid(10, 8))  # absolute position
    index = codes[:, 8:]
    torch.testing.assert_close(index[:4], sinusoid(1, 8).expand(4, 8))  # chunk 0
    torch.testing.assert_close(index[4:8], sinusoid(2, 8)[1:].expand(4, 8))  # chunk 1
    torch.testing.assert_close(index[8:], sinusoid(3, 8)[2:].expand(2, 8))  # chunk 2, partial
    assert absolute_codes(7, 9, 3).shape == (7, 9)  # odd width: position takes the extra one


def test_absolute_codes_exist_for_any_length_and_a_prefix_keeps_its_codes():
    long_ = absolute_codes(3000, 16, 25)  # longer than any sequence trained on
    assert torch.isfinite(long_).all()
    torch.testing.assert_close(long_[:325], absolute_codes(325, 16, 25))
    gaps = torch.cdist(long_, long_) + torch.eye(3000) * 1e3
    assert gaps.min() > 1e-3  # every token its own code


@pytest.mark.parametrize("kind", QUERY_KINDS)
def test_absolute_and_chunk_time_differ_and_both_are_deterministic(kind):
    chunk, absolute = _bridge(kind), _bridge(kind, time_embedding="absolute")
    for a, b in zip(chunk.state_dict().values(), absolute.state_dict().values()):
        assert torch.equal(a, b)  # the same weights: positions add none
    x, mask = _batch()
    y_chunk, y_abs = _run(chunk, x, mask), _run(absolute, x, mask)
    assert (y_chunk - y_abs).abs().max() > 1e-3
    assert torch.equal(_run(absolute, x, mask), y_abs)
    again = _bridge(kind, time_embedding="absolute")
    assert torch.equal(_run(again, x, mask), y_abs)


def test_absolute_tqp_tells_chunks_apart():
    """Chunk mode gives token t and t + S one code, absolute mode two different ones."""
    chunk, absolute = _bridge("tqp"), _bridge("tqp", time_embedding="absolute")
    assert torch.equal(chunk.positions(8, 8, None)[0], chunk.positions(8, 8, None)[4])
    pos = absolute.positions(8, 8, None)
    assert (pos[0] - pos[4]).abs().max() > 0.1


# -- any length ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, time", [(k, "chunk") for k in KINDS] + [(k, "absolute") for k in QUERY_KINDS]
)
def test_every_bridge_reads_any_length(kind, time):
    bridge = _bridge(kind, time_embedding=time)
    for ls in (1, 3, 13, 325):  # below, not a multiple of, and far above chunk = 4
        x, mask = _batch((ls, 2))
        out = _run(bridge, x, mask)
        assert out.shape == (2, bridge.num_tokens, D_LLM)
        assert torch.isfinite(out).all()
        alone = _run(bridge, *_batch((ls,)))  # padding beside a shorter one changes nothing
        torch.testing.assert_close(out[:1], alone, atol=1e-5, rtol=1e-4)


# -- the cross-attention bridge -----------------------------------------------------------------


@pytest.mark.parametrize("ls", [1, 3, 13, 325])
def test_xattn_shapes(ls):
    bridge = _bridge("xattn")
    out = _run(bridge, *_batch((ls, 1, ls + 2)))
    assert out.shape == (3, 3, D_LLM) and bridge.num_tokens == 3


def test_xattn_reads_the_whole_sequence_once_with_one_cross_attention():
    bridge = _bridge("xattn")
    assert not any("self_attn" in name for name, _ in bridge.named_parameters())
    seq = torch.randn(13, D, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        h = bridge.inp(seq[None]) + sinusoid(13, 8)
        expected = bridge.out(bridge.qformer(bridge.queries, h, torch.ones(1, 13, dtype=bool)))
        got = bridge(*pad_tokens([seq]))
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("kind, independent", [("xattn", True), ("qformer", False)])
def test_xattn_queries_do_not_see_each_other(kind, independent):
    """Moving query 0 moves only output token 0 without self-attention (and all with it)."""
    bridge = _bridge(kind)
    x, mask = _batch((9,))
    before = _run(bridge, x, mask)
    with torch.no_grad():
        bridge.queries[:, 0] += torch.linspace(-1, 1, 8)  # not a constant: LayerNorm drops that
    change = (_run(bridge, x, mask) - before).abs().amax(-1)[0]  # (Q,)
    assert change[0] > 1e-3
    assert (change[1:].max() < 1e-6) == independent


# -- outputs at the LLM's scale -----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_llm_scale_puts_token_norms_at_the_embedding_norm(kind):
    plain = _run(_bridge(kind), *_batch())
    scaled = _bridge(kind, output_scale="llm", embed_norm=3.2)
    norms = _run(scaled, *_batch()).norm(dim=-1)
    assert (norms - 3.2).abs().max() < 0.2 * 3.2
    assert (plain.norm(dim=-1) - 3.2).abs().max() > 0.2 * 3.2  # without it: another scale
    scaled.train()
    scaled(*_batch()).square().sum().backward()
    assert scaled.gain.grad is not None and scaled.gain.grad.abs() > 0  # the gain learns


def test_llm_scale_wraps_inside_standardize():
    bridge = _bridge("pool", output_scale="llm", embed_norm=2.0, standardize=True)
    assert {"mean", "std", "inner.gain"} <= set(bridge.state_dict())
    assert torch.allclose(_run(bridge, *_batch()).norm(dim=-1), torch.tensor(2.0))


def test_mean_row_norm_reads_in_blocks():
    w = torch.randn(10, 4, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    want = float(w.float().norm(dim=1).mean())
    assert mean_row_norm(w, block=3) == pytest.approx(want, rel=1e-6)
    assert mean_row_norm(w) == pytest.approx(want, rel=1e-6)


def test_build_parts_hands_the_llm_embedding_norm_to_the_bridge(tiny_llm_dir):
    llm = load_llm(LLMConfig(spec=str(tiny_llm_dir), lora=False))
    norm = float(llm.model.get_input_embeddings().weight.norm(dim=1).mean())
    assert llm.embedding_norm() == pytest.approx(norm, rel=1e-5)
    cfg = AlignConfig(bridge=BridgeConfig(queries=2, width=8, heads=2, output_scale="llm"),
                      llm=LLMConfig(spec=str(tiny_llm_dir), lora=False))  # fmt: skip
    torch.manual_seed(0)
    bridge, llm = build_parts(cfg, D)
    assert bridge.gain.item() == pytest.approx(norm, rel=1e-5)
    tokens = _run(bridge.eval(), *_batch()).norm(dim=-1)
    assert ((tokens - norm).abs() < 0.2 * norm).all()


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"time_embedding": "frame"}, "time_embedding 'frame'; choose one of chunk, absolute"),
        ({"kind": "pool", "time_embedding": "absolute"}, "needs a bridge with positions"),
        ({"kind": "linear", "time_embedding": "absolute"}, "linear has none"),
        ({"output_scale": "unit"}, "output_scale 'unit'; choose one of none, llm"),
    ],
)
def test_bad_new_settings_are_config_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        BridgeConfig(**kw).check()


def test_llm_scale_without_the_norm_is_a_config_error():
    with pytest.raises(ConfigError, match="mean word-embedding norm"):
        build_bridge(BridgeConfig(output_scale="llm"), D, D_LLM)


def test_new_settings_read_from_user_settings():
    d = {"bridge": {"kind": "xattn", "time_embedding": "absolute", "output_scale": "llm"}}
    cfg = AlignConfig.from_settings(d, "here")
    assert (cfg.bridge.kind, cfg.bridge.time_embedding, cfg.bridge.output_scale) == (
        "xattn", "absolute", "llm",
    )  # fmt: skip


def test_a_checkpoint_from_before_the_new_settings_resumes(tmp_path):
    cfg = dataclasses.replace(AlignConfig(), bridge=BridgeConfig(anchor="none"))  # as resolved
    old = cfg.to_dict()
    for key in ("time_embedding", "output_scale"):
        del old["bridge"][key]
    _check_resumable({"config": old, "data_key": "k"}, cfg, "k", tmp_path)
    changed = dataclasses.replace(
        cfg, bridge=BridgeConfig(anchor="none", time_embedding="absolute")
    )
    with pytest.raises(ConfigError, match="other settings"):
        _check_resumable({"config": old, "data_key": "k"}, changed, "k", tmp_path)


def test_a_checkpoint_from_before_the_anchor_resumes_where_none_is_resolved(tmp_path):
    resolved = dataclasses.replace(AlignConfig(), bridge=BridgeConfig(anchor="none"))
    old = resolved.to_dict()
    del old["bridge"]["anchor"]  # the field did not exist: read back as the default, auto
    _check_resumable({"config": old, "data_key": "k"}, resolved, "k", tmp_path)
    fitted = dataclasses.replace(resolved, bridge=BridgeConfig(anchor="fitted"))
    with pytest.raises(ConfigError, match="other settings.*bridge"):  # small sets: --set none
        _check_resumable({"config": old, "data_key": "k"}, fitted, "k", tmp_path)


# -- aligned files ------------------------------------------------------------------------------


def _small(**kw) -> BridgeConfig:
    return BridgeConfig(queries=3, chunk=4, width=16, heads=2, **kw)


def _train_and_save(tiny_llm_dir, path, bridge: BridgeConfig):
    ts = synthetic_tokens()
    cfg = AlignConfig(
        bridge=bridge, llm=LLMConfig(spec=str(tiny_llm_dir), lora_r=4, max_description_tokens=6),
        epochs=1, lr=5e-3, batch_size=8, validation="none",
    )  # fmt: skip
    model = train_alignment(ts, synthetic_priors(), cfg, "xview")
    test = ts.split_indices("xview", "test")
    seqs = [ts.tokens[i] for i in test]
    a = predict(model, seqs, CLASSES, describe=False)
    p = Predictions(labels=ts.labels[test], pred=a.pred, top5=a.top5, class_names=CLASSES,
                    sample_ids=[ts.sample_ids[i] for i in test])  # fmt: skip
    save_aligned(path, model, p)
    return model, seqs, a.scores


@pytest.mark.parametrize(
    "bridge",
    [
        _small(time_embedding="absolute"),
        _small(output_scale="llm", standardize=True),
        _small(kind="xattn", time_embedding="absolute", output_scale="llm"),
    ],
    ids=["tqp-absolute", "tqp-llm-scale", "xattn-absolute-llm-scale"],
)
def test_aligned_model_with_new_settings_saves_and_loads(tiny_llm_dir, tmp_path, bridge):
    model, seqs, scores = _train_and_save(tiny_llm_dir, tmp_path / "a.h5", bridge)
    back = load_aligned(tmp_path / "a.h5")
    resolved = dataclasses.replace(bridge, anchor="none")  # auto: no text head here
    assert back.config == model.config and back.config.bridge == resolved
    for name, value in model.bridge.state_dict().items():
        assert torch.equal(back.bridge.state_dict()[name], value), name  # a trained gain too
    again = predict(back, seqs, CLASSES, describe=False).scores
    np.testing.assert_allclose(again, scores, atol=1e-5)


def test_aligned_file_without_the_new_keys_loads(tiny_llm_dir, tmp_path):
    """A file written before time_embedding / output_scale existed: their defaults apply."""
    path = tmp_path / "old.h5"
    _, seqs, scores = _train_and_save(tiny_llm_dir, path, _small())
    with h5py.File(path, "r+") as f:
        stored = schema.read_json(f, schema.ALIGN_CONFIG)
        for key in ("time_embedding", "output_scale"):
            del stored["bridge"][key]
        del f[schema.ALIGN_CONFIG]
        schema.write_json(f, schema.ALIGN_CONFIG, stored)
    back = load_aligned(path)
    assert (back.config.bridge.time_embedding, back.config.bridge.output_scale) == ("chunk", "none")
    np.testing.assert_allclose(predict(back, seqs, CLASSES, describe=False).scores, scores,
                               atol=1e-5)  # fmt: skip
