"""Processes and precision for every training stage, through Accelerate.

One process may run stages of different precisions (an fp32 encoder, then a bf16 alignment);
accelerate keeps one mixed-precision setting per process, so the stages ask for bf16 through
``autocast(accelerator)`` and never through accelerate's own, process-wide autocast.
"""

from __future__ import annotations

import contextlib

import torch


def make_accelerator(precision: str = "fp32", cpu: bool = False):
    """An Accelerator for this process (CPU unless CUDA is present; bf16 autocast on request).

    accelerate keeps one mixed-precision setting per process and refuses to change it, while
    one process may run an fp32 encoder and a bf16 alignment (or the other way round). So the
    precision is not left to accelerate: the stages apply bf16 themselves (``autocast`` below,
    which reads the wish from the autocast handler), and an accelerator state made earlier in
    this process is joined whatever its precision. ``cpu``: stay on the CPU even with a GPU.
    """
    from accelerate import Accelerator
    from accelerate.state import is_initialized
    from accelerate.utils import AutocastKwargs

    bf16 = precision == "bf16"
    mp = None if is_initialized() else ("bf16" if bf16 else "no")  # None: join the state
    handler = AutocastKwargs(enabled=bf16)
    cpu = cpu or not torch.cuda.is_available()
    return Accelerator(cpu=cpu, mixed_precision=mp, kwargs_handlers=[handler])


def autocast(accelerator=None) -> contextlib.AbstractContextManager:
    """bf16 autocast on the accelerator's device when it was made for bf16, else nothing.

    The stages apply their precision themselves rather than through accelerate's process-wide
    setting (see ``make_accelerator``): the wish travels in the accelerator's autocast handler;
    an accelerator made elsewhere is judged by its own mixed precision.
    """
    if accelerator is None:
        return contextlib.nullcontext()
    handler = accelerator.autocast_handler
    bf16 = handler.enabled if handler is not None else accelerator.mixed_precision == "bf16"
    return torch.autocast(accelerator.device.type, dtype=torch.bfloat16, enabled=bf16)


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype matrix products on ``x`` run in: autocast's (bf16) when it is on, else x's.

    Code that feeds products itself casts its weights to this once, before broadcasting them,
    so autocast never copies an expanded tensor. On the project's CPU (AMX) the encoder under
    autocast runs as fast as a copy cast wholly to bf16 (bench/encoder_speed.py), so bf16 means
    autocast over fp32 weights: the optimizer, BN statistics and losses stay fp32.
    """
    dev = x.device.type
    return torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev) else x.dtype


BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of bf16 matrix units


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str] | None:
    """The CPU's feature flags (the first ``flags`` line of ``path``), or None where the file
    is not there or names none (not Linux x86)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        return None
    return None


def bf16_note(precision: str, device: str, flags: set[str] | None = None) -> str | None:
    """A note for bf16 asked of a CPU that has no bf16 matrix units (neither AMX nor
    AVX512-BF16), else None. On such a CPU (two AVX2 cores of an AMD EPYC) autocast ran the
    encoder 7-17x slower than fp32 (bench/encoder_speed.py); where the units are there it ran
    1.1-1.5x faster. ``flags``: the CPU's (default: read from /proc/cpuinfo; unknown: no note).
    """
    if precision != "bf16" or device != "cpu":
        return None
    flags = cpu_flags() if flags is None else flags
    if flags is None or any(f in flags for f in BF16_FLAGS):
        return None
    return ("precision bf16 on a CPU without bf16 matrix units (no amx_bf16 or avx512_bf16 in "
            "its flags): bf16 runs several times slower than fp32 on such CPUs; use --precision "
            "fp32 here")  # fmt: skip
