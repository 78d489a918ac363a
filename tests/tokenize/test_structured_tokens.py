"""Structured action tokens (issue 16): token layouts time | time-parts | time-joints, the
body-part map of every layout, the stage-1 part loss, and the longer sequences downstream."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from sugar_core.errors import ConfigError
from sugar_core.priors.store import MOTION_PARTS, Priors
from sugar_core.skeleton import layouts
from sugar_core.skeleton.layouts import BODY_PARTS, LAYOUTS, Layout, joint_parts
from sugar_core.tokenize import losses
from sugar_core.tokenize.config import EncoderConfig, TokenizeConfig
from sugar_core.tokenize.encoder import SkeletonEncoder, part_means
from sugar_core.tokenize.encoding import encode
from sugar_core.tokenize.network import Heads, Stage1Net
from sugar_core.tokenize.parts import PART_KINDS, part_texts
from sugar_core.tokenize.store import load_encoder, read_tokens, write_tokens
from sugar_core.tokenize.training import train_encoder
from tests.helpers.tokenize import tiny_priors, tiny_set

LAYOUT_NAMES = sorted(LAYOUTS)
STRUCTURED = ("time-parts", "time-joints")


def _tiny_encoder(layout: str = "kinect20", token_layout: str = "time", seed: int = 0):
    torch.manual_seed(seed)
    cfg = EncoderConfig(layout, frames=10, channels=(16, 16), strides=(2, 1),
                        token_layout=token_layout)  # fmt: skip
    return SkeletonEncoder(cfg)


def _part_priors(names: list[str], dim: int = 16, seed: int = 1) -> Priors:
    """tiny_priors plus one text per body part: every class shares one hip text ("remains
    stationary"), class 1 has no foot text."""
    base = tiny_priors(names, dim)
    rng = np.random.default_rng(seed)
    k, p = len(names), len(BODY_PARTS)
    emb = rng.normal(size=(k, p, dim)).astype(np.float32)
    emb[:, BODY_PARTS.index("hip")] = emb[0, BODY_PARTS.index("hip")]
    emb /= np.linalg.norm(emb, axis=-1, keepdims=True)
    mask = np.ones((k, p), bool)
    mask[1, BODY_PARTS.index("foot")] = False
    texts = np.array([[f"{n} {part}" for part in BODY_PARTS] for n in names], dtype=object)
    texts[~mask] = ""
    return Priors(names, np.concatenate([base.texts, texts], 1),
                  list(base.text_kinds) + list(PART_KINDS),
                  np.concatenate([base.embeddings, emb], 1), np.concatenate([base.mask, mask], 1),
                  list(names), encoder_id="random")  # fmt: skip


def _cfg(**kw) -> TokenizeConfig:
    base = dict(frames=8, channels=(16, 16), strides=(2, 1), epochs=2, batch_size=8, probe="ridge",
                small_data=False, sampler="shuffle")  # fmt: skip
    return TokenizeConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def data():
    return tiny_set(n=24, k=3)


# --- the body-part map ------------------------------------------------------------------------


def test_body_parts_are_the_priors_parts():
    assert BODY_PARTS == MOTION_PARTS
    assert PART_KINDS == tuple(f"motion:{p}" for p in MOTION_PARTS)


@pytest.mark.parametrize("name", LAYOUT_NAMES)
def test_part_map_covers_every_joint_exactly_once(name):
    joints = LAYOUTS[name].joints
    idx = joint_parts(name)
    assert idx.shape == (len(joints),) and set(idx.tolist()) == set(range(len(BODY_PARTS)))
    groups = [np.flatnonzero(idx == p) for p in range(len(BODY_PARTS))]
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(joints)))
    part = {j: BODY_PARTS[i] for j, i in zip(joints, idx)}
    for side in ("left", "right"):
        assert part[f"{side} knee"] == "leg" and part[f"{side} ankle"] == "foot"
        assert part[f"{side} wrist"] == "hand" and part[f"{side} elbow"] == "arm"
        assert part[f"{side} shoulder"] == "arm" and part[f"{side} hip"] == "hip"
    assert part.get("head", part.get("nose")) == "head"
    w = part_means(name)  # (V, P): each column averages its part's joints
    torch.testing.assert_close(w.sum(0), torch.ones(len(BODY_PARTS)))
    assert ((w > 0).sum(1) == 1).all()


def test_a_layout_without_a_part_map_is_a_config_error(monkeypatch):
    tail = Layout("tailed", ("head", "tail", "left knee"), ((0, 1), (0, 2)), 0, 0, "test")
    monkeypatch.setitem(LAYOUTS, "tailed", tail)
    with pytest.raises(ConfigError, match=r"'tailed' has no body-part map for joints \['tail'\]"):
        joint_parts("tailed")
    with pytest.raises(ConfigError, match="no body-part map"):
        EncoderConfig("tailed", token_layout="time-parts")
    assert EncoderConfig("tailed").token_layout == "time"  # the plain tokens need no map
    short = Layout("short", ("head", "left knee"), ((0, 1),), 0, 0, "test")
    monkeypatch.setitem(layouts.LAYOUTS, "short", short)
    with pytest.raises(ConfigError, match=r"no joint for body part\(s\) \['hand', 'arm'"):
        joint_parts("short")


# --- tokens per layout --------------------------------------------------------------------------


@pytest.mark.parametrize("name", LAYOUT_NAMES)
def test_token_shapes_and_ls_per_layout(name):
    v = LAYOUTS[name].num_joints
    x = torch.randn(3, 1, 10, v, 3)
    out = {}
    for tl, groups in (("time", 1), ("time-parts", 6), ("time-joints", v)):
        enc = _tiny_encoder(name, tl).eval()
        assert enc.cfg.time_steps() == 5 and enc.cfg.token_groups == groups
        assert enc.cfg.token_length() == 5 * groups and enc.cfg.token_length(20) == 10 * groups
        if tl != "time":  # same weights in every layout: the state dicts hold the same keys
            enc.load_state_dict(out["time"][2].state_dict())
        with torch.no_grad():
            tokens, pooled = enc(x)
        assert tokens.shape == (3, 5 * groups, 16) and pooled.shape == (3, 16)
        out[tl] = (tokens, pooled, enc)
    joints = out["time-joints"][0].view(3, 5, v, 16)  # time-major: step, then joint
    torch.testing.assert_close(out["time"][0], joints.mean(2))
    parts = torch.einsum("nsvd,vp->nspd", joints, part_means(name))
    torch.testing.assert_close(out["time-parts"][0].view(3, 5, 6, 16), parts)
    for tl in STRUCTURED:  # the pooled feature: the mean over time and joints, as before
        torch.testing.assert_close(out[tl][1], out["time"][1])
        streams = out[tl][2].part_streams(out[tl][0])  # (N, T_s, P, D)
        torch.testing.assert_close(streams, parts)
    with pytest.raises(ConfigError, match="part streams need token_layout"):
        out["time"][2].part_streams(out["time"][0])


def _forward_before_issue_16(enc: SkeletonEncoder, x: torch.Tensor):
    """SkeletonEncoder.forward as it read before token layouts existed (the time layout)."""
    n, m, t, v, c = x.shape
    h = enc.input_bn(x.permute(0, 1, 3, 4, 2).reshape(n, m * v * c, t))
    h = h.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)
    for block in enc.blocks:
        h = block(h)
    _, d, ls, _ = h.shape
    tokens = h.view(n, m, d, ls, v).mean(dim=(1, 4)).transpose(1, 2)
    return tokens, enc.dropout(tokens.mean(1))


@pytest.mark.parametrize("train", [False, True])
def test_time_layout_is_bit_identical_to_the_encoder_before(train):
    torch.manual_seed(3)
    enc = SkeletonEncoder(EncoderConfig("ntu25", max_bodies=2, frames=12, channels=(16, 16),
                                        strides=(2, 2), dropout=0.3)).train(train)  # fmt: skip
    x = torch.randn(4, 2, 12, 25, 3)
    torch.manual_seed(5)
    now = enc(x)
    torch.manual_seed(5)
    before = _forward_before_issue_16(enc, x)
    assert torch.equal(now[0], before[0]) and torch.equal(now[1], before[1])
    assert not any("part" in k for k in enc.state_dict())


# --- configs ------------------------------------------------------------------------------------


def test_config_fields_check_and_travel():
    with pytest.raises(ConfigError, match="token_layout 'time-bodies'"):
        EncoderConfig("kinect20", token_layout="time-bodies")
    with pytest.raises(ConfigError, match="token_layout 'parts'"):
        TokenizeConfig(token_layout="parts")
    with pytest.raises(ConfigError, match="needs token_layout time-parts or time-joints"):
        TokenizeConfig(part_weight=0.5)
    with pytest.raises(ConfigError, match="objective mil-nce or both"):
        TokenizeConfig(token_layout="time-parts", part_weight=0.5, objective="ce")
    for bad in (-1.0, float("nan")):
        with pytest.raises(ConfigError, match="part_weight must be >= 0"):
            TokenizeConfig(part_weight=bad)
    with pytest.raises(ConfigError, match="part_match 'max'"):
        TokenizeConfig(part_match="max")
    cfg = TokenizeConfig.from_settings(
        {"token_layout": "time-joints", "part_weight": 0.5, "part_match": "best-step"}
    )
    enc = cfg.encoder_config(tiny_set(n=6, k=2))
    assert enc.token_layout == "time-joints" and EncoderConfig.from_dict(enc.to_dict()) == enc
    old = {k: v for k, v in enc.to_dict().items() if k != "token_layout"}  # a file from before
    assert EncoderConfig.from_dict(old).token_layout == "time"
    assert TokenizeConfig().encoder_config(tiny_set(n=6, k=2)).token_layout == "time"


# --- the part loss ------------------------------------------------------------------------------


def _streams(b=6, s=3, p=6, e=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(b, s, p, e, generator=gen), torch.tensor([0, 1, 2, 0, 1, 2][:b])


def _texts(k=3, p=6, e=8, seed=1):
    gen = torch.Generator().manual_seed(seed)
    t = torch.nn.functional.normalize(torch.randn(k, p, e, generator=gen), dim=-1)
    return t, torch.ones(k, p, dtype=torch.bool)


@pytest.mark.parametrize("match", ["mean", "best-step"])
def test_part_nce_skips_missing_texts_and_averages_the_rest(match):
    zp, y = _streams()
    t, mask = _texts()
    scale = torch.tensor(math.log(10.0))
    full = losses.part_nce(zp, t, mask, y, scale, match)["part_nce"]
    assert full > 0
    # a missing text's embedding is never read
    mask[1, 4] = False
    t2 = t.clone()
    t2[1, 4] = torch.nn.functional.normalize(torch.randn(8), dim=0)
    a = losses.part_nce(zp, t, mask, y, scale, match)["part_nce"]
    b = losses.part_nce(zp, t2, mask, y, scale, match)["part_nce"]
    assert torch.equal(a, b) and not torch.equal(a, full)
    # only part 2 present: the loss of part 2 alone (the others add nothing, nor count)
    only = torch.zeros_like(mask)
    only[:, 2] = True
    one = losses.part_nce(zp[:, :, [2]], t[:, [2]], mask[:, [2]], y, scale, match)["part_nce"]
    torch.testing.assert_close(losses.part_nce(zp, t, only, y, scale, match)["part_nce"], one)
    none = losses.part_nce(zp, t, torch.zeros_like(mask), y, scale, match)["part_nce"]
    assert none == 0


def test_part_nce_shared_texts_are_positives_and_best_step_is_mil():
    zp, y = _streams()
    t, mask = _texts()
    scale = torch.tensor(math.log(10.0))
    same = t[:1].expand_as(t).clone()  # every class moves this part the same way
    assert losses.part_nce(zp, same, mask, y, scale)["part_nce"].abs() < 1e-6
    # one step matches the own text, the other is orthogonal to every text: best-step sees
    # the match undiluted, the time mean does not
    e = torch.eye(4)
    tt, m1 = e[:2].view(2, 1, 4), torch.ones(2, 1, dtype=torch.bool)
    yy = torch.tensor([0, 1])
    steps = torch.stack([torch.stack([e[c], e[3]]) for c in (0, 1)]).view(2, 2, 1, 4)
    best = losses.part_nce(steps, tt, m1, yy, scale, "best-step")["part_nce"]
    mean = losses.part_nce(steps, tt, m1, yy, scale, "mean")["part_nce"]
    assert best < mean
    one_step = losses.part_nce(zp[:, :1], t, mask, y, scale, "best-step")["part_nce"]
    torch.testing.assert_close(one_step, losses.part_nce(zp[:, :1], t, mask, y, scale)["part_nce"])
    with pytest.raises(ValueError, match="part match 'max'"):
        losses.part_nce(zp, t, mask, y, scale, "max")


def test_part_weight_zero_adds_nothing_and_positive_changes_gradients(data):
    enc_cfg = _cfg(token_layout="time-parts").encoder_config(data)
    torch.manual_seed(0)
    net = Stage1Net(SkeletonEncoder(enc_cfg), Heads(enc_cfg.dim, 16, None, 0.07))
    pri = _part_priors(data.class_names)
    texts, mask = part_texts(pri, data.class_names)
    x, y = torch.randn(6, 1, 8, 20, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    whole = torch.from_numpy(pri.embeddings)[y, 0]

    def grads(weight: float | None) -> dict:
        net.zero_grad()
        _, z, _, scale, zp = net(x, parts=True)
        terms = {**losses.mil_nce(z, whole, y, scale), **losses.part_nce(zp, texts, mask, y, scale)}
        w = {"mil_nce": 1.0} if weight is None else {"mil_nce": 1.0, "part_nce": weight}
        losses.combine(terms, w).backward()
        return {k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None}

    base, zero, half = grads(None), grads(0.0), grads(0.5)
    assert all(torch.equal(base[k], zero[k]) for k in base)
    changed = [k for k in base if k.startswith("encoder.") and not torch.equal(base[k], half[k])]
    assert "encoder.blocks.0.gcn.value.weight" in changed and "heads.text.weight" in base
    assert not torch.equal(base["heads.text.weight"], half["heads.text.weight"])


# --- stage 1 end to end -----------------------------------------------------------------------


def test_part_loss_off_trains_as_before(data):
    """Part texts in the priors and part_weight 0 leave training as it was, bit for bit."""
    enc_a, _, hist_a = train_encoder(data, tiny_priors(data.class_names), _cfg(epochs=1), "xsub")
    pri = _part_priors(data.class_names)
    enc_b, _, hist_b = train_encoder(data, pri, _cfg(epochs=1, part_weight=0.0), "xsub")
    assert all(torch.equal(v, enc_b.state_dict()[k]) for k, v in enc_a.state_dict().items())
    assert [h["loss"] for h in hist_a] == [h["loss"] for h in hist_b]
    assert "part_nce" not in hist_b[-1]


def test_part_loss_needs_part_texts(data):
    cfg = _cfg(epochs=1, token_layout="time-parts", part_weight=1.0)
    with pytest.raises(ConfigError, match="needs the priors' body-part texts"):
        train_encoder(data, tiny_priors(data.class_names), cfg, "xsub")


@pytest.mark.parametrize(
    "token_layout,match,groups", [("time-parts", "mean", 6), ("time-joints", "best-step", 20)]
)
def test_tokenize_end_to_end_with_structured_tokens(data, tmp_path, token_layout, match, groups):
    cfg = _cfg(token_layout=token_layout, part_weight=0.5, part_match=match)
    enc, heads, hist = train_encoder(data, _part_priors(data.class_names), cfg, "xsub")
    assert all(math.isfinite(h["part_nce"]) and h["part_nce"] > 0 for h in hist)
    ts = encode(data, enc, heads, prep=cfg.prep, history=hist, train_split="xsub")
    ls = enc.cfg.token_length()
    assert enc.cfg.time_steps() == 4 and ls == 4 * groups
    assert all(t.shape == (ls, 16) for t in ts.tokens) and ts.features.shape == (24, 16)
    write_tokens(ts, tmp_path / "t.h5", config=cfg.to_dict(), seed=cfg.seed)
    back = read_tokens(tmp_path / "t.h5")
    assert back.encoder_config["token_layout"] == token_layout
    assert all(t.shape == (ls, 16) for t in back.tokens)
    enc2, heads2, prep, _ = load_encoder(tmp_path / "t.h5")
    assert enc2.cfg.token_layout == token_layout
    again = encode(data, enc2, heads2, prep=prep)
    np.testing.assert_allclose(np.stack(again.tokens), np.stack(back.tokens), rtol=1e-2, atol=1e-3)


def test_bridges_read_the_longer_sequences(data):
    from sugar_core.align.bridges import build_bridge, pad_tokens
    from sugar_core.align.config import BRIDGES, BridgeConfig

    enc = SkeletonEncoder(_cfg(token_layout="time-parts").encoder_config(data)).eval()
    ts = encode(data, enc, Heads(16, 16, None, 0.07))
    ts = replace(ts, tokens=[t[: len(t) - 6 * (i % 2)] for i, t in enumerate(ts.tokens)])
    x, mask = pad_tokens(ts.tokens[:4])  # (4, 24, 16): 4 steps x 6 parts, one step padded
    assert x.shape == (4, 24, 16) and mask.sum(1).tolist() == [24, 18, 24, 18]
    for kind in BRIDGES:
        bridge = build_bridge(BridgeConfig(kind=kind, queries=8, width=32, heads=2), 16, 24)
        with torch.no_grad():
            out = bridge(x, mask)
        assert out.shape == (4, bridge.num_tokens, 24) and torch.isfinite(out).all(), kind
