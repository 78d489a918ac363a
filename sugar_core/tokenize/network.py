"""Parts of stage 1 shared by training and tokenizing: the trainable network around the
encoder, prepared sample banks, sharded encoding across processes and run checkpoints."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sugar_core.schema import atomic_path
from sugar_core.skeleton.dataset import SkeletonSet
from sugar_core.skeleton.transforms import AugParams, PrepConfig, prepare_batch, static_prep
from sugar_core.tokenize.encoder import EncoderConfig, SkeletonEncoder

CHECKPOINT = "checkpoint.pt"


class Heads(nn.Module):
    """Training-only read-outs of the pooled feature (N, D).

    ``text``: linear map into the text-embedding space (N, D_text); ``cls``: a K-way classifier
    (objective ce / both); ``logit_scale``: log(1 / tau) of the contrastive loss.
    """

    def __init__(self, dim: int, text_dim: int, num_classes: int | None, temperature: float):
        super().__init__()
        self.text = nn.Linear(dim, text_dim)
        self.cls = nn.Linear(dim, num_classes) if num_classes else None
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))

    def scale(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=math.log(100.0))


class Stage1Net(nn.Module):
    """Encoder + heads in one module, so one ``accelerator.prepare`` (DDP) covers both."""

    def __init__(self, encoder: SkeletonEncoder, heads: Heads):
        super().__init__()
        self.encoder = encoder
        self.heads = heads

    def forward(self, x: torch.Tensor):
        _, pooled = self.encoder(x)  # (B, D)
        z = self.heads.text(pooled) if self.heads.text.weight.requires_grad else None
        logits = self.heads.cls(pooled) if self.heads.cls is not None else None
        return pooled, z, logits, self.heads.scale()  # (B, D), (B, E) | None, (B, K) | None, ()


def heads_from_state(state: dict) -> Heads:
    """Rebuild a Heads module from its state dict (shapes tell the sizes)."""
    w = state["text.weight"]
    k = state["cls.weight"].shape[0] if "cls.weight" in state else None
    heads = Heads(int(w.shape[1]), int(w.shape[0]), k, 0.07)
    heads.load_state_dict(state)
    return heads.eval()


def encoder_from_state(config: dict, state: dict) -> SkeletonEncoder:
    enc = SkeletonEncoder(EncoderConfig.from_dict(config))
    enc.load_state_dict(state)
    return enc.eval()


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
        if accelerator is not None:
            with accelerator.autocast():
                t, p = encoder(x)
        else:
            t, p = encoder(x)
        toks.append(t.float())
        pools.append(p.float())
    encoder.train(was_training)
    tokens, pooled = torch.cat(toks), torch.cat(pools)
    if accelerator is not None and world > 1:
        tokens, pooled = accelerator.gather(tokens), accelerator.gather(pooled)
    return tokens[:n].cpu().numpy(), pooled[:n].cpu().numpy()


def save_checkpoint(run_dir: str | os.PathLike, state: dict) -> Path:
    """Write ``run_dir/checkpoint.pt`` atomically (a killed write leaves the previous one)."""
    path = Path(run_dir) / CHECKPOINT
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(run_dir: str | os.PathLike) -> dict | None:
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)
