"""The frozen LLM recognizer: load, freeze, LoRA, fingerprint, prompt, splice, loss.

``FrozenLLM`` wraps any ``AutoModelForCausalLM``. Its pre-trained weights never change: they are
set ``requires_grad=False`` and ``train()`` on the wrapper leaves them in eval mode (no dropout),
so only the bridge and, optionally, LoRA adapters (through ``peft``) learn.

Prompt (method.md step 3), sent through the tokenizer's chat template when it has one::

    Given a sequence of action tokens <action>, please choose the most compatible action
    from: [name 1, name 2, ...], and describe the action.

``LLMConfig.prompt = "list-first"`` asks the same question with the action list before the
placeholder ("Choose the most compatible action from: [...]. Given a sequence of action tokens
<action>, name the action and describe it."). Everything before the placeholder is the same
for every sample and runs once (``share_prefix``), so moving the list there cuts the prompt
tokens each sample pays for after its action tokens (SmolLM2, NW-UCLA's 10 names: 56 -> 14).

The ``<action>`` placeholder is replaced, in the input embeddings, by the bridge's Q_out action
tokens. Target answer (our choice of format; the paper only shows ``{class}. description``)::

    {class name}. one-sentence description<eos>

tokenised as three pieces, ``{class name}`` + ``. description`` + eos, so the ids that rank
decoding scores for a class are exactly the ids the model was trained to produce. Prompt and
action positions carry no loss (label -100 in HF terms; here only the answer's logits are made).
Decoding (rank, greedy generation) lives in ``decoding.py``; the prompt texts and ``LLMConfig``
in ``config.py``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from sugar_core.align.config import ACTION, LLM_DTYPES, PROMPTS, LLMConfig
from sugar_core.errors import ConfigError

_VOLATILE_CONFIG_KEYS = ("transformers_version", "_name_or_path", "torch_dtype", "dtype")
DTYPES = {name: getattr(torch, name) for name in LLM_DTYPES}  # LLMConfig.dtype -> torch dtype


def fingerprint(model: nn.Module) -> str:
    """sha256 over the model's config (minus volatile keys) and every state-dict tensor's bytes."""
    h = hashlib.sha256()
    config = model.config.to_dict() if hasattr(model, "config") else {}
    for key in _VOLATILE_CONFIG_KEYS:
        config.pop(key, None)
    h.update(json.dumps(config, sort_keys=True, default=str).encode())
    seen: dict[int, str] = {}
    for name, t in sorted(model.state_dict().items()):
        t = t.detach()
        h.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        ptr = t.data_ptr()
        if ptr in seen and t.numel() > 0:  # tied weights: name the twin, do not hash twice
            h.update(seen[ptr].encode())
            continue
        seen[ptr] = name
        raw = t.cpu().contiguous().reshape(-1).view(torch.uint8)
        h.update(memoryview(raw.numpy()))
    return h.hexdigest()


@dataclass
class Prompt:
    """A tokenised prompt for one action list; the same for every sample."""

    names: list[str]  # (K,) the action list in the order shown
    prefix: torch.Tensor  # (L1,) ids before the action tokens
    suffix: torch.Tensor  # (L2,) ids after them, up to where the answer starts
    candidates: list[list[int]]  # K x ids of "{name}", what rank decoding scores

    @property
    def length(self) -> int:
        return len(self.prefix) + len(self.suffix)


def cache_argument(model: nn.Module) -> str:
    """Name of the KV-cache keyword: ``cache`` (transformers >= 5.2x) or ``past_key_values``."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


class FrozenLLM(nn.Module):
    """A causal LM whose own weights stay frozen; LoRA adapters (if any) are the trainable part."""

    def __init__(self, model: nn.Module, tokenizer, cfg: LLMConfig, model_fingerprint: str = ""):
        super().__init__()
        cfg.check()
        self.cfg = cfg
        self.fingerprint = model_fingerprint or fingerprint(model)
        for p in model.parameters():
            p.requires_grad_(False)
        if cfg.lora:
            from peft import LoraConfig, get_peft_model

            lora = LoraConfig(
                r=cfg.lora_r,
                lora_alpha=cfg.lora_alpha,
                lora_dropout=cfg.lora_dropout,
                target_modules=list(cfg.lora_targets),
                bias="none",
                task_type="CAUSAL_LM",
            )
            try:
                with warnings.catch_warnings():  # peft calls a helper transformers 5 renamed
                    warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
                    model = get_peft_model(model, lora)
            except ValueError as exc:
                raise ConfigError(
                    f"LoRA targets {list(cfg.lora_targets)} do not fit: {exc}"
                ) from None
        if cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
        self.model = model
        self.tokenizer = tokenizer
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.cache_kw = cache_argument(model)
        self.model.eval()

    # -- the guard ----------------------------------------------------------------------------
    def train(self, mode: bool = True) -> FrozenLLM:
        """Record the mode but keep the LLM (and its adapters) in eval mode: no dropout, ever.

        With gradient checkpointing, only the flag that switches checkpointing on follows
        ``mode`` (HF checkpoints only modules whose ``training`` is set).
        """
        self.training = mode
        self.model.eval()
        if self.cfg.gradient_checkpointing:
            for m in self.model.modules():
                if getattr(m, "gradient_checkpointing", False) is True:
                    m.training = mode
        return self

    @property
    def width(self) -> int:
        return int(self.model.get_input_embeddings().weight.shape[1])

    @property
    def dtype(self) -> torch.dtype:
        return self.model.get_input_embeddings().weight.dtype

    @property
    def device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    def embedding_norm(self) -> float:
        """Mean L2 norm of the input word-embedding rows: the scale of the LLM's own inputs
        (``BridgeConfig.output_scale``; SmolLM2-135M: 3.20)."""
        return mean_row_norm(self.model.get_input_embeddings().weight)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        return {n: p.detach().cpu() for n, p in self.named_parameters() if p.requires_grad}

    def base_model(self) -> nn.Module:
        return self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model

    # -- text ----------------------------------------------------------------------------------
    def ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def stop_ids(self) -> set[int]:
        stops = {self.tokenizer.eos_token_id}
        gen = getattr(self.base_model(), "generation_config", None)
        extra = getattr(gen, "eos_token_id", None) if gen is not None else None
        stops.update(extra if isinstance(extra, (list, tuple)) else [extra])
        return {s for s in stops if s is not None}

    def prompt(self, names: list[str], notes: list[str] | None = None) -> Prompt:
        """Tokenise the prompt for the action list ``names``; with ``notes`` (K,) each name is
        listed as ``name (note)`` (knowledge in the prompt, ``listing.py``)."""
        entries = list(names) if notes is None else [f"{n} ({t})" for n, t in zip(names, notes)]
        text = PROMPTS[self.cfg.prompt].format(names=", ".join(entries))
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            full = tok.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
            )
            before, after = full.split(ACTION, 1)
            prefix = self.ids(before)
        else:
            before, after = text.split(ACTION, 1)
            after = after + "\nAnswer: "
            prefix = list(tok(before, add_special_tokens=True)["input_ids"])
        as_ids = lambda x: torch.tensor(x, dtype=torch.long)  # noqa: E731
        cands = [self.ids("{" + n + "}") for n in names]
        return Prompt(list(names), as_ids(prefix), as_ids(self.ids(after)), cands)

    def answer_ids(self, prompt: Prompt, index: int, description: str) -> list[int]:
        """Target ids: ``{name}`` + ``. description`` (cut) + eos."""
        desc = self.ids(". " + description.strip().rstrip("."))[: self.cfg.max_description_tokens]
        return prompt.candidates[index] + desc + [self.tokenizer.eos_token_id]

    # -- embeddings ----------------------------------------------------------------------------
    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(ids.to(self.device))

    def splice(self, action: torch.Tensor, prompt: Prompt) -> torch.Tensor:
        """Prompt embeddings with the action tokens at the placeholder: (B, Q_out, D_llm) ->
        (B, L1 + Q_out + L2, D_llm)."""
        B = action.shape[0]
        pre = self.embed(prompt.prefix)[None].expand(B, -1, -1)
        post = self.embed(prompt.suffix)[None].expand(B, -1, -1)
        return torch.cat([pre, action.to(pre.dtype), post], dim=1)

    def run(
        self,
        action: torch.Tensor,
        prompt: Prompt,
        tail: torch.Tensor | None = None,
        tail_mask: torch.Tensor | None = None,
        logits_to_keep: int = 1,
        prefix=None,
    ):
        """One pass over prompt + action tokens (+ ``tail`` embeddings (B, Lt, D_llm)).

        The prefix before the placeholder is the same for every sample: with ``share_prefix``
        it runs once (batch 1) and its key/value cache is broadcast over the batch, so each
        sample pays only for its action tokens, the rest of the prompt and the tail. ``prefix``
        is that cache from ``prefix_cache`` when the caller keeps it across batches (inference:
        the weights do not change between batches); it is read, never modified. Returns the
        model output; its cache covers the whole sequence.
        """
        B = action.shape[0]
        rest = [action.to(self.dtype), self.embed(prompt.suffix)[None].expand(B, -1, -1)]
        rest = torch.cat(rest + ([tail] if tail is not None else []), dim=1)  # (B, Lr, D_llm)
        L1, Lr = len(prompt.prefix), rest.shape[1]
        attn = torch.ones(B, L1 + Lr, dtype=torch.long, device=self.device)
        if tail_mask is not None:
            attn[:, L1 + Lr - tail_mask.shape[1] :] = tail_mask.long()
        checkpointing = self.cfg.gradient_checkpointing and self.training
        if not self.cfg.share_prefix or checkpointing:  # HF checkpointing drops caches
            emb = torch.cat([self.embed(prompt.prefix)[None].expand(B, -1, -1), rest], dim=1)
            return self.model(
                inputs_embeds=emb,
                attention_mask=attn,
                use_cache=True,
                logits_to_keep=logits_to_keep,
            )
        prefix = prefix if prefix is not None else self.prefix_cache(prompt)
        cache = select_rows(prefix, torch.zeros(B, dtype=torch.long, device=self.device))
        pos = torch.arange(L1, L1 + Lr, device=self.device)[None].expand(B, -1)
        return self.model(
            inputs_embeds=rest,
            attention_mask=attn,
            position_ids=pos,
            use_cache=True,
            logits_to_keep=logits_to_keep,
            **{self.cache_kw: cache},
        )

    def prefix_cache(self, prompt: Prompt):
        """Key/value cache (batch 1) of the prompt's part before the action tokens."""
        out = self.model(inputs_embeds=self.embed(prompt.prefix)[None], use_cache=True)
        return cache_of(out)

    def forward(
        self, action: torch.Tensor, prompt: Prompt, target: torch.Tensor, target_mask: torch.Tensor
    ) -> torch.Tensor:
        """Mean token cross-entropy of the answers.

        action (B, Q_out, D_llm); target (B, Lt) answer ids, right-padded; target_mask (B, Lt).
        Only the answer's logits are computed (the prompt has no loss).
        """
        B, Lt = target.shape
        target = target.to(self.device)
        target_mask = target_mask.to(self.device)
        out = self.run(action, prompt, self.embed(target), target_mask, logits_to_keep=Lt + 1)
        logits = out.logits[:, :-1].float()  # (B, Lt, V): position j predicts target j
        labels = target.masked_fill(~target_mask.bool(), -100)
        return nn.functional.cross_entropy(logits.reshape(B * Lt, -1), labels.reshape(-1))


@torch.no_grad()
def mean_row_norm(weight: torch.Tensor, block: int = 8192) -> float:
    """Mean L2 norm of the rows of ``weight`` (V, D), read ``block`` rows at a time in float32,
    so a 7B model's bf16 vocabulary is never copied whole."""
    rows = range(0, len(weight), block)
    return sum(float(weight[i : i + block].float().norm(dim=1).sum()) for i in rows) / len(weight)


def pad_answers(seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad answer ids for ``FrozenLLM.forward``: (B, Lt) ids (0 past the end) and (B, Lt)
    bool mask."""
    L = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), L, dtype=torch.long)
    mask = torch.zeros(len(seqs), L, dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = True
    return ids, mask


def cache_of(out):
    """The key/value cache of a model output (``cache`` in new transformers, else the old name)."""
    return out.cache if getattr(out, "cache", None) is not None else out.past_key_values


def select_rows(cache, index: torch.Tensor):
    """A new cache holding rows ``index`` of ``cache`` (which is left untouched)."""
    from transformers import DynamicCache

    if hasattr(cache, "layers"):
        return DynamicCache([(lay.keys[index], lay.values[index]) for lay in cache.layers])
    legacy = tuple((k[index], v[index]) for k, v in cache)
    return DynamicCache.from_legacy_cache(legacy)  # transformers < 4.56
