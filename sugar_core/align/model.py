"""The aligned model: a bridge feeding action tokens into a frozen LLM (with LoRA adapters).

``build_parts`` makes both halves from an ``AlignConfig`` (training starts from it; the store
builds the same halves and loads the stored weights into them). ``AlignedModel`` is what
training returns, ``predict`` reads and an aligned.h5 keeps (``store.py``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from sugar_core.align.anchor import with_anchor
from sugar_core.align.bridges import build_bridge, pad_tokens
from sugar_core.align.config import AlignConfig, LLMConfig
from sugar_core.align.llm import DTYPES, FrozenLLM


@dataclass
class AlignedModel:
    bridge: nn.Module  # tokens (B, Ls, D) -> action tokens (B, Q_out, D_llm)
    llm: FrozenLLM
    config: AlignConfig
    class_names: list[str]  # the action list it was trained with, in prompt order
    token_dim: int  # D of the tokens it reads
    history: list[dict] = field(default_factory=list)  # one dict per epoch
    calibration: str = "none"  # how rank scores are corrected (calibration.py)
    null_token: np.ndarray | None = None  # (D,) the training tokens' mean: the "null" input
    readout: str = "llm"  # llm, or the text-prior fallback chosen on validation (readout.py)
    prototypes: np.ndarray | None = None  # (K, E) class prototypes of the fallback read-out
    class_notes: list[str] | None = None  # (K,) prior texts listed beside the names (cut)
    class_descriptions: list[str] | None = None  # (K,) descriptions (answer scoring)
    # (Ls_i, D) token sequences of training samples: the inputs of calibration "reference"
    reference_tokens: list[np.ndarray] | None = None
    # (R, E) the same samples' text-space features: the embedding baseline's "reference"
    reference_projected: np.ndarray | None = None

    def autocast(self):
        """bf16 autocast on the LLM's device when trained that way, else a no-op context."""
        dev = self.llm.device.type
        if self.config.precision == "bf16":
            return torch.autocast(device_type=dev, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def action_tokens(self, seqs: list[np.ndarray]) -> torch.Tensor:
        x, mask = pad_tokens(seqs, device=self.llm.device)  # (B, Ls, D), (B, Ls)
        return self.bridge(x, mask)  # (B, Q_out, D_llm)


def load_llm(cfg: LLMConfig) -> FrozenLLM:
    """The LLM ``cfg.spec`` names, frozen, with fresh LoRA adapters when ``cfg.lora``."""
    from sugar_core.models import load_causal_lm

    model, tok = load_causal_lm(cfg.spec, dtype=DTYPES[cfg.dtype])
    return FrozenLLM(model, tok, cfg)


def build_parts(
    cfg: AlignConfig, token_dim: int, text_dim: int | None = None
) -> tuple[nn.Module, FrozenLLM]:
    """(bridge, LLM) for tokens of width ``token_dim``, freshly initialised.

    The LLM comes first: its LoRA initialisation draws from torch's global generator before
    the bridge's, so a seeded run starts from the same weights it always did. With
    ``bridge.output_scale = "llm"`` the bridge is handed the LLM's mean word-embedding norm
    here, measured once; a stored model then loads its learned gain over it. With
    ``bridge.anchor`` the bridge ends in an anchor token (``anchor.py``) reading a text space
    of width ``text_dim`` (E of the stage-1 text head); its head and map are filled by
    ``anchor.attach`` (training) or the stored weights (loading). The anchor's layer draws
    after the bridge's, so the bridge starts where it would without one.
    """
    llm = load_llm(cfg.llm)
    norm = llm.embedding_norm() if cfg.bridge.output_scale == "llm" else None
    bridge = build_bridge(cfg.bridge, token_dim, llm.width, norm)
    return with_anchor(bridge, cfg.bridge.anchor, token_dim, text_dim, llm.width), llm
