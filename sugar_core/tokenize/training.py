"""Stage 1: train the skeleton encoder against the text priors, then tokenize every sample.

    enc, heads, history = train_encoder(data, priors, TokenizeConfig(), split="xview")
    tokens = tokenize(data, enc, heads, history=history, ...)   # -> TokenSet

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
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from sugar_core.errors import ConfigError
from sugar_core.priors.store import Priors
from sugar_core.skeleton.dataset import SkeletonSet
from sugar_core.skeleton.transforms import PrepConfig, stream_factor
from sugar_core.tokenize.encoder import EncoderConfig, SkeletonEncoder
from sugar_core.tokenize.network import (
    EpochBatches,
    Heads,
    PreparedBank,
    Stage1Net,
    encode_bank,
    load_checkpoint,
    save_checkpoint,
)
from sugar_core.tokenize.store import TokenSet
from sugar_core.tokenize import losses
from sugar_core.tokenize.validation import (
    check_resumable,
    epoch_plan,
    evaluate,
    fit_text_head,
    lr_factor,
    make_optimizer,
    split_parts,
    subset_params,
    track_best,
)

OBJECTIVES = ("mil-nce", "ce", "both")


@dataclass
class TokenizeConfig:
    preset: str = "small"  # encoder size: small (two CPU cores) or paper (CTR-GCN, GPUs)
    frames: int | None = None  # T: override the preset's input length
    channels: tuple[int, ...] | None = None  # override the preset's block widths
    strides: tuple[int, ...] | None = None  # override the temporal strides (sets Ls)
    max_bodies: int | None = None  # M; None: the most bodies any sample has, capped at 2
    dropout: float = 0.0  # on the pooled feature during training
    prep: PrepConfig = field(default_factory=PrepConfig)  # centring, view, augmentation
    objective: str = "mil-nce"  # mil-nce | ce | both
    ce_weight: float = 1.0  # weight of the ce term under "both"
    label_smoothing: float = 0.1  # ce only; softens over-confident logits on small data
    text_kinds: tuple[str, ...] = ("motion", "visual")  # priors columns used as positives
    text_mix: str = "random"  # random (Dirichlet mix of a class's texts) | pick | mean
    symmetric: bool = False  # add the text-to-skeleton direction of the contrastive loss
    temperature: float = 0.07  # initial tau (CLIP's)
    learn_temperature: bool = True  # tau is a parameter, clamped to >= 0.01
    epochs: int = 60  # passes over the training part
    batch_size: int = 32  # global batch (split across processes)
    optimizer: str = "sgd"  # sgd (nesterov momentum, as CTR-GCN) | adamw
    lr: float = 0.05  # peak learning rate
    momentum: float = 0.9
    weight_decay: float = 5e-4  # not applied to norms, biases, topologies, temperature
    warmup_epochs: int = 3  # linear warm-up before the cosine decay
    schedule: str = "cosine"  # cosine (to 0) | step (x0.1 at 60 % and 85 %) | constant
    grad_clip: float = 0.0  # max global grad norm, 0 = off
    ema: float = 0.0  # decay of a moving average of the weights used for results; 0 = off
    precision: str = "fp32"  # fp32 | bf16 (autocast where the device has it)
    seed: int = 0
    eval_every: int = 1  # validate every n epochs (and always after the last); 0 = never
    probe: str = "logistic"  # linear probe on pooled features: logistic | ridge | none
    patience: int = 0  # early stopping: epochs without a better monitor value; 0 = off
    val_holdout: float = 0.0  # > 0: validate on this stratified share of the train part
    workers: int = 0  # DataLoader processes building batches (0 = in the training process)
    eval_batch_size: int = 128

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"objective {self.objective!r}; expected one of {OBJECTIVES}")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision {self.precision!r}; expected fp32 or bf16")
        if self.optimizer not in ("sgd", "adamw"):
            raise ConfigError(f"optimizer {self.optimizer!r}; expected sgd or adamw")
        if self.schedule not in ("cosine", "step", "constant"):
            raise ConfigError(f"schedule {self.schedule!r}; expected cosine, step or constant")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"ema {self.ema} must lie in [0, 1) (0 = off, 0.999 = slow)")
        if self.epochs < 1 or self.batch_size < 2:
            raise ConfigError(f"epochs {self.epochs} and batch size {self.batch_size} too small")
        if isinstance(self.prep, dict):
            self.prep = PrepConfig(**self.prep)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["prep"] = self.prep.to_dict()
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> TokenizeConfig:
        """Lenient: a stored config (extra bookkeeping keys such as run_dir are ignored)."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def from_settings(cls, d: dict, where: str = "settings") -> TokenizeConfig:
        """Strict: user settings (a --config file, --set items); unknown keys and values of
        the wrong type are a ConfigError naming ``where`` and the key."""
        d = dict(d)
        prep = d.pop("prep", {})
        if not isinstance(prep, dict):
            raise ConfigError(f"{where}: prep must be an object of settings, not {prep!r}")
        _check_settings(cls, d, where, "")
        _check_settings(PrepConfig, prep, where, "prep.")
        fixed = sorted(set(prep) & {"frames", "max_bodies", "channels"})
        if fixed:
            raise ConfigError(
                f"{where}: prep.{fixed[0]} follows the encoder; set {fixed[0]} at the top level"
                if fixed[0] != "channels"
                else f"{where}: prep.channels follows the encoder's input channels"
            )
        try:
            return cls(**d, prep=PrepConfig(**prep))
        except (TypeError, ValueError, ConfigError) as exc:
            raise ConfigError(f"{where}: {exc}") from None

    def encoder_config(self, data: SkeletonSet) -> EncoderConfig:
        c = int(data.samples[0].joints.shape[-1])
        m = self.max_bodies or min(2, max(s.bodies for s in data.samples))
        kw = {"in_channels": min(3, c) * stream_factor(self.prep.stream), "max_bodies": m}
        if self.frames:
            kw["frames"] = self.frames
        enc = EncoderConfig.preset_named(self.preset, data.layout, **kw)
        over = {k: getattr(self, k) for k in ("channels", "strides") if getattr(self, k)}
        return replace(enc, dropout=self.dropout, **over) if over or self.dropout else enc

    @property
    def uses_text(self) -> bool:
        return self.objective in ("mil-nce", "both")

    @property
    def uses_ce(self) -> bool:
        return self.objective in ("ce", "both")


def _check_settings(cls, d: dict, where: str, prefix: str) -> None:
    """Refuse unknown keys and plainly wrong types (judged by each field's annotation or
    default); whole floats given for integer fields become ints. Edits ``d`` in place."""
    fields = cls.__dataclass_fields__
    unknown = sorted(set(d) - set(fields))
    if unknown:
        known = ", ".join(prefix + k for k in fields)
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(prefix + k for k in unknown)}; known: {known}"
        )
    for key, value in d.items():
        f = fields[key]
        kind = str(f.type)
        if value is None and "None" in kind:
            continue
        if kind.startswith("tuple"):
            inner = kind[6 : kind.index("]")].split(", ")
            item = str if inner[0] == "str" else (int, float)
            ok = isinstance(value, (list, tuple)) and all(
                isinstance(v, item) and not isinstance(v, bool) for v in value
            )
            size = len(inner) if "..." not in inner else None
            ok = ok and (size is None or len(value) == size)
            what = "strings" if item is str else "numbers"
            expected = f"a list of {size} {what}" if size else f"a list of {what}"
        elif kind == "bool":
            ok, expected = isinstance(value, bool), "true or false"
        elif kind.startswith(("int", "float")):
            integral = kind.startswith("int")
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = ok and (not integral or float(value).is_integer())
            expected = "a whole number" if integral else "a number"
            if ok and integral:
                d[key] = int(value)
        elif kind == "str":
            ok, expected = isinstance(value, str), "a string"
        else:
            ok, expected = True, ""
        if not ok:
            raise ConfigError(f"{where}: {prefix}{key} = {value!r}; expected {expected}")


def prep_for(enc: EncoderConfig, prep: PrepConfig) -> PrepConfig:
    """The pre-processing an encoder expects (its T, M and C win over the prep's own)."""
    channels = enc.in_channels // stream_factor(prep.stream)
    return replace(prep, frames=enc.frames, max_bodies=enc.max_bodies, channels=channels)


def text_table(priors: Priors, kinds) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings (K, P', D_text) and mask (K, P') of the priors columns of the given kinds."""
    cols = [i for i, k in enumerate(priors.text_kinds) if k in kinds]
    if not cols:
        cols = [int(i) for kind in kinds for i in priors.columns(kind)]
    if not cols:
        raise ConfigError(
            f"priors have no text of kind {list(kinds)}; "
            f"available: {sorted(set(priors.text_kinds))}"
        )
    mask = priors.mask[:, cols]
    empty = [priors.class_names[i] for i in np.flatnonzero(~mask.any(1))]
    if empty:
        raise ConfigError(f"priors have no {list(kinds)} text for class(es) {empty[:5]}")
    return torch.from_numpy(priors.embeddings[:, cols]), torch.from_numpy(mask)


def make_accelerator(precision: str = "fp32"):
    """An Accelerator for this process (CPU unless CUDA is present; bf16 autocast on request)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    mp = "bf16" if precision == "bf16" else "no"
    try:
        return Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=mp)
    except ValueError:  # an earlier Accelerator in this process used another precision
        AcceleratorState._reset_state()
        return Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=mp)


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
    ``callback(event: dict)`` receives {"event": "start" | "step" | "epoch", ...} on the main
    process. Returns the unwrapped encoder, heads (text head, ce head, temperature), history.
    """
    # 1. classes, samples, texts
    k_all = len(data.class_names)
    classes = list(range(k_all)) if train_classes is None else sorted(set(train_classes))
    bad = [c for c in classes if not 0 <= c < k_all]
    if bad or not classes:
        raise ConfigError(f"train classes {bad or classes} outside 0..{k_all - 1}")
    pri = priors.select([data.class_names[c] for c in classes])
    texts, mask = text_table(pri, cfg.text_kinds)  # (K, P', E), (K, P')
    remap = np.full(k_all, -1, dtype=np.int64)
    remap[classes] = np.arange(len(classes))
    train_idx, val_idx = split_parts(data, split, classes, cfg)
    y_train, y_val = remap[data.labels[train_idx]], remap[data.labels[val_idx]]

    # 2. processes, model, optimizer
    acc = accelerator or make_accelerator(cfg.precision)
    rank, world = acc.process_index, acc.num_processes
    torch.manual_seed(cfg.seed)
    enc_cfg = cfg.encoder_config(data)
    prep = prep_for(enc_cfg, cfg.prep)
    cfg = replace(cfg, prep=prep)
    heads = Heads(
        enc_cfg.dim, texts.shape[-1], len(classes) if cfg.uses_ce else None, cfg.temperature
    )
    if not cfg.uses_text:
        heads.text.requires_grad_(False)
    if not (cfg.uses_text and cfg.learn_temperature):
        heads.logit_scale.requires_grad_(False)
    net = Stage1Net(SkeletonEncoder(enc_cfg), heads)
    train_bank = PreparedBank(data, train_idx, prep)
    val_bank = PreparedBank(data, val_idx, prep)
    n = len(train_bank)
    gen = torch.Generator().manual_seed(cfg.seed)
    steps_per_epoch = len(epoch_plan(n, cfg, torch.Generator().manual_seed(0), world)[0])
    if steps_per_epoch == 0:
        raise ConfigError(f"{n} training samples cannot fill one batch on {world} processes")
    optimizer = make_optimizer(net, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg, steps_per_epoch))
    texts, mask = texts.to(acc.device), mask.to(acc.device)
    protos = losses.class_prototypes(texts, mask).cpu().numpy()  # (K, E)

    # 3. resume
    history, start, best = [], 0, None
    if run_dir is not None and resume:
        ckpt = load_checkpoint(run_dir)
        if ckpt is not None:
            check_resumable(ckpt["config"], cfg.to_dict(), run_dir)
            net.load_state_dict(ckpt["net"])
            optimizer.load_state_dict(ckpt["optimizer"])
            sched.load_state_dict(ckpt["scheduler"])
            gen.set_state(ckpt["generator"])
            history, start, best = ckpt["history"], ckpt["epoch"], ckpt.get("best")
    net, optimizer = acc.prepare(net, optimizer)
    average = WeightAverage(acc.unwrap_model(net), cfg.ema) if cfg.ema else None
    if average is not None and start:
        average.model.load_state_dict(ckpt["ema"])
    main = acc.is_main_process
    if callback and main:
        callback(
            {
                "event": "start",
                "epochs": cfg.epochs,
                "start_epoch": start,
                "steps_per_epoch": steps_per_epoch,
                "n_train": n,
                "n_val": len(val_bank),
            }
        )

    # 4. epochs
    stale = 0 if best is None else best.get("stale", 0)
    for epoch in range(start, cfg.epochs):
        if cfg.patience and stale >= cfg.patience:
            break
        t0 = time.perf_counter()
        torch.manual_seed(cfg.seed * 1_000_003 + epoch * 7919 + rank)
        plan, params = epoch_plan(n, cfg, gen, world)
        mix_gen = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
        mine = []
        for pos, rows in plan:
            part = np.array_split(np.arange(len(pos)), world)[rank]
            mine.append((pos[part], subset_params(params, rows[part])))
        loader = torch.utils.data.DataLoader(
            EpochBatches(train_bank, mine),
            batch_size=None,
            shuffle=False,
            num_workers=cfg.workers,
        )
        net.train()
        sums = torch.zeros(5, dtype=torch.float64)  # loss, mil_nce, ce, correct, count
        for step, (x, pos) in enumerate(loader):
            y = torch.from_numpy(y_train[pos.numpy()]).to(acc.device)
            # every process draws every text of the global batch, then keeps its own
            glob = torch.from_numpy(y_train[plan[step][0]])
            t_all = losses.mix_texts(texts.cpu(), mask.cpu(), glob, mix_gen, cfg.text_mix)
            t_mine = t_all[np.array_split(np.arange(len(glob)), world)[rank]].to(acc.device)
            with acc.autocast():
                pooled, z, logits, scale = net(x.to(acc.device))
                terms = {}
                if cfg.uses_text:
                    terms.update(losses.mil_nce(z.float(), t_mine, y, scale, cfg.symmetric))
                if cfg.uses_ce:
                    terms.update(losses.cross_entropy(logits.float(), y, cfg.label_smoothing))
                weights = {"mil_nce": 1.0} if cfg.objective == "mil-nce" else {"ce": 1.0}
                if cfg.objective == "both":
                    weights = {"mil_nce": 1.0, "ce": cfg.ce_weight}
                loss = losses.combine(terms, weights)
            optimizer.zero_grad(set_to_none=True)
            acc.backward(loss)
            if cfg.grad_clip:
                acc.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            optimizer.step()
            sched.step()
            if average is not None:
                average.update(acc.unwrap_model(net), sched.last_epoch)
            with torch.no_grad():
                if logits is not None:
                    pred = logits.argmax(1)
                else:
                    pt = torch.from_numpy(protos).to(z.device)
                    pred = (torch.nn.functional.normalize(z.float(), dim=-1) @ pt.T).argmax(1)
                b = len(y)
                sums += torch.tensor(
                    [
                        loss.item() * b,
                        terms.get("mil_nce", torch.zeros(())).item() * b,
                        terms.get("ce", torch.zeros(())).item() * b,
                        (pred == y).sum().item(),
                        b,
                    ],
                    dtype=torch.float64,
                )
            if callback and main:
                callback(
                    {
                        "event": "step",
                        "epoch": epoch,
                        "step": step + 1,
                        "loss": loss.item(),
                        "acc": (pred == y).float().mean().item(),
                    }
                )
        totals = acc.reduce(sums.to(acc.device), reduction="sum").cpu()
        count = max(1.0, float(totals[4]))
        entry = {
            "epoch": epoch + 1,
            "loss": float(totals[0] / count),
            "train_acc": float(totals[3] / count),
            "n_train": int(totals[4]),
            "lr": float(sched.get_last_lr()[0]),
            "world_size": world,
        }
        if cfg.uses_text:
            entry["mil_nce"] = float(totals[1] / count)
            entry["tau"] = float(1.0 / acc.unwrap_model(net).heads.scale().exp().item())
        if cfg.uses_ce:
            entry["ce"] = float(totals[2] / count)
        last = epoch + 1 == cfg.epochs
        result = average.model if average is not None else acc.unwrap_model(net)
        if cfg.eval_every and ((epoch + 1) % cfg.eval_every == 0 or last):
            entry.update(evaluate(result, train_bank, val_bank, y_train, y_val, protos, cfg, acc))
        entry["seconds"] = time.perf_counter() - t0
        history.append(entry)
        best, stale = track_best(best, entry, cfg, result, epoch)
        if run_dir is not None:
            if main:
                save_checkpoint(
                    run_dir,
                    {
                        "epoch": epoch + 1,
                        "net": acc.unwrap_model(net).state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": sched.state_dict(),
                        "generator": gen.get_state(),
                        "history": history,
                        "config": cfg.to_dict(),
                        "best": best,
                        "seed": cfg.seed,
                        "ema": average.model.state_dict() if average is not None else None,
                    },
                )
            acc.wait_for_everyone()
        if callback and main:
            callback({"event": "epoch", **entry})

    # 5. finish: best (or averaged) weights, closed-form text head for ce
    model = average.model if average is not None else acc.unwrap_model(net)
    if cfg.patience and best is not None and best.get("state") is not None:
        model.load_state_dict(best["state"])
    encoder, heads = model.encoder.eval(), model.heads.eval()
    if not cfg.uses_text:
        fit_text_head(encoder, heads, train_bank, y_train, protos, cfg, acc)
    return encoder, heads, history


class WeightAverage:
    """An exponential moving average of a network's weights and batch-norm statistics.

    ``update`` after every optimizer step; the decay ramps up as (1 + n) / (10 + n) over the
    first updates, so early averages are not dominated by the random initial weights.
    """

    def __init__(self, net: torch.nn.Module, decay: float):
        import copy

        self.decay = decay
        self.model = copy.deepcopy(net).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, net: torch.nn.Module, updates: int) -> None:
        d = min(self.decay, (1 + updates) / (10 + updates))
        for avg, now in zip(self.model.state_dict().values(), net.state_dict().values()):
            if avg.dtype.is_floating_point:
                avg.lerp_(now.detach(), 1.0 - d)
            else:
                avg.copy_(now)


def tokenize(
    data: SkeletonSet,
    encoder: SkeletonEncoder,
    heads: Heads,
    prep: PrepConfig | None = None,
    batch_size: int = 128,
    accelerator=None,
    **meta,
) -> TokenSet:
    """Every sample's tokens (Ls, D), pooled feature and text-space projection as a TokenSet.

    Samples are resampled to the encoder's T, so every sample has Ls = cfg.token_length().
    ``meta`` fills the remaining TokenSet fields (train_split, train_classes, history,
    priors_sha256).
    """
    ecfg = encoder.cfg
    if data.layout != ecfg.layout:
        raise ConfigError(f"data layout {data.layout!r} but the encoder expects {ecfg.layout!r}")
    c = int(data.samples[0].joints.shape[-1])
    prep = prep_for(ecfg, prep or PrepConfig())
    if c < prep.channels:
        raise ConfigError(f"data has {c} channels per joint, the encoder needs {prep.channels}")
    bank = PreparedBank(data, np.arange(len(data)), prep)
    tokens, pooled = encode_bank(encoder, bank, batch_size, accelerator)
    with torch.no_grad():
        w = heads.text.weight.detach().float().cpu().numpy()
        b = heads.text.bias.detach().float().cpu().numpy()
    proj = pooled @ w.T + b
    proj /= np.maximum(np.linalg.norm(proj, axis=1, keepdims=True), 1e-12)
    return TokenSet(
        tokens=[t.astype(np.float16) for t in tokens],
        features=pooled.astype(np.float32),
        projected=proj.astype(np.float32),
        labels=data.labels,
        class_names=list(data.class_names),
        sample_ids=data.sample_ids,
        splits={k: v.copy() for k, v in data.splits.items()},
        encoder_config={**ecfg.to_dict(), "prep": bank.prep.to_dict()},
        encoder_state={k: v.detach().cpu() for k, v in encoder.state_dict().items()},
        head_state={k: v.detach().cpu() for k, v in heads.state_dict().items()},
        layout=data.layout,
        **meta,
    )
