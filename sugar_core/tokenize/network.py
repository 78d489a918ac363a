"""The trainable stage-1 network: the encoder plus its training heads, and both rebuilt from
stored weights (a tokens file keeps the encoder's and the heads' state dicts)."""

from __future__ import annotations

import math

import torch
from torch import nn

from sugar_core.tokenize.config import EncoderConfig
from sugar_core.tokenize.encoder import SkeletonEncoder


class Heads(nn.Module):
    """Training-only read-outs of the pooled feature (N, D).

    ``text``: linear map into the text-embedding space (N, D_text); ``cls``: a K-way classifier
    (objective ce / both); ``logit_scale``: log(1 / tau) of the contrastive loss.
    """

    def __init__(self, dim: int, text_dim: int, num_classes: int | None, temperature: float):
        super().__init__()
        self.text = nn.Linear(dim, text_dim)
        self.cls = nn.Linear(dim, num_classes) if num_classes else None
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))

    def scale(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=math.log(100.0))


class Stage1Net(nn.Module):
    """Encoder + heads in one module, so one ``accelerator.prepare`` (DDP) covers both."""

    def __init__(self, encoder: SkeletonEncoder, heads: Heads):
        super().__init__()
        self.encoder = encoder
        self.heads = heads

    def forward(self, x: torch.Tensor, parts: bool = False):
        """pooled (B, D), z (B, E) | None, logits (B, K) | None, scale (); with ``parts`` a fifth:
        each body part's token stream through the text head (B, T_s, P, E) (the part loss)."""
        tokens, pooled = self.encoder(x)  # (B, Ls, D), (B, D)
        z = self.heads.text(pooled) if self.heads.text.weight.requires_grad else None
        logits = self.heads.cls(pooled) if self.heads.cls is not None else None
        out = (pooled, z, logits, self.heads.scale())
        if not parts:
            return out
        return *out, self.heads.text(self.encoder.part_streams(tokens))  # (B, T_s, P, E)


def heads_from_state(state: dict) -> Heads:
    """Rebuild a Heads module from its state dict (shapes tell the sizes)."""
    w = state["text.weight"]
    k = state["cls.weight"].shape[0] if "cls.weight" in state else None
    heads = Heads(int(w.shape[1]), int(w.shape[0]), k, 0.07)
    heads.load_state_dict(state)
    return heads.eval()


def encoder_from_state(config: dict, state: dict) -> SkeletonEncoder:
    """Rebuild an encoder from its stored config (extra keys such as prep are ignored)."""
    enc = SkeletonEncoder(EncoderConfig.from_dict(config))
    enc.load_state_dict(state)
    return enc.eval()
