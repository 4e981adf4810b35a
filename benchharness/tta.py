"""Time to accuracy: the arithmetic, pure (the worker's loop is ``worker/tta.py``; the figures
across seeds are ``stats.trimmed_interval``).

A trial with a scenario ``target`` trains until the test metric reaches it or ``max_epochs``. The
test split is evaluated every ``eval_every_samples`` training samples, the same for every batch size
(MLPerf's rule: evaluation points fixed in samples, not in epochs or steps), at the first whole step
at or after each multiple, so the points never drift: with batch 512 and 12,000 samples the
evaluations fall at 12,288, 24,064, 36,352, ... samples, never more than one batch late.

The learning rate per batch size (``lr_scaling``): ``learning_rate`` is meant for ``lr_base_batch``;
``linear`` multiplies it by batch / lr_base_batch (Goyal et al. 2017, "Accurate, large minibatch
SGD"), ``sqrt`` by the square root (Krizhevsky 2014), ``none`` keeps it; ``lr_warmup_epochs`` ramps
linearly from ``learning_rate`` to the scaled rate over that many epochs (Goyal et al.'s gradual
warm-up).
"""

from __future__ import annotations

import math
import statistics
from typing import Sequence


def eval_step(k: int, batch: int, every_samples: int) -> int:
    """The step count after which the ``k``-th evaluation (1-based) runs: the first whole step at
    or after ``k * every_samples`` samples."""
    if k < 1 or batch < 1 or every_samples < 1:
        raise ValueError(f"k, batch and every_samples must be >= 1, got {k}, {batch}, {every_samples}")
    return -(-k * every_samples // batch)


def eval_schedule(batch: int, every_samples: int, total_steps: int) -> list[int]:
    """Every evaluation's step count within ``total_steps`` steps of ``batch`` samples."""
    steps, k = [], 1
    while (step := eval_step(k, batch, every_samples)) <= total_steps:
        steps.append(step)
        k += 1
    return steps


def scaled_learning_rate(base: float, batch: int, base_batch: int, scaling: str) -> float:
    """``base`` (meant for ``base_batch``) scaled to ``batch``: none, linear or sqrt."""
    ratio = batch / base_batch
    factor = {"none": 1.0, "linear": ratio, "sqrt": math.sqrt(ratio)}[scaling]
    return base * factor


def lr_policy(params: dict, batch: int, train_samples: int) -> dict:
    """The record's ``tta.lr_policy`` for a trial of ``batch`` (the global batch) on a training split
    of ``train_samples``: the scaled rate and the warm-up in steps."""
    epochs = float(params.get("lr_warmup_epochs") or 0.0)
    return {"scaling": params.get("lr_scaling") or "none", "base_learning_rate": params["learning_rate"],
            "base_batch": params.get("lr_base_batch") or 32,
            "learning_rate": scaled_learning_rate(params["learning_rate"], batch, params.get("lr_base_batch") or 32,
                                                  params.get("lr_scaling") or "none"),
            "warmup_epochs": epochs, "warmup_steps": math.ceil(epochs * train_samples / batch)}


def learning_rate_at(step: int, policy: dict) -> float:
    """The rate of the update at optimizer step ``step`` (0-based): a linear ramp from the base rate
    to the scaled one over the warm-up steps, then the scaled rate."""
    warmup = policy["warmup_steps"]
    if warmup <= 0 or step >= warmup:
        return policy["learning_rate"]
    base, scaled = policy["base_learning_rate"], policy["learning_rate"]
    return base + (scaled - base) * step / warmup


def reached(metric: str, value: float, target: float) -> bool:
    """Accuracy reaches its target at or above it, loss at or below."""
    return value >= target if metric == "accuracy" else value <= target


def period_throughput(evals: Sequence[dict]) -> float | None:
    """The median training throughput (samples/s) over the evaluation periods after the first (the
    first holds the tracing of the first step); None with fewer than two periods."""
    rates = []
    for before, after in zip(evals, evals[1:]):
        seconds = after["train_s"] - before["train_s"]
        if seconds > 0:
            rates.append((after["samples"] - before["samples"]) / seconds)
    return statistics.median(rates) if rates else None
