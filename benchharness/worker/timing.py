"""The epoch timer: a Keras callback that times every epoch and every step on ``perf_counter``.

An epoch's seconds run from the end of the previous epoch (epoch 0, and the first epoch of a new
``fit`` call: from its start) to its own end, so work Keras or a callback does between epochs is
counted, not lost between windows: a finite shuffled dataset once cost 2 s between epochs that no
epoch showed."""

from __future__ import annotations

import time

from benchharness.worker.events import EventLog
from benchharness.worker.model import as_float


def make_epoch_timer(keras, events: EventLog, samples_of, paused=lambda: 0.0):
    """A Keras callback that times every epoch (s) and step (ms), keeps the epochs in ``.epochs`` and
    reports each as an ``epoch_end`` event; ``samples_of(steps)``: the samples of that many steps;
    ``paused()``: seconds so far that were no training (evaluations), taken off their step and epoch."""

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self._supports_tf_logs = True  # no per-step conversion of logs to numpy: no extra sync
            self.epochs: list[dict] = []
            self.last_step_ms: list[float] = []  # the step times (ms) of the last finished epoch

        def on_train_begin(self, logs=None):
            self._previous_end = None  # the gap between fit calls sets up windows: no window's work

        def on_epoch_begin(self, epoch, logs=None):
            events.emit("epoch_start", epoch=epoch)
            self._step_ms, self._steps, self._last = [], 0, time.perf_counter()
            self._t0 = self._last if self._previous_end is None else self._previous_end
            self._paused_at_start = self._paused_at_step = paused()

        def on_train_batch_end(self, batch, logs=None):
            # With steps_per_execution N Keras calls this once per N steps, ``batch`` being the
            # last step's index: each step of the execution gets its mean time.
            now, done, off = time.perf_counter(), batch + 1 - self._steps, paused()
            self._step_ms.extend([(now - self._last - (off - self._paused_at_step)) * 1000.0 / done] * done)
            self._steps, self._last, self._paused_at_step = batch + 1, now, off

        def on_epoch_end(self, epoch, logs=None):
            self._previous_end = time.perf_counter()
            logs = logs or {}
            entry = {"epoch": epoch, "seconds": self._previous_end - self._t0 - (paused() - self._paused_at_start),
                     "samples": samples_of(self._steps), "steps": self._steps,
                     "loss": as_float(logs.get("loss")), "accuracy": as_float(logs.get("accuracy"))}
            self.epochs.append(entry)
            self.last_step_ms = self._step_ms
            events.emit("epoch_end", **entry, step_times_ms=self._step_ms)

    return EpochTimer()
