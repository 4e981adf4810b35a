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

from benchharness.telemetry.base import ThreadedSampler, TrialSamples
from benchharness.telemetry.host import HostLoad, ProcessTree, cpu_seconds

# New columns go at the end: readers of older CSVs match on the leading ones.
COLUMNS = ["t_monotonic", "device", "util_gpu_pct", "util_mem_pct", "mem_used_mb", "mem_total_mb",
           "proc_mem_mb", "power_w", "energy_mj", "temp_c", "sm_clock_mhz", "clocks_event_reasons",
           "host_other_cpu_pct", "gpu_other_processes", "gpu_other_pids"]

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


# NVML's documented bound on the period behind utilization.gpu ("1 second and 1/6 second depending
# on the product"): assumed where the driver does not tell its sample times.
NVML_MAX_PERIOD_S = 1.0
NVML_GPU_UTILIZATION_SAMPLES = 1

# Clocks-event reason bits (nvml.h, nvmlClocksEventReason*), by what they mean for a measurement.
THERMAL_REASONS = {0x20: "sw_thermal_slowdown", 0x40: "hw_thermal_slowdown"}
POWER_REASONS = {0x4: "sw_power_cap", 0x80: "hw_power_brake_slowdown"}
# HW slowdown: the hardware halved the clocks or more (high temperature, power brake or power draw).
HARDWARE_REASONS = {0x8: "hw_slowdown"}
OTHER_REASONS = {0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x10: "sync_boost", 0x100: "display_clock_setting"}
REASON_NAMES = THERMAL_REASONS | POWER_REASONS | HARDWARE_REASONS | OTHER_REASONS

# The total-energy counter is read at most this often (s): on an H200 it cost 3.5 ms a call, 91 % of
# a whole reading (scripts/nvml_check.py), and a cumulative counter read every 0.5 s and interpolated
# at the window ends loses nothing a 100 ms grid would keep but the shape of power inside 0.5 s.
ENERGY_EVERY_S = 0.5


def bus_key(pci_bus_id: str | None) -> tuple:
    """Sort key of a PCI bus id ("00000000:81:00.0" or "0000:81:00.0"): (domain, bus, device,
    function) as numbers, the order CUDA numbers GPUs in under ``CUDA_DEVICE_ORDER=PCI_BUS_ID``."""
    if not pci_bus_id:
        return (float("inf"),)
    domain, bus, rest = pci_bus_id.split(":")
    device, function = rest.split(".")
    return tuple(int(part, 16) for part in (domain, bus, device, function))


def cuda_visible(devices: list[dict], visible: str | None) -> list[dict]:
    """The GPUs a process with ``CUDA_VISIBLE_DEVICES=visible`` uses, in CUDA's order.

    ``devices`` are every GPU NVML lists (each with ``pci_bus_id`` and ``uuid``). The harness starts
    every worker with ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, so CUDA index k is the k-th GPU by PCI bus
    id, which is not always NVML's index k. Entries may be indices or (prefixes of) ``GPU-`` UUIDs;
    as in CUDA, the list ends at the first entry that names no GPU or one already named, and an
    empty value hides every GPU. ``MIG-`` entries are looked up by the caller (no bus order).
    """
    ordered = sorted(devices, key=lambda d: bus_key(d.get("pci_bus_id")))
    if visible is None:
        return ordered
    chosen: list[dict] = []
    for item in (v.strip() for v in visible.split(",")):
        if item.isdigit():
            match = [ordered[int(item)]] if int(item) < len(ordered) else []
        elif item.startswith("GPU-"):
            match = [d for d in devices if (d.get("uuid") or "").startswith(item)]
        else:
            match = []
        if len(match) != 1 or match[0] in chosen:
            break
        chosen.append(match[0])
    return chosen


class NvmlSampler(ThreadedSampler):
    """Samples the trial's GPUs (``CUDA_VISIBLE_DEVICES`` mapped to NVML by PCI bus id) through an
    NVML module (real or fake). Other GPUs on the host are not sampled."""

    source = "nvml"
    columns = COLUMNS

    def __init__(self, nvml, interval_s: float, clock=time.monotonic):
        self.nvml = nvml
        self.interval_s = interval_s
        self.clock = clock
        self.host = HostLoad()
        self.tree = ProcessTree()
        self.samples = TrialSamples(self.source, list(self.columns))  # query() counts gaps here from the start
        self.devices = self._open_devices()
        if not self.devices:
            raise NvmlUnavailable("no GPU visible (CUDA_VISIBLE_DEVICES hides them all or the driver lists none)")
        self._choice: dict[tuple[int, str], tuple] = {}
        self._names: dict[int, str] = {}
        self.period_s, self.period_source = self._averaging_period()
        self._reset(None)

    @classmethod
    def open(cls, interval_s: float) -> "NvmlSampler":
        return cls(load_pynvml(), interval_s)

    def _open_devices(self) -> list[dict]:
        """The trial's GPUs: every GPU NVML lists, with its PCI bus id and UUID, narrowed to what
        ``CUDA_VISIBLE_DEVICES`` leaves visible, in CUDA's order."""
        nvml = self.nvml
        try:
            nvml.nvmlInit()
            count = nvml.nvmlDeviceGetCount()
        except nvml.NVMLError as exc:
            raise NvmlUnavailable(str(exc)) from None
        every = [self._identify(i) for i in range(count)]
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None and visible.strip().startswith("MIG-"):
            chosen = [self._mig(visible.split(",")[0].strip())]
        else:
            chosen = cuda_visible([d for d in every if d is not None], visible)
        return [d for d in chosen if d is not None]

    def _identify(self, nvml_index: int) -> dict | None:
        try:
            handle = self.nvml.nvmlDeviceGetHandleByIndex(nvml_index)
        except self.nvml.NVMLError:
            return None
        pci = self.query("pci", "nvmlDeviceGetPciInfo", handle)
        return {"nvml_index": nvml_index, "handle": handle, "lost": False,
                "pci_bus_id": _text(getattr(pci, "busId", None)) if pci is not None else None,
                "uuid": _text(self.query("uuid", "nvmlDeviceGetUUID", handle))}

    def _mig(self, uuid: str) -> dict | None:
        try:
            handle = self.nvml.nvmlDeviceGetHandleByUUID(uuid)
        except self.nvml.NVMLError:
            return None
        return {"nvml_index": None, "handle": handle, "lost": False, "pci_bus_id": None, "uuid": uuid}

    def _averaging_period(self) -> tuple[float, str]:
        """The driver's utilization sample period, from the timestamps of its own sample buffer
        (``nvmlDeviceGetSamples``); NVML's documented upper bound (1 s) where it cannot be read."""
        samples = self.query("period", "nvmlDeviceGetSamples", self.devices[0]["handle"],
                             NVML_GPU_UTILIZATION_SAMPLES, 0, count_gap=False)
        stamps = sorted(s.timeStamp for s in (samples[1] if samples else []))
        steps = sorted(b - a for a, b in zip(stamps, stamps[1:]) if b > a)
        if len(steps) < 2:
            return NVML_MAX_PERIOD_S, "NVML's averaging period (assumed 1 s: the driver did not give its sample times)"
        return steps[len(steps) // 2] / 1e6, "NVML's averaging period (from the driver's sample times)"

    def _reset(self, pid: int | None) -> None:
        super()._reset(pid)
        for dev in self.devices:
            dev.pop("energy_read_at", None)  # a new trial's first reading reads the counter

    def sampling_facts(self) -> dict:
        return {"hold_s": max(self.interval_s, self.period_s), "period_s": self.period_s,
                "period_source": self.period_source, "devices": [self._identity(d) for d in self.devices]}

    @staticmethod
    def _identity(device: dict) -> dict:
        return {"index": device["nvml_index"], "pci_bus_id": device["pci_bus_id"], "uuid": device["uuid"]}

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
        key = (id(device), metric)
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
        """The trial's GPUs for run.json: NVML index, PCI bus id, UUID, name, driver, memory, and
        the averaging period behind a utilization reading."""
        self._reset(None)
        driver = self.query("driver", "nvmlSystemGetDriverVersion")
        out = []
        for dev in self.devices:
            mem = self.query("mem", "nvmlDeviceGetMemoryInfo", dev["handle"])
            out.append(self._identity(dev) | {
                "name": _text(self.query("name", "nvmlDeviceGetName", dev["handle"])), "driver": _text(driver),
                "memory_total_mb": round(mem.total / MIB) if mem else None, "source": self.source,
                "averaging_period_s": self.period_s})
        return out

    # -- one reading ----------------------------------------------------------------------------

    def read(self, t: float) -> list[dict]:
        """One row per live trial GPU at time ``t``; ``host_other_cpu_pct`` is the same on each."""
        tree = self.tree.current(self.pid, t)
        pids = {proc.pid for proc in tree}
        host_other = self.host.sample(t, cpu_seconds(tree))
        rows = []
        for dev in self.devices:
            if dev["lost"]:
                continue
            try:
                rows.append(self._read_device(dev, t, pids) | {"host_other_cpu_pct": host_other})
            except DeviceLost as exc:
                dev["lost"] = True
                self.samples.lost.append(f"GPU {dev['pci_bus_id'] or dev['uuid']} lost at t={t:.3f}: {exc}; "
                                         "no samples after")
        return rows

    def _read_device(self, dev: dict, t: float, pids: set[int]) -> dict:
        nvml, h = self.nvml, dev["handle"]
        # Only the compute list: another training job competes for the GPU, while the graphics list
        # holds the display server on any workstation, which would flag every trial as busy.
        compute = self.query("proc_mem", "nvmlDeviceGetComputeRunningProcesses", h)
        others = self._other_gpu_processes(compute, pids)
        util = self.query("util", "nvmlDeviceGetUtilizationRates", h)
        mem = self.query_first(dev, "mem", [("nvmlDeviceGetMemoryInfo", h, getattr(nvml, "nvmlMemory_v2", 0x02000028)),
                                            ("nvmlDeviceGetMemoryInfo", h)])
        power_mw = self.query("power", "nvmlDeviceGetPowerUsage", h)
        reasons = self.query_first(dev, "clocks_event_reasons", [("nvmlDeviceGetCurrentClocksEventReasons", h),
                                                                  ("nvmlDeviceGetCurrentClocksThrottleReasons", h)])
        return {
            "t_monotonic": t,
            "device": dev["pci_bus_id"] or dev["uuid"],
            "util_gpu_pct": util.gpu if util else None,
            "util_mem_pct": util.memory if util else None,
            "mem_used_mb": mem.used / MIB if mem else None,
            "mem_total_mb": mem.total / MIB if mem else None,
            "proc_mem_mb": _own_memory_mb(compute, pids),
            "power_w": power_mw / 1000.0 if power_mw is not None else None,
            "energy_mj": self._energy_mj(dev, t),
            "temp_c": self.query("temp", "nvmlDeviceGetTemperature", h, getattr(nvml, "NVML_TEMPERATURE_GPU", 0)),
            "sm_clock_mhz": self.query("sm_clock", "nvmlDeviceGetClockInfo", h, getattr(nvml, "NVML_CLOCK_SM", 1)),
            "clocks_event_reasons": reasons,
            "gpu_other_processes": None if others is None else len(others),
            "gpu_other_pids": None if others is None else " ".join(map(str, sorted(others))),
        }

    def stop(self) -> TrialSamples:
        """Stop, then read each GPU's energy counter once more: with the counter read every
        ``ENERGY_EVERY_S``, a trial that exits soon after its last epoch would otherwise leave the end
        of its steady window after the last reading (energy withheld for lack of coverage)."""
        samples = super().stop()
        t = self.clock()
        for dev in (d for d in self.devices if not d["lost"]):
            try:
                energy = self.query("energy", "nvmlDeviceGetTotalEnergyConsumption", dev["handle"])
            except DeviceLost:
                continue
            if energy is not None:
                samples.rows.append({"t_monotonic": t, "device": dev["pci_bus_id"] or dev["uuid"], "energy_mj": energy})
        return samples

    def _energy_mj(self, dev: dict, t: float) -> int | None:
        """The energy counter (mJ), or None between its readings (``ENERGY_EVERY_S``); not a gap."""
        if t - dev.get("energy_read_at", float("-inf")) < ENERGY_EVERY_S:
            return None
        dev["energy_read_at"] = t
        return self.query("energy", "nvmlDeviceGetTotalEnergyConsumption", dev["handle"])

    def pid_visible(self, pid: int) -> bool:
        """Whether ``pid`` is a process in this PID namespace (the fake overrides it for its own)."""
        return psutil.pid_exists(pid)

    def process_name(self, pid: int) -> str:
        try:
            return psutil.Process(pid).name()
        except psutil.Error:
            return "?"

    def _other_gpu_processes(self, compute: list | None, tree: set[int]) -> set[int] | None:
        """PIDs in this GPU's compute list that are neither the trial's tree nor this harness; their
        names go to ``samples.process_names``.

        None when the list could not be read, and None when it names PIDs this namespace does not
        have while none of ours is listed: in a container NVML reports host PIDs, so the trial itself
        would be counted as "other" (a guess either way; not a figure).
        """
        if compute is None:
            return None
        ours = tree | {self.host.own_pid}
        on_gpu = {p.pid for p in compute}
        others = on_gpu - ours
        # One of ours listed proves the PIDs are in our namespace; else each must exist here.
        if not on_gpu & ours and not all(self.pid_visible(pid) for pid in others):
            if FOREIGN_PIDS not in self.samples.lost:
                self.samples.lost.append(FOREIGN_PIDS)
            return None
        for pid in others - self._names.keys():
            self._names[pid] = self.process_name(pid)
        self.samples.process_names.update({pid: self._names[pid] for pid in others})
        return others


def _own_memory_mb(procs: list | None, pids: set[int]) -> float | None:
    """The trial's own GPU memory (MiB) where the driver reports it; None where it cannot be told
    (no process of the trial listed, e.g. in a container with its own PID namespace)."""
    ours = [p.usedGpuMemory for p in procs or [] if p.pid in pids and p.usedGpuMemory is not None]
    return sum(ours) / MIB if ours else None


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
