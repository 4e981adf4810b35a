"""Execute trials: one fresh worker process each, timeout enforced, outcome classified, record stored.

Why a process per trial: TensorFlow keeps GPU memory for the life of the process and recovery after
an OOM is unreliable, so a fresh process makes every trial start from the same state and turns an
OOM into a data point instead of a crash. The worker runs in its own session (process group) so a
timeout or Ctrl-C can kill it with everything it spawned, and so the terminal's Ctrl-C reaches only
the parent, which decides what to keep.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from benchharness.plan import Trial
from benchharness.record import classify, empty_record, summarize_epochs
from benchharness.store import RunDir, utc_now
from benchharness.telemetry import Sampler

POLL_S = 0.2
LOG_TAIL_BYTES = 4096

EventCallback = Callable[[Trial, dict], None]


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

    def last(self, name: str) -> dict | None:
        return next((e for e in reversed(self.events) if e["event"] == name), None)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's whole process group (a hung TensorFlow may ignore gentler signals)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def host_memory_mb() -> float:
    import psutil

    return psutil.virtual_memory().total / 2**20


def read_log_tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


@dataclass
class Executor:
    """Runs trials of one run directory, one process each, and appends their records."""

    run: RunDir
    runtime: dict
    sampler: "Sampler | None" = None
    on_event: EventCallback = lambda trial, event: None
    python: str = sys.executable
    tf_environment: dict | None = field(default=None, init=False)
    peak: dict | None = field(default=None, init=False)  # the device probe of this run (run.json)

    def __post_init__(self):
        self.peak = self.run.run_json().get("peak")

    def run_trial(self, trial: Trial) -> dict:
        """Run one trial to its end and append its record. Raises KeyboardInterrupt after killing the
        worker if interrupted; the interrupted trial then has no record."""
        with tempfile.TemporaryDirectory(prefix="benchharness-") as tmp:
            events = EventsReader(Path(tmp) / "events.jsonl")
            spec = {"trial_id": trial.trial_id, "params": trial.params, "runtime": self.runtime,
                    "events_path": str(events.path),
                    "tensorboard_dir": str(self.run.tensorboard_dir(trial.trial_id)),
                    "cost_cache_dir": str(self.run.cost_cache_dir())}
            started = time.monotonic()
            returncode, timed_out, samples = self._spawn_and_wait(trial, spec, events)
            wall_s = time.monotonic() - started
            events.poll()
        record = self._build_record(trial, events, returncode, timed_out, started, wall_s)
        if samples is not None:
            record["telemetry"] = self._telemetry(trial, samples, record, events.last("result"))
        if record["pruning"] is not None:
            from benchharness.analyze import throughput_vs_dense

            record["pruning"]["throughput_vs_dense"] = throughput_vs_dense(record, self.run.read_trials().records)
        self.run.append_record(record)
        return record

    def _add_utilization_of_peak(self, record: dict) -> None:
        """MFU against this run's probed peak, and the achieved FLOP/s for the roofline."""
        from benchharness.flops import achieved_flops_per_s, mfu

        peak = (self.peak or {}).get("peak_flops_per_s")
        record["mfu"] = mfu(record.get("flops_per_sample"), record.get("throughput_sps"), peak)
        if record.get("cost") is not None:
            record["cost"]["achieved_flops_per_s"] = achieved_flops_per_s(record.get("flops_per_sample"),
                                                                          record.get("throughput_sps"))

    def _telemetry(self, trial: Trial, samples, record: dict, result: dict | None) -> dict:
        from benchharness.telemetry.summary import summarize, total_memory_mb, write_csv

        write_csv(samples, self.run.samples_path(trial.trial_id))
        total = total_memory_mb(samples) if samples.source != "cpu" else host_memory_mb()
        telemetry = summarize(samples, record["epochs"], total)
        telemetry["tf_peak_mb"] = (result or {}).get("tf_peak_mb")
        return telemetry

    def _spawn_and_wait(self, trial: Trial, spec: dict, events: EventsReader):
        """Returns (returncode, timed_out, samples or None)."""
        env = os.environ | {"TF_USE_LEGACY_KERAS": "1", "PYTHONUNBUFFERED": "1"}
        with open(self.run.log_path(trial.trial_id), "ab") as log:
            proc = subprocess.Popen([self.python, "-m", "benchharness.worker"], stdin=subprocess.PIPE,
                                    stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            if self.sampler is not None:
                self.sampler.start(proc.pid, trial.params)
            samples = None
            try:
                proc.stdin.write(json.dumps(spec).encode())
                proc.stdin.close()
                returncode, timed_out = self._wait(trial, proc, events, trial.params["timeout_s"])
            except BaseException:  # Ctrl-C or anything else: never leave a worker behind
                kill_group(proc)
                raise
            finally:
                if self.sampler is not None:
                    samples = self.sampler.stop()
            return returncode, timed_out, samples

    def _wait(self, trial: Trial, proc: subprocess.Popen, events: EventsReader, timeout_s: float):
        deadline = time.monotonic() + timeout_s
        while True:
            for event in events.poll():
                self.on_event(trial, event)
            try:
                return proc.wait(timeout=POLL_S), False
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    kill_group(proc)
                    return proc.returncode, True

    def _build_record(self, trial: Trial, events: EventsReader, returncode: int, timed_out: bool,
                      started: float, wall_s: float) -> dict:
        result = events.last("result")
        log_tail = read_log_tail(self.run.log_path(trial.trial_id))
        status, error = classify(result, returncode, timed_out, log_tail, trial.params["timeout_s"])
        if status == "failed" and result is not None:
            error = f"{error} | log tail: {' | '.join(log_tail.strip().splitlines()[-3:])}"
        record = empty_record(trial.trial_id, trial.repeat, trial.params)
        epochs = epochs_from_events(events.events)
        record.update(status=status, error=error, epochs=epochs, wall_s=wall_s, **summarize_epochs(epochs))
        ready = events.last("ready")
        if ready:
            record["startup_s"] = ready["t_monotonic"] - started
        if result is not None:
            for key in ("device", "eval", "pruning", "sizes", "tflite_accuracy", "dense_pretrain", "cost",
                        "flops_per_sample"):
                record[key] = result.get(key)
            self._add_utilization_of_peak(record)
            self.tf_environment = self.tf_environment or result.get("environment")
        for epoch in record["epochs"]:
            epoch.pop("step_times_ms", None)  # summarized as step_time_ms; too bulky to keep
        return record


def epochs_from_events(events: list[dict]) -> list[dict]:
    """Per-epoch entries with their start and end on the shared monotonic clock."""
    starts = {e["epoch"]: e["t_monotonic"] for e in events if e["event"] == "epoch_start"}
    epochs = []
    for e in events:
        if e["event"] == "epoch_end":
            entry = {k: v for k, v in e.items() if k not in ("event", "t_monotonic")}
            entry["t_start_monotonic"] = starts.get(e["epoch"])
            entry["t_end_monotonic"] = e["t_monotonic"]
            epochs.append(entry)
    return epochs


# -- a whole sweep -------------------------------------------------------------------------------


def open_run(loaded, trials: list[Trial], out_dir: Path, resume_dir: Path | None, warn) -> tuple[RunDir, list[Trial]]:
    """Create a new run directory, or reopen one to resume; returns it and the trials still to run.

    ``warn(line)`` receives notices (a torn record set aside). Raises ``UserError`` for a path that
    is not a run directory or a scenario that changed since the run started.
    """
    from benchharness.environment import capture_host
    from benchharness.errors import UserError

    if resume_dir is None:
        info = {"scenario": {"source": str(loaded.path), "sha256": loaded.sha256, "resolved": loaded.resolved()},
                "environment": capture_host()}
        try:
            return RunDir.create(out_dir, loaded.scenario.name, info), list(trials)
        except OSError as exc:
            raise UserError(f"{out_dir}: cannot create a run directory there ({exc.strerror})") from None
    run = RunDir.open(resume_dir)
    stored = run.run_json().get("scenario", {})
    if stored.get("sha256") != loaded.sha256:
        raise UserError(f"{run.path / 'run.json'}: scenario.sha256: {loaded.path} changed since this run "
                        f"started (was {stored.get('source')}); start a new run instead of resuming")
    contents = run.read_trials()
    if contents.torn_tail is not None:
        side = run.set_aside_torn_tail(contents.torn_tail)
        warn(f"{run.trials_path}: last record was cut off mid-write; moved to {side.name}, that trial runs again")
    done = {r["trial_id"] for r in contents.records}
    return run, [t for t in trials if t.trial_id not in done]


PROBE_TIMEOUT_S = 300


def probe_device(run: RunDir, runtime: dict, warn: Callable[[str], None], python: str = sys.executable) -> None:
    """Measure the device's matmul and memory ceilings once per run, in a worker process of its own
    (so no trial's time or timeout includes it), and store them in run.json as ``peak``. A probe that
    fails leaves ``peak`` null (and every ``mfu`` with it) and says why; the sweep goes on."""
    if run.run_json().get("peak"):
        return
    with tempfile.TemporaryDirectory(prefix="benchharness-probe-") as tmp:
        output = Path(tmp) / "peak.json"
        env = os.environ | {"TF_USE_LEGACY_KERAS": "1"}
        with open(run.path / "logs" / "probe.log", "ab") as log:
            proc = subprocess.Popen([python, "-m", "benchharness.worker", "--probe"], stdin=subprocess.PIPE,
                                    stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                proc.communicate(json.dumps({"runtime": runtime, "output": str(output)}).encode(),
                                 timeout=PROBE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                kill_group(proc)
            except BaseException:
                kill_group(proc)
                raise
        if proc.returncode == 0 and output.is_file():
            run.update_run_json(peak=json.loads(output.read_text()))
        else:
            warn(f"the device probe failed (exit {proc.returncode}; see {run.path / 'logs' / 'probe.log'}): "
                 "mfu stays null")


def _add_to_environment(run: RunDir, **fields) -> None:
    run.update_run_json(environment=run.run_json().get("environment", {}) | fields)


def run_sweep(run: RunDir, runtime: dict, todo: list[Trial], on_event: EventCallback,
              on_record: Callable[[Trial, dict], None], warn: Callable[[str], None]) -> list[dict]:
    """Run ``todo`` in order, appending each record as it finishes; returns every record in the run.

    A trial's outcome never stops the sweep. KeyboardInterrupt propagates after the running trial's
    worker is killed; finished records are already on disk.
    """
    from benchharness.telemetry import make_sampler

    sampler = make_sampler(runtime["sample_interval_ms"], warn)
    gpus = sampler.describe()
    if gpus:
        _add_to_environment(run, gpus=gpus)
    if todo:
        probe_device(run, runtime, warn)
    executor = Executor(run, runtime, sampler=sampler, on_event=on_event)
    has_tf_environment = "tensorflow" in run.run_json().get("environment", {})
    try:
        for trial in todo:
            record = executor.run_trial(trial)
            if executor.tf_environment and not has_tf_environment:
                _add_to_environment(run, tensorflow=executor.tf_environment)  # the first worker's report
                has_tf_environment = True
            on_record(trial, record)
    finally:
        run.update_run_json(finished_utc=utc_now(), complete=len(run.read_trials().records))
    return run.read_trials().records

