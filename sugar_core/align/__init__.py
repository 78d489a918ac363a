"""Stage 2 ("align"): a bridge (+ LoRA) into a frozen LLM that names and describes actions.

Modules, bottom up (each imports only those above it, and never this package itself):

- ``config``: ``AlignConfig`` (``BridgeConfig``, ``LLMConfig`` inside), choices, prompt texts;
- ``bridges``: TQP and the baseline bridges, token sequence -> LLM input embeddings;
- ``anchor``: the anchor token (the stage-1 text head's feature, mapped into the LLM);
- ``llm``: ``FrozenLLM`` (freeze, LoRA, fingerprint, prompt, splice, loss);
- ``decoding``: rank every listed class, or generate greedily;
- ``answers``: reading the class out of a generated answer;
- ``model``: ``AlignedModel`` (bridge + frozen LLM) and what builds it;
- ``training``: ``train_alignment``;
- ``inference``: ``predict`` (-> ``Decoded``, list positions) and ``predict_split``
  (-> ``Predictions``, class ids);
- ``store``: ``save_aligned`` / ``load_aligned`` (the model inside an aligned.h5);
- ``tiny_llm``: a tiny random LLM for runs without a real one.

The public names below are importable from here. They load on first use, so reading
``sugar_core.align.config`` (the CLI's choices and defaults) does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sugar_core.lazy import exports

_API = {  # public name -> the module that defines it
    "AlignConfig": "sugar_core.align.config",
    "BridgeConfig": "sugar_core.align.config",
    "LLMConfig": "sugar_core.align.config",
    "AlignedModel": "sugar_core.align.model",
    "train_alignment": "sugar_core.align.training",
    "Decoded": "sugar_core.align.inference",
    "predict": "sugar_core.align.inference",
    "predict_split": "sugar_core.align.inference",
    "save_aligned": "sugar_core.align.store",
    "load_aligned": "sugar_core.align.store",
}

__all__ = [  # = the keys of _API, spelled out for static analysers
    "AlignConfig",
    "AlignedModel",
    "BridgeConfig",
    "Decoded",
    "LLMConfig",
    "load_aligned",
    "predict",
    "predict_split",
    "save_aligned",
    "train_alignment",
]


__getattr__, __dir__ = exports(__name__, _API, __all__)


if TYPE_CHECKING:  # static analysers see the real names
    from sugar_core.align.config import AlignConfig, BridgeConfig, LLMConfig
    from sugar_core.align.inference import Decoded, predict, predict_split
    from sugar_core.align.model import AlignedModel
    from sugar_core.align.store import load_aligned, save_aligned
    from sugar_core.align.training import train_alignment
