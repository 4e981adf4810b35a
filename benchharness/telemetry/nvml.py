"""NVML sampler. Every NVML call goes through :meth:`NvmlSampler.query`: an error becomes a gap
(``None``, counted per metric), never an exception in the run; a lost GPU stops that device's rows.

Each row also says whether the trial had the machine to itself: ``host_other_cpu_pct`` (host CPU used
outside the trial, ``host.py``) and ``gpu_other_processes`` (other PIDs in NVML's process lists).

NVML's ``utilization.gpu`` is the percent of time one or more kernels was executing over the
driver's sample period (1/6 s to 1 s), not SM occupancy: reports call it "kernel-busy %".
"""

from __future__ import annotations

import os
import time

import psutil

from benchharness.telemetry.base import ThreadedSampler
from benchharness.telemetry.host import HostLoad, process_cpu_s, process_tree

# New columns go at the end: readers of older CSVs match on the leading ones.
COLUMNS = ["t_monotonic", "device", "util_gpu_pct", "util_mem_pct", "mem_used_mb", "mem_total_mb",
           "proc_mem_mb", "power_w", "energy_mj", "temp_c", "sm_clock_mhz", "clocks_event_reasons",
           "host_other_cpu_pct", "gpu_other_processes"]

FOREIGN_PIDS = ("GPU process lists name PIDs that are not processes here (a container with its own PID "
                "namespace?): the trial cannot be told from other work, so gpu_other_processes is null")

MIB = 2**20


class NvmlUnavailable(Exception):
    """NVML cannot be used here (library missing, init failed, no visible GPU)."""


class DeviceLost(Exception):
    pass


def load_pynvml():
    """The seam: the real ``pynvml`` module (from the ``nvidia-ml-py`` package)."""
    try:
        import pynvml
    except ImportError as exc:
        raise NvmlUnavailable(f"cannot import pynvml: {exc}; install nvidia-ml-py") from None
    return pynvml


def visible_indices(nvml, count: int) -> list:
    """NVML handles' keys for the GPUs this process may use, honouring ``CUDA_VISIBLE_DEVICES``
    (indices or ``GPU-`` UUIDs; an empty value hides every GPU)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return list(range(count))
    keys = []
    for item in (v.strip() for v in visible.split(",")):
        if item.isdigit() and int(item) < count:
            keys.append(int(item))
        elif item.startswith(("GPU-", "MIG-")):
            keys.append(item)
        else:
            break  # CUDA stops at the first invalid entry
    return keys


class NvmlSampler(ThreadedSampler):
    """Samples every visible GPU through an NVML module (real or fake)."""

    source = "nvml"
    columns = COLUMNS

    def __init__(self, nvml, interval_s: float, clock=time.monotonic):
        self.nvml = nvml
        self.interval_s = interval_s
        self.clock = clock
        self.host = HostLoad()
        self.devices = self._open_devices()
        if not self.devices:
            raise NvmlUnavailable("no GPU visible (CUDA_VISIBLE_DEVICES hides them all or the driver lists none)")
        self._choice: dict[tuple[int, str], tuple] = {}
        self._reset(None)

    @classmethod
    def open(cls, interval_s: float) -> "NvmlSampler":
        return cls(load_pynvml(), interval_s)

    def _open_devices(self) -> list[dict]:
        nvml = self.nvml
        try:
            nvml.nvmlInit()
            count = nvml.nvmlDeviceGetCount()
        except nvml.NVMLError as exc:
            raise NvmlUnavailable(str(exc)) from None
        devices = []
        for key in visible_indices(nvml, count):
            try:
                handle = (nvml.nvmlDeviceGetHandleByUUID(key) if isinstance(key, str)
                          else nvml.nvmlDeviceGetHandleByIndex(key))
            except nvml.NVMLError:
                continue
            devices.append({"index": len(devices), "nvml_key": key, "handle": handle, "lost": False})
        return devices

    # -- the one seam every NVML call goes through ------------------------------------------------

    def query(self, metric: str, func: str, *args, count_gap: bool = True):
        """Call ``nvml.<func>(*args)``; on an NVML error count a gap for ``metric`` and return None.
        Raises DeviceLost when NVML says the GPU is gone."""
        try:
            return getattr(self.nvml, func)(*args)
        except self.nvml.NVMLError as exc:
            if getattr(exc, "value", None) == getattr(self.nvml, "NVML_ERROR_GPU_IS_LOST", 15):
                self.samples.gaps[metric] += 1
                raise DeviceLost(str(exc)) from None
        except AttributeError:  # an older nvidia-ml-py without this function
            pass
        if count_gap:
            self.samples.gaps[metric] += 1
        return None

    def query_first(self, device: dict, metric: str, calls: list[tuple]):
        """The first of several equivalent calls that works on this device (e.g. the v2 memory
        struct, then v1), remembered after its first success; only the last miss counts as a gap."""
        key = (device["index"], metric)
        if key in self._choice:
            calls = [self._choice[key]]
        for i, call in enumerate(calls):
            value = self.query(metric, *call, count_gap=i == len(calls) - 1)
            if value is not None:
                self._choice[key] = call
                return value
        return None

    # -- protocol ---------------------------------------------------------------------------------

    def describe(self) -> list[dict]:
        self._reset(None)
        driver = self.query("driver", "nvmlSystemGetDriverVersion")
        out = []
        for dev in self.devices:
            mem = self.query("mem", "nvmlDeviceGetMemoryInfo", dev["handle"])
            out.append({"index": dev["index"], "name": _text(self.query("name", "nvmlDeviceGetName", dev["handle"])),
                        "driver": _text(driver), "memory_total_mb": round(mem.total / MIB) if mem else None,
                        "source": self.source})
        return out

    # -- one reading ----------------------------------------------------------------------------

    def read(self, t: float) -> list[dict]:
        """One row per live device at time ``t``. The host-wide and all-GPU figures
        (``host_other_cpu_pct``, ``gpu_other_processes``) are the same on every device's row."""
        pids = self._process_tree()
        host_other = self.host.sample(t, process_cpu_s(pids))
        rows, listed = [], []
        for dev in self.devices:
            if dev["lost"]:
                continue
            try:
                rows.append(self._read_device(dev, t, pids, listed))
            except DeviceLost as exc:
                dev["lost"] = True
                self.samples.lost.append(f"GPU {dev['index']} lost at t={t:.3f}: {exc}; no samples after")
        gpu_other = self._other_gpu_processes(listed, pids)
        for row in rows:
            row.update(host_other_cpu_pct=host_other, gpu_other_processes=gpu_other)
        return rows

    def _read_device(self, dev: dict, t: float, pids: set[int], listed: list[set[int]]) -> dict:
        """One device's row; the PID sets of its process lists that could be read go to ``listed``."""
        nvml, h = self.nvml, dev["handle"]
        # Only the compute list: another training job competes for the GPU, while the graphics list
        # holds the display server on any workstation, which would flag every trial as busy.
        compute = self.query("proc_mem", "nvmlDeviceGetComputeRunningProcesses", h)
        if compute is not None:
            listed.append({p.pid for p in compute})
        util = self.query("util", "nvmlDeviceGetUtilizationRates", h)
        mem = self.query_first(dev, "mem", [("nvmlDeviceGetMemoryInfo", h, getattr(nvml, "nvmlMemory_v2", 0x02000028)),
                                            ("nvmlDeviceGetMemoryInfo", h)])
        power_mw = self.query("power", "nvmlDeviceGetPowerUsage", h)
        reasons = self.query_first(dev, "clocks_event_reasons", [("nvmlDeviceGetCurrentClocksEventReasons", h),
                                                                  ("nvmlDeviceGetCurrentClocksThrottleReasons", h)])
        return {
            "t_monotonic": t,
            "device": dev["index"],
            "util_gpu_pct": util.gpu if util else None,
            "util_mem_pct": util.memory if util else None,
            "mem_used_mb": mem.used / MIB if mem else None,
            "mem_total_mb": mem.total / MIB if mem else None,
            "proc_mem_mb": _own_memory_mb(compute, pids),
            "power_w": power_mw / 1000.0 if power_mw is not None else None,
            "energy_mj": self.query("energy", "nvmlDeviceGetTotalEnergyConsumption", h),
            "temp_c": self.query("temp", "nvmlDeviceGetTemperature", h, getattr(nvml, "NVML_TEMPERATURE_GPU", 0)),
            "sm_clock_mhz": self.query("sm_clock", "nvmlDeviceGetClockInfo", h, getattr(nvml, "NVML_CLOCK_SM", 1)),
            "clocks_event_reasons": reasons,
        }

    def _process_tree(self) -> set[int]:
        return process_tree(self.pid)

    def pid_visible(self, pid: int) -> bool:
        """Whether ``pid`` is a process in this PID namespace (the fake overrides it for its own)."""
        return psutil.pid_exists(pid)

    def _other_gpu_processes(self, listed: list[set[int]], tree: set[int]) -> int | None:
        """Distinct PIDs on the sampled GPUs that are neither the trial's tree nor this harness.

        None when no process list could be read, and None when the lists name PIDs this namespace
        does not have while none of ours is listed: in a container NVML reports host PIDs, so the
        trial itself would be counted as "other" (a guess either way; not a figure).
        """
        if not listed:
            return None
        ours = tree | {self.host.own_pid}
        on_gpu = set().union(*listed)
        others = on_gpu - ours
        # One of ours listed proves the PIDs are in our namespace; else each must exist here.
        if not on_gpu & ours and not all(self.pid_visible(pid) for pid in others):
            if FOREIGN_PIDS not in self.samples.lost:
                self.samples.lost.append(FOREIGN_PIDS)
            return None
        return len(others)


def _own_memory_mb(procs: list | None, pids: set[int]) -> float | None:
    """The trial's own GPU memory (MiB) where the driver reports it; None where it cannot be told
    (no process of the trial listed, e.g. in a container with its own PID namespace)."""
    ours = [p.usedGpuMemory for p in procs or [] if p.pid in pids and p.usedGpuMemory is not None]
    return sum(ours) / MIB if ours else None


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
