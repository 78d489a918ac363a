"""The anchor token (align/anchor.py): the sample's text-space feature as one more action token."""

import dataclasses

import numpy as np
import pytest
import torch

from sugar_core.align import anchor
from sugar_core.align.bridges import build_bridge, pad_tokens
from sugar_core.align.config import AlignConfig, BridgeConfig, LLMConfig
from sugar_core.align.inference import predict
from sugar_core.align.model import build_parts
from sugar_core.align.store import load_aligned, save_aligned
from sugar_core.align.training import train_alignment
from sugar_core.errors import ConfigError, SchemaError
from sugar_core.predictions import Predictions
from sugar_core.zeroshot.plan import ClassPlan
from sugar_core.zeroshot.seen import train_seen_alignment
from tests.helpers.align import CLASSES, synthetic_tokens
from tests.helpers.tokenize import tiny_priors

pytestmark = pytest.mark.usefixtures("one_thread")

D, E = 8, 16  # token width, text width (more than the 8 prior texts of three classes)


def _tokens(seed: int = 0):
    """The align tests' synthetic tokens with a random stage-1 text head (E x D)."""
    ts = synthetic_tokens(dim=D, seed=seed)
    g = torch.Generator().manual_seed(seed)
    ts.head_state = {"text.weight": torch.randn(E, D, generator=g), "text.bias": torch.randn(E)}
    return ts


def _priors(seed: int = 0):
    """Unit-norm E-dim embeddings, three texts per class (one cell masked out)."""
    return tiny_priors(list(CLASSES), dim=E, visual=2, seed=seed)


def _cfg(tiny_llm_dir, kind="fitted", **kw):
    base = dict(
        bridge=BridgeConfig(queries=3, chunk=4, width=16, heads=2, anchor=kind),
        llm=LLMConfig(spec=str(tiny_llm_dir), lora_r=4, max_description_tokens=6),
        epochs=1, lr=5e-3, batch_size=8, validation="none",
    )  # fmt: skip
    base.update(kw)
    return AlignConfig(**base)


def _anchored(kind="linear", **kw):
    torch.manual_seed(0)
    cfg = BridgeConfig(queries=3, chunk=4, width=16, heads=2, anchor=kind, **kw)
    inner = build_bridge(cfg, D, 24)
    return anchor.with_anchor(inner, cfg.anchor, D, E, 24).eval()


def test_default_is_auto_and_the_anchor_leaves_the_bridge_as_it_was():
    assert BridgeConfig().anchor == "auto" and not BridgeConfig().anchored
    torch.manual_seed(0)
    plain = build_bridge(BridgeConfig(queries=3, chunk=4, width=16, heads=2), D, 24).eval()
    assert anchor.with_anchor(plain, "none", D, None, 24) is plain
    assert anchor.with_anchor(plain, "auto", D, None, 24) is plain  # unresolved: none
    anchored = _anchored()
    x, mask = pad_tokens([np.random.default_rng(0).normal(size=(n, D)) for n in (5, 9)])
    with torch.no_grad():
        a, b = plain(x, mask), anchored(x, mask)
    assert anchored.num_tokens == plain.num_tokens + 1 == 4
    assert b.shape == (2, 4, 24) and torch.equal(a, b[:, :3])  # the bridge draws first
    inner = {k.removeprefix("inner."): v for k, v in anchored.state_dict().items()}
    for k, v in plain.state_dict().items():
        assert torch.equal(v, inner[k]), k


@pytest.mark.parametrize("extra", [{}, {"standardize": True}, {"output_scale": "llm"}])
def test_anchor_token_depends_on_the_token_mean_only(extra):
    torch.manual_seed(0)
    cfg = BridgeConfig(queries=3, chunk=4, width=16, heads=2, anchor="linear", **extra)
    inner = build_bridge(cfg, D, 24, embed_norm=3.0)
    bridge = anchor.with_anchor(inner, "linear", D, E, 24).eval()
    bridge.anchor.set_head(torch.randn(E, D), torch.randn(E))
    rng = np.random.default_rng(1)
    a, r = rng.normal(size=(4, D)), rng.normal(size=(6, D))
    b = r - r.mean(0) + a.mean(0)  # six other tokens with a's mean
    x, mask = pad_tokens([a, b, a + 1.0])  # padding differs, means 1 = 2 != 3
    with torch.no_grad():
        out = bridge(x, mask)  # (3, 4, 24)
    assert bridge.num_tokens == 4 and out.shape == (3, 4, 24)
    torch.testing.assert_close(out[0, -1], out[1, -1], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out[0, :3], out[1, :3])  # the bridge itself reads more
    assert not torch.allclose(out[0, -1], out[2, -1])


def test_copied_head_reproduces_projected_of_encoded_tokens():
    from sugar_core.skeleton.prep import PrepConfig
    from sugar_core.tokenize.config import TokenizeConfig
    from sugar_core.tokenize.encoder import SkeletonEncoder
    from sugar_core.tokenize.encoding import encode
    from sugar_core.tokenize.network import Heads
    from tests.helpers.tokenize import tiny_set

    data = tiny_set(n=12, k=3)
    torch.manual_seed(0)
    enc = SkeletonEncoder(
        TokenizeConfig(frames=8, channels=(16, 16), strides=(2, 1)).encoder_config(data)
    ).eval()
    heads = Heads(enc.cfg.dim, E, None, 0.07).eval()
    ts = encode(data, enc, heads, prep=PrepConfig(tta=2))  # float16 tokens, mean of 2 views
    text = anchor.TextAnchor(ts.dim, E, 24)
    text.set_head(*anchor.head_of(ts.head_state, ts.dim))
    x, mask = pad_tokens(ts.tokens)
    with torch.no_grad():
        z = text.text_feature(x, mask).numpy()  # (N, E)
    cos = (z * ts.projected).sum(1)
    assert cos.min() > 1 - 1e-5, cos.min()
    np.testing.assert_allclose(z, ts.projected, atol=2e-3)


def test_fitted_init_maps_each_prior_to_the_llm_embedding_of_its_text(tiny_llm_dir):
    priors = _priors()
    names = CLASSES[:3]
    for share, tol in ((1e-4, 0.02), (0.1, 0.5)):
        bcfg = BridgeConfig(queries=2, chunk=2, width=16, heads=2, anchor_ridge=share)
        cfg = _cfg(tiny_llm_dir, bridge=dataclasses.replace(bcfg, anchor="fitted"))
        bridge, llm = build_parts(cfg, D, E)
        anchor.attach(bridge, cfg.bridge, _tokens().head_state, D, priors, names, llm)
        z, y = anchor.prior_pairs(llm, priors, names)  # (n, E), (n, D_llm)
        with torch.no_grad():
            got = bridge.anchor.proj(torch.as_tensor(z, dtype=torch.float32)).double().numpy()
        err = np.linalg.norm(got - y, axis=1)
        spread = np.linalg.norm(y - y.mean(0), axis=1)  # what a constant map would miss
        assert (err < tol * spread).all(), (share, err / spread)
        nearest = np.linalg.norm(got[:, None] - y[None], axis=-1).argmin(1)
        assert (nearest == np.arange(len(y))).all()  # each text lands on its own embedding
    linear = []  # linear: the default initialisation, whatever the priors say
    for seed in (0, 1):
        torch.manual_seed(0)
        cfg = _cfg(tiny_llm_dir, kind="linear")
        bridge, llm = build_parts(cfg, D, E)
        anchor.attach(bridge, cfg.bridge, _tokens().head_state, D, _priors(seed), names, llm)
        linear.append(bridge.anchor.proj.weight.detach().clone())
    assert torch.equal(*linear)


def _trained_state(tiny_llm_dir, priors, **kw):
    model = train_alignment(_tokens(), priors, _cfg(tiny_llm_dir), "xview", **kw)
    return model.bridge.state_dict()


def test_fitted_weights_ignore_unseen_priors(tiny_llm_dir):
    """Seen classes 0-2, unseen 3: another unseen prior changes nothing the bridge holds."""
    base, other = _priors(seed=0), _priors(seed=0)
    other.embeddings[3] = _priors(seed=5).embeddings[3]
    other.texts[3] = np.array(["throws far", "a long different text", "hurls"], dtype=object)
    other.descriptions[3] = "a different description."
    plan = ClassPlan([0, 1, 2], [3], [0, 1, 2], list(CLASSES), list(CLASSES))
    ts, cfg = _tokens(), _cfg(tiny_llm_dir)
    a = train_seen_alignment(ts, base, cfg, "xview", plan).bridge.state_dict()
    b = train_seen_alignment(ts, other, cfg, "xview", plan).bridge.state_dict()
    assert set(a) == set(b) and "anchor.head_weight" in a
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # train_alignment handed every class's priors picks the trained classes' alone
    c = _trained_state(tiny_llm_dir, base, train_classes=[0, 1, 2])
    d = _trained_state(tiny_llm_dir, other, train_classes=[0, 1, 2])
    for k in c:
        assert torch.equal(c[k], d[k]), k
    seen = _priors(seed=0)
    seen.embeddings[0] = _priors(seed=7).embeddings[0]  # a seen prior does count
    e = _trained_state(tiny_llm_dir, seen, train_classes=[0, 1, 2])
    assert not torch.equal(c["anchor.proj.weight"], e["anchor.proj.weight"])


@pytest.mark.parametrize("kind", ["linear", "fitted"])
def test_save_load_gives_the_same_scores(tiny_llm_dir, tmp_path, kind):
    ts = _tokens()
    model = train_alignment(ts, _priors(), _cfg(tiny_llm_dir, kind, calibration="null"), "xview")
    assert model.bridge.num_tokens == 4
    torch.testing.assert_close(model.bridge.anchor.head_weight, ts.head_state["text.weight"])
    test = ts.split_indices("xview", "test")
    seqs = [ts.tokens[i] for i in test]
    a = predict(model, seqs, CLASSES, describe=False, keep_scores=True)
    assert a.null is not None and np.isfinite(a.raw_scores).all()
    p = Predictions(labels=ts.labels[test], pred=a.pred, top5=a.top5, class_names=CLASSES,
                    sample_ids=[ts.sample_ids[i] for i in test], scores=a.scores)  # fmt: skip
    save_aligned(tmp_path / "aligned.h5", model, p)
    back = load_aligned(tmp_path / "aligned.h5")
    b = predict(back, seqs, CLASSES, describe=False, keep_scores=True)
    np.testing.assert_allclose(a.raw_scores, b.raw_scores, atol=1e-5)
    np.testing.assert_allclose(a.null, b.null, atol=1e-5)
    assert torch.equal(back.bridge.anchor.head_weight, model.bridge.anchor.head_weight)
    back.llm.cfg.share_prefix = False  # the whole prompt each time: the same scores
    c = predict(back, seqs, CLASSES, describe=False, keep_scores=True)
    np.testing.assert_allclose(a.raw_scores, c.raw_scores, atol=1e-4)


def test_missing_head_or_other_text_space_is_a_config_error(tiny_llm_dir):
    ts = _tokens()
    ts.head_state = {}  # tokens read without weights, or no text head
    with pytest.raises(ConfigError, match="text head"):
        train_alignment(ts, _priors(), _cfg(tiny_llm_dir), "xview")
    wide = tiny_priors(list(CLASSES), dim=E + 2)
    with pytest.raises(ConfigError, match="text space has width 18.*maps into 16"):
        train_alignment(_tokens(), wide, _cfg(tiny_llm_dir, "linear"), "xview")
    bad = _tokens()
    bad.head_state["text.weight"] = torch.zeros(E, D + 1)
    with pytest.raises(ConfigError, match="tokens have width 8"):
        anchor.head_width(BridgeConfig(anchor="linear"), bad.head_state, D)
    assert anchor.head_width(BridgeConfig(), {}, D) is None  # no anchor, no head needed
    with pytest.raises(SchemaError, match="anchor.head_weight"):
        anchor.text_width({}, "a.h5")
    with pytest.raises(ConfigError, match="text head's width"):
        anchor.with_anchor(torch.nn.Identity(), "fitted", D, None, 24)


@pytest.mark.parametrize("bad", [{"anchor": "on"}, {"anchor_ridge": 0.0},
                                 {"anchor_ridge": float("nan")}])  # fmt: skip
def test_bad_anchor_settings(bad):
    with pytest.raises(ConfigError, match="anchor"):
        dataclasses.replace(BridgeConfig(), **bad).check()


def test_ridge_is_scale_free_and_exact_without_shrinkage():
    rng = np.random.default_rng(0)
    z, w = rng.normal(size=(40, 5)), rng.normal(size=(5, 3))
    y = z @ w + 2.0
    w1, b1 = anchor.ridge(z, y, 1e-9)
    np.testing.assert_allclose(w1, w, atol=1e-6)
    np.testing.assert_allclose(b1, 2.0 - 0 * b1, atol=1e-6)
    w2, _ = anchor.ridge(10 * z, y, 0.1)
    w3, _ = anchor.ridge(z, y, 0.1)
    np.testing.assert_allclose(10 * w2, w3, atol=1e-9)  # lambda follows the scale of z


@pytest.mark.parametrize("asked", [True, False])  # False: the small-set rule adds it
def test_sugar_align_reads_the_text_head_for_an_anchor(tiny_llm_dir, tmp_path, asked):
    from click.testing import CliRunner

    from sugar_cli.main import cli
    from sugar_core.priors.store import write_priors
    from sugar_core.tokenize.store import write_tokens

    write_tokens(_tokens(), tmp_path / "tokens.h5")
    write_priors(_priors(), tmp_path / "priors.h5")
    out = tmp_path / "aligned.h5"
    args = [
        "align", str(tmp_path / "tokens.h5"), "--priors", str(tmp_path / "priors.h5"),
        "--llm", str(tiny_llm_dir), "--queries", "2", "--chunk", "4", "--width", "16",
        "--heads", "2", "--lora-r", "2", "--epochs", "1", "--max-new-tokens", "2",
        "--max-description-tokens", "4", "-o", str(out),
    ] + (["--set", "bridge.anchor=fitted"] if asked else [])  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    back = load_aligned(out)
    assert back.config.bridge.anchor == "fitted" and back.bridge.num_tokens == 3
    torch.testing.assert_close(back.bridge.anchor.head_weight, _tokens().head_state["text.weight"])


def test_small_sets_get_the_fitted_anchor_where_it_can_be_built(tiny_llm_dir, tmp_path):
    """anchor auto (plan.py): under 400 training samples, tokens with a text head in the
    priors' space -> the fitted anchor, recorded and saved; elsewhere none."""
    cfg = _cfg(tiny_llm_dir, kind="auto")
    model = train_alignment(_tokens(), _priors(), cfg, "xview")
    assert model.config.bridge.anchor == "fitted" and model.bridge.num_tokens == 4
    assert model.history[-1]["small_data"]["bridge.anchor"] == "fitted"
    ts = _tokens()
    test = ts.split_indices("xview", "test")
    y, ids = ts.labels[test], [ts.sample_ids[i] for i in test]
    top5 = np.zeros((len(test), 5), int)
    p = Predictions(labels=y, pred=y, top5=top5, class_names=CLASSES, sample_ids=ids)
    save_aligned(tmp_path / "aligned.h5", model, p)
    assert load_aligned(tmp_path / "aligned.h5").bridge.num_tokens == 4

    def anchor_of(tokens, priors, **kw):
        c = dataclasses.replace(cfg, **kw)
        return train_alignment(tokens, priors, c, "xview").config.bridge.anchor

    assert anchor_of(_tokens(), _priors(), small_data=False) == "none"
    none = dataclasses.replace(cfg.bridge, anchor="none")
    assert anchor_of(_tokens(), _priors(), bridge=none) == "none"  # asked for: kept
    assert anchor_of(synthetic_tokens(dim=D), _priors()) == "none"  # no text head
    assert anchor_of(_tokens(), tiny_priors(list(CLASSES), dim=E + 2)) == "none"  # other space
    plan = ClassPlan([0, 1, 2], [3], [0, 1, 2], list(CLASSES), list(CLASSES))
    seen = train_seen_alignment(_tokens(), _priors(), cfg, "xview", plan)
    assert seen.config.bridge.anchor == "none"  # zero-shot: not measured there, left alone
