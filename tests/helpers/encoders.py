"""Tiny random encoders for the priors tests: a word-level tokenizer, a 1-layer BERT text
encoder, a CLIP vision tower, solid-colour frames. Built from configs, no downloads,
milliseconds (the tiny LLM is in ``helpers.llm``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

WORDS = (
    "a person head hand arm hip leg foot tilts moves lifts bends remains stationary walks "
    "picks up throws with one two hands the cup ball trash box ; : . , { } of an action "
    "describe in six parts order answer line example drink water sit down stand carry "
    "user assistant system"
).split()


def tiny_tokenizer():
    """A word-level tokenizer trained in-process, wrapped for transformers."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>", "<bos>", "<eos>"])
    tok.train_from_iterator([" ".join(WORDS)] * 2, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
    )


def tiny_bert(seed: int = 0):
    """(model, tokenizer): a 1-layer BERT encoder with hidden width 16."""
    import torch
    from transformers import BertConfig, BertModel

    tok = tiny_tokenizer()
    cfg = BertConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=128,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    return BertModel(cfg).eval(), tok


def tiny_text_encoder():
    from sugar_core.priors.encoders import TextEncoder

    model, tok = tiny_bert()
    return TextEncoder(model, tok, "tiny-bert", "mean", 64)


def save_tiny_bert(folder: Path) -> Path:
    model, tok = tiny_bert()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def tiny_clip_vision(seed: int = 0):
    """ImageEncoder over a random CLIP vision tower (32 px images, 8-d embeddings)."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from sugar_core.priors.frames import ImageEncoder

    cfg = CLIPVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
        projection_dim=8,
    )
    torch.manual_seed(seed)
    model = CLIPVisionModelWithProjection(cfg)
    proc = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return ImageEncoder(model, proc, "tiny-clip")


def write_frames(folder: Path, colors: list[tuple[int, int, int]], size: int = 40) -> Path:
    """One solid-colour PNG per colour, named 00000.png, 00001.png, ..."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, c in enumerate(colors):
        arr = np.zeros((size, size, 3), dtype=np.uint8)
        arr[...] = c
        arr[: size // 4, : size // 4] = 255 - np.array(c, dtype=np.uint8)  # not entirely flat
        Image.fromarray(arr).save(folder / f"{i:05d}.png")
    return folder
