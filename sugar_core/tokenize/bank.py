"""Stage-1 data on its way to the encoder: the train/validation parts of a split, samples after
the deterministic pre-processing (a bank), one epoch's batch plan, and encoding a bank in
shards across processes (``accelerate launch``) with the results gathered in bank order."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from sugar_core.accel import autocast
from sugar_core.errors import ConfigError
from sugar_core.priors.store import Priors
from sugar_core.sampling import balanced_order
from sugar_core.skeleton.dataset import SkeletonSet
from sugar_core.skeleton.transforms import (
    AugParams,
    PrepConfig,
    draw_params,
    prepare_batch,
    static_prep,
)
from sugar_core.skeleton.validation import carve
from sugar_core.tokenize.encoder import SkeletonEncoder

if TYPE_CHECKING:
    from sugar_core.tokenize.config import TokenizeConfig


class PreparedBank:
    """Samples after the deterministic pre-processing, ready to be batched (see transforms)."""

    def __init__(self, data: SkeletonSet, indices: np.ndarray, prep: PrepConfig):
        self.prep = prep
        self.layout = data.layout
        self.indices = np.asarray(indices, dtype=np.int64)
        self.items = [static_prep(data.samples[i].joints, prep, data.layout) for i in self.indices]

    def __len__(self) -> int:
        return len(self.items)

    def batch(self, positions, params: AugParams | None = None) -> torch.Tensor:
        """(B, M, T, V, C) for bank positions; ``params`` rows align with ``positions``."""
        return prepare_batch([self.items[p] for p in positions], self.prep, self.layout, params)


class EpochBatches(torch.utils.data.Dataset):
    """One epoch's batches for this process; each item is (joints, positions) of one batch.

    Random parameters are drawn up-front in the main loop, so batches can be built by
    DataLoader workers without touching any generator.
    """

    def __init__(self, bank: PreparedBank, batches: list[tuple[np.ndarray, AugParams]]):
        self.bank, self.batches = bank, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i):
        pos, params = self.batches[i]
        return self.bank.batch(pos, params), torch.from_numpy(pos)


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


def split_parts(
    data: SkeletonSet, split: str, classes: list[int], cfg: TokenizeConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Sample indices (fit, validation, test) of ``classes`` in ``split``, and the concrete
    validation rule. Validation is carved from the train part only (``cfg.validation``); the
    test part is returned for the one evaluation at the end."""
    labels = data.labels
    train = data.split_indices(split, "train")
    test = data.split_indices(split, "test")
    train = train[np.isin(labels[train], classes)]
    test = test[np.isin(labels[test], classes)]
    fit, val, rule = carve(data, split, train, cfg.validation, cfg.seed)
    if len(fit) < 2:
        raise ConfigError(f"split {split!r} has {len(fit)} training samples of these classes")
    return fit, val, test, rule


def epoch_plan(
    n: int, cfg: TokenizeConfig, gen: torch.Generator, world: int, labels=None
) -> tuple[list[tuple[np.ndarray, np.ndarray]], AugParams]:
    """One epoch's global batches as (bank positions, rows into params), and the params.

    With ``cfg.sampler`` balanced and ``labels`` (n,) given, batches are class-balanced
    (``sampling.balanced_order``), else a shuffle. A last batch too small to give every
    process two samples (batch norm) is dropped.
    """
    if labels is not None and cfg.sampler == "balanced":
        seed = int(torch.randint(0, 2**62, (1,), generator=gen))
        perm = balanced_order(labels, np.random.default_rng(seed))
    else:
        perm = torch.randperm(n, generator=gen).numpy()
    params = draw_params(n, cfg.prep, gen)
    plan = []
    for s in range(0, n, cfg.batch_size):
        pos = perm[s : s + cfg.batch_size]
        if len(pos) < 2 * world:
            break  # too few to split across processes with batch norm
        plan.append((pos, np.arange(s, s + len(pos))))
    return plan, params


def subset_params(params: AugParams, rows: np.ndarray) -> AugParams:
    """The augmentation parameters of some rows (one process's share of a batch)."""
    return type(params)(params.crop[rows], params.rotation[rows], params.mirror[rows])


def shard(n: int, rank: int, world: int) -> np.ndarray:
    """Positions of process ``rank``: contiguous chunk of ceil(n / world), padded with n - 1."""
    size = math.ceil(n / world)
    pos = np.arange(rank * size, (rank + 1) * size)
    return np.minimum(pos, n - 1)


@torch.no_grad()
def encode_bank(
    encoder: SkeletonEncoder, bank: PreparedBank, batch_size: int, accelerator=None
) -> tuple[np.ndarray, np.ndarray]:
    """Tokens (N, Ls, D) and pooled features (N, D) as float32 numpy, in bank order.

    With an accelerator, each process encodes its shard and the results are gathered.
    """
    n = len(bank)
    rank, world = (
        (0, 1) if accelerator is None else (accelerator.process_index, accelerator.num_processes)
    )
    device = next(encoder.parameters()).device
    mine = shard(n, rank, world)
    was_training = encoder.training
    encoder.eval()
    toks, pools = [], []
    for s in range(0, len(mine), batch_size):
        x = bank.batch(mine[s : s + batch_size]).to(device)
        with autocast(accelerator):
            t, p = encoder(x)  # (B, Ls, D), (B, D)
        toks.append(t.float())
        pools.append(p.float())
    encoder.train(was_training)
    tokens, pooled = torch.cat(toks), torch.cat(pools)
    if accelerator is not None and world > 1:
        tokens, pooled = accelerator.gather(tokens), accelerator.gather(pooled)
    return tokens[:n].cpu().numpy(), pooled[:n].cpu().numpy()
