"""A real Ray cluster of several nodes on this machine, started with ``ray start`` as a user would,
for the Ray executor's end-to-end tests. Each node gets fake GPUs (Ray resources plus the fake NVML
in its environment) and a marker resource, so a test can find one node's processes and kill them:
a lost node, as a machine that dies mid-sweep."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

RAY = Path(sys.executable).with_name("ray")
FAKE_GPU_MODEL = "FakeGPU"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalCluster:
    """``ray start --head`` and ``ray start --address`` processes; ``stop`` kills exactly these."""

    env: dict
    temp_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bhray", dir="/tmp")))
    port: int = field(default_factory=free_port)
    markers: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add_node(self, gpus: int = 1, cpus: int = 1) -> str:
        """Start one node (the first is the head); returns its marker resource."""
        marker = f"bh_node{len(self.markers) + 1}"
        resources = f'{{"accelerator_type:{FAKE_GPU_MODEL}": {gpus}, "{marker}": 1}}' if gpus else f'{{"{marker}": 1}}'
        where = (["--head", f"--port={self.port}", f"--temp-dir={self.temp_dir}", "--include-dashboard=false"]
                 if not self.markers else [f"--address={self.address}"])
        subprocess.run([str(RAY), "start", *where, f"--num-cpus={cpus}", f"--num-gpus={gpus}",
                        f"--resources={resources}", "--disable-usage-stats"],
                       env=self.env, check=True, capture_output=True, timeout=120)
        self.markers.append(marker)
        return marker

    def node_processes(self, marker: str) -> list[psutil.Process]:
        """The node's raylet and everything under it (its Ray workers and their trial workers)."""
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if "raylet" in cmdline and f"{marker},1" in cmdline:
                try:
                    return [proc, *proc.children(recursive=True)]
                except psutil.NoSuchProcess:
                    return []
        return []

    def kill_node(self, marker: str) -> int:
        """SIGKILL the node's processes, as if its machine died; returns how many were killed."""
        victims = self.node_processes(marker)
        for proc in victims:
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        return len(victims)

    def stop(self) -> None:
        """Kill every process of this cluster (not another Ray on the machine), then its files."""
        ours = []
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if str(self.temp_dir) in cmdline or any(f"{m},1" in cmdline for m in self.markers):
                ours.append(proc)
        for proc in ours:
            try:
                ours += proc.children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        for proc in ours:
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(ours, timeout=10)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def wait_for(condition, timeout_s: float, every_s: float = 0.2):
    """Poll ``condition()`` until it returns something true; returns it, or None at the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    return None


def worker_under(processes: list[psutil.Process]) -> bool:
    """Whether a trial worker (``python -m benchharness.worker``) is among ``processes``."""
    for proc in processes:
        try:
            if "benchharness.worker" in " ".join(proc.cmdline()):
                return True
        except psutil.NoSuchProcess:
            continue
    return False


def env_for_nodes(**extra: str) -> dict:
    """The nodes' environment: the fake NVML for their samplers, and Ray's token authentication as
    the README says to start a cluster (the token made once, in ~/.ray/auth_token)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    if not (Path.home() / ".ray" / "auth_token").is_file():
        subprocess.run([str(RAY), "get-auth-token", "--generate"], env=env, check=True, capture_output=True, timeout=60)
    return env | {"BENCHHARNESS_FAKE_NVML": "1", "RAY_AUTH_MODE": "token"} | extra
