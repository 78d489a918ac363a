"""A stage-1 run's checkpoint (``run_dir/checkpoint.pt``): written every epoch, read to resume.

It holds plain data only (tensors, numbers, strings, lists, dicts): the network, optimizer,
schedule and generator states, the moving average, the history, the best epoch and the config
that made it, so it loads with ``torch.load(weights_only=True)`` (no pickled code runs).
"""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import torch

from sugar_core.errors import ConfigError, InputFormatError
from sugar_core.outputs import GuardedFile
from sugar_core.schema import atomic_path

CHECKPOINT = "checkpoint.pt"
# fields that may differ between a run and its resumption without changing the result
RESUME_FREE = ("workers", "eval_batch_size")
REQUIRED = ("epoch", "net", "optimizer", "config")  # keys every stage-1 checkpoint holds


def write_torch(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically, through an ``outputs.GuardedFile``: a full
    disk is an OutputError naming ``path`` and leaves the previous file as it was."""
    path = Path(path)
    with atomic_path(path) as tmp, GuardedFile(tmp) as fh:
        torch.save(obj, fh)
    return path


def read_torch(path: str | os.PathLike, keys: tuple[str, ...] = ()) -> dict:
    """The dict saved in ``path`` by ``write_torch``, loaded weights-only (no pickled code
    runs). A file that holds anything else (code, a damaged or truncated file, a dict without
    ``keys``) is an InputFormatError naming it."""
    hint = "delete it or start a fresh --run-dir"
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise InputFormatError(
            path, f"refused: it holds more than tensors and plain data ({_why(exc)}); {hint}"
        ) from None
    except (RuntimeError, EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError,
            OverflowError, MemoryError, struct.error) as exc:  # fmt: skip
        # random bytes reach the unpickler's stack and memo in many ways (IndexError: a pop
        # from an empty stack), none of them code: each is a damaged file
        what = " ".join(str(exc).split())[:120]
        raise InputFormatError(
            path, f"damaged or truncated checkpoint ({exc.__class__.__name__}: {what}); {hint}"
        ) from None
    missing = [k for k in keys if not isinstance(obj, dict) or k not in obj]
    if missing:
        raise InputFormatError(path, f"not a sugar checkpoint (no {', '.join(missing)}); {hint}")
    return obj


def _why(exc: Exception) -> str:
    """The line of torch's weights-only refusal that names what was refused."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    named = next((line for line in lines if "global" in line.lower()), lines[0] if lines else "")
    return named.split("error: ")[-1][:120]


def save_checkpoint(run_dir: str | os.PathLike, state: dict) -> Path:
    """Write ``run_dir/checkpoint.pt`` atomically (a killed write leaves the previous one)."""
    return write_torch(state, Path(run_dir) / CHECKPOINT)


def load_checkpoint(run_dir: str | os.PathLike) -> dict | None:
    """The checkpoint in ``run_dir``, or None when the run has none yet."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    return read_torch(path, keys=REQUIRED)


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
