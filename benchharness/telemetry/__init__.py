"""Telemetry: device samples taken from the parent process while a trial's worker runs.

Why from the parent: the sampler survives the trial's OOM or crash, never competes for the trial's
GIL, and sees the device as a whole. One small protocol, three implementations behind one seam:
NVML (``nvml.py``), the same NVML code against a fake ``pynvml`` (``fake_nvml.py``, for CI), and
CPU utilization and RSS through psutil (``cpu.py``) where there is no NVML.
"""

from __future__ import annotations

import os
from typing import Callable

from benchharness.telemetry.base import Clock, PollingThread, Sampler, ThreadedSampler, TrialSamples

__all__ = ["Clock", "PollingThread", "Sampler", "ThreadedSampler", "TrialSamples", "make_sampler"]

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
