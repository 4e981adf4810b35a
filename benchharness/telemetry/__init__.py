"""Telemetry: device samples taken from the parent process while a trial's worker runs.

Why from the parent: the sampler survives the trial's OOM or crash, never competes for the trial's
GIL, and sees the device as a whole. One small protocol, three implementations behind one seam:
NVML (``nvml.py``), the same NVML code against a fake ``pynvml`` (``fake_nvml.py``, for CI), and
CPU utilization and RSS through psutil (``cpu.py``) where there is no NVML.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Protocol

Clock = Callable[[], float]


@dataclass
class TrialSamples:
    """What a sampler collected during one trial.

    ``rows`` are dicts keyed by ``columns`` (units in the names; ``t_monotonic`` in seconds on
    ``time.monotonic()``); ``gaps`` counts failed readings per metric; ``lost`` says, in words, what
    was lost (a device that disappeared, a sampler thread that died).
    """

    source: str
    columns: list[str]
    rows: list[dict] = field(default_factory=list)
    gaps: Counter = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)


class Sampler(Protocol):
    source: str

    def start(self, pid: int, params: dict) -> None:
        """Begin sampling the device(s) and the process tree rooted at ``pid``."""

    def stop(self) -> TrialSamples:
        """Stop sampling and return what was collected since :meth:`start`."""

    def describe(self) -> list[dict] | None:
        """The devices sampled (name, driver, memory) for run.json, or None on the CPU fallback."""


class PollingThread:
    """Calls ``read(t)`` every ``interval_s`` in a daemon thread and collects the rows it returns.

    A ``read`` that raises ends the thread; the trial goes on and ``died`` says why.
    """

    def __init__(self, read: Callable[[float], list[dict]], interval_s: float, clock: Clock = time.monotonic):
        self._read, self._interval, self._clock = read, interval_s, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="benchharness-sampler", daemon=True)
        self.rows: list[dict] = []
        self.died: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=max(5.0, 5 * self._interval))

    def _loop(self) -> None:
        next_at = self._clock()
        while not self._stop.is_set():
            try:
                self.rows.extend(self._read(self._clock()))
            except Exception as exc:  # the sampler must never take the trial down with it
                self.died = f"sampler thread died: {type(exc).__name__}: {exc}"
                return
            next_at += self._interval
            # Sleep to the next tick on a fixed grid, so slow reads do not drift the interval.
            self._stop.wait(max(0.0, next_at - self._clock()))


class ThreadedSampler:
    """What every sampler shares: per trial, fresh ``TrialSamples`` and a polling thread over
    ``self.read``. Subclasses set ``source`` and ``columns`` and implement ``read(t)``."""

    source = ""
    columns: list[str] = []
    interval_s: float
    clock: Clock = staticmethod(time.monotonic)

    def _reset(self, pid: int | None) -> None:
        self.pid = pid
        self.samples = TrialSamples(self.source, list(self.columns), gaps=Counter())

    def start(self, pid: int, params: dict) -> None:
        self._reset(pid)
        self._thread = PollingThread(self.read, self.interval_s, self.clock)
        self._thread.start()

    def stop(self) -> TrialSamples:
        self._thread.stop()
        self.samples.rows = self._thread.rows
        if self._thread.died:
            self.samples.lost.append(self._thread.died)
        return self.samples

    def read(self, t: float) -> list[dict]:
        raise NotImplementedError


FAKE_ENV = "BENCHHARNESS_FAKE_NVML"


def make_sampler(interval_ms: int, warn: Callable[[str], None]) -> Sampler:
    """The best sampler this machine supports.

    ``BENCHHARNESS_FAKE_NVML=1`` (or a path to a profile file) selects NVML against the fake; else
    NVML if it initializes and sees a GPU; else the CPU sampler, with one warning line saying why.
    """
    from benchharness.telemetry.cpu import CpuSampler
    from benchharness.telemetry.nvml import NvmlSampler, NvmlUnavailable

    interval_s = interval_ms / 1000.0
    fake = os.environ.get(FAKE_ENV, "").strip()
    if fake and fake != "0":
        from benchharness.telemetry.fake_nvml import FakeNvmlSampler, load_profile

        return FakeNvmlSampler(load_profile(None if fake == "1" else fake), interval_s)
    try:
        return NvmlSampler.open(interval_s)
    except NvmlUnavailable as exc:
        warn(f"NVML unavailable ({exc}); sampling CPU utilization and RSS instead")
        return CpuSampler(interval_s)
