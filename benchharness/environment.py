"""What machine and software a run used, for run.json. Never imports TensorFlow (the worker adds
TensorFlow's own build info from inside a trial)."""

from __future__ import annotations

import platform
import socket
import sys
from importlib import metadata
from pathlib import Path

import psutil


def cpu_model_name() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


PACKAGES = ("tensorflow", "tf-keras", "tensorflow-model-optimization", "numpy", "nvidia-ml-py", "pandas")


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def capture_host() -> dict:
    """Host name, Python, package versions, CPU model, cores and RAM of this host."""
    return {
        "host": socket.gethostname(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "cpu": {
            "model": cpu_model_name(),
            "logical_cores": psutil.cpu_count(logical=True),
            "physical_cores": psutil.cpu_count(logical=False),
        },
        "ram_mb": round(psutil.virtual_memory().total / 2**20),
        "gpus": None,  # filled from NVML by the telemetry stage where a GPU is present
    }
