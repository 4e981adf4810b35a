"""CPU fallback sampler (psutil): the trial process tree's CPU and RSS, system CPU, and the host CPU
used by other processes (``host.py``)."""

from __future__ import annotations

import time

import psutil

from benchharness.telemetry.base import ThreadedSampler
from benchharness.telemetry.host import HostLoad, ProcessTree

# New columns go at the end: readers of older CSVs (and tests) match on the leading ones.
COLUMNS = ["t_monotonic", "device", "cpu_proc_pct", "cpu_system_pct", "rss_mb", "host_other_cpu_pct",
           "gpu_other_processes"]


class CpuSampler(ThreadedSampler):
    """``cpu_proc_pct`` is the process tree's CPU time over wall time, normalized to all cores
    (100 = every core busy); ``rss_mb`` the tree's resident memory in MiB; ``host_other_cpu_pct``
    the CPU used by everything else on the host, % of all cores; ``gpu_other_processes`` is always
    None (no GPU is sampled here: not measured, not zero)."""

    source = "cpu"
    columns = COLUMNS

    def __init__(self, interval_s: float, clock=time.monotonic):
        self.interval_s = interval_s
        self.clock = clock
        self.cores = psutil.cpu_count(logical=True) or 1
        self.host = HostLoad(self.cores)
        self.tree = ProcessTree()

    def describe(self) -> None:
        return None

    def start(self, pid: int, params: dict) -> None:
        self._cpu_seconds: dict[int, float] = {}
        self._last_t: float | None = None
        psutil.cpu_percent(None)  # prime the system-wide counter
        super().start(pid, params)

    def read(self, t: float) -> list[dict]:
        rss, seen = 0, {}
        for proc in self.tree.current(self.pid, t):
            try:
                times = proc.cpu_times()
                seen[proc.pid] = times.user + times.system
                rss += proc.memory_info().rss
            except psutil.Error:
                continue  # a child that ended between listing and reading
        if self.pid not in seen:
            return []  # the worker has exited: nothing left to sample
        # CPU time used since the last sample, by processes alive at both samples (and new ones).
        cpu_total = sum(now - self._cpu_seconds.get(pid, 0.0) for pid, now in seen.items())
        # The first sample only primes the counters: its cpu_proc_pct stays None.
        row = {"t_monotonic": t, "device": "cpu", "cpu_proc_pct": None,
               "cpu_system_pct": psutil.cpu_percent(None), "rss_mb": rss / 2**20,
               "host_other_cpu_pct": self.host.sample(t, seen), "gpu_other_processes": None}
        if self._last_t is not None and t > self._last_t:
            row["cpu_proc_pct"] = 100.0 * cpu_total / ((t - self._last_t) * self.cores)
        self._cpu_seconds, self._last_t = seen, t
        return [row]
