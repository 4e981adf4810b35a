"""The events file: how a worker tells the parent what happened, as it happens.

JSON lines, each with ``event`` and ``t_monotonic`` (``time.monotonic()``: one clock for every
process on a Linux host, shared with the parent's sampler). Events in a trial's order: ``started``,
``imported``, ``built``, ``costed``, ``ready``, (``pretrain_start``), ``fit_start``, ``epoch_start``
/ ``epoch_end`` per epoch (and ``tta_eval`` per evaluation of a trial with a target), ``fit_end``, ``summaries_written``, ``evaluated``, (``export_start``),
``result``.
"""

from __future__ import annotations

import json
import os
import time


class EventLog:
    """Appends one JSON object per line and flushes it, so the parent sees progress as it happens."""

    def __init__(self, path: str):
        self._file = open(path, "a", encoding="utf-8")

    def emit(self, event: str, **fields) -> None:
        fields = {"event": event, "t_monotonic": time.monotonic(), **fields}
        self._file.write(json.dumps(fields) + "\n")
        self._file.flush()

    def emit_final(self, event: str, **fields) -> None:
        """Emit the last event and fsync it: after this the worker may exit without TensorFlow's
        teardown, and the parent still reads the whole result."""
        self.emit(event, **fields)
        os.fsync(self._file.fileno())
