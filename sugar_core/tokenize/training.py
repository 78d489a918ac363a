"""Stage 1: train the skeleton encoder against the text priors.

    enc, heads, history = train_encoder(data, priors, TokenizeConfig(), split="xview")
    tokens = tokenize(data, enc, heads, history=history, ...)   # encode.py -> TokenSet

Training runs through Accelerate: the same call works on CPU, one GPU or several processes
(``accelerate launch``); each process trains on its slice of every global batch, validation
features are gathered from all processes, and only the main process writes checkpoints.
A run checkpoints every epoch into ``run_dir``; ``resume=True`` continues it and ends with the
weights an uninterrupted run would have (model, optimizer, schedule, data generator and epoch
are restored; dropout is reseeded per epoch from (seed, epoch, rank)).

Objectives: ``mil-nce`` (the paper's multi-positive contrastive loss against the class texts),
``ce`` (cross-entropy with a K-way head; the text head is then fitted in closed form on the
training features so the output still has text-space projections) and ``both`` (their sum).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel

from sugar_core import events, guards
from sugar_core.accel import autocast, bf16_note, make_accelerator
from sugar_core.errors import ConfigError
from sugar_core.priors.store import Priors
from sugar_core.schedule import Plan, timed
from sugar_core.skeleton.dataset import SkeletonSet
from sugar_core.tokenize import losses
from sugar_core.tokenize.bank import (
    EpochBatches,
    PreparedBank,
    epoch_plan,
    split_parts,
    subset_params,
)
from sugar_core.tokenize.checkpoint import check_resumable, load_checkpoint, save_checkpoint
from sugar_core.tokenize.config import TokenizeConfig, prep_for
from sugar_core.tokenize.encoder import SkeletonEncoder
from sugar_core.tokenize.network import Heads, Stage1Net
from sugar_core.tokenize.optim import lr_factor, make_optimizer, weight_average
from sugar_core.tokenize.parts import run_part_texts
from sugar_core.tokenize.run_data import make_bank, run_classes
from sugar_core.tokenize.small_data import fit_to_data, with_plan
from sugar_core.tokenize.validation import evaluate, fit_text_head, health_warnings, track_best


@dataclass
class _Run:
    """Everything a training run carries from epoch to epoch (one per process)."""

    cfg: TokenizeConfig  # with the prep the encoder expects (prep_for)
    acc: object  # Accelerator
    net: torch.nn.Module  # Stage1Net; after _prepare, wrapped for several processes
    optimizer: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    gen: torch.Generator  # batch order, augmentation and text mixing; restored on resume
    train_bank: PreparedBank
    val_bank: PreparedBank
    y_train: np.ndarray  # (N_train,) rows into texts (0..K-1)
    y_val: np.ndarray  # (N_val,)
    test_bank: PreparedBank  # the split's test part: evaluated once, after training
    y_test: np.ndarray  # (N_test,)
    rule: str  # the concrete validation rule (auto resolved)
    texts: torch.Tensor  # (K, P', E) on the CPU, mixed into each batch's positives
    mask: torch.Tensor  # (K, P')
    protos: np.ndarray  # (K, E) unit-norm mean text per class
    parts: tuple | None  # (texts (K, P, E), mask (K, P)) on the device when part_weight > 0
    steps_per_epoch: int
    plan: Plan  # epochs and steps (sugar_core/schedule.py), timed after the first steps
    adapted: dict  # what the small-set rule changed (tokenize/small_data.py)
    callback: object = None  # the caller's, on the main process only (timed)
    average: AveragedModel | None = None
    history: list[dict] = field(default_factory=list)
    start: int = 0  # epochs done before this call (resume)
    best: dict | None = None

    @property
    def model(self) -> Stage1Net:
        """The network results come from: the weight average, or the trained one."""
        return self.average.module if self.average is not None else self.acc.unwrap_model(self.net)

    def notify(self, event: str, **fields) -> None:
        events.emit(self.callback, event, "tokenize", **fields)


def _setup(data, priors, cfg, split, train_classes, accelerator, callback) -> _Run:
    """Classes, parts, network, optimizer and schedule of a fresh run (seeded by cfg.seed)."""
    # 1. classes, samples, texts
    classes, texts, mask, remap = run_classes(data, priors, cfg, train_classes)
    train_idx, val_idx, test_idx, rule = split_parts(data, split, classes, cfg)
    cfg, adapted = fit_to_data(cfg, remap[data.labels[train_idx]])  # sampler, small sets
    # 2. processes, model, optimizer
    acc = accelerator or make_accelerator(cfg.precision)
    if accelerator is None and (note := bf16_note(cfg.precision, acc.device.type)):
        events.note(callback, "tokenize", note)  # once: a refit passes its accelerator on
    torch.manual_seed(cfg.seed)
    enc_cfg = cfg.encoder_config(data)
    cfg = replace(cfg, prep=prep_for(enc_cfg, cfg.prep))
    k = len(classes) if cfg.uses_ce else None
    heads = Heads(enc_cfg.dim, texts.shape[-1], k, cfg.temperature)
    if not cfg.uses_text:
        heads.text.requires_grad_(False)
    if not (cfg.uses_text and cfg.learn_temperature):
        heads.logit_scale.requires_grad_(False)
    net = Stage1Net(SkeletonEncoder(enc_cfg), heads)
    train_bank = make_bank(data, train_idx, cfg.prep)
    n, world = len(train_bank), acc.num_processes
    steps_per_epoch = len(epoch_plan(n, cfg, torch.Generator().manual_seed(0), world)[0])
    if steps_per_epoch == 0:
        raise ConfigError(f"{n} training samples cannot fill one batch on {world} processes")
    cfg, plan = with_plan(cfg, steps_per_epoch)  # epochs a number from here on
    optimizer = make_optimizer(net, cfg)
    protos = losses.class_prototypes(texts.to(acc.device), mask.to(acc.device))  # (K, E)
    return _Run(
        cfg=cfg,
        acc=acc,
        net=net,
        optimizer=optimizer,
        sched=torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg, steps_per_epoch)),
        gen=torch.Generator().manual_seed(cfg.seed),
        train_bank=train_bank,
        val_bank=make_bank(data, val_idx, cfg.prep),
        test_bank=make_bank(data, test_idx, cfg.prep),
        y_train=remap[data.labels[train_idx]],
        y_val=remap[data.labels[val_idx]],
        y_test=remap[data.labels[test_idx]],
        rule=rule,
        texts=texts,
        mask=mask,
        protos=protos.cpu().numpy(),
        parts=run_part_texts(priors, data.class_names, classes, cfg.part_weight, acc.device),
        steps_per_epoch=steps_per_epoch,
        plan=plan,
        adapted=adapted,
        callback=timed(callback, "tokenize", plan) if acc.is_main_process else None,
    )


def _resume(run: _Run, run_dir: str | os.PathLike) -> dict | None:
    """Restore the run checkpointed in ``run_dir`` (if any); returns its averaged weights."""
    ckpt = load_checkpoint(run_dir)
    if ckpt is None:
        return None
    saved = type(run.cfg).from_dict(ckpt["config"]).to_dict()  # newer settings: defaults
    check_resumable(saved, run.cfg.to_dict(), run_dir)
    run.net.load_state_dict(ckpt["net"])
    run.optimizer.load_state_dict(ckpt["optimizer"])
    run.sched.load_state_dict(ckpt["scheduler"])
    run.gen.set_state(ckpt["generator"])
    run.history, run.start, run.best = ckpt["history"], ckpt["epoch"], ckpt.get("best")
    return ckpt["ema"]


def _prepare(run: _Run, ema_state: dict | None) -> None:
    """Hand network and optimizer to the accelerator; start the weight average (``ema``)."""
    run.net, run.optimizer = run.acc.prepare(run.net, run.optimizer)
    if run.cfg.ema:
        net = run.acc.unwrap_model(run.net)
        run.average = weight_average(net, run.cfg.ema, updates=run.sched.last_epoch)
        if ema_state is not None:
            run.average.module.load_state_dict(ema_state)


def _step(run: _Run, x: torch.Tensor, y: torch.Tensor, t_mine: torch.Tensor):
    """One optimizer step on this process's batch; returns (loss, terms, predictions (B,))."""
    cfg, acc = run.cfg, run.acc
    with autocast(acc):
        out = run.net(x, parts=True) if run.parts is not None else run.net(x)
        _, z, logits, scale = out[:4]  # (B, D), (B, E) | None, (B, K) | None, ()
        terms = {}
        if run.parts is not None:  # out[4]: part streams (B, T_s, P, E)
            terms.update(losses.part_nce(out[4].float(), *run.parts, y, scale, cfg.part_match))
        if cfg.uses_text:
            terms.update(losses.mil_nce(z.float(), t_mine, y, scale, cfg.symmetric))
        if cfg.uses_ce:
            terms.update(losses.cross_entropy(logits.float(), y, cfg.label_smoothing))
        weights = {"mil_nce": 1.0} if cfg.objective == "mil-nce" else {"ce": 1.0}
        if cfg.objective == "both":
            weights = {"mil_nce": 1.0, "ce": cfg.ce_weight}
        weights.update({"part_nce": cfg.part_weight} if run.parts is not None else {})
        loss = losses.combine(terms, weights)
    run.optimizer.zero_grad(set_to_none=True)
    acc.backward(loss)
    if cfg.grad_clip:
        acc.clip_grad_norm_(run.net.parameters(), cfg.grad_clip)
    run.optimizer.step()
    run.sched.step()
    if run.average is not None:
        run.average.update_parameters(acc.unwrap_model(run.net))
    with torch.no_grad():
        if logits is not None:
            return loss, terms, logits.argmax(1)
        pt = torch.from_numpy(run.protos).to(z.device)  # (K, E)
        return loss, terms, (torch.nn.functional.normalize(z.float(), dim=-1) @ pt.T).argmax(1)


def _train_epoch(run: _Run, epoch: int) -> torch.Tensor:
    """One pass over the training part; returns the summed (loss, mil_nce, ce, correct,
    count, part_nce) of all processes."""
    cfg, acc = run.cfg, run.acc
    rank, world = acc.process_index, acc.num_processes
    torch.manual_seed(cfg.seed * 1_000_003 + epoch * 7919 + rank)  # dropout
    plan, params = epoch_plan(len(run.train_bank), cfg, run.gen, world, run.y_train)
    mix_gen = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,), generator=run.gen)))
    mine = []
    for pos, rows in plan:
        part = np.array_split(np.arange(len(pos)), world)[rank]
        mine.append((pos[part], subset_params(params, rows[part])))
    batches = EpochBatches(run.train_bank, mine)
    loader = torch.utils.data.DataLoader(
        batches, batch_size=None, shuffle=False, num_workers=cfg.workers
    )
    run.net.train()
    sums = torch.zeros(6, dtype=torch.float64)  # loss, mil_nce, ce, correct, count, part_nce
    for step, (x, pos) in enumerate(loader):
        y = torch.from_numpy(run.y_train[pos.numpy()]).to(acc.device)
        # every process draws every text of the global batch, then keeps its own
        glob = torch.from_numpy(run.y_train[plan[step][0]])
        t_all = losses.mix_texts(run.texts, run.mask, glob, mix_gen, cfg.text_mix)
        t_mine = t_all[np.array_split(np.arange(len(glob)), world)[rank]].to(acc.device)
        loss, terms, pred = _step(run, x.to(acc.device), y, t_mine)
        guards.check_loss(loss, "tokenize", epoch, step)
        b, zero = len(y), torch.zeros(())
        sums += torch.tensor(
            [
                loss.item() * b,
                terms.get("mil_nce", zero).item() * b,
                terms.get("ce", zero).item() * b,
                (pred == y).sum().item(),
                b,
                terms.get("part_nce", zero).item() * b,
            ],
            dtype=torch.float64,
        )
        acc_now = (pred == y).float().mean().item()
        total = run.cfg.epochs * run.steps_per_epoch
        info = f"epoch {epoch + 1} loss {loss.item():.3f} acc {acc_now:.2f}"
        done = epoch * run.steps_per_epoch + step + 1
        run.notify("progress", part="train", done=done, total=total, info=info, epoch=epoch + 1,
                   loss=loss.item(), acc=acc_now)  # fmt: skip
    return acc.reduce(sums.to(acc.device), reduction="sum").cpu()


def _epoch_entry(run: _Run, epoch: int, totals: torch.Tensor, t0: float) -> dict:
    """The history entry of an epoch: training means, then validation when it is due."""
    cfg, acc = run.cfg, run.acc
    count = max(1.0, float(totals[4]))
    entry = {
        "epoch": epoch + 1,
        "loss": float(totals[0] / count),
        "train_acc": float(totals[3] / count),
        "n_train": int(totals[4]),
        "lr": float(run.sched.get_last_lr()[0]),
        "world_size": acc.num_processes,
    }
    if cfg.uses_text:
        entry["mil_nce"] = float(totals[1] / count)
        entry["tau"] = float(1.0 / acc.unwrap_model(run.net).heads.scale().exp().item())
    if cfg.uses_ce:
        entry["ce"] = float(totals[2] / count)
    if run.parts is not None:
        entry["part_nce"] = float(totals[5] / count)
    last = epoch + 1 == cfg.epochs
    if cfg.eval_every and ((epoch + 1) % cfg.eval_every == 0 or last):
        parts = (run.train_bank, run.val_bank, run.y_train, run.y_val, run.protos)
        entry.update(evaluate(run.model, *parts, cfg, acc))
    entry["seconds"] = time.perf_counter() - t0
    return entry


def _save(run: _Run, epoch: int, run_dir: str | os.PathLike) -> None:
    """Checkpoint the run after ``epoch`` (main process) and wait for every process."""
    acc = run.acc
    if acc.is_main_process:
        state = {
            "epoch": epoch + 1,
            "net": acc.unwrap_model(run.net).state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.sched.state_dict(),
            "generator": run.gen.get_state(),
            "history": run.history,
            "config": run.cfg.to_dict(),
            "best": run.best,
            "seed": run.cfg.seed,
            "ema": run.average.module.state_dict() if run.average is not None else None,
        }
        save_checkpoint(run_dir, state)
    acc.wait_for_everyone()


def _finish(run: _Run) -> tuple[SkeletonEncoder, Heads]:
    """The result: best (with patience) or averaged weights; closed-form text head for ce."""
    model = run.model
    if run.cfg.patience and run.best is not None and run.best.get("state") is not None:
        model.load_state_dict(run.best["state"])
    encoder, heads = model.encoder.eval(), model.heads.eval()
    if not run.cfg.uses_text:
        fit_text_head(encoder, heads, run.train_bank, run.y_train, run.protos, run.cfg, run.acc)
    return encoder, heads


def train_encoder(
    data: SkeletonSet,
    priors: Priors,
    cfg: TokenizeConfig,
    split: str,
    train_classes: list[int] | None = None,
    callback=None,
    run_dir: str | os.PathLike | None = None,
    resume: bool = False,
    accelerator=None,
) -> tuple[SkeletonEncoder, Heads, list[dict]]:
    """Train the encoder on the train part of ``split`` against ``priors``.

    With ``train_classes`` (0-based ids into data.class_names) only those classes' samples and
    priors rows are used (zero-shot protocol); validation then covers those classes only.
    ``callback(event: dict)`` receives ``sugar_core.events`` (stage ``tokenize``: start,
    progress of part ``train`` per step, epoch with the history entry) on the main
    process. Returns the unwrapped encoder, heads (text head, ce head, temperature), history.
    """
    # 1. a fresh run, or the checkpointed one continued
    run = _setup(data, priors, cfg, split, train_classes, accelerator, callback)
    ema_state = _resume(run, run_dir) if run_dir is not None and resume else None
    _prepare(run, ema_state)
    cfg = run.cfg
    run.notify(
        "start",
        total=cfg.epochs * run.steps_per_epoch,
        epochs=cfg.epochs,
        start_epoch=run.start,
        steps_per_epoch=run.steps_per_epoch,
        n_train=len(run.train_bank),
        n_val=len(run.val_bank),
        plan=f"training on {len(run.train_bank)} samples, validating on {len(run.val_bank)}, "
        f"{run.plan.describe()}" + (f", resuming after epoch {run.start}" if run.start else ""),
    )

    # 2. epochs, each validated when due, tracked and checkpointed
    stale = 0 if run.best is None else run.best.get("stale", 0)
    for epoch in range(run.start, cfg.epochs):
        if cfg.patience and stale >= cfg.patience:
            break
        t0 = time.perf_counter()
        entry = _epoch_entry(run, epoch, _train_epoch(run, epoch), t0)
        run.history.append(entry)
        run.best, stale = track_best(run.best, entry, cfg, run.model, epoch)
        if run_dir is not None:
            _save(run, epoch, run_dir)
        run.notify("epoch", **entry)

    # 3. best (or averaged) weights, closed-form text head for ce; or the refit on train + val
    if cfg.refit:
        return _refit(run, data, priors, split, train_classes, callback, accelerator)
    encoder, heads = _finish(run)
    _test(run, encoder, heads)
    return encoder, heads, run.history


def _selected_epochs(run: _Run) -> int:
    """The epochs the run chose: the best validation epoch with patience, else all of them."""
    if run.cfg.patience and run.best is not None:
        return int(run.best["epoch"])
    return run.cfg.epochs


def _test(run: _Run, encoder: SkeletonEncoder, heads: Heads) -> None:
    """The one test evaluation, after every choice is made: ``test_*``, the validation rule and
    rows, selected epoch, schedule, sampler, small-set changes and validation ``warnings``."""
    if not run.history:
        return
    net = Stage1Net(encoder, heads)
    parts = (run.train_bank, run.test_bank, run.y_train, run.y_test, run.protos)
    last = run.history[-1]
    last.update(evaluate(net, *parts, run.cfg, run.acc, prefix="test"))
    last.update(validation=run.rule, selected_epoch=_selected_epochs(run),
                validation_rows=run.val_bank.indices.tolist())  # fmt: skip
    val = (run.train_bank, run.val_bank, run.y_train, run.y_val, run.protos, run.cfg, run.acc)
    last.update(schedule=run.plan.record(), sampler=run.cfg.sampler, small_data=run.adapted,
                warnings=health_warnings(net, *val))  # fmt: skip


def _refit(run: _Run, data, priors, split, train_classes, callback, accelerator):
    """Retrain from scratch on train + validation for the selected number of epochs (as
    published protocols report), then test; the history keeps both runs (``phase``)."""
    epochs = _selected_epochs(run)
    cfg = replace(run.cfg, validation="none", patience=0, refit=False, epochs=epochs)
    encoder, heads, refit = train_encoder(
        data, priors, cfg, split, train_classes, callback, accelerator=accelerator or run.acc
    )
    history = [dict(e, phase="select") for e in run.history]
    history += [dict(e, phase="refit") for e in refit]
    rule = f"{run.rule}, refit on train + validation"  # trained on them too: no rows recorded
    history[-1].update(validation=rule, selected_epoch=epochs, validation_rows=None)
    return encoder, heads, history
