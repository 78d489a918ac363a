"""An aligned model inside an aligned.h5 (kind ``aligned``), beside its predictions.

Layout added to the ``Predictions`` datasets of ``predictions.py``::

    weights/bridge/<name>   bridge state dict (TQP or a baseline; with an anchor token the
                            copied stage-1 text head too: anchor.head_weight, anchor.head_bias)
    weights/lora/<name>     LoRA adapter tensors (empty group when trained with --no-lora)
    align_config            JSON of the AlignConfig (bridge, LLM and training settings)
    prompt_classes          (K,) the action list the model was trained with, in prompt order
    align_history           JSON, one dict per epoch
    weights/null_token      (D,) the training tokens' mean, the null input of calibration
    weights/reference_tokens (sum Ls_i, D) training samples' tokens end to end, and
    weights/reference_lengths (R,) their lengths: the inputs of calibration reference
    weights/reference_projected (R, E) the same samples' text-space features (the embedding
                            baseline's reference; files before it lack it)
    weights/text_prototypes (K, E) class prototypes, when the text-prior read-out answers
    attrs llm_spec, llm_fingerprint, llm_model_type, token_dim, calibration, readout,
          class_texts (JSON: the own list's cut prior notes and descriptions, or nulls)

The LLM itself is not copied: ``llm_spec`` names it and ``llm_fingerprint`` (sha256 of its
config and weight bytes, ``llm.fingerprint``) proves on load that the same weights came back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import h5py
import numpy as np
import torch

from sugar_core import schema
from sugar_core.align.anchor import text_width
from sugar_core.align.config import AlignConfig
from sugar_core.align.model import AlignedModel, build_parts
from sugar_core.errors import ConfigError, SchemaError
from sugar_core.predictions import Predictions, write_predictions


def aligned_writer(model: AlignedModel) -> Callable[[h5py.File], None]:
    """An ``extra=`` function for ``write_predictions`` that stores ``model`` (AlignedModel)."""

    def write(f: h5py.File) -> None:
        w = f.require_group(schema.WEIGHTS)
        schema.write_state_dict(w.create_group(schema.BRIDGE), model.bridge.state_dict())
        schema.write_state_dict(w.create_group(schema.LORA), model.llm.trainable_state())
        schema.write_json(f, schema.ALIGN_CONFIG, model.config.to_dict())
        schema.write_strings(f, schema.PROMPT_CLASSES, model.class_names)
        schema.write_json(f, schema.ALIGN_HISTORY, model.history)
        f.attrs["llm_spec"] = model.config.llm.spec
        f.attrs["llm_fingerprint"] = model.llm.fingerprint
        f.attrs["llm_model_type"] = str(getattr(model.llm.base_model().config, "model_type", ""))
        f.attrs["token_dim"] = int(model.token_dim)
        f.attrs["calibration"] = model.calibration
        if model.null_token is not None:
            w.create_dataset(schema.NULL_TOKEN, data=np.asarray(model.null_token, np.float32))
        if model.reference_tokens:
            refs = [np.asarray(t, np.float32) for t in model.reference_tokens]
            w.create_dataset(schema.REFERENCE_TOKENS, data=np.concatenate(refs))
            w.create_dataset(schema.REFERENCE_LENGTHS, data=np.array([len(t) for t in refs]))
        if model.reference_projected is not None:
            w.create_dataset(schema.REFERENCE_PROJECTED,
                             data=np.asarray(model.reference_projected, np.float32))  # fmt: skip
        f.attrs["readout"] = model.readout
        f.attrs["class_texts"] = json.dumps(  # knowledge and answer scoring, own list
            {"notes": model.class_notes, "descriptions": model.class_descriptions}
        )
        if model.prototypes is not None:
            w.create_dataset(schema.TEXT_PROTOTYPES, data=np.asarray(model.prototypes, np.float32))

    return write


def save_aligned(
    path: str | os.PathLike,
    model: AlignedModel,
    predictions: Predictions,
    config: dict | None = None,
    seed: int | None = None,
    inputs=(),
) -> None:
    """Write predictions and the trained model to ``path`` atomically (kind ``aligned``)."""
    write_predictions(
        predictions,
        path,
        "aligned",
        config=config if config is not None else model.config.to_dict(),
        seed=model.config.seed if seed is None else seed,
        inputs=inputs,
        extra=aligned_writer(model),
    )


def load_aligned(
    path: str | os.PathLike,
    llm_spec: str | None = None,
    device: str | torch.device | None = None,
    check_fingerprint: bool = True,
) -> AlignedModel:
    """Rebuild the AlignedModel stored in ``path``.

    ``llm_spec`` overrides where the LLM is loaded from (the same weights elsewhere);
    with ``check_fingerprint`` a different LLM is refused (ConfigError naming the file).
    """
    with schema.open_file(path, "aligned") as f:
        for name in (schema.WEIGHTS, schema.ALIGN_CONFIG, schema.PROMPT_CLASSES):
            if name not in f:
                raise SchemaError(
                    f"{path}: {name!r} missing: this aligned file holds predictions but no model"
                )
        cfg = AlignConfig.from_dict(
            schema.read_json(f, schema.ALIGN_CONFIG), f"{path}: {schema.ALIGN_CONFIG}"
        )
        bridge_state = schema.read_state_dict(f[schema.WEIGHTS][schema.BRIDGE])
        lora_state = schema.read_state_dict(f[schema.WEIGHTS][schema.LORA])
        names = [str(x) for x in schema.read_strings(f, schema.PROMPT_CLASSES)]
        history = schema.read_json(f, schema.ALIGN_HISTORY) if schema.ALIGN_HISTORY in f else []
        stored_fp = str(f.attrs.get("llm_fingerprint", ""))
        token_dim = int(f.attrs["token_dim"])
        calibration = str(f.attrs.get("calibration", "none"))  # files before it: none
        weights = f[schema.WEIGHTS]
        null = weights[schema.NULL_TOKEN][...] if schema.NULL_TOKEN in weights else None
        refs = _reference_tokens(weights)  # files before them: None
        ref_proj = (weights[schema.REFERENCE_PROJECTED][...]
                    if schema.REFERENCE_PROJECTED in weights else None)  # fmt: skip
        readout = str(f.attrs.get("readout", "llm"))  # files before it: the LLM
        protos = weights[schema.TEXT_PROTOTYPES][...] if schema.TEXT_PROTOTYPES in weights else None
        texts = json.loads(str(f.attrs.get("class_texts", "{}")))  # files before it: none
    if llm_spec is not None:
        cfg.llm.spec = str(llm_spec)
    text_dim = text_width(bridge_state, str(path)) if cfg.bridge.anchored else None
    bridge, llm = build_parts(cfg, token_dim, text_dim)
    if check_fingerprint and llm.fingerprint != stored_fp:
        raise ConfigError(
            f"{path}: trained with LLM fingerprint {stored_fp[:12]}..., but {cfg.llm.spec!r} "
            f"loads as {llm.fingerprint[:12]}...: not the same weights"
        )
    try:
        bridge.load_state_dict(bridge_state)
    except RuntimeError as exc:
        raise SchemaError(f"{path}: bridge weights do not fit its config ({exc})") from None
    expected = set(llm.trainable_state())
    if set(lora_state) != expected:
        raise SchemaError(
            f"{path}: LoRA weights hold {len(lora_state)} tensors, the config makes "
            f"{len(expected)} (first missing: {sorted(expected - set(lora_state))[:1]})"
        )
    llm.load_state_dict(lora_state, strict=False)
    if device is None:
        device = "cuda" if torch.cuda.is_available() and not cfg.cpu else "cpu"
    bridge.to(device).eval()
    llm.to(device).eval()
    return AlignedModel(bridge, llm, cfg, names, token_dim, history, calibration, null, readout,
                        protos, texts.get("notes"), texts.get("descriptions"), refs,
                        ref_proj)  # fmt: skip


def _reference_tokens(weights: h5py.Group) -> list[np.ndarray] | None:
    """The stored reference inputs, one (Ls_i, D) array each, or None when there are none."""
    if schema.REFERENCE_TOKENS not in weights:
        return None
    flat = weights[schema.REFERENCE_TOKENS][...]
    ends = np.cumsum(weights[schema.REFERENCE_LENGTHS][...])
    return np.split(flat, ends[:-1])
