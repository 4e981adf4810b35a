"""Worker processes seen from the parent: start one in its own session, kill its whole group, read
the tail of its log.

The worker runs in its own session (process group) so a timeout or Ctrl-C can kill it with
everything it spawned, and so the terminal's Ctrl-C reaches only the parent, which decides what to
keep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from benchharness.lifeline import PARENT_ENV

LOG_TAIL_BYTES = 4096
# CUDA_DEVICE_ORDER: CUDA's default numbers GPUs fastest first, NVML by PCI bus id; with PCI_BUS_ID
# the worker's GPU k is the k-th by bus id, which is how the sampler finds the trial's GPUs in NVML.
WORKER_ENV = {"TF_USE_LEGACY_KERAS": "1", "PYTHONUNBUFFERED": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


def spawn_worker(log_path: Path, *args: str, python: str | None = None) -> subprocess.Popen:
    """``python -m benchharness.worker ARGS`` (``python``: this interpreter unless given) with stdin
    a pipe and stdout + stderr appended to ``log_path``; the caller writes the spec to stdin and owns
    the process from here on."""
    with open(log_path, "ab") as log:
        return subprocess.Popen([python or sys.executable, "-m", "benchharness.worker", *args], stdin=subprocess.PIPE,
                                stdout=log, stderr=subprocess.STDOUT, env=os.environ | WORKER_ENV | {PARENT_ENV: str(os.getpid())},
                                start_new_session=True)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's whole process group (a hung TensorFlow may ignore gentler signals)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def cgroup_oom_kills(proc_root: Path = Path("/proc"), cgroup_root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The ``oom_kill`` count of the memory cgroup this process is in, which a worker shares:
    cgroup v2's ``memory.events`` or v1's ``memory.oom_control``. None where neither can be read."""
    try:
        lines = (proc_root / "self" / "cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "memory":  # v1: /sys/fs/cgroup/memory/<path>/memory.oom_control
            count = _oom_kill_line(cgroup_root / "memory" / path.lstrip("/") / "memory.oom_control")
        elif controllers == "":  # v2: /sys/fs/cgroup/<path>/memory.events
            count = _oom_kill_line(cgroup_root / path.lstrip("/") / "memory.events")
        else:
            continue
        if count is not None:
            return count
    return None


def _oom_kill_line(path: Path) -> int | None:
    try:
        return int(next(l.split()[1] for l in path.read_text().splitlines() if l.startswith("oom_kill ")))
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def read_log_tail(path: Path) -> str:
    """The last ``LOG_TAIL_BYTES`` of a worker's log as text; empty if it cannot be read."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
