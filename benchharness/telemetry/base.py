"""What every sampler shares: the samples of one trial, the sampler protocol, and the polling thread.
The implementations (``nvml``, ``fake_nvml``, ``cpu``) build on this module; ``benchharness.telemetry``
picks one for the machine."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Protocol

from benchharness.telemetry.host import HostLoad

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
    # How far back one device reading speaks for (``windows.spans``); None: since the previous one.
    hold_s: float | None = None
    # The device's own averaging period behind a reading, s, and where that figure comes from.
    period_s: float = 0.0
    period_source: str = "the sampling interval"
    # The devices sampled (index, pci_bus_id, uuid, name), and names of other processes seen on them.
    devices: list[dict] = field(default_factory=list)
    process_names: dict[int, str] = field(default_factory=dict)


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
    ``self.read``, and the host's other load (``self.host``, a :class:`HostLoad` the subclass
    creates; its ``sample`` gives every row's ``host_other_cpu_pct``). Subclasses set ``source`` and
    ``columns`` and implement ``read(t)``."""

    source = ""
    columns: list[str] = []
    interval_s: float
    clock: Clock = staticmethod(time.monotonic)
    host: HostLoad | None = None

    def _reset(self, pid: int | None) -> None:
        self.pid = pid
        self.samples = TrialSamples(self.source, list(self.columns), gaps=Counter(), **self.sampling_facts())
        if self.host is not None:
            self.host.reset()  # a new trial: the previous trial's counters are no baseline

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

    def sampling_facts(self) -> dict:
        """``TrialSamples``' hold_s, period_s, period_source and devices for this sampler."""
        return {"hold_s": None, "period_s": self.interval_s, "period_source": "the sampling interval"}
