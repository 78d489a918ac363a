"""This machine's speed at a zero-shot run's units of work, measured in a few seconds before
the run trains, and the run's estimate from it (the arithmetic is ``cost.py``'s).

    record = forecast(RunInputs(...), callback)   # a plan event; a note when over budget

``measure`` times, on real seen training samples, each after a warm-up of the same shape
(a new shape is slow once): an encoder optimiser step on a full batch, an encode without
gradient, a linear-probe fit, an alignment step through the configured bridge and LLM (on
``ALIGN_ROWS`` samples scaled to the batch, on a CPU), rank scoring of 1 and of
``RANK_SAMPLES`` samples against the unseen list (their difference: the cost per sample), and
greedy steps of a full generation batch. The models are fresh and random (only their speed
counts) and dropped afterwards; torch's random state is saved and restored around the probe,
so a run with the estimate trains and scores exactly as one without.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from sugar_core import events
from sugar_core.align import listing
from sugar_core.align.bridges import pad_tokens
from sugar_core.align.inference import predict
from sugar_core.align.llm import pad_answers
from sugar_core.align.model import AlignedModel, build_parts
from sugar_core.align.plan import wants_validation
from sugar_core.align.training import AlignNet
from sugar_core.priors.store import Priors
from sugar_core.skeleton.dataset import SkeletonSet
from sugar_core.skeleton.transforms import draw_params
from sugar_core.tokenize.bank import split_parts
from sugar_core.tokenize.config import prep_for
from sugar_core.tokenize.encoder import SkeletonEncoder
from sugar_core.tokenize.network import Heads, Stage1Net
from sugar_core.tokenize.optim import make_optimizer
from sugar_core.tokenize.probe import linear_probe
from sugar_core.tokenize.run_data import make_bank
from sugar_core.tokenize.store import TokenSet, load_encoder
from sugar_core.zeroshot.config import ZeroShotConfig
from sugar_core.zeroshot.cost import (
    Rates,
    Sizes,
    Work,
    advice,
    count_work,
    estimate,
    over_budget_note,
)
from sugar_core.zeroshot.plan import ClassPlan, evaluation_indices, training_indices
from sugar_core.zeroshot.seen import ZS_SPLIT, seen_split

ALIGN_ROWS = 4  # CPU: samples of an alignment step, scaled to the batch (linear from about 4)
RANK_SAMPLES = 4  # samples of the larger rank-scoring call
GENERATE_STEPS = 2  # greedy steps timed on a full batch (after one warm-up)
PROBE_ROWS = 2000  # the linear-probe fit is timed on at most this many rows, then scaled


@dataclass
class RunInputs:
    """What a zero-shot run works on, as ``run_zeroshot`` has it after its step 1."""

    data: SkeletonSet  # the training data, in the run's joint layout
    priors: Priors
    cfg: ZeroShotConfig
    split: str  # the data split whose train part trains ("" = every sample)
    plan: ClassPlan  # pseudo-unseen classes already out of the seen
    held: list[int]  # the pseudo-unseen classes (ids into the training data)
    test: SkeletonSet  # the data scored (the training data itself unless cross-dataset)
    test_priors: Priors
    test_split: str
    unseen_idx: np.ndarray  # (N_u,) unseen-class samples of ``test`` scored
    cross: bool
    tokens: TokenSet | None = None  # a reused encoder's tokens
    aligned: AlignedModel | None = None  # a reused alignment


# ---------------------------------------------------------------------------------------------
# counts


def _align_sizes(r: RunInputs) -> dict:
    """The alignment's training and validation counts (``seen.seen_tokens``, align's
    ``_hold_out``: a stratified share when ``plan.wants_validation``)."""
    labels = r.data.labels[training_indices(r.data, r.split, r.plan.seen)]
    counts = np.bincount(labels, minlength=len(r.data.class_names))[r.plan.seen]
    if r.cfg.align_per_class > 0:
        counts = np.minimum(counts, r.cfg.align_per_class)
    n = int(counts.sum())
    val = 0
    if wants_validation(r.cfg.align, n):
        val = sum(int(round(r.cfg.align.validation_share * c)) for c in counts)
        val = 0 if val == n else val
    return dict(align_fit=n - val, align_val=val)


def sizes(r: RunInputs) -> tuple[Sizes, SkeletonSet | None, np.ndarray | None]:
    """(the run's counts, the encoder's seen-class set and its fit part; None when reused)."""
    cfg, plan, n_u = r.cfg, r.plan, len(r.unseen_idx)
    kw: dict = {"train_encoder": r.tokens is None, "train_align": r.aligned is None}
    sub = fit = None
    if r.tokens is None:
        sub, _ = seen_split(r.data, r.split, plan)
        fit, val, test, _ = split_parts(sub, ZS_SPLIT, list(range(len(plan.seen))), cfg.tokenize)
        kw.update(enc_fit=len(fit), enc_val=len(val), enc_test=len(test))
    same = r.tokens is not None and r.tokens.sample_ids == r.data.sample_ids
    same = same and np.array_equal(r.tokens.labels, r.data.labels)  # protocol's _same_samples
    kw["encode"] = (0 if same else len(r.data)) + (len(r.test) if r.cross else 0)
    if r.aligned is None:
        kw.update(_align_sizes(r))  # references: drawn from the rows the alignment fits
        kw["reference"] = min(r.cfg.align.reference_samples, kw["align_fit"])
    else:
        kw["reference"] = len(r.aligned.reference_tokens or ())
    if r.held:
        kw.update(pseudo_samples=len(training_indices(r.data, r.split, r.held)),
                  pseudo_classes=len(r.held))  # fmt: skip
    if cfg.gzsl and plan.seen_in_test:
        part = "all" if r.cross else "test"
        seen = evaluation_indices(r.test, r.test_split, plan.seen_in_test, part)
        kw.update(gzsl_samples=len(seen) + n_u,
                  gzsl_classes=len(plan.seen_in_test) + len(plan.unseen))  # fmt: skip
    kw.update(seen=len(plan.seen), unseen=len(plan.unseen), unseen_samples=n_u)
    return Sizes(**kw), sub, fit


# ---------------------------------------------------------------------------------------------
# timing


def _device(cpu: bool = False) -> torch.device:
    """Where the stages will run (``accel.make_accelerator``'s choice)."""
    return torch.device("cuda" if torch.cuda.is_available() and not cpu else "cpu")


def _clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def _amp(device: torch.device, precision: str):
    """bf16 autocast where the stage asks for it (``accel.autocast``), else nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def _encoder_rates(r: RunInputs, sub: SkeletonSet, fit: np.ndarray, s: Sizes):
    """(seconds per step, per encode, per probe fit, a batch's tokens) of a fresh encoder."""
    cfg, dev = r.cfg.tokenize, _device()
    enc_cfg = cfg.encoder_config(sub)
    prep = prep_for(enc_cfg, cfg.prep)
    heads = Heads(enc_cfg.dim, r.priors.embeddings.shape[-1],
                  len(r.plan.seen) if cfg.uses_ce else None, cfg.temperature)  # fmt: skip
    net = Stage1Net(SkeletonEncoder(enc_cfg), heads).to(dev)
    opt = make_optimizer(net, cfg)
    rows = fit[: cfg.batch_size]
    bank, pos = make_bank(sub, rows, prep), np.arange(len(rows))
    params = draw_params(len(rows), prep, torch.Generator().manual_seed(0))
    net.train()
    seconds = 0.0
    for _ in range(2):  # 1. a warm-up step (a new shape is slow once), then the timed one
        t0 = _clock(dev)
        with _amp(dev, cfg.precision):
            _, z, logits, _ = net(bank.batch(pos, params).to(dev))
        loss = (z if z is not None else logits).float().square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seconds = _clock(dev) - t0
    net.eval()
    t0 = _clock(dev)
    with torch.no_grad(), _amp(dev, cfg.precision):  # 2. an encode, as validation and tokens
        tokens, pooled = net.encoder(bank.batch(pos).to(dev))  # (B, Ls, D), (B, D)
    encode = (_clock(dev) - t0) / len(rows)
    fit_s = 0.0
    if cfg.probe != "none" and s.enc_val:  # 3. a linear-probe fit, scaled to the fit part
        n = min(len(fit), PROBE_ROWS)
        x = np.random.default_rng(0).normal(size=(n, pooled.shape[1]))
        y = sub.labels[fit[:n]]
        linear_probe(x[:8], np.arange(8) % 2, x[:2], cfg.probe)  # warm-up: its imports
        t0 = time.perf_counter()
        linear_probe(x, y, x[: min(n, s.enc_val)], cfg.probe)
        fit_s = (time.perf_counter() - t0) * len(fit) / n
    seqs = [t.float().cpu().numpy().astype(np.float16) for t in tokens]
    return seconds, encode, fit_s, seqs


def _reused_encode_rate(r: RunInputs) -> float:
    """Seconds per sample of the reused encoder, when the data must be encoded again."""
    enc = load_encoder(r.tokens)
    rows = np.arange(min(len(r.data), r.cfg.tokenize.batch_size))
    bank = make_bank(r.data, rows, enc.prep)
    t0 = time.perf_counter()
    with torch.no_grad():
        enc.encoder.eval()(bank.batch(np.arange(len(rows))))
    return (time.perf_counter() - t0) / len(rows)


def _align_rates(r: RunInputs, seqs: list[np.ndarray]) -> tuple[float, AlignedModel, int]:
    """(seconds per alignment step, the fresh model, the longest seen answer in tokens)."""
    cfg, names = r.cfg.align, r.plan.seen_names
    cfg.check()
    dev = _device(cfg.cpu)
    dim = int(seqs[0].shape[-1])
    bridge, llm = build_parts(cfg, dim, r.priors.dim)  # text_dim: read by an anchor only
    pri = r.priors.select(names)
    notes = listing.cut(llm, listing.class_notes(pri, names, cfg.llm.knowledge),
                        cfg.llm.knowledge_tokens)  # fmt: skip
    prompt = llm.prompt(names, notes)
    answers = [llm.answer_ids(prompt, i, d) for i, d in enumerate(pri.descriptions)]
    net = AlignNet(bridge, llm, prompt).to(dev)
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=cfg.lr)
    b = cfg.batch_size
    x, mask = pad_tokens([seqs[i % len(seqs)] for i in range(b)], device=dev)  # (B, Ls, D)
    tgt, tmask = pad_answers([answers[i % len(answers)] for i in range(b)])  # (B, Lt)
    net.train()
    rows = b if dev.type == "cuda" else min(b, ALIGN_ROWS)  # a GPU's step is not linear in B
    seconds = 0.0
    for size in (rows, rows):  # a warm-up step (a new shape is slow once), then the timed one
        t0 = _clock(dev)
        with _amp(dev, cfg.precision):
            loss = net(x[:size], mask[:size], tgt[:size].to(dev), tmask[:size].to(dev))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        seconds = (_clock(dev) - t0) * b / size
    net.eval()
    model = AlignedModel(bridge, llm, cfg, list(names), dim, class_notes=notes,
                         class_descriptions=list(pri.descriptions))  # fmt: skip
    return seconds * cfg.grad_accum, model, max(len(a) for a in answers)


def _rank_seconds(r: RunInputs, model: AlignedModel, seqs: list[np.ndarray]) -> float:
    """Seconds per sample of rank decoding against the unseen list: the difference between a
    call on ``RANK_SAMPLES`` samples and one on 1 (each shape warmed up once), so a call's own
    overhead (the shared prefix, the prompt) is left out."""
    text = None if r.cfg.rank_text in ("", "auto") else r.cfg.rank_text
    kw = dict(decode="rank", describe=False, priors=r.test_priors, calibration="none",
              rank_text=text)  # fmt: skip
    seqs = [seqs[i % len(seqs)] for i in range(RANK_SAMPLES)]
    dev, names, took = model.llm.device, r.plan.unseen_names, []
    for n in (1, RANK_SAMPLES, 1, RANK_SAMPLES):
        t0 = _clock(dev)
        predict(model, seqs[:n], names, batch_size=n, **kw)
        took.append(_clock(dev) - t0)
    per_sample = (took[3] - took[2]) / (RANK_SAMPLES - 1)
    return max(per_sample, took[3] / RANK_SAMPLES / 4)  # noise cannot make it nearly free


def _generate_seconds(r: RunInputs, model: AlignedModel, per_sample: float, answer: int):
    """Seconds per generation batch: its prompts (as rank's) and greedy steps of a full batch
    (B, 1) for the longest answer (capped at ``max_new_tokens``)."""
    b, dev = r.cfg.predict_batch, model.llm.device
    ids = torch.full((b, 1), int(model.llm.tokenizer.pad_token_id or 0), device=dev)
    times = []
    with torch.no_grad(), model.autocast():
        for _ in range(GENERATE_STEPS + 1):  # the first warms up
            t0 = _clock(dev)
            model.llm.model(input_ids=ids)
            times.append(_clock(dev) - t0)
    steps = min(r.cfg.max_new_tokens, answer)
    return b * per_sample + steps * float(np.mean(times[1:]))


def measure(r: RunInputs, sub, fit, s: Sizes, work: Work) -> Rates:
    """Seconds per unit of each kind of work the run has (``Rates``), timed on fresh models."""
    rates: dict = {}
    if r.tokens is None:
        step, encode, fit_s, seqs = _encoder_rates(r, sub, fit, s)
        rates.update(encoder_step=step, encode=encode, probe_fit=fit_s)
    else:
        seqs = [r.tokens.tokens[i] for i in range(min(len(r.tokens), RANK_SAMPLES))]
        rates["encode"] = _reused_encode_rate(r) if s.encode else 0.0
    model, answer = r.aligned, r.cfg.max_new_tokens
    if model is None:
        rates["align_step"], model, answer = _align_rates(r, seqs)
    per_sample = _rank_seconds(r, model, seqs)
    gen = _generate_seconds(r, model, per_sample, answer) if work.generated else 0.0
    return Rates(**rates, rank_pair=per_sample / len(r.plan.unseen), generate_batch=gen)


def forecast(r: RunInputs, callback=None) -> dict:
    """The run's estimate (``cost.Estimate.record``): counted, measured, priced; announced as
    a ``plan`` event and, over the budget, a ``note`` naming cheaper flags."""
    t0 = time.perf_counter()
    s, sub, fit = sizes(r)
    work = count_work(r.cfg, s)
    with torch.random.fork_rng():  # the probe draws nothing the run will draw
        rates = measure(r, sub, fit, s, work)
    gc.collect()  # the probe's models go before the run loads its own
    est = estimate(work, replace(rates, probe_seconds=time.perf_counter() - t0))
    tips = advice(est, r.cfg, s)
    events.emit(callback, "plan", "zeroshot", phase="estimate", message=est.message(),
                eta_seconds=est.seconds)  # fmt: skip
    if est.over_budget:
        events.note(callback, "zeroshot", over_budget_note(est, tips))
    return est.record(tips)
