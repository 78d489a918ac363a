"""One progress-event vocabulary for every long-running library call.

Library functions take ``callback: Callable[[dict], None] | None`` and call it with plain dicts,
so the library never imports a console. Every event has ``event`` (one of ``KINDS``) and
``stage`` (``import``, ``priors``, ``tokenize``, ``align``, ``predict``, ``zeroshot``, ...):

    start     a stage begins               total (optional: steps it will take), plan fields
    progress  a unit of work finished      part (e.g. "train", "predict"), done, total, info
    epoch     a training epoch ended       epoch, loss, ... (the history entry)
    plan      a run's speed, measured      message, seconds_per_step, eta_seconds (schedule.py)
    note      something the user should know, not an error       message
    done      a stage ended                seconds

The CLI renders them (``sugar_cli.console.Reporter``): rich bars on a terminal, plain lines
in logs. ``relay`` tags the events of an inner stage with the outer one's name.
"""

from __future__ import annotations

from collections.abc import Callable

Callback = Callable[[dict], None]
KINDS = ("start", "progress", "epoch", "plan", "note", "done")


def emit(callback: Callback | None, event: str, stage: str, **fields) -> None:
    """Send one event (no-op without a callback)."""
    assert event in KINDS, f"unknown event {event!r}; expected one of {KINDS}"
    if callback is not None:
        callback({"event": event, "stage": stage, **fields})


def progress(callback: Callback | None, stage: str, part: str, done: int, total: int, **info):
    emit(callback, "progress", stage, part=part, done=done, total=total, **info)


def note(callback: Callback | None, stage: str, message: str) -> None:
    emit(callback, "note", stage, message=message)


def relay(callback: Callback | None, stage: str, phase: str | None = None) -> Callback | None:
    """A callback for an inner call whose events are re-labelled ``stage``; ``phase`` names
    the step of the outer stage (default: the inner stage's own name)."""
    if callback is None:
        return None

    def forward(ev: dict) -> None:
        callback({**ev, "phase": phase or ev.get("phase") or ev.get("stage"), "stage": stage})

    return forward
