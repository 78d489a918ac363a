"""The tests' one tiny LLM: ``sugar_core.align.tiny_llm.make_tiny_llm`` at width 32.

A 2-layer LLaMA with random weights and a byte-level BPE tokenizer (exact round trips, ChatML
template) trained on the words the tests prompt with, so their prompts stay short; any other
text still encodes, byte by byte. ``tests/conftest.py`` writes it once per run
(``tiny_llm_dir``); nothing writes into that folder afterwards.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from sugar_core.align.tiny_llm import TinyLLMConfig, make_tiny_llm
from tests.helpers.align import CLASSES, DESCRIPTIONS
from tests.helpers.encoders import WORDS

CONFIG = TinyLLMConfig(hidden=32, vocab=400)
TEXTS = [
    "Given a sequence of action tokens, please choose the most compatible action from: "
    "[pick up, sit down, throw], and describe the action. Answer:",
    *[f"{{{c}}}. {d}" for c, d in zip(CLASSES, DESCRIPTIONS)],
    "walk around stand up carry donning doffing drop trash two hands",  # the zero-shot names
    " ".join(WORDS),  # what the priors backends are asked and answer
]


def save_tiny_llama(folder: str | os.PathLike, seed: int = 0) -> Path:
    """Write the tiny LLM into ``folder``; another seed gives other weights, same tokenizer."""
    return make_tiny_llm(folder, TEXTS, dataclasses.replace(CONFIG, seed=seed))


def load_tiny_llama(folder: str | os.PathLike, chat: bool = True):
    """(model, tokenizer) from a folder of ``save_tiny_llama``, model in eval mode; a fresh
    pair per call, so a test may change either. ``chat=False`` drops the chat template."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    if not chat:
        tok.chat_template = None
    return model, tok
