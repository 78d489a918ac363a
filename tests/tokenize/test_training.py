from dataclasses import replace

import numpy as np
import pytest
import torch

from sugar_core.errors import ConfigError, SchemaError
from sugar_core.skeleton.prep import PrepConfig
from sugar_core.tokenize import losses
from sugar_core.tokenize.config import TokenizeConfig
from sugar_core.tokenize.encoder import SkeletonEncoder
from sugar_core.tokenize.encoding import encode
from sugar_core.tokenize.network import Heads, Stage1Net, encoder_from_state
from sugar_core.tokenize.store import load_encoder, read_tokens, write_tokens
from sugar_core.tokenize.training import train_encoder
from tests.helpers.tokenize import tiny_priors, tiny_set


def _cfg(**kw) -> TokenizeConfig:
    base = dict(
        frames=8,
        channels=(16, 16),
        strides=(2, 1),
        epochs=2,
        batch_size=8,
        eval_every=1,
        probe="ridge",
        workers=0,
        small_data=False,  # the plain recipe: the small-set rule and sampler have own tests
        sampler="shuffle",
    )
    base.update(kw)
    return TokenizeConfig(**base)


@pytest.fixture(scope="module")
def data():
    return tiny_set(n=24, k=3)


def test_gradients_reach_every_encoder_block(data):
    cfg = _cfg()
    enc_cfg = cfg.encoder_config(data)
    net = Stage1Net(SkeletonEncoder(enc_cfg), Heads(enc_cfg.dim, 16, 3, 0.07))
    x = torch.randn(6, 1, 8, 20, 3)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    pri = tiny_priors(data.class_names)
    texts = torch.from_numpy(pri.embeddings)[y, 0]
    _, z, logits, scale = net(x)
    loss = losses.mil_nce(z, texts, y, scale)["mil_nce"] + losses.cross_entropy(logits, y)["ce"]
    loss.backward()
    for name, p in net.encoder.named_parameters():
        if ".qk." in name or ".lift." in name:
            continue  # alpha starts at 0 (as in CTR-GCN): the refinement is reached via alpha
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert net.heads.logit_scale.grad.abs() > 0


@pytest.mark.parametrize("objective", ["mil-nce", "ce", "both"])
def test_train_and_tokenize_shapes_and_history(data, objective, tmp_path):
    cfg = _cfg(objective=objective)
    pri = tiny_priors(data.class_names)
    enc, heads, hist = train_encoder(data, pri, cfg, "xsub")
    assert [h["epoch"] for h in hist] == [1, 2]
    assert hist[-1]["loss"] < hist[0]["loss"]
    # validation is carved from the 12 training samples (auto: one of 4 subjects held out)
    assert hist[-1]["n_train"] + hist[-1]["val_n"] == 12 and hist[-1]["val_n"] > 0
    assert hist[-1]["test_n"] == 12 and hist[-1]["world_size"] == 1
    assert hist[-1]["validation"] == "subjects:1"
    assert ("val_text_top1" in hist[-1]) == (objective != "ce")
    assert ("val_ce_top1" in hist[-1]) == (objective != "mil-nce")
    ts = encode(data, enc, heads, prep=cfg.prep, history=hist, train_split="xsub")
    ls = enc.cfg.token_length()
    assert ls == 4 and len(ts) == 24 and all(t.shape == (4, 16) for t in ts.tokens)
    assert ts.tokens[0].dtype == np.float16
    assert ts.features.shape == (24, 16) and ts.projected.shape == (24, 16)
    np.testing.assert_allclose(np.linalg.norm(ts.projected, axis=1), 1, atol=1e-5)
    write_tokens(ts, tmp_path / "t.h5", config=cfg.to_dict(), seed=cfg.seed)
    back = read_tokens(tmp_path / "t.h5")
    assert back.encoder_config["prep"]["frames"] == 8 and back.history == hist
    # the stored encoder and head rebuild the same tokens, from the file or from memory
    for source in (tmp_path / "t.h5", back):
        enc2, heads2, prep, layout = load_encoder(source)
        assert layout == data.layout and prep == PrepConfig(**back.encoder_config["prep"])
        again = encode(data, enc2, heads2, prep=prep)
        np.testing.assert_allclose(again.features, ts.features, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(again.projected, ts.projected, rtol=1e-4, atol=1e-5)


def test_load_encoder_names_the_file_without_a_fitting_encoder(data, tmp_path):
    import re
    from dataclasses import replace

    ts = encode(data, SkeletonEncoder(_cfg().encoder_config(data)), Heads(16, 16, None, 0.07))
    path = tmp_path / "t.h5"
    write_tokens(replace(ts, encoder_state={}), path)
    with pytest.raises(SchemaError, match=re.escape(f"{path}: no encoder weights")):
        load_encoder(path)
    write_tokens(replace(ts, encoder_config={**ts.encoder_config, "channels": [32, 32]}), path)
    with pytest.raises(SchemaError, match=re.escape(f"{path}: encoder weights do not fit")):
        load_encoder(path)
    with pytest.raises(SchemaError, match="these tokens: no encoder weights"):
        load_encoder(replace(ts, head_state={}))


def test_train_classes_limit_samples_and_priors(data):
    # priors in another order, with an extra class the data does not have
    names = list(reversed(data.class_names)) + ["unrelated"]
    pri = tiny_priors(names)
    cfg = _cfg(epochs=1, objective="both")
    enc, heads, hist = train_encoder(data, pri, cfg, "xsub", train_classes=[0, 2])
    assert hist[0]["n_train"] + hist[0]["val_n"] == 8 and hist[-1]["test_n"] == 8
    assert heads.cls.out_features == 2
    with pytest.raises(ConfigError, match="outside"):
        train_encoder(data, pri, cfg, "xsub", train_classes=[5])
    with pytest.raises(Exception, match="no entry for class"):
        train_encoder(data, tiny_priors(["a", "b", "c"]), cfg, "xsub")


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(data, tmp_path, ema):
    pri = tiny_priors(data.class_names)
    cfg = _cfg(epochs=3, objective="both", dropout=0.2, ema=ema)
    enc_a, heads_a, hist_a = train_encoder(data, pri, cfg, "xsub", run_dir=tmp_path / "a")

    class Killed(Exception):
        pass

    def kill_after_first(e):
        if e["event"] == "epoch" and e["epoch"] == 1:
            raise Killed

    with pytest.raises(Killed):
        train_encoder(data, pri, cfg, "xsub", run_dir=tmp_path / "b", callback=kill_after_first)
    enc_b, heads_b, hist_b = train_encoder(
        data, pri, cfg, "xsub", run_dir=tmp_path / "b", resume=True
    )
    for (k, a), (_, b) in zip(enc_a.state_dict().items(), enc_b.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    for (k, a), (_, b) in zip(heads_a.state_dict().items(), heads_b.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    assert [h["loss"] for h in hist_a] == [h["loss"] for h in hist_b]
    with pytest.raises(ConfigError, match="cannot resume"):
        train_encoder(
            data, pri, _cfg(epochs=3, lr=0.2), "xsub", run_dir=tmp_path / "b", resume=True
        )


def test_a_checkpoint_from_before_newer_settings_resumes(data, tmp_path):
    from sugar_core.tokenize.checkpoint import load_checkpoint, save_checkpoint

    pri = tiny_priors(data.class_names)
    cfg = _cfg(epochs=2, objective="both")

    def kill(e):
        if e["event"] == "epoch" and e["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_encoder(data, pri, cfg, "xsub", run_dir=tmp_path, callback=kill)
    ckpt = load_checkpoint(tmp_path)
    for key in ("token_layout", "part_weight", "part_match"):  # added after this checkpoint
        del ckpt["config"][key]
    save_checkpoint(tmp_path, ckpt)
    _, _, hist = train_encoder(data, pri, cfg, "xsub", run_dir=tmp_path, resume=True)
    assert len(hist) == 2


def test_layout_mismatch_is_refused(data):
    cfg = _cfg(epochs=1)
    enc, heads, _ = train_encoder(data, tiny_priors(data.class_names), cfg, "xsub")
    with pytest.raises(ConfigError, match="layout"):
        encode(tiny_set(n=4, layout="ntu25"), enc, heads)


def test_bf16_autocast_trains_and_keeps_float_outputs(data):
    cfg = _cfg(epochs=1, precision="bf16", objective="both")
    enc, heads, hist = train_encoder(data, tiny_priors(data.class_names), cfg, "xsub")
    assert np.isfinite(hist[0]["loss"]) and "val_text_top1" in hist[0]
    ts = encode(data, enc, heads, prep=cfg.prep)
    assert ts.features.dtype == np.float32 and np.isfinite(ts.features).all()


def test_early_stopping_stops_and_keeps_the_best(data):
    pri = tiny_priors(data.class_names)
    cfg = _cfg(epochs=6, patience=1, lr=0.0, warmup_epochs=0, schedule="constant")
    enc, heads, hist = train_encoder(data, pri, cfg, "xsub")
    values = [h["val_text_top1"] for h in hist]
    best = values.index(max(values))
    # lr 0: only batch-norm statistics move; the run stops one epoch after its best
    assert len(hist) < 6 and len(hist) == best + 2
    assert hist[-1]["selected_epoch"] == best + 1

    def state(e, h):
        return {**{"e." + k: v for k, v in e.state_dict().items()},
                **{"h." + k: v for k, v in h.state_dict().items()}}  # fmt: skip

    # the weights returned are those after the best epoch: the same seed without patience,
    # stopped there, ends with them bit for bit (on CPU, in one process with one thread count,
    # seeded batches leave the same statistics); the last epoch's state differs from them
    got = state(enc, heads)
    for epochs, same in ((best + 1, True), (len(hist), False)):
        plain = replace(cfg, epochs=epochs, patience=0)
        ref = state(*train_encoder(data, pri, plain, "xsub")[:2])
        assert got.keys() == ref.keys()
        equal = [torch.equal(got[k], ref[k]) for k in got]
        assert all(equal) if same else not all(equal), (epochs, best)


def test_weight_average_follows_the_ramped_decay():
    from sugar_core.tokenize.optim import weight_average

    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    avg = weight_average(net, decay=0.9)
    start = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        net[0].weight.add_(1.0)
        net[1].running_mean.add_(2.0)
        net[1].num_batches_tracked.fill_(5)
    avg.update_parameters(net)  # the first step: decay min(0.9, (1 + 1) / (10 + 1))
    got = {k: v.clone() for k, v in avg.module.state_dict().items()}
    d = 2 / 11
    for key, moved in (("0.weight", 1.0), ("1.running_mean", 2.0)):  # batch-norm stats too
        torch.testing.assert_close(got[key], d * start[key] + (1 - d) * (start[key] + moved))
    assert int(got["1.num_batches_tracked"]) == 5  # integers are copied, not averaged
    resumed = weight_average(net, decay=0.9, updates=1000)  # far along the ramp: decay 0.9
    resumed.module.load_state_dict(got)
    resumed.update_parameters(net)
    torch.testing.assert_close(
        resumed.module.state_dict()["0.weight"], 0.9 * got["0.weight"] + 0.1 * net[0].weight
    )
    assert not any(p.requires_grad for p in avg.module.parameters())


def test_ema_result_is_the_average_not_the_last_weights(data, tmp_path):
    pri = tiny_priors(data.class_names)
    cfg = _cfg(epochs=2, objective="both", ema=0.5)
    enc, heads, hist = train_encoder(data, pri, cfg, "xsub", run_dir=tmp_path)
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # plain data only
    for k, v in enc.state_dict().items():
        torch.testing.assert_close(v, ckpt["ema"]["encoder." + k], rtol=0, atol=0, msg=k)
    last = ckpt["net"]
    assert any(
        not torch.equal(v, last["encoder." + k])
        for k, v in enc.state_dict().items()
        if v.dtype.is_floating_point
    )
    assert "val_text_top1" in hist[-1]
    with pytest.raises(ConfigError, match="ema"):
        _cfg(ema=1.0)


def test_joint_bone_stream_trains_and_the_stored_encoder_reproduces_it(data, tmp_path):
    cfg = _cfg(objective="both", epochs=1, prep=PrepConfig(stream="joint+bone"))
    assert cfg.encoder_config(data).in_channels == 6
    enc, heads, hist = train_encoder(data, tiny_priors(data.class_names), cfg, "xsub")
    ts = encode(data, enc, heads, prep=cfg.prep, history=hist, train_split="xsub")
    assert ts.encoder_config["in_channels"] == 6
    assert ts.encoder_config["prep"]["channels"] == 3
    assert ts.encoder_config["prep"]["stream"] == "joint+bone"
    write_tokens(ts, tmp_path / "t.h5")
    back = read_tokens(tmp_path / "t.h5")
    conf = dict(back.encoder_config)
    prep = PrepConfig(**conf.pop("prep"))
    again = encode(data, encoder_from_state(conf, back.encoder_state), heads, prep=prep)
    np.testing.assert_allclose(again.features, ts.features, rtol=1e-4, atol=1e-5)
