"""Tiny models and data for the align tests: a byte-level BPE tokenizer trained in-process, a
2-layer random LLaMA built from a config, synthetic token sets with class-dependent means."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = ["pick up", "pick up with one hand", "sit down", "throw"]
DESCRIPTIONS = [
    "a person bends and lifts an object.",
    "a person bends and lifts an object with one hand.",
    "a person lowers the hips onto a chair.",
    "a person swings an arm and releases an object.",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "Given a sequence of action tokens, please choose the most compatible action from: "
    "[pick up, sit down, throw], and describe the action. Answer:",
    *[f"{{{c}}}. {d}" for c, d in zip(CLASSES, DESCRIPTIONS)],
    "user assistant system walk around stand up carry donning doffing drop trash two hands",
]


def tiny_tokenizer(chat: bool = True):
    """Byte-level BPE (exact round trips) with chat special tokens, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<pad>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS * 3, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<|im_end|>", bos_token="<|im_start|>"
    )
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_llama(seed: int = 0, chat: bool = True, hidden: int = 32):
    """(model, tokenizer): a 2-layer LLaMA with random weights."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tiny_tokenizer(chat)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg).eval(), tok


def save_tiny_llama(folder: Path, seed: int = 0, chat: bool = True) -> Path:
    model, tok = tiny_llama(seed, chat)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def synthetic_tokens(
    n_per_class: int = 12, dim: int = 8, lengths=(2, 20), seed: int = 0, spread: float = 3.0
):
    """A TokenSet: per class a random mean, tokens = mean + unit noise; 2/3 train, 1/3 test."""
    from sugar_core.tokenize.store import TokenSet

    rng = np.random.default_rng(seed)
    means = rng.normal(size=(len(CLASSES), dim)) * spread
    tokens, labels, split = [], [], []
    for c in range(len(CLASSES)):
        for i in range(n_per_class):
            ls = int(rng.integers(lengths[0], lengths[1] + 1))
            tokens.append((means[c] + rng.normal(size=(ls, dim))).astype(np.float16))
            labels.append(c)
            split.append(1 if i < 2 * n_per_class // 3 else 0)
    n = len(tokens)
    feats = np.stack([t.astype(np.float32).mean(0) for t in tokens])
    return TokenSet(
        tokens=tokens,
        features=feats,
        projected=feats / np.linalg.norm(feats, axis=1, keepdims=True),
        labels=np.array(labels, dtype=np.int64),
        class_names=list(CLASSES),
        sample_ids=[f"s{i:03d}" for i in range(n)],
        splits={"xview": np.array(split, dtype=np.int8)},
        train_split="xview",
    )


def synthetic_priors():
    from sugar_core.priors.store import Priors

    k = len(CLASSES)
    emb = np.ones((k, 1, 4), dtype=np.float32) / 2.0
    return Priors(
        class_names=list(CLASSES),
        texts=np.array([[d] for d in DESCRIPTIONS], dtype=object),
        text_kinds=["motion"],
        embeddings=emb,
        mask=np.ones((k, 1), dtype=bool),
        descriptions=list(DESCRIPTIONS),
        encoder_id="none",
    )
