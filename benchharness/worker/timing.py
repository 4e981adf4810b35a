"""The epoch timer: a Keras callback that times every epoch and every step on ``perf_counter``, and,
for fixed epochs, windows of steps inside each epoch after the warm-up (``StepWindows``).

An epoch's seconds run from the end of the previous epoch (epoch 0, and the first epoch of a new
``fit`` call: from its start) to its own end, so work Keras or a callback does between epochs is
counted, not lost between windows: a finite shuffled dataset once cost 2 s between epochs that no
epoch showed."""

from __future__ import annotations

import time

from benchharness.worker.events import EventLog
from benchharness.worker.model import as_float


class StepWindows:
    """Windows of consecutive steps inside each epoch after the warm-up (fixed epochs: exactly one
    warm-up epoch, epoch 0), each timed (s) from one device sync to the next, so that a window holds
    the device's time for its steps, not the host's enqueue time.

    ``steps_of(warmup_step_ms)``: steps per window, from epoch 0's step times (ms), fixed at the
    first epoch after it; None: no windows at all (``epochs: auto``). Only an epoch's first
    ``full_steps`` steps (whole batches of ``batch`` samples) can be in a window, so a last partial
    batch never inflates one; steps left at an epoch's end that do not fill a window are no window.
    ``sync(logs)`` returns once the device has run every step enqueued so far
    (``worker.device.device_sync``): called at each window boundary, never per step. Paused seconds
    (evaluations) come off the window they fell in. Pure: tests pass a fake clock and sync."""

    def __init__(self, steps_of, full_steps: int, batch: int, sync, clock=time.perf_counter):
        self.steps_of, self.full_steps, self.batch, self.sync, self.clock = steps_of, full_steps, batch, sync, clock
        self.steps: int | None = None
        self.active, self.windows = False, []

    def start(self, epoch: int, warmup_step_ms: list[float], paused_s: float = 0.0) -> None:
        """Epoch ``epoch`` begins: after the warm-up, its first window starts once the device has
        finished what came before."""
        self.active, self.windows = self.steps_of is not None and epoch >= 1, []
        if not self.active:
            return
        self.steps = self.steps or self.steps_of(warmup_step_ms)
        self.sync(None)
        self._first, self._t0, self._paused0 = 0, self.clock(), paused_s

    def after(self, steps_done: int, paused_s: float = 0.0, logs=None) -> None:
        """``steps_done`` of the epoch's steps have run (Keras' ``on_train_batch_end``, ``logs`` its
        logs): closes the open window when it holds ``steps`` steps, all of whole batches."""
        count = steps_done - self._first if self.active else 0
        if count < (self.steps or 1) or steps_done > self.full_steps:
            return
        self.sync(logs)
        now = self.clock()
        self.windows.append({"steps": count, "samples": count * self.batch,
                             "seconds": now - self._t0 - (paused_s - self._paused0)})
        self._first, self._t0, self._paused0 = steps_done, now, paused_s

    def event_fields(self) -> dict:
        """What the epoch's ``epoch_end`` event carries: ``step_windows`` ([{steps, samples, seconds}])
        for a split epoch, nothing for the warm-up or without windows."""
        return {"step_windows": self.windows} if self.active else {}


# No windows of steps (epochs: auto, time to accuracy): never active, so one instance serves every timer.
NO_WINDOWS = StepWindows(None, 0, 0, None)


def make_epoch_timer(keras, events: EventLog, samples_of, paused=lambda: 0.0, windows: StepWindows = NO_WINDOWS):
    """A Keras callback that times every epoch (s) and step (ms), keeps the epochs in ``.epochs`` and
    reports each as an ``epoch_end`` event (with ``windows``, fixed epochs: its windows of steps);
    ``samples_of(steps)``: the samples of that many steps; ``paused()``: seconds so far that were no
    training (evaluations), taken off their step and epoch."""

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self._supports_tf_logs = True  # no per-step conversion of logs to numpy: no extra sync
            self.epochs, self.last_step_ms = [], []  # last_step_ms: the last finished epoch's step times (ms)

        def on_train_begin(self, logs=None):
            self._previous_end = None  # the gap between fit calls sets up windows: no window's work

        def on_epoch_begin(self, epoch, logs=None):
            events.emit("epoch_start", epoch=epoch)
            windows.start(epoch, self.last_step_ms, paused())
            self._step_ms, self._steps, self._last = [], 0, time.perf_counter()
            self._t0 = self._last if self._previous_end is None else self._previous_end
            self._paused_at_start = self._paused_at_step = paused()

        def on_train_batch_end(self, batch, logs=None):
            # With steps_per_execution N, once per N steps (``batch``: the last step's index): each
            # step gets the mean. A window's sync first: its wait counts in the step ending the window.
            windows.after(batch + 1, paused(), logs)
            now, done, off = time.perf_counter(), batch + 1 - self._steps, paused()
            self._step_ms.extend([(now - self._last - (off - self._paused_at_step)) * 1000.0 / done] * done)
            self._steps, self._last, self._paused_at_step = batch + 1, now, off

        def on_epoch_end(self, epoch, logs=None):
            self._previous_end, logs = time.perf_counter(), logs or {}
            entry = {"epoch": epoch, "seconds": self._previous_end - self._t0 - (paused() - self._paused_at_start),
                     "samples": samples_of(self._steps), "steps": self._steps,
                     "loss": as_float(logs.get("loss")), "accuracy": as_float(logs.get("accuracy"))}
            self.epochs.append(entry)
            self.last_step_ms = self._step_ms
            events.emit("epoch_end", **entry, step_times_ms=self._step_ms, **windows.event_fields())

    return EpochTimer()
