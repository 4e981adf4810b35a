"""The epoch timer: a Keras callback that times every epoch and every step on ``perf_counter``."""

from __future__ import annotations

import time

from benchharness.worker.events import EventLog
from benchharness.worker.model import as_float


def make_epoch_timer(keras, events: EventLog, samples_per_epoch: int):
    """A Keras callback that times every epoch (perf_counter, seconds) and every step (ms), keeps
    the epochs in ``.epochs`` and reports each as an ``epoch_end`` event with its step times."""

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self._supports_tf_logs = True  # no per-step conversion of logs to numpy: no extra sync
            self.epochs: list[dict] = []

        def on_epoch_begin(self, epoch, logs=None):
            events.emit("epoch_start", epoch=epoch)
            self._step_ms: list[float] = []
            self._t0 = self._last = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            self._step_ms.append((now - self._last) * 1000.0)
            self._last = now

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self._t0
            logs = logs or {}
            entry = {"epoch": epoch, "seconds": seconds, "samples": samples_per_epoch, "steps": len(self._step_ms),
                     "loss": as_float(logs.get("loss")), "accuracy": as_float(logs.get("accuracy"))}
            self.epochs.append(entry)
            events.emit("epoch_end", **entry, step_times_ms=self._step_ms)

    return EpochTimer()
