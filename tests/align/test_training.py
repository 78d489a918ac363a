import dataclasses

import numpy as np
import pytest
import torch

from sugar_core.align.answers import first_sentence
from sugar_core.align.config import AlignConfig, BridgeConfig, LLMConfig
from sugar_core.align.inference import candidate_ids, predict, predict_split, to_class_ids
from sugar_core.align.store import load_aligned, save_aligned
from sugar_core.align.training import train_alignment
from sugar_core.errors import ConfigError, SchemaError
from sugar_core.predictions import Predictions, read_predictions
from tests.helpers.align import CLASSES, synthetic_priors, synthetic_tokens
from tests.helpers.llm import save_tiny_llama

pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(tiny_llm_dir, **kw):
    base = dict(
        bridge=BridgeConfig(queries=3, chunk=4, width=16, heads=2),
        llm=LLMConfig(spec=str(tiny_llm_dir), lora_r=4, max_description_tokens=6),
        epochs=2,
        lr=5e-3,
        batch_size=8,
    )
    base.update(kw)
    return AlignConfig(**base)


def _base_weights(llm) -> dict[str, torch.Tensor]:
    """The LLM's own weights under their original names (LoRA tensors left out)."""
    out = {}
    for name, p in llm.model.named_parameters():
        if "lora_" in name:
            continue
        name = name.removeprefix("base_model.model.").replace(".base_layer", "")
        out[name] = p.detach().clone()
    return out


def test_training_leaves_the_llm_bit_identical_and_lowers_the_loss(tiny_llm_dir):
    from transformers import AutoModelForCausalLM

    events = []
    model = train_alignment(
        synthetic_tokens(), synthetic_priors(), _cfg(tiny_llm_dir, epochs=3), "xview",
        callback=events.append,
    )  # fmt: skip
    fresh = dict(AutoModelForCausalLM.from_pretrained(tiny_llm_dir).named_parameters())
    trained = _base_weights(model.llm)
    assert set(trained) == set(fresh)
    for name, w in trained.items():
        assert torch.equal(w, fresh[name]), name
    assert not any(p.requires_grad for n, p in model.llm.named_parameters() if "lora_" not in n)
    assert model.history[-1]["loss"] < model.history[0]["loss"]
    steps = [e for e in events if e["event"] == "progress"]
    assert steps[-1]["done"] == steps[-1]["total"] == 3 * 4  # 32 train samples / 8
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2, 3]
    assert model.class_names == CLASSES


def test_no_lora_trains_the_bridge_alone(tiny_llm_dir):
    cfg = _cfg(tiny_llm_dir, epochs=1)
    cfg.llm.lora = False
    model = train_alignment(synthetic_tokens(), synthetic_priors(), cfg, "xview")
    assert model.llm.trainable_state() == {}


def test_train_classes_restrict_the_list_and_the_samples(tiny_llm_dir):
    events = []
    model = train_alignment(
        synthetic_tokens(), synthetic_priors(), _cfg(tiny_llm_dir, epochs=1), "xview",
        train_classes=[3, 1], callback=events.append,
    )  # fmt: skip
    assert model.class_names == [CLASSES[1], CLASSES[3]]
    assert [e for e in events if e["event"] == "progress"][-1]["total"] == 2  # 16 samples / 8


def test_predict_rank_and_generate_shapes(tiny_llm_dir):
    ts = synthetic_tokens()
    model = train_alignment(ts, synthetic_priors(), _cfg(tiny_llm_dir, epochs=1), "xview")
    test = ts.split_indices("xview", "test")
    seqs = [ts.tokens[i] for i in test]
    r = predict(model, seqs, CLASSES, decode="rank", batch_size=5, max_new_tokens=4)
    assert r.pred.shape == (len(test),) and r.top5.shape == (len(test), 5)
    assert (r.pred >= 0).all() and (r.top5[:, :4] >= 0).all() and (r.top5[:, 4] == -1).all()
    assert (np.diff(r.scores[:, :4], axis=1) <= 1e-6).all()  # ranked best first
    assert all(t.startswith("{" + CLASSES[p] + "}") for t, p in zip(r.raw_text, r.pred))
    g = predict(model, seqs, CLASSES, decode="generate", max_new_tokens=8)
    assert len(g.raw_text) == len(test) and set(g.how) <= {"exact", "normalised", "prefix", "none"}
    assert ((g.pred >= -1) & (g.pred < len(CLASSES))).all()
    assert (g.top5[:, 0] == g.pred).all() and (g.top5[:, 1:] == -1).all()
    same = lambda texts: np.ones((len(texts), 2), np.float32) / np.sqrt(2)  # noqa: E731
    e = predict(model, seqs, CLASSES, decode="generate", max_new_tokens=8, embed_fn=same)
    for how, p, t in zip(e.how, e.pred, e.raw_text):  # garbage answers now land on a class
        assert how != "none" or not first_sentence(t.replace("{", "").replace("}", "")), t
        assert (how == "embedding") <= (p == 0)
    # zero-shot style: another list, no retraining
    z = predict(model, seqs[:3], ["sit down", "walk around"], decode="rank", describe=False)
    assert set(z.pred) <= {0, 1} and z.raw_text[0] in ("{sit down}", "{walk around}")
    with pytest.raises(ConfigError, match="width"):
        predict(model, [np.zeros((3, 5), np.float16)], CLASSES)


def test_save_load_round_trip_predicts_the_same(tiny_llm_dir, tmp_path):
    ts = synthetic_tokens()
    llm = LLMConfig(spec=str(tiny_llm_dir), lora_r=4, max_description_tokens=6, prompt="list-first")
    model = train_alignment(ts, synthetic_priors(), _cfg(tiny_llm_dir, epochs=1, llm=llm), "xview")
    test = ts.split_indices("xview", "test")
    seqs = [ts.tokens[i] for i in test]
    a = predict(model, seqs, CLASSES, describe=False)
    p = Predictions(
        labels=ts.labels[test], pred=a.pred, top5=a.top5, class_names=CLASSES,
        sample_ids=[ts.sample_ids[i] for i in test], scores=a.scores, raw_text=a.raw_text,
        metrics={"top1": 0.5},
    )  # fmt: skip
    save_aligned(tmp_path / "aligned.h5", model, p)
    back = load_aligned(tmp_path / "aligned.h5")
    b = predict(back, seqs, CLASSES, describe=False)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
    assert back.class_names == CLASSES and back.config == model.config
    assert back.llm.cfg.prompt == "list-first"
    stored, kind = read_predictions(tmp_path / "aligned.h5")
    assert kind == "aligned" and (stored.pred == a.pred).all()


def test_load_refuses_other_llm_weights(tiny_llm_dir, tmp_path):
    ts = synthetic_tokens()
    model = train_alignment(ts, synthetic_priors(), _cfg(tiny_llm_dir, epochs=1), "xview")
    p = Predictions(
        labels=ts.labels[:2], pred=ts.labels[:2], top5=np.zeros((2, 5), np.int64),
        class_names=CLASSES, sample_ids=ts.sample_ids[:2],
    )  # fmt: skip
    save_aligned(tmp_path / "a.h5", model, p)
    other = save_tiny_llama(tmp_path / "other", seed=1)
    with pytest.raises(ConfigError, match="not the same weights"):
        load_aligned(tmp_path / "a.h5", llm_spec=str(other))


def test_predictions_only_file_has_no_model(tmp_path):
    from sugar_core.predictions import write_predictions

    p = Predictions(
        labels=np.zeros(1, np.int64), pred=np.zeros(1, np.int64), top5=np.zeros((1, 5), np.int64),
        class_names=["a"], sample_ids=["s"],
    )  # fmt: skip
    write_predictions(p, tmp_path / "p.h5", "aligned")
    with pytest.raises(SchemaError, match="no model"):
        load_aligned(tmp_path / "p.h5")


def test_resume_after_interruption_gives_the_same_weights(tiny_llm_dir, tmp_path):
    ts, pr = synthetic_tokens(), synthetic_priors()
    cfg = _cfg(tiny_llm_dir, epochs=2, checkpoint_every=1, token_noise=0.3)  # noise repeats too
    straight = train_alignment(ts, pr, cfg, "xview", run_dir=tmp_path / "a")

    def stop_at_5(ev):
        if ev["event"] == "progress" and ev["done"] == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_alignment(ts, pr, cfg, "xview", run_dir=tmp_path / "b", callback=stop_at_5)
    resumed = train_alignment(ts, pr, cfg, "xview", run_dir=tmp_path / "b", resume=True)
    for (n, a), b in zip(
        straight.bridge.state_dict().items(), resumed.bridge.state_dict().values()
    ):
        torch.testing.assert_close(a, b, msg=n)
    for n, a in straight.llm.trainable_state().items():
        torch.testing.assert_close(a, resumed.llm.trainable_state()[n], msg=n)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    for a, b in zip(straight.history, resumed.history):  # the same losses, seen in two runs
        assert abs(a["loss"] - b["loss"]) < 1e-5


def test_resume_refuses_other_settings(tiny_llm_dir, tmp_path):
    ts, pr = synthetic_tokens(), synthetic_priors()
    train_alignment(ts, pr, _cfg(tiny_llm_dir, epochs=1), "xview", run_dir=tmp_path)
    with pytest.raises(ConfigError, match="lr"):
        train_alignment(
            ts, pr, _cfg(tiny_llm_dir, epochs=1, lr=1e-2), "xview", run_dir=tmp_path, resume=True
        )
    with pytest.raises(ConfigError, match="no checkpoint"):
        train_alignment(
            ts, pr, _cfg(tiny_llm_dir), "xview", run_dir=tmp_path / "empty", resume=True
        )


def test_bad_split_and_missing_priors_are_user_errors(tiny_llm_dir):
    ts = synthetic_tokens()
    with pytest.raises(SchemaError, match="no split 'xsub'"):
        train_alignment(ts, synthetic_priors(), _cfg(tiny_llm_dir), "xsub")
    pr = synthetic_priors().select(CLASSES[:2])
    with pytest.raises(SchemaError, match="no entry for class"):
        train_alignment(ts, pr, _cfg(tiny_llm_dir), "xview")


def test_token_noise_is_seeded_per_channel_and_spares_padding():
    from sugar_core.align.training import _add_noise

    x = torch.zeros(2, 5, 3)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], dtype=torch.bool)
    scale = torch.tensor([0.0, 1.0, 10.0])
    a = _add_noise(x, mask, scale, [0, 1, 2])
    assert torch.equal(a, _add_noise(x, mask, scale, [0, 1, 2]))
    assert not torch.equal(a, _add_noise(x, mask, scale, [0, 1, 3]))
    assert torch.equal(a[1, 2:], torch.zeros(3, 3))  # padding untouched
    assert torch.equal(a[..., 0], torch.zeros(2, 5))  # a channel with zero spread gets none
    assert a[..., 2].abs().sum() > 5 * a[..., 1].abs().sum()
    from sugar_core.align.training import _channel_stats

    ts = synthetic_tokens()
    idx = ts.split_indices("xview", "train")
    flat = np.concatenate([ts.tokens[r].astype(np.float64) for r in idx])
    mean, std = _channel_stats(ts, idx, "cpu")
    np.testing.assert_allclose(mean.numpy(), flat.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std.numpy(), flat.std(0), rtol=1e-5)
    with pytest.raises(ConfigError, match="token_noise"):
        AlignConfig(token_noise=-0.1).check()


def test_standardized_bridge_fits_train_statistics_and_saves_them(tiny_llm_dir, tmp_path):
    ts = synthetic_tokens()
    cfg = _cfg(tiny_llm_dir, epochs=1, bridge=BridgeConfig(kind="pool", standardize=True),
               validation="none")  # statistics of the whole train part  # fmt: skip
    model = train_alignment(ts, synthetic_priors(), cfg, "xview")
    idx = ts.split_indices("xview", "train")
    flat = np.concatenate([ts.tokens[r].astype(np.float64) for r in idx])
    np.testing.assert_allclose(model.bridge.mean.numpy(), flat.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.bridge.std.numpy(), flat.std(0), rtol=1e-4)
    test = ts.split_indices("xview", "test")
    seqs = [ts.tokens[i] for i in test]
    a = predict(model, seqs, CLASSES, describe=False)
    p = Predictions(labels=ts.labels[test], pred=a.pred, top5=a.top5, class_names=CLASSES,
                    sample_ids=[ts.sample_ids[i] for i in test])  # fmt: skip
    save_aligned(tmp_path / "std.h5", model, p)
    back = load_aligned(tmp_path / "std.h5")
    assert torch.equal(back.bridge.std, model.bridge.std)
    np.testing.assert_allclose(predict(back, seqs, CLASSES, describe=False).scores, a.scores,
                               atol=1e-5)  # fmt: skip


def test_config_round_trips_through_a_dict():
    cfg = AlignConfig(bridge=BridgeConfig(kind="pool"), llm=LLMConfig(lora=False), epochs=3)
    d = cfg.to_dict()
    assert d["llm"]["lora_targets"] == ["q_proj", "v_proj"]  # JSON lists in stored files
    assert AlignConfig.from_dict(d) == cfg
    assert AlignConfig.from_dict({**d, "gone": 1, "llm": {**d["llm"], "old": 2}}) == cfg


def test_settings_are_strict_and_nest():
    cfg = AlignConfig.from_settings(
        {"warmup": 0.1, "bridge": {"dropout": 0.2}, "llm": {"lora_targets": ["q_proj"]}}, "here"
    )
    assert (cfg.warmup, cfg.bridge.dropout, cfg.llm.lora_targets) == (0.1, 0.2, ("q_proj",))
    for bad, message in [
        ({"nope": 1}, "here: unknown setting.*nope"),
        ({"bridge": {"kindd": "pool"}}, "bridge.kindd"),
        ({"epochs": "two"}, "here: epochs = 'two'; expected a whole number"),
        ({"llm": {"lora_targets": "q_proj"}}, "llm.lora_targets"),
        ({"bridge": {"heads": 3}}, "here: bridge width 256 is not divisible by heads 3"),
        ({"precision": "fp16"}, "here: unknown precision"),
    ]:
        with pytest.raises(ConfigError, match=message):
            AlignConfig.from_settings(bad, "here")


@pytest.fixture(scope="module")
def trained(tiny_llm_dir):
    """One model on all four classes, for the predict_split tests."""
    ts = synthetic_tokens()
    return ts, train_alignment(ts, synthetic_priors(), _cfg(tiny_llm_dir, epochs=1), "xview")


def test_predict_split_maps_positions_of_a_reordered_subset_to_class_ids(trained):
    ts, model = trained
    test = ts.split_indices("xview", "test")
    p = predict_split(model, ts, test, [3, 1], describe=False)
    d = predict(model, [ts.tokens[i] for i in test], [CLASSES[3], CLASSES[1]], describe=False)
    np.testing.assert_array_equal(p.pred, np.array([3, 1])[d.pred])
    assert set(p.top5[:, :2].ravel()) <= {1, 3} and (p.top5[:, 2:] == -1).all()
    np.testing.assert_array_equal(p.scores, d.scores)
    assert p.class_names == CLASSES and list(p.candidates) == [3, 1]
    np.testing.assert_array_equal(p.labels, ts.labels[test])
    np.testing.assert_array_equal(p.features, ts.features[test])
    assert p.sample_ids == [ts.sample_ids[i] for i in test] and p.raw_text == d.raw_text
    decode_facts = {"decode", "predict_seconds", "seconds_per_sample", "match_rules"}
    assert set(p.metrics) == decode_facts | {"calibration", "prior_share"}
    assert p.metrics["calibration"] == "none" and set(p.metrics["prior_share"]) == {
        CLASSES[3],
        CLASSES[1],
    }
    assert p.metrics["decode"] == "rank" and p.metrics["match_rules"] == {"rank": len(test)}
    # default list: the model's own names, looked up in the token set (here in the same order)
    own = predict_split(model, ts, test[:3], describe=False)
    assert list(own.candidates) == [0, 1, 2, 3]


def test_predict_split_keeps_minus_one_for_answers_off_the_list(trained):
    ts, model = trained
    test = ts.split_indices("xview", "test")
    p = predict_split(model, ts, test, [2, 0], decode="generate", max_new_tokens=8)
    seqs = [ts.tokens[i] for i in test]
    d = predict(model, seqs, [CLASSES[2], CLASSES[0]], decode="generate", max_new_tokens=8)
    np.testing.assert_array_equal(p.pred, np.where(d.pred >= 0, np.array([2, 0])[d.pred], -1))
    assert (p.pred == -1).sum() == d.how.count("none") > 0
    assert (p.top5[:, 0] == p.pred).all() and (p.top5[:, 1:] == -1).all()
    assert sum(p.metrics["match_rules"].values()) == len(test)
    np.testing.assert_array_equal(to_class_ids(np.array([[1, -1, 0]]), [3, 1]), [[1, -1, 3]])


def test_predict_split_names_a_class_the_tokens_lack(trained):
    ts, model = trained
    other = dataclasses.replace(ts, class_names=[*CLASSES[:2], "sit", CLASSES[3]])
    with pytest.raises(ConfigError, match="'sit down' is not among the tokens' classes"):
        predict_split(model, other, [0, 1])
    with pytest.raises(ConfigError, match="candidate class id 7"):
        candidate_ids(model, ts, [1, 7])
