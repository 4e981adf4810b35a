"""Host CPU used by everything except the trial and the harness: "was the machine busy?"

Shared by every sampler (the host is the same with or without a GPU). At each sample the host's busy
CPU time and the CPU time of the trial's process tree are read; what the host used beyond the tree
(and beyond this harness process) during the interval since the previous sample is other load.

Known limits, all of which make "other" read high rather than low (so a doubt flags the run busy):

- a process of the trial that exits between two samples takes its CPU time since the previous sample
  with it (psutil can no longer read it), so that time is counted as other load;
- interrupt and softirq time (e.g. the trial's own network or disk I/O) belongs to no process;
- ``steal`` (a hypervisor running other guests on our cores) counts as other load on purpose: a
  noisy neighbour slows the trial as much as a local process does.
"""

from __future__ import annotations

import os
from typing import Callable

import psutil

# Fields of psutil.cpu_times() that are busy time. On Linux ``user`` and ``nice`` already include
# ``guest`` and ``guest_nice``, so those are not added again (psutil's own cpu_percent does the same);
# ``interrupt`` and ``dpc`` are Windows' names. idle and iowait are not busy.
BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq", "steal", "interrupt", "dpc")


def host_busy_s(times) -> float:
    """Host-wide busy CPU time (s, summed over all cores) from a ``psutil.cpu_times()`` reading."""
    return sum(getattr(times, name, 0.0) or 0.0 for name in BUSY_FIELDS)


def other_cpu_pct(host_busy_delta_s: float, tree_delta_s: float, wall_s: float, cores: int) -> float | None:
    """CPU used outside the trial (and harness) during an interval, in percent of ALL cores (0-100).

    ``host_busy_delta_s``: the host's busy CPU seconds in the interval (all cores summed);
    ``tree_delta_s``: the CPU seconds of the processes excluded (trial tree + harness) in it;
    ``wall_s``: the interval's wall time. Clamped to [0, 100]: the host and process counters are read
    microseconds apart and tick at different granularities, so small overshoots either way are noise.
    None when the interval is empty (no figure rather than a division by zero).
    """
    if wall_s <= 0 or cores <= 0:
        return None
    pct = 100.0 * (host_busy_delta_s - tree_delta_s) / (wall_s * cores)
    return min(100.0, max(0.0, pct))


class ProcessTree:
    """The trial's processes (the root and its descendants), listed again at most every ``refresh_s``.

    Why not at every reading: listing descendants walks every process on the host (psutil builds a
    parent map from /proc), which cost 3.7 ms per reading on this 80-process machine and grows with
    the host, while a trial's worker starts its processes (if any) at start-up, not mid-epoch. A
    process started between listings is seen at the next one; until then its CPU time counts as
    other load (which errs towards calling the machine busy, as ``HostLoad``'s limits do).
    ``psutil.Process`` objects are kept, so reading their counters opens only their own files.
    """

    def __init__(self, refresh_s: float = 1.0):
        self.refresh_s = refresh_s
        self._root: int | None = None
        self._listed_at = float("-inf")
        self.processes: list[psutil.Process] = []

    def current(self, root: int | None, now: float) -> list[psutil.Process]:
        """The tree at time ``now`` (s); empty for no root or a root that has exited."""
        if root != self._root or now - self._listed_at >= self.refresh_s:
            self.processes = self._list(root)  # listed first, then marked fresh
            self._root, self._listed_at = root, now
        return self.processes

    @staticmethod
    def _list(root: int | None) -> list[psutil.Process]:
        if root is None:
            return []
        try:
            parent = psutil.Process(root)
            return [parent, *parent.children(recursive=True)]
        except psutil.Error:
            return []


def cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    """User + system CPU seconds of each process psutil can read now (others are left out: they ended)."""
    out = {}
    for proc in processes:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        out[proc.pid] = times.user + times.system
    return out


class HostLoad:
    """Per trial: turns successive readings into ``host_other_cpu_pct`` per sample.

    The harness's own process (``own_pid``, default this process: its sampler thread, its waiting
    main thread) is excluded too: it is the measurement, present in every run alike, not "other
    load", and on a small machine counting it would flag every trial busy.
    Readings are injectable (``read_host``, ``read_cpu_s``) so tests can hand-make them; the time
    comes from the sampler's clock.
    """

    def __init__(self, cores: int | None = None, read_host: Callable = psutil.cpu_times,
                 read_cpu_s: Callable | None = None, own_pid: int | None = None):
        self.cores = cores or psutil.cpu_count(logical=True) or 1
        self.own_pid = os.getpid() if own_pid is None else own_pid
        own = psutil.Process(self.own_pid) if read_cpu_s is None else None
        self._read_host = read_host
        self._read_own_cpu_s = (lambda: cpu_seconds([own])) if own else (lambda: read_cpu_s([self.own_pid]))
        self.reset()

    def reset(self) -> None:
        """Forget the previous reading (a new trial): the next sample only primes the counters."""
        self._last: tuple[float, float, dict[int, float]] | None = None

    def sample(self, t: float, tree_cpu_s: dict[int, float]) -> float | None:
        """Other load (% of all cores) since the previous sample, at time ``t`` (s). ``tree_cpu_s``:
        the trial tree's CPU seconds per PID, read just now. None on the first sample."""
        host = host_busy_s(self._read_host())
        procs = {**tree_cpu_s, **self._read_own_cpu_s()}
        pct = None
        if self._last is not None:
            last_t, last_host, last_procs = self._last
            # A PID not seen last time started since then: all of its CPU time is in this interval.
            # A PID seen last time but gone now is simply missing (see the module's known limits).
            tree_delta = sum(now - last_procs.get(pid, 0.0) for pid, now in procs.items())
            pct = other_cpu_pct(host - last_host, tree_delta, t - last_t, self.cores)
        self._last = (t, host, procs)
        return pct
