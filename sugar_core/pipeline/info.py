"""What a sugar file holds, without loading its big arrays (what `sugar data info` shows).

Every kind: its root attributes and the shape / dtype of each dataset. A ``summary`` is added,
computed from the small per-sample datasets only, so a multi-GB NTU file is described in well
under a second:

- skeletons: counts per class and split, length and body statistics, the layout;
- tokens: tokens per sample, the encoder (preset, stream, token layout, how many values its
  weights hold) and its run (epochs, the selected one, the validation rule and the last
  ``val_*`` / ``test_*`` figures of its history);
- aligned / zeroshot / ensemble: the stored metrics and answers off the list; aligned files
  also the bridge, the LLM, the prompt, the calibration and the read-out.
"""

from __future__ import annotations

import os
from collections import Counter

import h5py
import numpy as np

from sugar_core import schema
from sugar_core.evaluate.metrics import JSON_KEYS
from sugar_core.predictions import PREDICTION_KINDS
from sugar_core.skeleton.dataset import TEST, TRAIN, UNUSED

# design.md's metric keys as the file stored them, and zero-shot's unseen split and chance
METRIC_KEYS = (*JSON_KEYS, "unseen_split", "chance")


def describe(path: str | os.PathLike) -> dict:
    """A JSON-ready description of any sugar file (validated on open)."""
    with schema.open_file(path) as f:
        info = {"path": str(path), **schema.root_info(f), "datasets": _datasets(f)}
        info["kind"] = info.pop("sugar_kind")
        if info["kind"] == "skeletons":
            info["summary"] = _skeleton_summary(f)
        elif info["kind"] == "tokens":
            info["summary"] = _tokens_summary(f)
        elif info["kind"] in PREDICTION_KINDS:
            info["summary"] = _predictions_summary(f, info["kind"])
    return info


def _json(f: h5py.File, name: str, default):
    return schema.read_json(f, name) if name in f else default


def _values(group) -> int:
    """How many numbers the datasets under ``group`` hold (weights: parameters and buffers)."""
    sizes = []
    group.visititems(lambda _, o: sizes.append(o.size) if isinstance(o, h5py.Dataset) else None)
    return int(sum(sizes))


def _tokens_summary(f: h5py.File) -> dict:
    per = np.diff(f[schema.TOKEN_OFFSETS][...])
    config = _json(f, schema.ENCODER_CONFIG, {})
    history = _json(f, schema.HISTORY, [])
    last = history[-1] if history else {}
    figures = {
        k: last[k] for part in ("val_", "test_") for k in sorted(last)
        if k.startswith(part) and k.endswith("top1")
    }  # fmt: skip
    held = f[schema.ENCODER_VALIDATION].shape[0] if schema.ENCODER_VALIDATION in f else None
    return {
        "n": int(len(per)),
        "classes": int(f[schema.CLASS_NAMES].shape[0]),
        "dim": int(f[schema.TOKENS].shape[1]),
        "tokens_per_sample": {
            "min": int(per.min()) if len(per) else 0,
            "median": float(np.median(per)) if len(per) else 0.0,
            "max": int(per.max()) if len(per) else 0,
        },
        "train_split": str(f.attrs.get("train_split", "")),
        "layout": str(f.attrs.get("layout", "")),
        "encoder": {
            "preset": config.get("preset"),
            "stream": (config.get("prep") or {}).get("stream"),
            "token_layout": config.get("token_layout"),
            "values": _values(f[schema.ENCODER]) if schema.ENCODER in f else 0,
        },
        "run": {
            "epochs": last.get("epoch"),
            "selected_epoch": last.get("selected_epoch"),
            "validation": last.get("validation"),
            "phase": last.get("phase"),
            "val_n": last.get("val_n"),
            "test_n": last.get("test_n"),
            "validation_rows_kept": held,
            "figures": figures,
        },
    }


def _predictions_summary(f: h5py.File, kind: str) -> dict:
    pred = f[schema.PRED][...]
    metrics = _json(f, schema.METRICS, {})
    out = {
        "n": int(len(pred)),
        "classes": int(f[schema.CLASS_NAMES].shape[0]),
        "off_list": int((pred < 0).sum()),
        "metrics": {k: metrics[k] for k in METRIC_KEYS if k in metrics},
    }
    for other in ("baseline", "fused", "conse"):  # zero-shot's other scorers
        if isinstance(metrics.get(other), dict) and "top1" in metrics[other]:
            out["metrics"][f"{other}_top1"] = metrics[other]["top1"]
    if kind == "aligned":
        config = _json(f, schema.ALIGN_CONFIG, {})
        bridge, llm = config.get("bridge") or {}, config.get("llm") or {}
        out["model"] = {
            "llm": str(f.attrs.get("llm_spec", llm.get("spec", ""))),
            "bridge": bridge.get("kind"),
            "action_tokens": bridge.get("queries"),
            "prompt": llm.get("prompt"),
            "lora": llm.get("lora"),
            "calibration": str(f.attrs.get("calibration", "")),
            "readout": str(f.attrs.get("readout", "")),
            "epochs": len(_json(f, schema.ALIGN_HISTORY, [])),
            "prompt_classes": int(f[schema.PROMPT_CLASSES].shape[0])
            if schema.PROMPT_CLASSES in f
            else None,
            "bridge_values": _values(f[schema.WEIGHTS][schema.BRIDGE])
            if schema.BRIDGE in f.get(schema.WEIGHTS, {})
            else 0,
        }
    return out


def _datasets(f: h5py.File) -> dict[str, dict]:
    out: dict[str, dict] = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            dtype = "string" if h5py.check_string_dtype(obj.dtype) else str(obj.dtype)
            out[name] = {"shape": list(obj.shape), "dtype": dtype}

    f.visititems(visit)
    return out


def _skeleton_summary(f: h5py.File) -> dict:
    labels = f[schema.LABELS][...]
    lengths = f[schema.LENGTHS][...]
    bodies = f[schema.BODIES][...]
    names = [str(x) for x in schema.read_strings(f, schema.CLASS_NAMES)]
    per_class = Counter(int(x) for x in labels)
    splits = {}
    for name, ds in f.get(schema.SPLITS, {}).items():
        arr = ds[...]
        splits[name] = {
            "train": int((arr == TRAIN).sum()),
            "test": int((arr == TEST).sum()),
            "unused": int((arr == UNUSED).sum()),
        }
    meta = {}
    for key, ds in f.get(schema.META, {}).items():
        arr = ds[...]
        known = arr[arr >= 0]
        if len(known):
            meta[key] = {"known": int(len(known)), "distinct": int(len(np.unique(known)))}
    joints = f[schema.JOINTS]
    n = len(labels)
    return {
        "n": n,
        "layout": str(f.attrs.get("layout", "")),
        "source": str(f.attrs.get("source", "")),
        "channels": int(joints.shape[-1]),
        "max_bodies": int(joints.shape[1]),
        "bodies": {str(k): int(v) for k, v in sorted(Counter(bodies.tolist()).items())},
        "classes": [
            {"id": i, "name": name, "count": per_class.get(i, 0)} for i, name in enumerate(names)
        ],
        "splits": splits,
        "lengths": {
            "min": int(lengths.min()) if n else 0,
            "median": float(np.median(lengths)) if n else 0.0,
            "mean": float(lengths.mean()) if n else 0.0,
            "max": int(lengths.max()) if n else 0,
            "frames": int(lengths.sum()),
        },
        "meta": meta,
    }
