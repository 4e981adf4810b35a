"""When a trial stops measuring: the warm-up, then steady windows until the throughput interval is
precise enough or a limit is reached (``benchharness.stats.stop_decision``), checked after each
window inside ``fit``.

Epoch 0 is always warm-up (tracing, autotuning); a later epoch is warm-up too while the step times
have not settled by its end (``stats.warmup_settled``), up to ``MAX_WARMUP_EPOCHS``. With a fixed
``epochs: N`` there is exactly one warm-up epoch and no stop rule (``stop_reason: fixed_epochs``).
"""

from __future__ import annotations

import time

MAX_WARMUP_EPOCHS = 3
# samples_per_epoch: auto: the warm-up epoch's steps (tracing is step 1; the rest show the step time)
AUTO_WARMUP_STEPS = 20
# Windows of steps inside fixed epochs (docs/design.md): each lasts at least this long at the
# warm-up's step time, long enough that one device sync and the host's jitter (a few ms) are a
# small share of it, short enough that an epoch of a few seconds holds a dozen. A constant, not a
# scenario param: a new param would change every trial id.
STEP_WINDOW_S = 0.25
# ... and each steady epoch holds at least this many (the cap wins over STEP_WINDOW_S): with fewer,
# a Student t interval over the windows is too wide to separate a 10 % difference.
MIN_STEP_WINDOWS = 8
# A window of one step would sync the device after every step (short epochs, the largest-batch
# search's probes): each sync drains the pipeline, so it would change what is measured.
MIN_STEPS_PER_WINDOW = 2


def make_stop_rule(params: dict, t_table: dict | None):
    """The trial's ``StopRule`` for ``epochs: auto`` (None for fixed epochs). ``t_table`` holds the
    95 % t quantiles the parent computed, so the worker never imports scipy.stats."""
    if params["epochs"] != "auto":
        return None
    from benchharness import stats

    if t_table:
        stats.use_t_quantiles(stats.CONFIDENCE, {int(dof): q for dof, q in t_table.items()})
    return stats.StopRule(params["min_steady_epochs"], params["max_epochs"], params["precision"],
                          params["max_measure_s"])


def make_adaptive_stop(keras, timer, rule):
    """A callback right after the epoch timer: where warm-up ends and, with a ``rule``, when ``fit``
    stops. ``.warmup_epochs`` and ``.stop_reason`` hold the outcome for the record."""
    from benchharness import stats

    # Warm-up never eats the windows the stop rule needs (validation only checks for one warm-up epoch).
    warmup_cap = MAX_WARMUP_EPOCHS if rule is None else min(MAX_WARMUP_EPOCHS, rule.max_epochs - rule.min_steady_epochs)

    class AdaptiveStop(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.warmup_epochs = 0
            self.stop_reason = "fixed_epochs" if rule is None else None
            self._windows: list[float] = []  # throughputs of the steady windows so far (epochs: auto)
            self._started: float | None = None

        def on_train_begin(self, logs=None):
            if self._started is None:  # the budget runs across both fit calls of samples_per_epoch: auto
                self._started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if self._is_warmup(epoch):
                self.warmup_epochs = epoch + 1
                self._settled = rule is None or stats.warmup_settled(timer.last_step_ms)
                return
            if rule is not None:
                last = timer.epochs[-1]
                self._windows.append(last["samples"] / last["seconds"])
                elapsed = time.perf_counter() - self._started
                self.stop_reason = stats.stop_decision(self._windows, elapsed, epoch + 1, rule)
                self.model.stop_training = self.stop_reason is not None

        def _is_warmup(self, epoch: int) -> bool:
            """Epoch 0 is; a later one is while every epoch before it was warm-up and the last of
            them had not settled by its end."""
            if epoch == 0:
                return True
            return self.warmup_epochs == epoch < warmup_cap and not self._settled

    return AdaptiveStop()


def window_steps(step_ms: list[float], window_s: float) -> int:
    """Steps per measurement window so that one lasts at least ``window_s`` seconds, from the median
    step time (ms) of the warm-up's second half (its first half holds tracing and autotuning)."""
    import math
    import statistics

    settled = step_ms[len(step_ms) // 2:] or step_ms
    step_s = statistics.median(settled) / 1000.0 if settled else 0.0
    return max(1, math.ceil(window_s / step_s)) if step_s > 0 else 1


def steps_per_step_window(warmup_step_ms: list[float], full_steps: int, steps_per_execution: int = 1) -> int:
    """Steps per window of steps inside a fixed epoch: enough to last ``STEP_WINDOW_S`` at the
    warm-up's settled step time (ms), capped so that an epoch of ``full_steps`` whole batches holds
    ``MIN_STEP_WINDOWS``; at least ``MIN_STEPS_PER_WINDOW``, and a multiple of ``steps_per_execution``
    (Keras reports steps one execution at a time, so a window can only end at an execution's end)."""
    import math

    steps = max(MIN_STEPS_PER_WINDOW, min(window_steps(warmup_step_ms, STEP_WINDOW_S), full_steps // MIN_STEP_WINDOWS))
    return math.ceil(steps / steps_per_execution) * steps_per_execution
