"""Stage 2 ("align"): train the bridge (+ LoRA) into a frozen LLM, then predict.

Library API (the CLI and zero-shot call it):

- ``train_alignment(tokens, priors, cfg, split, train_classes, callback, run_dir, resume)``
  trains on the train part of ``split`` and returns an ``AlignedModel``;
- ``predict(model, token_list, candidate_names, decode="rank" | "generate")`` names and
  describes each sample with any action list (zero-shot swaps in unseen names, no retraining);
- ``save_aligned`` / ``load_aligned`` (``aligned_store.py``) keep it in an aligned.h5.

Training runs through Accelerate: CPU, one GPU or several (DDP), bf16 autocast, gradient
accumulation and, on the LLM side, gradient checkpointing. Checkpoints (trainable weights,
optimizer, schedule, position in the epoch) go to ``run_dir``; ``resume=True`` continues there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sugar_core.align.bridges import BridgeConfig, build_bridge, pad_tokens
from sugar_core.align.llm import DTYPES, FrozenLLM, LLMConfig, Prompt
from sugar_core.align.store import load_aligned, save_aligned
from sugar_core.errors import ConfigError
from sugar_core.priors.store import Priors
from sugar_core.tokenize.store import TokenSet

__all__ = [
    "AlignConfig",
    "AlignedModel",
    "Decoded",
    "load_aligned",
    "predict",
    "save_aligned",
    "train_alignment",
]

Callback = Callable[[dict], None]
CHECKPOINT = "checkpoint.pt"
PRECISIONS = ("fp32", "bf16")


@dataclass
class AlignConfig:
    bridge: BridgeConfig = field(default_factory=BridgeConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    epochs: int = 1  # passes over the train split (paper: 1)
    lr: float = (
        1e-3  # AdamW peak (paper: 2e-5 on LLaMA2-7B; a fresh bridge on 1k samples wants more)
    )
    weight_decay: float = 0.0  # the bridge is small; decay not needed
    warmup: float = 0.05  # fraction of optimizer steps with linear warm-up, then cosine to 0
    batch_size: int = 8  # samples per device per forward
    grad_accum: int = 1  # forwards per optimizer step (paper: total batch 128)
    precision: str = "fp32"  # fp32 | bf16 (autocast; AMX CPUs and GPUs run it fast)
    grad_clip: float = 1.0  # max gradient norm; 0 = off
    token_noise: float = 0.0  # training: Gaussian noise on tokens, x the train tokens' channel std
    seed: int = 0  # bridge init, LoRA init and batch order
    checkpoint_every: int = 0  # optimizer steps between checkpoints (0: at each epoch end)
    cpu: bool = False  # stay on CPU even when a GPU is visible

    def check(self) -> None:
        self.bridge.check()
        self.llm.check()
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; choose fp32 or bf16")
        for name in ("epochs", "batch_size", "grad_accum"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.token_noise < 0:
            raise ConfigError(f"token_noise must be >= 0, got {self.token_noise}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AlignConfig:
        d = dict(d)
        bridge = BridgeConfig(**d.pop("bridge", {}))
        llm = LLMConfig(**d.pop("llm", {}))
        return cls(bridge=bridge, llm=llm, **d)


@dataclass
class AlignedModel:
    bridge: nn.Module  # tokens (B, Ls, D) -> action tokens (B, Q_out, D_llm)
    llm: FrozenLLM
    config: AlignConfig
    class_names: list[str]  # the action list it was trained with, in prompt order
    token_dim: int  # D of the tokens it reads
    history: list[dict] = field(default_factory=list)  # one dict per epoch

    def autocast(self):
        dev = self.llm.device.type
        if self.config.precision == "bf16":
            return torch.autocast(device_type=dev, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def action_tokens(self, seqs: list[np.ndarray]) -> torch.Tensor:
        x, mask = pad_tokens(seqs, device=self.llm.device)  # (B, Ls, D), (B, Ls)
        return self.bridge(x, mask)  # (B, Q_out, D_llm)


class AlignNet(nn.Module):
    """Bridge + frozen LLM as one module, so Accelerate can wrap (DDP) and autocast it."""

    def __init__(self, bridge: nn.Module, llm: FrozenLLM, prompt: Prompt):
        super().__init__()
        self.bridge = bridge
        self.llm = llm
        self.prompt = prompt

    def forward(self, x, mask, target, target_mask) -> torch.Tensor:
        return self.llm(self.bridge(x, mask), self.prompt, target, target_mask)


def load_llm(cfg: LLMConfig) -> FrozenLLM:
    from sugar_core.models import load_causal_lm

    model, tok = load_causal_lm(cfg.spec, dtype=DTYPES[cfg.dtype])
    return FrozenLLM(model, tok, cfg)


def _cosine(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / (warmup + 1)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def _epoch_batches(n: int, bs: int, seed: int, epoch: int, rank: int, world: int) -> list:
    """This process's batches of one epoch: a seeded permutation, the same on every restart."""
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    batches = [perm[i : i + bs] for i in range(0, n, bs)]
    keep = len(batches) // world * world if world > 1 else len(batches)
    return batches[rank:keep:world]


def _data_key(split: str, names: list[str], idx: np.ndarray, tokens: TokenSet) -> str:
    h = hashlib.sha256(json.dumps([split, names, tokens.dim]).encode())
    h.update(np.asarray(idx, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def train_alignment(
    tokens: TokenSet,
    priors: Priors,
    cfg: AlignConfig,
    split: str,
    train_classes: list[int] | None = None,
    callback: Callback | None = None,
    run_dir: str | Path | None = None,
    resume: bool = False,
) -> AlignedModel:
    """Train the bridge (+ LoRA) on the train part of ``split``, LLM frozen.

    ``train_classes``: class ids (into ``tokens.class_names``) to train on and list in the prompt
    (zero-shot: the seen classes); default all. ``callback`` gets dicts with ``stage="train"``,
    ``step``, ``total``, ``epoch``, ``loss``. Descriptions for the targets come from ``priors``.
    """
    from accelerate import Accelerator

    cfg.check()
    classes = sorted(set(train_classes)) if train_classes is not None else None
    classes = classes if classes is not None else list(range(len(tokens.class_names)))
    names = [tokens.class_names[c] for c in classes]
    descriptions = priors.select(names).descriptions
    idx = tokens.split_indices(split, "train")
    idx = idx[np.isin(tokens.labels[idx], classes)]
    if len(idx) == 0:
        raise ConfigError(f"split {split!r} has no training samples of the chosen classes")
    target_of = {c: i for i, c in enumerate(classes)}  # class id -> position in the list

    acc = Accelerator(cpu=cfg.cpu, mixed_precision="bf16" if cfg.precision == "bf16" else "no")
    torch.manual_seed(cfg.seed)
    llm = load_llm(cfg.llm)
    bridge = build_bridge(cfg.bridge, tokens.dim, llm.width)
    if cfg.bridge.standardize:
        bridge.fit(*_channel_stats(tokens, idx, "cpu"))
    prompt = llm.prompt(names)
    answers = [llm.answer_ids(prompt, i, d) for i, d in enumerate(descriptions)]
    net = AlignNet(bridge, llm, prompt)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    batches_per_epoch = len(
        _epoch_batches(len(idx), cfg.batch_size, cfg.seed, 0, acc.process_index, acc.num_processes)
    )
    steps_per_epoch = math.ceil(batches_per_epoch / cfg.grad_accum)
    total = steps_per_epoch * cfg.epochs
    warm = int(cfg.warmup * total)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _cosine(s, total, warm))
    net, opt = acc.prepare(net, opt)
    std = _channel_stats(tokens, idx, acc.device)[1] if cfg.token_noise > 0 else None

    # 1. resume from the run folder
    run_dir = Path(run_dir) if run_dir is not None else None
    key = _data_key(split, names, idx, tokens)
    start_epoch, start_batch, step, history, resumed_losses = 0, 0, 0, [], []
    if resume:
        if run_dir is None or not (run_dir / CHECKPOINT).exists():
            raise ConfigError(f"--resume: no {CHECKPOINT} in run folder {run_dir}")
        ck = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=False)
        _check_resumable(ck, cfg, key, run_dir)
        missing = acc.unwrap_model(net).load_state_dict(ck["trainable"], strict=False)
        assert not missing.unexpected_keys, f"unexpected keys {missing.unexpected_keys[:3]}"
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        start_epoch, start_batch, step = ck["epoch"], ck["batch"], ck["step"]
        history, resumed_losses = ck["history"], ck.get("epoch_losses", [])

    def save(epoch: int, batch: int, epoch_losses: list[float]):
        if run_dir is None or not acc.is_main_process:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "trainable": {
                n: p.detach().cpu() for n, p in acc.unwrap_model(net).named_parameters()
                if p.requires_grad
            },
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "epoch": epoch, "batch": batch, "step": step, "history": history,
            "config": cfg.to_dict(), "data_key": key, "epoch_losses": epoch_losses,
        }  # fmt: skip
        tmp = run_dir / (CHECKPOINT + ".tmp")
        torch.save(state, tmp)
        tmp.replace(run_dir / CHECKPOINT)

    # 2. train
    net.train()
    t0 = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs):
        batches = _epoch_batches(
            len(idx), cfg.batch_size, cfg.seed, epoch, acc.process_index, acc.num_processes
        )
        first = start_batch if epoch == start_epoch else 0
        losses = list(resumed_losses) if epoch == start_epoch else []
        t_epoch = time.perf_counter()
        for i in range(first, len(batches)):
            rows = idx[batches[i]]
            x, mask = pad_tokens([tokens.tokens[r] for r in rows], device=acc.device)
            if std is not None:
                x = _add_noise(x, mask, std * cfg.token_noise, [cfg.seed, epoch, i])
            tgt, tmask = _pad_answers([answers[target_of[int(tokens.labels[r])]] for r in rows])
            group_end = (i + 1) % cfg.grad_accum == 0 or i == len(batches) - 1
            group = min(cfg.grad_accum, len(batches) - (i // cfg.grad_accum) * cfg.grad_accum)
            sync = contextlib.nullcontext() if group_end else acc.no_sync(net)
            with sync:
                loss = net(x, mask, tgt.to(acc.device), tmask.to(acc.device))
                acc.backward(loss / group)
            losses.append(float(loss.detach()))
            if group_end:
                if cfg.grad_clip > 0:
                    acc.clip_grad_norm_(params, cfg.grad_clip)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                step += 1
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                    save(epoch, i + 1, losses)
            if callback is not None:
                callback(
                    dict(stage="train", step=epoch * len(batches) + i + 1,
                         total=cfg.epochs * len(batches), epoch=epoch + 1, loss=losses[-1])
                )  # fmt: skip
        history.append(
            dict(epoch=epoch + 1, loss=float(np.mean(losses)) if losses else float("nan"),
                 seconds=time.perf_counter() - t_epoch, steps=step)
        )  # fmt: skip
        save(epoch + 1, 0, [])
    acc.wait_for_everyone()
    net = acc.unwrap_model(net)
    net.eval()
    if history:
        history[-1]["train_seconds_this_run"] = time.perf_counter() - t0
    return AlignedModel(net.bridge, net.llm, cfg, names, tokens.dim, history)


def _channel_stats(tokens: TokenSet, idx: np.ndarray, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of the train samples' tokens, (D,) each."""
    n, s1, s2 = 0, np.zeros(tokens.dim), np.zeros(tokens.dim)
    for r in idx:  # streamed: NTU-sized token sets need not be copied whole
        t = tokens.tokens[r].astype(np.float64)
        n, s1, s2 = n + len(t), s1 + t.sum(0), s2 + (t * t).sum(0)
    var = np.maximum(s2 / n - (s1 / n) ** 2, 0.0)
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    return as_t(s1 / n), as_t(np.sqrt(var))


def _add_noise(
    x: torch.Tensor, mask: torch.Tensor, scale: torch.Tensor, seed: list
) -> torch.Tensor:
    """x + N(0, scale^2) on valid tokens; seeded by (seed, epoch, batch): resume repeats it."""
    g = torch.Generator().manual_seed(int(np.random.SeedSequence(seed).generate_state(1)[0]))
    noise = torch.randn(x.shape, generator=g).to(x.device) * scale
    return x + noise * mask[..., None]


def _check_resumable(ck: dict, cfg: AlignConfig, key: str, run_dir: Path) -> None:
    old, new = dict(ck["config"]), cfg.to_dict()
    for free in ("epochs", "checkpoint_every"):
        old.pop(free, None)
        new.pop(free, None)
    if old != new:
        diff = sorted(k for k in new if old.get(k) != new.get(k))
        raise ConfigError(f"--resume: {run_dir / CHECKPOINT} was made with other settings: {diff}")
    if ck["data_key"] != key:
        raise ConfigError(f"--resume: {run_dir / CHECKPOINT} was trained on other tokens or split")


def _pad_answers(seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad answer ids: (B, Lt) ids (0 past the end) and (B, Lt) bool mask."""
    L = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), L, dtype=torch.long)
    mask = torch.zeros(len(seqs), L, dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = True
    return ids, mask


# ---------------------------------------------------------------------------------------------
# prediction

DECODES = ("rank", "generate")


@dataclass
class Decoded:
    """Per-sample answers; class indices point into the candidate list given to ``predict``."""

    pred: np.ndarray  # (N,) int64, -1 = the answer named no listed class (generate only)
    top5: np.ndarray  # (N, 5) int64 ranked candidates, -1 pads
    scores: np.ndarray  # (N, 5) float32 log-likelihoods of top5 (rank); NaN for generate
    raw_text: list[str]  # (N,) the answer verbatim ("{name}" + generated description for rank)
    description: list[str]  # (N,) the description part
    how: list[str]  # (N,) how the class was read: rank | exact | normalised | prefix | ...
    seconds: float = 0.0  # wall time of the whole call


def predict(
    model: AlignedModel,
    token_list: list[np.ndarray],
    candidate_names: list[str],
    decode: str = "rank",
    batch_size: int = 16,
    describe: bool = True,
    max_new_tokens: int = 48,
    embed_fn=None,
    min_similarity: float = 0.6,
    callback: Callback | None = None,
) -> Decoded:
    """Name (and describe) each token sequence (Ls_i, D), choosing from ``candidate_names``.

    ``rank``: every candidate's log-likelihood after the prompt (full ranking, never off the
    list), then, with ``describe``, greedy generation of the winner's description.
    ``generate``: free greedy generation; the class is read from the braces and matched to the
    list (``answers.AnswerMatcher``, with ``embed_fn`` for the closest-by-embedding rule);
    top-5 holds that one class (then -1).
    """
    from sugar_core.align.answers import AnswerMatcher, description_of
    from sugar_core.align.decoding import continue_greedy, rank_scores, run_prompt

    if decode not in DECODES:
        raise ConfigError(f"unknown decode {decode!r}; choose rank or generate")
    if not candidate_names:
        raise ConfigError("predict: the action list is empty")
    dims = {int(t.shape[-1]) for t in token_list}
    if dims and dims != {model.token_dim}:
        raise ConfigError(f"tokens have width {sorted(dims)}, the model reads {model.token_dim}")
    llm, t0 = model.llm, time.perf_counter()
    prompt = llm.prompt(list(candidate_names))
    matcher = AnswerMatcher(candidate_names, embed_fn, min_similarity)
    n, K = len(token_list), len(candidate_names)
    pred = np.full(n, -1, dtype=np.int64)
    top5 = np.full((n, 5), -1, dtype=np.int64)
    scores = np.full((n, 5), np.nan, dtype=np.float32)
    raw, desc, how = [""] * n, [""] * n, [""] * n
    model.bridge.eval()
    llm.eval()
    prefix = None
    if llm.cfg.share_prefix and n:  # the same for every batch: run it once
        with torch.no_grad(), model.autocast():
            prefix = llm.prefix_cache(prompt)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        with torch.no_grad(), model.autocast():
            act = model.action_tokens(token_list[start:stop])  # (B, Q_out, D_llm)
            state = run_prompt(llm, act, prompt, prefix)
            length = prompt.length + act.shape[1]
            if decode == "rank":
                s = rank_scores(llm, act, prompt, state=state)  # (B, K)
                order = s.argsort(dim=1, descending=True)[:, : min(5, K)]
                top5[start:stop, : order.shape[1]] = order.cpu().numpy()
                scores[start:stop, : order.shape[1]] = s.gather(1, order).cpu().numpy()
                pred[start:stop] = top5[start:stop, 0]
                forced = [prompt.candidates[int(w)] for w in pred[start:stop]]
                if describe:
                    ids = continue_greedy(llm, state, length, forced, max_new_tokens)
                else:
                    ids = forced
            else:
                ids = continue_greedy(llm, state, length, [[] for _ in act], max_new_tokens)
        for j, seq in enumerate(ids):
            i = start + j
            raw[i] = llm.tokenizer.decode(seq, skip_special_tokens=True).strip()
            desc[i] = description_of(raw[i])
            if decode == "rank":
                how[i] = "rank"
            else:
                m = matcher(raw[i])
                pred[i], how[i] = m.index, m.how
                top5[i, 0] = m.index
        if callback is not None:
            callback(dict(stage="predict", step=stop, total=n))
    return Decoded(pred, top5, scores, raw, desc, how, time.perf_counter() - t0)
