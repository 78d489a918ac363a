"""A stage-1 run's checkpoint (``run_dir/checkpoint.pt``): written every epoch, read to resume.

It holds plain data only (tensors, numbers, strings, lists, dicts): the network, optimizer,
schedule and generator states, the moving average, the history, the best epoch and the config
that made it, so it loads with ``torch.load(weights_only=True)`` (no pickled code runs).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from sugar_core.errors import ConfigError
from sugar_core.schema import atomic_path

CHECKPOINT = "checkpoint.pt"
# fields that may differ between a run and its resumption without changing the result
RESUME_FREE = ("workers", "eval_batch_size")


def save_checkpoint(run_dir: str | os.PathLike, state: dict) -> Path:
    """Write ``run_dir/checkpoint.pt`` atomically (a killed write leaves the previous one)."""
    path = Path(run_dir) / CHECKPOINT
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(run_dir: str | os.PathLike) -> dict | None:
    """The checkpoint in ``run_dir``, or None when the run has none yet."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def check_resumable(saved: dict, now: dict, run_dir: str | os.PathLike) -> None:
    """Refuse to resume with settings (other than RESUME_FREE ones) that differ from the run's."""
    diff = sorted(
        k for k in set(saved) | set(now) if k not in RESUME_FREE and saved.get(k) != now.get(k)
    )
    if diff:
        raise ConfigError(
            f"{Path(run_dir) / CHECKPOINT}: cannot resume, settings differ in {diff}; "
            "use the original settings or a fresh --run-dir"
        )
