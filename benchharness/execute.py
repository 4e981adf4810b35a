"""Execute trials: one fresh worker process each, timeout enforced, outcome classified, record stored.

Why a process per trial: TensorFlow keeps GPU memory for the life of the process and recovery after
an OOM is unreliable, so a fresh process makes every trial start from the same state and turns an
OOM into a data point instead of a crash (``benchharness.process`` starts and kills them).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from benchharness import SCHEMA_VERSION
from benchharness.assemble import RunContext, build_record
from benchharness.node import Attempt, EventsReader, NodeSide, worker_spec
from benchharness.plan import Trial
from benchharness.store import RunDir, utc_now
from benchharness.telemetry import Sampler

EventCallback = Callable[[Trial, dict], None]


@dataclass
class Executor:
    """Runs trials of one run directory, one process each, and appends their records."""

    run: RunDir
    runtime: dict
    sampler: "Sampler | None" = None
    on_event: EventCallback = lambda trial, event: None
    python: str | None = None  # the worker's interpreter; None: this one
    warn: Callable[[str], None] = lambda line: None

    def __post_init__(self):
        # The run's current records, read once and kept up to date (a pruned trial's dense peer and
        # a retried trial's earlier attempt are among them).
        self.records: list[dict] = self.run.read_trials().records

    def run_trial(self, trial: Trial):
        """Run one trial to its end, append its record and return it (a ``TrialRecord``). The
        record goes to disk before anything optional (the samples CSV), so a failure there loses no
        trial. Raises KeyboardInterrupt after killing the worker if interrupted; that trial then has
        no record."""
        node = NodeSide(self.runtime, self.sampler, lambda event: self.on_event(trial, event), self.python)
        with tempfile.TemporaryDirectory(prefix="benchharness-") as tmp:
            events = EventsReader(Path(tmp) / "events.jsonl")
            spec = worker_spec(trial, self.runtime, events.path, self.run.tensorboard_dir(trial.trial_id),
                               self.run.cost_cache_dir(), self.wants_environment)
            attempt = node.attempt(trial, spec, events, self.run.new_log_path(trial.trial_id))
        return self.store(trial, attempt, lambda path: _write_samples(attempt.samples, path))

    @property
    def wants_environment(self) -> bool:
        return "tensorflow" not in self.run.info["environment"]

    def store(self, trial: Trial, attempt: Attempt, write_samples: Callable[[Path], None] | None,
              peak: dict | None | bool = True):
        """Build the trial's record from ``attempt``, append it, then keep its samples
        (``write_samples(path)``, optional: a failure is a warning). ``peak``: True for run.json's,
        else the peak to use (None: this trial ran on another device than the one probed)."""
        earlier = [r for r in self.records if r["trial_id"] != trial.trial_id]
        attempt_no = 1 + max((r["attempt"] for r in self.records if r["trial_id"] == trial.trial_id), default=0)
        peak = self.run.info.get("peak") if peak is True else peak
        record = build_record(trial, attempt.worker, attempt.telemetry, RunContext(peak, earlier), attempt_no,
                              attempt.execution, attempt.energy_to_target)
        self.run.append_record(record)
        self.records = earlier + [record.model_dump(mode="json")]
        if write_samples is not None:
            self._keep_samples(write_samples, self.run.samples_path(trial.trial_id))
        environment = (attempt.worker.last("result") or {}).get("environment")
        if environment:
            self.run.update_info(environment=self.run.info["environment"] | {"tensorflow": environment})
        return record

    def _keep_samples(self, write_samples: Callable[[Path], None], path: Path) -> None:
        """The samples CSV, after the record: optional, so a failure (a full disk) is a warning."""
        try:
            write_samples(path)
        except OSError as exc:
            self.warn(f"{path}: the samples could not be written ({exc.strerror}); the trial's record is kept")


def _write_samples(samples, path: Path) -> None:
    from benchharness.telemetry.summary import write_csv

    if samples is not None:
        write_csv(samples, path)


# -- a whole sweep -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResumeOptions:
    """How ``--resume`` treats what it finds: another host's run (refused unless allowed, then the
    device is probed again), and failed or timed-out trials (kept unless ``retry_failed``)."""

    allow_different_host: bool = False
    retry_failed: bool = False


def open_run(loaded, trials: list[Trial], out_dir: Path, resume_dir: Path | None, warn,
             options: ResumeOptions = ResumeOptions()) -> tuple[RunDir, list[Trial]]:
    """Create a new run directory, or reopen one to resume; returns it, locked for this process,
    and the trials still to run.

    ``warn(line)`` receives notices (a torn record set aside). Raises ``UserError`` for a path that
    is not a run directory, one another process is writing, a scenario that changed since the run
    started, or (without ``allow_different_host``) a run started on another host.
    """
    from benchharness.environment import capture_host
    from benchharness.errors import UserError

    planned = [t.trial_id for t in trials]
    if resume_dir is None:
        info = {"scenario": {"source": str(loaded.path), "sha256": loaded.sha256, "resolved": loaded.resolved()},
                "environment": capture_host(), "planned_trials": planned}
        try:
            return RunDir.create(out_dir, loaded.scenario.name, info), list(trials)
        except OSError as exc:
            raise UserError(f"{out_dir}: cannot create a run directory there ({exc.strerror})") from None
    run = RunDir.open(resume_dir)
    run.lock()
    run.reload_info()  # what the previous writer left, read now that it has finished
    _check_resumable(run, loaded)
    _check_same_host(run, capture_host(), options.allow_different_host)
    contents = run.read_trials()
    if contents.torn_tail is not None:
        side = run.set_aside_torn_tail(contents.torn_tail)
        warn(f"{run.trials_path}: last record was cut off mid-write; moved to {side.name}, that trial runs again")
    again = ("failed", "timeout") if options.retry_failed else ()
    done = {r["trial_id"] for r in contents.records if r["status"] not in again}
    # Not complete again until this sweep ends by itself (a retry may be interrupted).
    # A search alone (``maxbatch --resume`` on a run's directory) plans no trials: keep the run's plan.
    run.update_info(planned_trials=planned or run.info.get("planned_trials") or [], complete=False, finished_utc=None)
    return run, [t for t in trials if t.trial_id not in done]


# The oldest schema whose trials a resume may add to. Version 5 added learning-rate params to every
# trial's params (so every trial id changed): a version-4 run cannot be continued with version-5 ids.
RESUMABLE_FROM = 5


def _check_resumable(run: RunDir, loaded) -> None:
    from benchharness.errors import UserError

    if run.stored_schema_version < RESUMABLE_FROM:
        raise UserError(f"{run.path / 'run.json'}:1: schema_version: {run.stored_schema_version} was written by an "
                        f"older benchharness (now {SCHEMA_VERSION}): its trials measured differently and have other "
                        "ids; start a new run instead of resuming (report still reads it)")
    stored = run.info["scenario"]
    if stored["sha256"] != loaded.sha256:
        raise UserError(f"{run.path / 'run.json'}: scenario.sha256: {loaded.path} changed since this run "
                        f"started (was {stored['source']}); start a new run instead of resuming")


def host_identity(environment: dict) -> dict:
    """What makes two runs' figures comparable: the host and its CPU (GPUs: see ``_check_same_gpus``)."""
    return {"host": environment.get("host"), "cpu": (environment.get("cpu") or {}).get("model")}


def _check_same_host(run: RunDir, here: dict, allowed: bool) -> None:
    """Refuse to mix two machines' measurements in one run, unless allowed: then the environment is
    this host's and the device is probed again (MFU must use this device's peak)."""
    from benchharness.errors import UserError

    stored = host_identity(run.info["environment"])
    if stored == host_identity(here):
        return
    if not allowed:
        raise UserError(f"{run.path / 'run.json'}: environment: this run started on {stored['host']} "
                        f"({stored['cpu']}), this is {here.get('host')} ({here['cpu']['model']}); resume it there, "
                        "or pass --allow-different-host (the device is probed again)")
    run.update_info(environment=here, peak=None)


def run_sweep(run: RunDir, runtime: dict, todo: list[Trial], on_event: EventCallback,
              on_record: Callable[[Trial, object], None], warn: Callable[[str], None],
              options: ResumeOptions = ResumeOptions(), ray_options=None, search=None) -> list[dict]:
    """Run ``todo``, appending each record as it finishes; returns every current record. The local
    executor runs the trials one at a time, in order; with ``ray_options`` (a
    ``ray_executor.RayOptions``) they are Ray tasks, as many at once as the cluster has room for.
    ``search(executor)`` (``search.search_hook``, local executor only) runs first: the
    largest-batch search's probes.

    A trial's outcome never stops the sweep. KeyboardInterrupt (or an error) propagates after the
    running trials' workers are killed; finished records are already on disk, and run.json says the
    run is not complete (``finished_utc`` is stamped only when the sweep ends by itself).
    """
    finished = False
    try:
        if ray_options is None:
            _run_locally(run, runtime, todo, on_event, on_record, warn, options, search)
        else:
            _run_on_ray(run, runtime, todo, on_record, warn, ray_options)
        finished = True
    finally:
        records = run.read_trials().records  # what is on disk, however the sweep ended
        planned = set(run.info.get("planned_trials") or [])
        complete = finished and planned <= {r["trial_id"] for r in records}
        run.update_info(recorded=len(records), complete=complete, **({"finished_utc": utc_now()} if finished else {}))
    return records


def _run_locally(run: RunDir, runtime: dict, todo: list[Trial], on_event: EventCallback, on_record,
                 warn, options: ResumeOptions, search=None) -> None:
    from benchharness.probe import probe_device
    from benchharness.telemetry import make_sampler

    run.update_info(executor={"kind": "local", "ray_address": None, "ray_version": None,
                              "concurrency": "one trial at a time, in plan order"})
    # sample_interval_ms: 0 turns sampling off: no sampler, and every record's telemetry is null.
    sampler = make_sampler(runtime["sample_interval_ms"], warn) if runtime["sample_interval_ms"] else None
    gpus = sampler.describe() if sampler is not None else None
    if gpus:
        _check_same_gpus(run, gpus, options.allow_different_host)
        run.update_info(environment=run.info["environment"] | {"gpus": gpus})
    if run.info["environment"].get("ray_probe"):  # the peak is a Ray node's: probe this machine
        run.update_info(peak=None, environment={k: v for k, v in run.info["environment"].items() if k != "ray_probe"})
    if todo or search is not None:
        probe_device(run, runtime, warn)
    executor = Executor(run, runtime, sampler=sampler, on_event=on_event, warn=warn)
    if search is not None:
        search(executor)
    for trial in todo:
        on_record(trial, executor.run_trial(trial))


def _run_on_ray(run: RunDir, runtime: dict, todo: list[Trial], on_record, warn, ray_options) -> None:
    """The trials as Ray tasks (``benchharness.ray_executor``) on the cluster this process has
    joined (``ray_executor.connect``); the driver writes the run directory."""
    from benchharness.ray_executor import RayExecutor, concurrency_rule, import_ray

    ray = import_ray()
    run.update_info(executor={"kind": "ray", "ray_address": ray_options.address, "ray_version": ray.__version__,
                              "concurrency": concurrency_rule(ray.cluster_resources())})
    executor = Executor(run, runtime, warn=warn)
    on_ray = RayExecutor(executor, ray, ray_options, runtime["sample_interval_ms"], on_record, warn)
    if todo:
        on_ray.probe(runtime)
    on_ray.run_all(todo)


def _check_same_gpus(run: RunDir, gpus: list[dict], allowed: bool) -> None:
    from benchharness.errors import UserError

    stored = [g.get("name") for g in run.info["environment"].get("gpus") or []]
    here = [g.get("name") for g in gpus]
    if stored and stored != here and not allowed:
        raise UserError(f"{run.path / 'run.json'}: environment.gpus: this run measured {stored}, this machine has "
                        f"{here}; resume it there, or pass --allow-different-host (the device is probed again)")
    if stored and stored != here:
        run.update_info(peak=None)
