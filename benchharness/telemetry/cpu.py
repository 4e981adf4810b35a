"""CPU fallback sampler (psutil): the trial process tree's CPU and RSS, and system CPU."""

from __future__ import annotations

import time

import psutil

from benchharness.telemetry.base import ThreadedSampler

COLUMNS = ["t_monotonic", "device", "cpu_proc_pct", "cpu_system_pct", "rss_mb"]


class CpuSampler(ThreadedSampler):
    """``cpu_proc_pct`` is the process tree's CPU time over wall time, normalized to all cores
    (100 = every core busy); ``rss_mb`` the tree's resident memory in MiB."""

    source = "cpu"
    columns = COLUMNS

    def __init__(self, interval_s: float, clock=time.monotonic):
        self.interval_s = interval_s
        self.clock = clock
        self.cores = psutil.cpu_count(logical=True) or 1

    def describe(self) -> None:
        return None

    def start(self, pid: int, params: dict) -> None:
        self._cpu_seconds: dict[int, float] = {}
        self._last_t: float | None = None
        psutil.cpu_percent(None)  # prime the system-wide counter
        super().start(pid, params)

    def _tree(self) -> list[psutil.Process]:
        root = psutil.Process(self.pid)
        return [root, *root.children(recursive=True)]

    def read(self, t: float) -> list[dict]:
        try:
            procs = self._tree()
        except psutil.Error:
            return []  # the worker has exited: nothing left to sample
        rss, seen = 0, {}
        for proc in procs:
            try:
                times = proc.cpu_times()
                seen[proc.pid] = times.user + times.system
                rss += proc.memory_info().rss
            except psutil.Error:
                continue  # a child that ended between listing and reading
        # CPU time used since the last sample, by processes alive at both samples (and new ones).
        cpu_total = sum(now - self._cpu_seconds.get(pid, 0.0) for pid, now in seen.items())
        # The first sample only primes the counters: its cpu_proc_pct stays None.
        row = {"t_monotonic": t, "device": "cpu", "cpu_proc_pct": None,
               "cpu_system_pct": psutil.cpu_percent(None), "rss_mb": rss / 2**20}
        if self._last_t is not None and t > self._last_t:
            row["cpu_proc_pct"] = 100.0 * cpu_total / ((t - self._last_t) * self.cores)
        self._cpu_seconds, self._last_t = seen, t
        return [row]
