"""A tiny random causal LLM, for runs that must not wait for (or cannot find) a real one.

``make_tiny_llm(folder, texts)`` writes a 2-layer LLaMA with random weights and a byte-level
BPE tokenizer trained in-process on ``texts`` (the prompt, class names, descriptions), as an
ordinary transformers folder: every stage loads it like any other ``--llm`` folder. It knows no
language, so what it "describes" is noise and its answers only reflect what the bridge learned
in training; ``sugar demo --fast`` and the tests use it, and the demo falls back to it (with a
notice) when the SmolLM2 package is not installed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sugar_core.align.config import PROMPT
from sugar_core.schema import atomic_path

# ChatML, the format SmolLM2 uses, so prompts look the same with either model
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ("<pad>", "<|im_start|>", "<|im_end|>")


@dataclass(frozen=True)
class TinyLLMConfig:
    hidden: int = 64  # width; LoRA and the bridge scale with it, so small is fast
    layers: int = 2  # enough for LoRA targets in more than one block
    heads: int = 4  # attention heads (2 key/value heads: grouped-query like SmolLM2)
    vocab: int = 800  # BPE merges stop here; byte fallback covers any other text
    seed: int = 0  # weights are torch.manual_seed(seed) + LlamaConfig init


def _tokenizer(texts: list[str], vocab: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=list(SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [PROMPT, "user assistant system", *texts]
    tok.train_from_iterator(corpus * 3, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=SPECIALS[0], bos_token=SPECIALS[1], eos_token=SPECIALS[2]
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def make_tiny_llm(
    folder: str | os.PathLike, texts: list[str], cfg: TinyLLMConfig | None = None
) -> Path:
    """Write a tiny random LLaMA + tokenizer into ``folder`` (atomically); return the folder.

    An existing folder that already holds a model is kept as it is, so a rerun reuses the same
    weights (and an aligned file trained on them still loads: its fingerprint matches).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = cfg or TinyLLMConfig()
    folder = Path(folder)
    if (folder / "config.json").exists():
        return folder
    tok = _tokenizer([str(t) for t in texts], cfg.vocab)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=cfg.hidden,
        intermediate_size=2 * cfg.hidden,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=max(1, cfg.heads // 2),
        max_position_embeddings=1024,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(cfg.seed)
    model = LlamaForCausalLM(config).eval()
    with atomic_path(folder, suffix=".dir") as tmp:
        tmp.unlink()
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    return folder
