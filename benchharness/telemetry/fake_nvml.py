"""A fake ``pynvml`` for CI: the NVML sampler's own code runs against it, without a GPU.

Selected with ``BENCHHARNESS_FAKE_NVML=1`` (default profile) or ``BENCHHARNESS_FAKE_NVML=path.yaml``.
Results and reports label it ``fake-nvml``. It is deterministic: while a trial runs, with batch
size ``b``:

- utilization.gpu  = round(100 * (1 - exp(-b / util_scale_batch)))   (32 -> 22 %, 128 -> 63 %, 512 -> 98 %)
- utilization.memory = utilization.gpu // 2
- memory used       = base_mem_mb + mem_per_sample_mb * b  (MiB), also reported as the trial's own
- power             = power_idle_w + (power_max_w - power_idle_w) * utilization.gpu / 100
- energy counter    = the integral of that power since the fake was created (mJ)
- temperature 40 + utilization.gpu / 4 C, SM clock 1410 MHz, clocks-event reasons 0

and idle figures (0 %, 0 MiB used, power_idle_w) otherwise. Those figures are on the GPUs the trial
uses: ``trial_pci_bus_ids`` names them (a test's independent statement of where the work runs);
unset, they are the GPUs the sampler resolved from ``CUDA_VISIBLE_DEVICES``. ``gpus`` lists the
host's GPUs in NVML's index order (PCI bus id, UUID, and a constant ``other_util_pct`` that another
job puts on it). ``throttle`` makes the trial's GPUs report clocks-event reasons (e.g. 0x20, software
thermal slowdown) with a lower SM clock and a higher temperature from ``from_s`` on.
``averaging_period_s`` spaces the timestamps ``nvmlDeviceGetSamples`` returns. ``fail_from_s`` makes every NVML call
fail (NVML_ERROR_UNKNOWN) that many seconds after a trial starts; ``lost_at_s`` makes the GPU
disappear (NVML_ERROR_GPU_IS_LOST): both exist to test the sampler's fault handling.

``memory_model`` gives the fake device a memory that runs out: a trial of (global) batch ``b`` needs
``fixed_mb + per_sample_mb * b + per_sample_squared_mb * b**2`` MiB (the square term bends the line
a little, as cuDNN workspaces and XLA do on a real GPU). The worker enforces it (``worker/fake_memory``):
above ``runtime.memory_limit_mb``, else ``memory_total_mb``, the first training step raises
TensorFlow's own ``ResourceExhaustedError``, so an OOM takes the real path; below it the trial
reports the model's figure as its memory (``fake_memory_model``), and NVML's used memory follows the
same model. Without it the fake device never runs out, whatever the batch.

``other_compute_pids`` / ``other_graphics_pids`` list imaginary other processes on the GPU (always,
trial or not), in the compute and graphics process lists beside the trial's own: they test the
sampler's ``gpu_other_processes``, which counts the compute list only (a display server is on the
graphics list of any workstation). Use PIDs above Linux's pid_max (4194304) so no real process of
the trial can have them.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from types import SimpleNamespace

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from benchharness.errors import UserError
from benchharness.telemetry.nvml import NvmlSampler
from benchharness.yamldoc import dotted, line_of, read_yaml, yaml_repr

MIB = 2**20


class FakeGpu(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pci_bus_id: str = Field(pattern=r"^[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]$")
    uuid: str = Field(pattern=r"^GPU-")
    other_util_pct: int = Field(0, ge=0, le=100)


class FakeThrottle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    from_s: float = Field(0.0, ge=0)
    reasons: int = Field(0x20, ge=0)
    sm_clock_mhz: int = Field(900, gt=0)
    temp_c: int = 90


class FakeMemoryModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fixed_mb: float = Field(ge=0)
    per_sample_mb: float = Field(gt=0)
    per_sample_squared_mb: float = Field(0.0, ge=0)

    def mb(self, batch: int) -> float:
        """The memory (MiB) a trial of ``batch`` samples per step needs on the fake device."""
        return self.fixed_mb + self.per_sample_mb * batch + self.per_sample_squared_mb * batch * batch

    def largest_batch(self, limit_mb: float, step: int = 1) -> int | None:
        """The largest multiple of ``step`` whose memory is at most ``limit_mb`` (the search's truth)."""
        a, b, c = self.fixed_mb - limit_mb, self.per_sample_mb, self.per_sample_squared_mb
        root = -a / b if c == 0 else (-b + math.sqrt(b * b - 4 * c * a)) / (2 * c) if b * b >= 4 * c * a else 0.0
        batch = int(root // step) * step + step
        while batch > 0 and self.mb(batch) > limit_mb:  # floating point at the boundary
            batch -= step
        return batch or None


class FakeProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "Fake GPU"
    gpus: tuple[FakeGpu, ...] = Field((FakeGpu(pci_bus_id="00000000:01:00.0", uuid="GPU-fake-0"),), min_length=1)
    trial_pci_bus_ids: tuple[str, ...] | None = None
    averaging_period_s: float = Field(1 / 6, gt=0)
    throttle: FakeThrottle | None = None
    driver: str = "fake-0.0"
    memory_total_mb: int = Field(8192, gt=0)
    base_mem_mb: float = Field(300.0, ge=0)
    mem_per_sample_mb: float = Field(4.0, ge=0)
    util_scale_batch: float = Field(128.0, gt=0)
    power_idle_w: float = Field(30.0, ge=0)
    power_max_w: float = Field(250.0, gt=0)
    fail_from_s: float | None = Field(None, ge=0)
    lost_at_s: float | None = Field(None, ge=0)
    other_compute_pids: tuple[int, ...] = ()
    other_graphics_pids: tuple[int, ...] = ()
    memory_model: FakeMemoryModel | None = None

    @field_validator("other_compute_pids", "other_graphics_pids")
    @classmethod
    def _positive(cls, pids: tuple[int, ...]) -> tuple[int, ...]:
        if any(pid <= 0 for pid in pids):
            raise ValueError("PIDs must be greater than 0")
        return pids


def load_profile(path: str | None) -> FakeProfile:
    """The default profile, or one from a YAML/JSON file (errors name the file, line and key)."""
    if path is None:
        return FakeProfile()
    raw, doc = read_yaml(Path(path), what="fake NVML profile")
    try:
        return FakeProfile.model_validate(doc.data if doc.data is not None else {})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            lines.append(f"{path}:{line_of(loc, doc.lines)}: {dotted(loc)}: {err['msg']}, got {yaml_repr(err['input'])}")
        raise UserError(lines) from None


class NVMLError(Exception):
    def __init__(self, value: int):
        self.value = value
        super().__init__({999: "Unknown Error", 15: "GPU is lost", 3: "Not Supported"}.get(value, str(value)))


class FakeNvml:
    """Module-like: the functions and constants of ``pynvml`` that the sampler uses. A handle is
    the GPU's index in ``profile.gpus`` (NVML's order)."""

    NVMLError = NVMLError
    NVML_ERROR_UNKNOWN = 999
    NVML_ERROR_GPU_IS_LOST = 15
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1
    nvmlMemory_v2 = 0x02000028

    def __init__(self, profile: FakeProfile, clock=time.monotonic):
        self.profile = profile
        self.clock = clock
        self._pid: int | None = None
        self._batch = 0
        self._loaded: set[str] = set()
        self._started_at: float | None = None
        self._energy_mj = [0.0] * len(profile.gpus)
        self._energy_t = clock()

    # -- driven by FakeNvmlSampler ---------------------------------------------------------------

    def set_workload(self, pid: int | None, batch_size: int, resolved_bus_ids: list[str]) -> None:
        """A trial starts (``pid``) or ends (None). Its load goes on ``profile.trial_pci_bus_ids``,
        or where the sampler says the trial runs (``resolved_bus_ids``)."""
        self._accumulate_energy()
        self._pid, self._batch = pid, batch_size
        self._loaded = set(self.profile.trial_pci_bus_ids or resolved_bus_ids) if pid is not None else set()
        self._started_at = self.clock() if pid is not None else None

    # -- the model ------------------------------------------------------------------------------

    def _trial_on(self, handle: int) -> bool:
        return self._pid is not None and self.profile.gpus[handle].pci_bus_id in self._loaded

    def utilization_pct(self, handle: int) -> int:
        if not self._trial_on(handle):
            return self.profile.gpus[handle].other_util_pct
        return round(100 * (1 - math.exp(-self._batch / self.profile.util_scale_batch)))

    def used_mb(self, handle: int) -> float:
        if not self._trial_on(handle):
            return 0.0
        if self.profile.memory_model is not None:
            return self.profile.memory_model.mb(self._batch)
        return self.profile.base_mem_mb + self.profile.mem_per_sample_mb * self._batch

    def power_w(self, handle: int) -> float:
        p = self.profile
        return p.power_idle_w + (p.power_max_w - p.power_idle_w) * self.utilization_pct(handle) / 100

    def _accumulate_energy(self) -> None:
        now = self.clock()
        for handle in range(len(self.profile.gpus)):
            self._energy_mj[handle] += self.power_w(handle) * (now - self._energy_t) * 1000.0
        self._energy_t = now

    def _elapsed(self) -> float | None:
        return None if self._started_at is None else self.clock() - self._started_at

    def _throttled(self, handle: int) -> FakeThrottle | None:
        throttle, elapsed = self.profile.throttle, self._elapsed()
        if throttle is None or elapsed is None or not self._trial_on(handle):
            return None
        return throttle if elapsed >= throttle.from_s else None

    def _check(self) -> None:
        elapsed, p = self._elapsed(), self.profile
        if elapsed is None:
            return
        if p.lost_at_s is not None and elapsed >= p.lost_at_s:
            raise NVMLError(self.NVML_ERROR_GPU_IS_LOST)
        if p.fail_from_s is not None and elapsed >= p.fail_from_s:
            raise NVMLError(self.NVML_ERROR_UNKNOWN)

    # -- pynvml's API ---------------------------------------------------------------------------

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        pass

    def nvmlDeviceGetCount(self):
        return len(self.profile.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        if not 0 <= index < len(self.profile.gpus):
            raise NVMLError(2)
        return index

    def nvmlDeviceGetHandleByUUID(self, uuid):
        for index, gpu in enumerate(self.profile.gpus):
            if gpu.uuid == uuid:
                return index
        raise NVMLError(2)

    def nvmlDeviceGetPciInfo(self, handle):
        return SimpleNamespace(busId=self.profile.gpus[handle].pci_bus_id)

    def nvmlDeviceGetUUID(self, handle):
        return self.profile.gpus[handle].uuid

    def nvmlSystemGetDriverVersion(self):
        return self.profile.driver

    def nvmlDeviceGetName(self, handle):
        return self.profile.name

    def nvmlDeviceGetSamples(self, handle, sample_type, last_seen_us):
        """The driver's utilization buffer: a reading every ``averaging_period_s`` (timestamps in us)."""
        now_us, step_us = int(self.clock() * 1e6), int(self.profile.averaging_period_s * 1e6)
        samples = [SimpleNamespace(timeStamp=now_us - k * step_us, sampleValue=SimpleNamespace(uiVal=0))
                   for k in range(10, 0, -1)]
        return 1, samples

    def nvmlDeviceGetUtilizationRates(self, handle):
        self._check()
        util = self.utilization_pct(handle)
        return SimpleNamespace(gpu=util, memory=util // 2)

    def nvmlDeviceGetMemoryInfo(self, handle, version=None):
        self._check()
        total = self.profile.memory_total_mb * MIB
        used = int(self.used_mb(handle) * MIB)
        return SimpleNamespace(total=total, used=used, free=total - used, reserved=0, version=version)

    def nvmlDeviceGetPowerUsage(self, handle):
        self._check()
        return int(self.power_w(handle) * 1000)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        self._check()
        self._accumulate_energy()
        return int(self._energy_mj[handle])

    def nvmlDeviceGetTemperature(self, handle, sensor):
        self._check()
        throttle = self._throttled(handle)
        return throttle.temp_c if throttle else 40 + self.utilization_pct(handle) // 4

    def nvmlDeviceGetClockInfo(self, handle, clock_type):
        self._check()
        throttle = self._throttled(handle)
        return throttle.sm_clock_mhz if throttle else 1410

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        self._check()
        throttle = self._throttled(handle)
        return throttle.reasons if throttle else 0

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        self._check()
        # Other processes' memory is unknown (None, as NVML says without the privilege to see it).
        procs = [SimpleNamespace(pid=pid, usedGpuMemory=None) for pid in self.profile.other_compute_pids]
        if not self._trial_on(handle):
            return procs
        return [SimpleNamespace(pid=self._pid, usedGpuMemory=int(self.used_mb(handle) * MIB)), *procs]

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle):
        self._check()
        return [SimpleNamespace(pid=pid, usedGpuMemory=None) for pid in self.profile.other_graphics_pids]


class FakeNvmlSampler(NvmlSampler):
    """The real NVML sampler over :class:`FakeNvml`; it tells the fake which trial is running."""

    source = "fake-nvml"

    def __init__(self, profile: FakeProfile, interval_s: float, clock=time.monotonic):
        super().__init__(FakeNvml(profile, clock), interval_s, clock)

    def start(self, pid: int, params: dict) -> None:
        self.nvml.set_workload(pid, params.get("batch_size", 0), [d["pci_bus_id"] for d in self.devices])
        super().start(pid, params)

    def stop(self):
        samples = super().stop()
        self.nvml.set_workload(None, 0, [])
        return samples

    def process_name(self, pid: int) -> str:
        return "fake-other-job" if pid in self.nvml.profile.other_compute_pids else super().process_name(pid)

    def pid_visible(self, pid: int) -> bool:
        """The fake's other processes are imaginary: they count as processes of this namespace."""
        profile = self.nvml.profile
        return pid in profile.other_compute_pids or pid in profile.other_graphics_pids or super().pid_visible(pid)
