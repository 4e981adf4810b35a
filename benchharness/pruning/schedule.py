"""Pruning schedules as plain arithmetic (no TensorFlow), so a scenario whose schedule cannot reach
its target is caught when it is validated.

tfmot prunes at step ``t`` when ``begin_step <= t <= end_step`` and ``(t - begin_step) % frequency
== 0``; the polynomial schedule (Zhu & Gupta 2017) sets the sparsity there to

    s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** 3,   n * dt = end_step - begin_step.

If ``end_step - begin_step`` is not a multiple of ``frequency``, the last pruning step comes before
``end_step`` and the final sparsity is never reached (tfmot's own IMDB example stops at 0.68 of 0.70
this way). The harness therefore puts ``end_step`` by default on the last multiple of ``frequency``
that the trial's real step count reaches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

POWER = 3


@dataclass(frozen=True)
class Schedule:
    """A resolved schedule: what tfmot is given for one trial."""

    kind: str  # "polynomial" or "constant"
    initial_sparsity: float
    final_sparsity: float
    begin_step: int
    end_step: int
    frequency: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def polynomial_sparsity(step: int, initial: float, final: float, begin: int, end: int, power: int = POWER) -> float:
    """The polynomial schedule's sparsity at ``step`` (clamped to [begin, end])."""
    progress = min(1.0, max(0.0, (step - begin) / (end - begin)))
    return final + (initial - final) * (1 - progress) ** power


def total_steps(samples_per_epoch: int, batch_size: int, epochs: int) -> int:
    """Training steps (batches) of the pruning phase."""
    return math.ceil(samples_per_epoch / batch_size) * epochs


def resolve_schedule(params: dict, steps: int) -> Schedule:
    """The schedule a trial uses, given its params and the pruning phase's real step count.

    ``end_step: null`` becomes the last step on the pruning grid (begin + k * frequency) that
    training reaches, so the target is reached before training ends.
    """
    begin, frequency = params.get("begin_step") or 0, params.get("frequency") or 100
    end = params.get("end_step")
    if end is None:
        last = max(begin, steps - 1)
        end = begin + frequency * ((last - begin) // frequency)
        if end == begin:  # fewer steps than one pruning interval: prune once, at begin
            end = begin + 1
    return Schedule(params.get("pruning_schedule") or "polynomial", params.get("initial_sparsity") or 0.0,
                    params["sparsity"], begin, end, frequency)


def last_pruning_step(schedule: Schedule, steps: int) -> int | None:
    """The last step at which tfmot prunes, or None if training ends before ``begin_step``.
    tfmot's step counter starts at 1 on the first batch, so a phase of ``steps`` batches sees 1..steps."""
    top = steps if schedule.kind == "constant" else min(schedule.end_step, steps)
    if top < schedule.begin_step:
        return None
    return schedule.begin_step + schedule.frequency * ((top - schedule.begin_step) // schedule.frequency)


def reached_sparsity(schedule: Schedule, steps: int) -> float | None:
    """The sparsity the schedule has set when training ends (None: it never prunes)."""
    last = last_pruning_step(schedule, steps)
    if last is None:
        return None
    if schedule.kind == "constant":
        return schedule.final_sparsity
    return polynomial_sparsity(last, schedule.initial_sparsity, schedule.final_sparsity,
                               schedule.begin_step, schedule.end_step)
