"""How long a training run lasts when the user does not say: epochs set by the data.

    epochs = N        exactly N passes (an --epochs option, --set epochs=N, a recipe)
    epochs = "auto"   max(min_epochs, ceil(min_steps / steps_per_epoch)) passes

``min_epochs`` keeps the cost the defaults were sized on (NW-UCLA, 1,020 training clips:
60 encoder epochs of about 28 steps, one alignment epoch of about 110-128 steps);
``min_steps`` is the floor of optimiser steps a small set needs to converge (issue 21: about
1,200 encoder steps and about 100 alignment steps lifted a 100-clip set from chance). Every
epoch takes at least one step, so auto never plans more than max(min_epochs, min_steps)
epochs. Validation-driven early stopping (``patience``) may still end a run sooner.

``timed`` wraps a progress callback: after the first few steps it measures the seconds per
step and emits one ``plan`` event with the estimated time left on this machine.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from sugar_core import events
from sugar_core.errors import ConfigError

AUTO = "auto"
SMALL_SET = 400  # training samples below which a set counts as small (sampler, small_data)
MEASURED_STEPS = 5  # steps timed (after the first, which warms up) before the estimate


def check_epochs(value, name: str = "epochs") -> None:
    """ConfigError unless ``value`` is ``auto`` or a whole number >= 1."""
    whole = isinstance(value, int) and not isinstance(value, bool)
    if value != AUTO and not (whole and value >= 1):
        raise ConfigError(f"{name} = {value!r}; expected a whole number >= 1 or auto")


@dataclass
class Plan:
    """The schedule of one run: what it will do, and (once measured) how fast it goes."""

    epochs: int
    steps_per_epoch: int  # optimiser steps per epoch on this process
    rule: str  # how the epochs were set, for humans and the history
    seconds_per_step: float | None = None  # measured over the first steps (``timed``)

    @property
    def steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def describe(self) -> str:
        spe = self.steps_per_epoch
        return f"{self.epochs} epochs x {spe} steps = {self.steps} steps ({self.rule})"

    def record(self) -> dict:
        """The plan as the run's history keeps it."""
        out = {"epochs": self.epochs, "steps_per_epoch": self.steps_per_epoch,
               "steps": self.steps, "rule": self.rule}  # fmt: skip
        if self.seconds_per_step is not None:
            out["seconds_per_step"] = self.seconds_per_step
            out["estimated_seconds"] = self.seconds_per_step * self.steps
        return out


def plan_epochs(epochs, steps_per_epoch: int, min_epochs: int, min_steps: int) -> Plan:
    """The run's epochs: ``epochs`` itself when it is a number, else the auto rule."""
    check_epochs(epochs)
    spe = max(1, int(steps_per_epoch))
    if epochs != AUTO:
        return Plan(int(epochs), spe, "epochs set")
    floor = math.ceil(min_steps / spe)
    n = max(int(min_epochs), floor)
    why = f"at least {min_steps} steps" if floor > min_epochs else f"at least {min_epochs} epochs"
    return Plan(n, spe, f"auto: {why}; set epochs to choose")


def duration(seconds: float) -> str:
    """Seconds for people: "40 s", "23 min", "1.5 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def timed(callback: events.Callback | None, stage: str, plan: Plan, part: str = "train"):
    """A callback that forwards every event to ``callback`` (if any), measures the seconds
    per ``part`` progress step and, after ``MEASURED_STEPS`` steps, fills
    ``plan.seconds_per_step`` and emits one ``plan`` event with the estimate."""
    first: list = []  # (time, done) of the first progress event seen

    def forward(ev: dict) -> None:
        if callback is not None:
            callback(ev)
        if ev.get("event") != "progress" or ev.get("part") != part:
            return
        now, done = time.perf_counter(), int(ev["done"])
        if not first:
            first.append((now, done))
            return
        t0, d0 = first[0]
        if plan.seconds_per_step is None and done - d0 >= MEASURED_STEPS:
            rate = (now - t0) / (done - d0)
            plan.seconds_per_step = rate
            left = rate * max(0, int(ev["total"]) - done)
            events.emit(callback, "plan", stage, seconds_per_step=rate, eta_seconds=left,
                        message=f"{ev['total']} steps at {rate:.2f} s/step on this machine: "
                        f"about {duration(left)} to go")  # fmt: skip

    return forward
