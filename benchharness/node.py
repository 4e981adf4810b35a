"""A trial's node side: run its worker on this machine, sample it, wait for it (with the timeout)
and return what happened, for the driver side to store (``benchharness.execute.Executor.store``).

The local executor runs this in the ``benchharness run`` process; the Ray executor runs it inside a
Ray task on the trial's node (``benchharness.ray_executor``), so both measure the same way.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from benchharness.assemble import WorkerRun
from benchharness.plan import Trial
from benchharness.process import cgroup_oom_kills, kill_group, read_log_tail, spawn_worker

POLL_S = 0.2


class EventsReader:
    """Reads the complete lines a worker has appended to its events file so far."""

    def __init__(self, path: Path):
        self.path = path
        self._offset = 0
        self.events: list[dict] = []

    def poll(self) -> list[dict]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1  # only whole lines: the worker may be mid-write
        self._offset += end
        new = [json.loads(line) for line in chunk[:end].splitlines() if line.strip()]
        self.events += new
        return new


def host_memory_mb() -> float:
    import psutil

    return psutil.virtual_memory().total / 2**20


@dataclass
class Attempt:
    """What one run of a trial's worker produced, on the machine that ran it: the worker's events
    and exit, the telemetry summary (None without a sampler), the raw samples, and ``execution``
    (the record's where and when)."""

    worker: WorkerRun
    telemetry: dict | None
    samples: object | None  # telemetry.base.TrialSamples
    execution: dict
    energy_to_target: tuple[float | None, str | None] = (None, None)  # (J, why None): time-to-accuracy trials


@dataclass
class NodeSide:
    """Runs a trial's worker on this machine and samples it: the part of a trial the local executor
    and a Ray task share (``benchharness.ray_executor`` runs it on the trial's node)."""

    runtime: dict
    sampler: object | None = None  # telemetry.Sampler
    on_event: Callable[[dict], None] = lambda event: None
    python: str | None = None  # the worker's interpreter; None: this one
    executor: str = "local"
    node_id: str | None = None
    task_attempts: int | None = None

    def attempt(self, trial: Trial, spec: dict, events: EventsReader, log_path: Path) -> Attempt:
        """Run the worker to its end (``spec`` is written to its stdin). Raises KeyboardInterrupt
        after killing the worker if interrupted."""
        started_utc = precise_utc_now()
        worker, samples = self._spawn_and_wait(trial, spec, events, log_path)
        execution = {"executor": self.executor, "host": socket.gethostname(), "node_id": self.node_id,
                     "started_utc": started_utc, "finished_utc": precise_utc_now(),
                     "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "task_attempts": self.task_attempts}
        telemetry = self._telemetry(samples, worker) if samples is not None else None
        return Attempt(worker, telemetry, samples, execution, energy_to_target(samples, worker))

    def _telemetry(self, samples, worker: WorkerRun) -> dict:
        from benchharness.epochs import epochs_from_events
        from benchharness.telemetry.summary import summarize, total_memory_mb

        on_gpu = samples.source != "cpu"
        total = total_memory_mb(samples) if on_gpu else host_memory_mb()
        # The limit a batch runs into: TensorFlow's cap where set, else the GPU; none on the CPU.
        limit = (self.runtime.get("memory_limit_mb") or total) if on_gpu else None
        summary = summarize(samples, epochs_from_events(worker.events), total, worker.warmup_epochs)
        return summary | {"mem_limit_mb": limit}

    def _spawn_and_wait(self, trial: Trial, spec: dict, events: EventsReader, log_path: Path) -> tuple[WorkerRun, object]:
        """Run the worker to its end; returns how it went and the samples (None without a sampler)."""
        oom_kills = cgroup_oom_kills()
        spawned = time.monotonic()
        proc = spawn_worker(log_path, python=self.python)
        if self.sampler is not None:
            self.sampler.start(proc.pid, trial.params)
        samples = None
        try:
            proc.stdin.write(json.dumps(spec).encode())
            proc.stdin.close()
            timed_out = self._wait(proc, events, trial.params["timeout_s"])
            exited = time.monotonic()
        except BaseException:  # Ctrl-C or anything else: never leave a worker behind
            kill_group(proc)
            raise
        finally:
            if self.sampler is not None:
                samples = self.sampler.stop()
        events.poll()
        after = cgroup_oom_kills()
        oom_killed = None if oom_kills is None or after is None else after > oom_kills
        worker = WorkerRun(events.events, proc.returncode, timed_out, spawned, exited, read_log_tail(log_path), oom_killed)
        return worker, samples

    def _wait(self, proc: subprocess.Popen, events: EventsReader, timeout_s: float) -> bool:
        """Wait for the worker, passing its events on as they come; True if it was killed at the timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            for event in events.poll():
                self.on_event(event)
            try:
                proc.wait(timeout=POLL_S)
                return False
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    kill_group(proc)
                    return True


def energy_to_target(samples, worker: WorkerRun) -> tuple[float | None, str | None]:
    """A time-to-accuracy trial's device energy from its fit start to the end of the evaluation
    that reached the target (J, summed over its GPUs), and why it is None where it is."""
    from benchharness.telemetry.summary import energy_j

    evals = [e for e in worker.events if e["event"] == "tta_eval"]
    result = worker.last("result") or {}
    if not evals or not (result.get("tta") or {}).get("converged"):
        return None, None if not evals else "did not converge"
    if samples is None or samples.source == "cpu":
        return None, "not measured: no GPU energy counter (CPU)" if samples is not None else "not measured: sampling off"
    energy, _, coverage = energy_j(samples.rows, worker.mark("fit_start"), evals[-1]["t_monotonic"])
    if energy is None or coverage is None or coverage < 0.9:
        return None, f"not measured: the energy readings cover {0 if coverage is None else coverage:.0%} of the span"
    return energy, None


def precise_utc_now() -> str:
    """Now, ISO 8601 UTC with microseconds: a trial's span, to tell which trials overlapped."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def worker_spec(trial: Trial, runtime: dict, events_path: Path, tensorboard_dir: Path, cost_cache_dir: Path,
                describe_environment: bool) -> dict:
    """What the worker reads on its stdin (``benchharness.worker.trial``)."""
    from benchharness.stats import CONFIDENCE, t_quantiles

    return {"trial_id": trial.trial_id, "params": trial.params, "runtime": runtime, "repeat": trial.repeat,
            "target": trial.target,
            "events_path": str(events_path), "tensorboard_dir": str(tensorboard_dir),
            "cost_cache_dir": str(cost_cache_dir),
            # TensorFlow's build info is asked of the first worker only.
            "describe_environment": describe_environment,
            # The stop rule's t quantiles: the worker never imports scipy.stats (1.2 s).
            "t_quantiles": t_quantiles(CONFIDENCE, trial.params.get("max_epochs") or 20)}
