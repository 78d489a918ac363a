"""Finite-value guards: where numbers enter (files read) and where training could diverge.

Two checks, shared by every stage so a NaN is named the same way wherever it shows up:

    require_finite(arr, "priors.h5: dataset 'embeddings'")   # SchemaError naming the place
    check_loss(loss, "align", epoch=2, step=17)               # DivergedError naming the step

A training loop calls ``check_loss`` once per step, before it writes anything: a run that
diverges stops with the epoch and step named, and the checkpoints already in its run folder
(the last good ones) stay as they were.
"""

from __future__ import annotations

import math

import numpy as np

from sugar_core.errors import DivergedError, SchemaError


def non_finite(arr: np.ndarray) -> tuple[int, tuple[int, ...]] | None:
    """(how many values are NaN or +-inf, index of the first) of ``arr``, or None if none is.

    Integer and boolean arrays are always finite. The common all-finite case costs one float64
    sum: a NaN or an infinity anywhere makes the sum NaN or infinite, so a finite sum clears
    the array (a sum that overflows only sends a float64 array on to the exact count).
    """
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fc" or arr.size == 0:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        if arr.dtype.kind == "f" and math.isfinite(arr.sum(dtype=np.float64)):
            return None
    bad = ~np.isfinite(arr)
    count = int(np.count_nonzero(bad))
    if count == 0:
        return None
    first = np.unravel_index(int(np.argmax(bad.ravel())), arr.shape)
    return count, tuple(int(i) for i in first)


def describe(found: tuple[int, tuple[int, ...]], arr: np.ndarray) -> str:
    """'3 values are not finite (NaN or inf), the first nan at [0, 4, 2]'."""
    count, first = found
    value = np.asarray(arr)[first] if first else np.asarray(arr).item()
    what = "value is" if count == 1 else "values are"
    return f"{count} {what} not finite (NaN or inf), the first {value} at {list(first)}"


def require_finite(arr: np.ndarray, where: str) -> None:
    """SchemaError ``'<where>: 3 values are not finite ...'`` if ``arr`` holds NaN or inf."""
    found = non_finite(arr)
    if found is not None:
        raise SchemaError(f"{where}: {describe(found, arr)}")


def check_loss(loss, stage: str, epoch: int, step: int) -> None:
    """DivergedError if ``loss`` (a float or a one-element tensor) is NaN or infinite.

    ``epoch`` and ``step`` are 0-based as the loops count; the message names them 1-based,
    as progress lines show them.
    """
    value = float(loss.detach() if hasattr(loss, "detach") else loss)
    if not math.isfinite(value):
        raise DivergedError(
            f"{stage}: training diverged at epoch {epoch + 1}, step {step + 1}: the loss is "
            f"{value}. Lower the learning rate or check the inputs for NaN; checkpoints "
            "already written are kept"
        )
