"""Stage 2 ("align") training: the bridge (+ LoRA) learns to speak to a frozen LLM.

``train_alignment(tokens, priors, cfg, split, train_classes, callback, run_dir, resume)``
trains on the train part of ``split`` and returns an ``AlignedModel`` (``model.py``); the
target answer of a sample is its class in braces and the class's description from ``priors``.

Training runs through Accelerate: CPU, one GPU or several (DDP), bf16 autocast, gradient
accumulation and, on the LLM side, gradient checkpointing. Checkpoints (trainable weights,
optimizer, schedule, position in the epoch) go to ``run_dir``; ``resume=True`` continues there
and ends with the weights an uninterrupted run would have.
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

from sugar_core import events, guards
from sugar_core.accel import autocast, bf16_note, make_accelerator
from sugar_core.align import anchor, calibration, listing
from sugar_core.align.bridges import pad_tokens
from sugar_core.align.config import AlignConfig
from sugar_core.align.llm import FrozenLLM, Prompt, pad_answers
from sugar_core.align.model import AlignedModel, build_parts
from sugar_core.align.plan import encoder_rows, fit_to_data, step_floor, wants_validation
from sugar_core.align.validation import judge
from sugar_core.errors import ConfigError
from sugar_core.priors.store import Priors
from sugar_core.sampling import balanced_order
from sugar_core.schedule import Plan, plan_epochs, timed
from sugar_core.skeleton.validation import stratified_share
from sugar_core.tokenize.checkpoint import read_torch, write_torch
from sugar_core.tokenize.store import TokenSet

Callback = Callable[[dict], None]
CHECKPOINT = "checkpoint.pt"
RESUME_KEYS = ("trainable", "optimizer", "scheduler", "epoch", "config", "data_key")
FREE_ON_RESUME = ("epochs", "checkpoint_every")  # settings a resumed run may change


class AlignNet(nn.Module):
    """Bridge + frozen LLM as one module, so Accelerate can wrap (DDP) and autocast it."""

    def __init__(self, bridge: nn.Module, llm: FrozenLLM, prompt: Prompt):
        super().__init__()
        self.bridge = bridge
        self.llm = llm
        self.prompt = prompt

    def forward(self, x, mask, target, target_mask, prompt: Prompt | None = None) -> torch.Tensor:
        """Answer loss; ``prompt`` overrides the run's own (a batch's sampled list)."""
        return self.llm(self.bridge(x, mask), prompt or self.prompt, target, target_mask)


@dataclass
class _Data:
    """What a run trains on: the chosen classes' train samples."""

    names: list[str]  # (K,) the action list, in prompt order
    descriptions: list[str]  # (K,) the answers' descriptions
    idx: np.ndarray  # (N,) rows of the token set
    target_of: dict[int, int]  # class id -> position in ``names``
    key: str  # hash of split, names and rows: a resumed run must see the same
    notes: list[str] | None = None  # (K,) prior texts listed beside the names (uncut)


@dataclass
class _Parts:
    """The prepared pieces of a run (Accelerate-wrapped where it wraps)."""

    acc: object  # accelerate.Accelerator
    net: nn.Module  # AlignNet, DDP-wrapped on several processes
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    params: list[nn.Parameter]  # the trainable ones: bridge and LoRA
    answers: list[list[int]]  # (K,) target ids of each listed class
    std: torch.Tensor | None  # (D,) train tokens' channel std, for token noise
    plan: Plan  # epochs and optimiser steps (sugar_core/schedule.py)
    notes: list[str] | None = None  # (K,) the names' prior texts, cut to the token budget


@dataclass
class _State:
    """Where a run stands; a checkpoint stores it beside the weights."""

    epoch: int = 0  # epochs finished
    batch: int = 0  # batches of the current epoch done
    step: int = 0  # optimizer steps done
    history: list[dict] = field(default_factory=list)  # one dict per finished epoch
    losses: list[float] = field(default_factory=list)  # the current epoch's batch losses


def train_alignment(
    tokens: TokenSet,
    priors: Priors,
    cfg: AlignConfig,
    split: str,
    train_classes: list[int] | None = None,
    callback: Callback | None = None,
    run_dir: str | Path | None = None,
    resume: bool = False,
    small_anchor: bool = True,
) -> AlignedModel:
    """Train the bridge (+ LoRA) on the train part of ``split``, LLM frozen.

    ``train_classes``: class ids (into ``tokens.class_names``) to train on and list in the prompt
    (zero-shot: the seen classes); default all. ``callback`` gets ``sugar_core.events`` of stage
    ``align``: progress of part ``train`` (done, total, epoch, loss) and an epoch event each
    epoch. Descriptions for the targets come from ``priors``. ``small_anchor``: whether the
    small-set rule may add the fitted anchor token (``plan.py``; it needs the tokens' text head,
    so read them with their weights).
    """
    cfg.check()
    data = _select(tokens, priors, split, train_classes, cfg)
    data, val = _hold_out(tokens, data, split, cfg)  # a validation part (plan.py)
    anchor_ok = small_anchor and anchor.usable(tokens.head_state, tokens.dim, priors)
    cfg, adapted = fit_to_data(cfg, tokens.labels[data.idx], anchor_ok)  # sampler, small sets
    parts = _prepare(tokens, priors, data, cfg)
    cfg = dataclasses.replace(cfg, epochs=parts.plan.epochs)  # a number from here on
    callback = timed(callback, "align", parts.plan)
    n_val = 0 if val is None else len(val)
    events.emit(callback, "start", "align", total=parts.plan.steps, epochs=cfg.epochs,
                plan=f"training on {len(data.idx)} samples, validating on {n_val}, "
                f"{parts.plan.describe()}")  # fmt: skip
    if note := bf16_note(cfg.precision, parts.acc.device.type):
        events.note(callback, "align", note)
    run_dir = Path(run_dir) if run_dir is not None else None
    state = _restore(parts, cfg, data.key, run_dir) if resume else _State()
    parts.net.train()
    t0 = time.perf_counter()
    while state.epoch < cfg.epochs:
        _train_epoch(parts, tokens, data, cfg, state, callback, run_dir)
    parts.acc.wait_for_everyone()
    net = parts.acc.unwrap_model(parts.net)
    net.eval()
    if state.history:
        state.history[-1]["train_seconds_this_run"] = time.perf_counter() - t0
    null = _channel_stats(tokens, data.idx, "cpu")[0].numpy()  # (D,) the null input
    rows = calibration.reference_rows(tokens.labels, data.idx, cfg.reference_samples, cfg.seed)
    refs = [np.asarray(tokens.tokens[i]) for i in rows] or None  # calibration "reference"
    ref_proj = np.asarray(tokens.projected[rows], np.float32) if len(rows) else None
    model = AlignedModel(net.bridge, net.llm, cfg, data.names, tokens.dim, state.history,
                         cfg.calibration, null, class_notes=parts.notes,
                         class_descriptions=list(data.descriptions),
                         reference_tokens=refs, reference_projected=ref_proj)  # fmt: skip
    if state.history:
        state.history[-1].update(schedule=parts.plan.record(), sampler=cfg.sampler,
                                 small_data=adapted, warnings=[])  # fmt: skip
    if val is not None:
        target = np.array([data.target_of[int(y)] for y in tokens.labels[val]])
        record = judge(model, tokens, target, val, priors, cfg.calibration == "auto",
                       len(data.idx))  # fmt: skip
        if state.history:
            state.history[-1].update(record)
    return model


def _hold_out(tokens: TokenSet, data: _Data, split: str, cfg: AlignConfig):
    """(training data, validation rows or None) when ``plan.wants_validation`` says so
    (calibration auto, small sets, validation share or encoder): with validation encoder the
    rows the tokens record as the encoder's validation part (``plan.encoder_rows``), else a
    stratified, seeded share of the train rows; a set too small to spare a share trains whole
    (unless it must). The rows are held out of training."""
    if not wants_validation(cfg, len(data.idx)):
        return data, None
    if cfg.validation == "encoder":
        val = encoder_rows(tokens, data.idx)
    else:
        rng = np.random.RandomState(cfg.seed)
        val = stratified_share(data.idx, tokens.labels[data.idx], cfg.validation_share, rng)
        if len(val) == 0 or len(val) == len(data.idx):
            if cfg.calibration == "auto" or cfg.validation == "share":
                raise ConfigError(f"{len(data.idx)} training samples cannot spare a validation "
                                  f"share of {cfg.validation_share}")  # fmt: skip
            return data, None
    idx = np.setdiff1d(data.idx, val)
    key = _data_key(split, data.names, idx, tokens)
    return dataclasses.replace(data, idx=idx, key=key), val


def _select(
    tokens: TokenSet, priors: Priors, split: str, train_classes: list[int] | None, cfg: AlignConfig
) -> _Data:
    classes = sorted(set(train_classes)) if train_classes is not None else None
    classes = classes if classes is not None else list(range(len(tokens.class_names)))
    names = [tokens.class_names[c] for c in classes]
    descriptions = priors.select(names).descriptions
    idx = tokens.split_indices(split, "train")
    idx = idx[np.isin(tokens.labels[idx], classes)]
    if len(idx) == 0:
        raise ConfigError(f"split {split!r} has no training samples of the chosen classes")
    target_of = {c: i for i, c in enumerate(classes)}
    key = _data_key(split, names, idx, tokens)
    notes = listing.class_notes(priors, names, cfg.llm.knowledge)
    return _Data(names, descriptions, idx, target_of, key, notes)


def _prepare(tokens: TokenSet, priors: Priors, data: _Data, cfg: AlignConfig) -> _Parts:
    """Accelerator, seeded model, optimizer and schedule, in the order that fixes the seeds.
    An anchor token gets the tokens' text head and (fitted) the training classes' priors."""
    text_dim = anchor.head_width(cfg.bridge, tokens.head_state, tokens.dim)
    acc = make_accelerator(cfg.precision, cpu=cfg.cpu)
    torch.manual_seed(cfg.seed)
    bridge, llm = build_parts(cfg, tokens.dim, text_dim)
    anchor.attach(bridge, cfg.bridge, tokens.head_state, tokens.dim, priors, data.names, llm)
    if cfg.bridge.standardize:
        bridge.fit(*_channel_stats(tokens, data.idx, "cpu"))
    notes = listing.cut(llm, data.notes, cfg.llm.knowledge_tokens)
    prompt = llm.prompt(data.names, notes)
    answers = [llm.answer_ids(prompt, i, d) for i, d in enumerate(data.descriptions)]
    net = AlignNet(bridge, llm, prompt)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches = _epoch_batches(data, cfg, 0, acc.process_index, acc.num_processes)
    steps = math.ceil(len(batches) / cfg.grad_accum)
    floor = step_floor(cfg, len(data.names), acc.num_processes)
    plan = plan_epochs(cfg.epochs, steps, cfg.min_epochs, floor)
    total = plan.steps
    warm = int(cfg.warmup * total)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _cosine(s, total, warm))
    net, opt = acc.prepare(net, opt)
    std = _channel_stats(tokens, data.idx, acc.device)[1] if cfg.token_noise > 0 else None
    return _Parts(acc, net, opt, sched, params, answers, std, plan, notes)


def _train_epoch(
    parts: _Parts,
    tokens: TokenSet,
    data: _Data,
    cfg: AlignConfig,
    state: _State,
    callback: Callback | None,
    run_dir: Path | None,
) -> None:
    """Finish epoch ``state.epoch`` from batch ``state.batch`` on, checkpointing as set."""
    acc, epoch = parts.acc, state.epoch
    labels = tokens.labels[data.idx]
    batches = _epoch_batches(data, cfg, epoch, acc.process_index, acc.num_processes, labels)
    t_epoch = time.perf_counter()
    for i in range(state.batch, len(batches)):
        # 1. one forward and backward; gradients of a group add up before the step
        group_end = (i + 1) % cfg.grad_accum == 0 or i == len(batches) - 1
        group = min(cfg.grad_accum, len(batches) - (i // cfg.grad_accum) * cfg.grad_accum)
        sync = contextlib.nullcontext() if group_end else acc.no_sync(parts.net)
        with sync:
            loss = _loss(parts, tokens, data, cfg, data.idx[batches[i]], [cfg.seed, epoch, i])
            acc.backward(loss / group)
        state.losses.append(float(loss.detach()))
        guards.check_loss(state.losses[-1], "align", epoch, i)
        # 2. at a group's end: clip, step, schedule; a checkpoint every checkpoint_every steps
        if group_end:
            if cfg.grad_clip > 0:
                acc.clip_grad_norm_(parts.params, cfg.grad_clip)
            parts.opt.step()
            parts.sched.step()
            parts.opt.zero_grad(set_to_none=True)
            state.step += 1
            if cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0:
                state.batch = i + 1
                _save(parts, cfg, data.key, run_dir, state)
        events.progress(
            callback, "align", "train", done=epoch * len(batches) + i + 1,
            total=cfg.epochs * len(batches), epoch=epoch + 1, loss=state.losses[-1],
            info=f"epoch {epoch + 1} loss {state.losses[-1]:.3f}",
        )  # fmt: skip
    # 3. the epoch's record, and a checkpoint at its end
    mean = float(np.mean(state.losses)) if state.losses else float("nan")
    seconds = time.perf_counter() - t_epoch
    state.history.append(dict(epoch=epoch + 1, loss=mean, seconds=seconds, steps=state.step))
    events.emit(callback, "epoch", "align", **state.history[-1])
    state.epoch, state.batch, state.losses = epoch + 1, 0, []
    _save(parts, cfg, data.key, run_dir, state)


def _loss(
    parts: _Parts, tokens: TokenSet, data: _Data, cfg: AlignConfig, rows: np.ndarray, seed: list
) -> torch.Tensor:
    """Mean answer cross-entropy of the samples ``rows``; ``seed`` = (seed, epoch, batch)."""
    device = parts.acc.device
    x, mask = pad_tokens([tokens.tokens[r] for r in rows], device=device)  # (B, Ls, D)
    if parts.std is not None:
        x = _add_noise(x, mask, parts.std * cfg.token_noise, seed)
    true = [data.target_of[int(tokens.labels[r])] for r in rows]
    tgt, tmask = pad_answers([parts.answers[t] for t in true])  # (B, Lt), (B, Lt)
    prompt = None
    if cfg.list_sampling:  # this batch's list: a seeded subset holding its true classes
        rng = np.random.default_rng([*seed, 1])
        shown = listing.sample_list(rng, len(data.names), true, cfg.list_min, cfg.list_max)
        net = parts.acc.unwrap_model(parts.net)
        prompt = listing.batch_prompt(net.llm, data.names, parts.notes, shown)
    with autocast(parts.acc):
        return parts.net(x, mask, tgt.to(device), tmask.to(device), prompt)


def _save(parts: _Parts, cfg: AlignConfig, key: str, run_dir: Path | None, state: _State) -> None:
    """Checkpoint the trainable weights, optimizer, schedule and ``state`` (main process)."""
    if run_dir is None or not parts.acc.is_main_process:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    net = parts.acc.unwrap_model(parts.net)
    ck = {
        "trainable": {n: p.detach().cpu() for n, p in net.named_parameters() if p.requires_grad},
        "optimizer": parts.opt.state_dict(),
        "scheduler": parts.sched.state_dict(),
        "epoch": state.epoch,
        "batch": state.batch,
        "step": state.step,
        "history": state.history,
        "config": cfg.to_dict(),
        "data_key": key,
        "epoch_losses": state.losses,
    }
    write_torch(ck, run_dir / CHECKPOINT)


def _restore(parts: _Parts, cfg: AlignConfig, key: str, run_dir: Path | None) -> _State:
    """Load the checkpoint in ``run_dir`` into ``parts``; the state it was taken in."""
    if run_dir is None or not (run_dir / CHECKPOINT).exists():
        raise ConfigError(f"--resume: no {CHECKPOINT} in run folder {run_dir}")
    ck = read_torch(run_dir / CHECKPOINT, keys=RESUME_KEYS)
    _check_resumable(ck, cfg, key, run_dir)
    missing = parts.acc.unwrap_model(parts.net).load_state_dict(ck["trainable"], strict=False)
    assert not missing.unexpected_keys, f"unexpected keys {missing.unexpected_keys[:3]}"
    parts.opt.load_state_dict(ck["optimizer"])
    parts.sched.load_state_dict(ck["scheduler"])
    return _State(ck["epoch"], ck["batch"], ck["step"], ck["history"], ck.get("epoch_losses", []))


def _check_resumable(ck: dict, cfg: AlignConfig, key: str, run_dir: Path) -> None:
    # the stored config read back like a file's: settings added since take their defaults
    old, new = AlignConfig.from_dict(ck["config"]).to_dict(), cfg.to_dict()
    if old["bridge"].get("anchor") == "auto":  # stored resolved: auto = written before anchors
        old["bridge"]["anchor"] = "none"
    for free in FREE_ON_RESUME:
        old.pop(free, None)
        new.pop(free, None)
    if old != new:
        diff = sorted(k for k in new if old.get(k) != new.get(k))
        raise ConfigError(f"--resume: {run_dir / CHECKPOINT} was made with other settings: {diff}")
    if ck["data_key"] != key:
        raise ConfigError(f"--resume: {run_dir / CHECKPOINT} was trained on other tokens or split")


def _cosine(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / (warmup + 1)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def _epoch_batches(
    data: _Data, cfg: AlignConfig, epoch: int, rank: int, world: int, labels=None
) -> list:
    """This process's batches of one epoch: a seeded permutation (class-balanced with sampler
    balanced and ``labels`` (N,) of the rows given), the same on every restart."""
    rng = np.random.default_rng([cfg.seed, epoch])
    if labels is not None and cfg.sampler == "balanced":
        perm = balanced_order(labels, rng)
    else:
        perm = rng.permutation(len(data.idx))
    batches = [perm[i : i + cfg.batch_size] for i in range(0, len(perm), cfg.batch_size)]
    keep = len(batches) // world * world if world > 1 else len(batches)
    return batches[rank:keep:world]


def _data_key(split: str, names: list[str], idx: np.ndarray, tokens: TokenSet) -> str:
    h = hashlib.sha256(json.dumps([split, names, tokens.dim]).encode())
    h.update(np.asarray(idx, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


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
