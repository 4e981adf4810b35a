"""The Ray executor: each trial a Ray task on some node of a cluster, the run directory on the driver.

A task runs the very code of the local executor on its node (``node.NodeSide``: the worker as a
fresh subprocess, the sampler in the task) and returns everything the record needs: the worker's
events and exit, the telemetry summary, the samples as CSV text, the log, the TensorBoard files. The
driver alone writes the run directory, so no shared file system is needed, and it appends a trial's
record only when its task's result arrives: a trial is recorded once.

Failures are data. An OOM or a failed trial comes back as an ordinary result, never as an exception,
and is never run again. Ray's own ``max_retries`` is 0: Ray would also retry a task whose worker its
memory monitor killed, which for a benchmark is an out-of-memory result, not a lost node. The driver
resubmits a trial only when its node is gone (``NodeDiedError``, or a crashed worker on a node no
longer alive), at most ``max_node_losses`` times, and counts the starts (``execution.task_attempts``).

Where trials go (``task_options``): on a cluster with GPUs, a trial reserves its replicas' GPUs (one
trial per GPU by default); on a cluster without, all the CPUs of the smallest node (one trial per
host when each host is one node). A curve (every param but ``batch_size``) is pinned to one GPU model
through Ray's ``accelerator_type:<model>`` resource, so the pays-off rule never compares two devices.
"""

from __future__ import annotations

import io
import os
import socket
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from benchharness.errors import UserError
from benchharness.plan import Trial

ACCELERATOR_PREFIX = "accelerator_type:"
LOG_BYTES = 2 * 2**20  # the log that comes back: its tail, enough for any traceback
TENSORBOARD_BYTES = 16 * 2**20  # summaries above this stay on the node (a warning says so)
DEFAULT_MAX_NODE_LOSSES = 3
WAIT_S = 1.0
INSTALL_HINT = "pip install 'benchharness[ray]'"


def import_ray():
    """Ray, or a clear UserError: it is an optional extra."""
    use_token_if_present()  # read by Ray's core when it is imported
    try:
        import ray
    except ImportError:
        raise UserError(f"benchharness: --executor ray needs Ray, an optional extra: {INSTALL_HINT}") from None
    return ray


# -- where a trial may run ------------------------------------------------------------------------


def curve_key(params: dict) -> tuple:
    """What identifies a batch-size curve: every param but the batch size."""
    return tuple(sorted((k, repr(v)) for k, v in params.items() if k != "batch_size"))


def accelerator_types(cluster_resources: dict) -> list[str]:
    """The cluster's GPU models as Ray names them (``accelerator_type:A100`` -> ``A100``), sorted."""
    return sorted(k[len(ACCELERATOR_PREFIX):] for k in cluster_resources if k.startswith(ACCELERATOR_PREFIX))


def pin_curves(trials: list[Trial], cluster_resources: dict) -> dict[tuple, str | None]:
    """Each curve's GPU model: every trial of a curve runs on one model. Curves are dealt to the
    models in turn, weighted by how many GPUs of each the cluster has (a model with two thirds of
    the GPUs gets about two thirds of the curves). None where the cluster has no GPU model to pin
    (no GPUs, or GPUs Ray could not name)."""
    models = accelerator_types(cluster_resources)
    curves = list(dict.fromkeys(curve_key(t.params) for t in trials))
    if not models:
        return {c: None for c in curves}
    weights = {m: float(cluster_resources[ACCELERATOR_PREFIX + m]) for m in models}
    dealt = {m: 0 for m in models}
    pins = {}
    for curve in curves:
        model = min(models, key=lambda m: ((dealt[m] + 1) / weights[m], m))
        dealt[model] += 1
        pins[curve] = model
    return pins


def smallest_node_cpus(nodes: list[dict]) -> float:
    """The CPUs of the smallest alive node (``ray.nodes()``): a CPU trial asks for that many, so it
    has a node to itself."""
    cpus = [n["Resources"].get("CPU", 0) for n in nodes if n.get("Alive")]
    return max(1.0, min(cpus)) if cpus else 1.0


def task_options(params: dict, cluster_resources: dict, nodes: list[dict], model: str | None) -> dict:
    """The Ray resources one trial reserves: its replicas' GPUs (pinned to ``model``) and one CPU on
    a GPU cluster; all the CPUs of the smallest node on a cluster without GPUs."""
    from benchharness.scaling import replicas_of

    if cluster_resources.get("GPU", 0) > 0:
        options = {"num_gpus": replicas_of(params), "num_cpus": 1}
        if model is not None:  # a fraction: any number of trials may share the label
            options["resources"] = {ACCELERATOR_PREFIX + model: 0.001}
        return options
    return {"num_gpus": 0, "num_cpus": smallest_node_cpus(nodes)}


def concurrency_rule(cluster_resources: dict) -> str:
    if cluster_resources.get("GPU", 0) > 0:
        return "one trial per GPU it uses (num_gpus replicas), each curve on one GPU model"
    return "one trial per Ray node (each reserves all the CPUs of the smallest node)"


# -- the node's side --------------------------------------------------------------------------------


@dataclass
class NodeResult:
    """What a task sends back: everything the driver needs to build and store the record."""

    attempt: object  # node.Attempt, with ``samples`` None (they travel as CSV text)
    samples_csv: str | None
    log: bytes
    tensorboard_tar: bytes | None
    node_id: str
    host: str
    gpus: list[dict] | None
    cpu_model: str | None
    warnings: list[str] = field(default_factory=list)


def run_on_node(trial: Trial, runtime: dict, sample_interval_ms: int, describe_environment: bool,
                run_name: str, task_attempts: int) -> NodeResult:
    """A Ray task's body: run the trial's worker on this node and sample it, as the local executor
    does, then pack what the driver stores. Never raises for the trial's outcome (OOM, failure,
    timeout are in the result)."""
    import ray

    from benchharness.node import EventsReader, NodeSide, worker_spec
    from benchharness.telemetry import make_sampler

    warnings: list[str] = []
    sampler = make_sampler(sample_interval_ms, warnings.append) if sample_interval_ms else None
    node_id = ray.get_runtime_context().get_node_id()
    # The FLOPs count is kept per run on each node, as the local executor keeps it in the run directory.
    cost_cache = Path(tempfile.gettempdir()) / f"benchharness-cost-{run_name}"
    with tempfile.TemporaryDirectory(prefix="benchharness-ray-") as tmp:
        tmp = Path(tmp)
        events = EventsReader(tmp / "events.jsonl")
        spec = worker_spec(trial, runtime, events.path, tmp / "tensorboard", cost_cache, describe_environment)
        node = NodeSide(runtime, sampler, executor="ray", node_id=node_id, task_attempts=task_attempts)
        attempt = node.attempt(trial, spec, events, tmp / "worker.log")
        samples_csv = _csv_text(attempt.samples)
        attempt.samples = None
        return NodeResult(attempt, samples_csv, _tail(tmp / "worker.log", LOG_BYTES),
                          _tar_folder(tmp / "tensorboard", warnings), node_id, socket.gethostname(),
                          sampler.describe() if sampler is not None else None, _cpu_model(), warnings)


def probe_on_node(runtime: dict) -> tuple[dict | None, bytes, str, str | None]:
    """A Ray task's body: the device probe (``probe.probe_device``'s worker) on this node; returns
    the peak (None if the probe failed), its log, the node id and the node's CPU model."""
    import json
    import subprocess

    import ray

    from benchharness.probe import PROBE_TIMEOUT_S
    from benchharness.process import kill_group, spawn_worker

    with tempfile.TemporaryDirectory(prefix="benchharness-ray-probe-") as tmp:
        output, log = Path(tmp) / "peak.json", Path(tmp) / "probe.log"
        proc = spawn_worker(log, "--probe")
        try:
            proc.communicate(json.dumps({"runtime": runtime, "output": str(output)}).encode(), timeout=PROBE_TIMEOUT_S)
        except BaseException as exc:
            kill_group(proc)
            if not isinstance(exc, subprocess.TimeoutExpired):
                raise
        peak = json.loads(output.read_text()) if proc.returncode == 0 and output.is_file() else None
        return peak, _tail(log, LOG_BYTES), ray.get_runtime_context().get_node_id(), _cpu_model()


def _csv_text(samples) -> str | None:
    from benchharness.telemetry.summary import write_csv

    if samples is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "samples.csv"
        write_csv(samples, path)
        return path.read_text()


def _tail(path: Path, limit: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - limit))
            return f.read()
    except OSError:
        return b""


def _tar_folder(folder: Path, warnings: list[str]) -> bytes | None:
    if not folder.is_dir():
        return None
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    if size > TENSORBOARD_BYTES:
        warnings.append(f"TensorBoard summaries of {size / 2**20:.0f} MiB were left on the node (limit "
                        f"{TENSORBOARD_BYTES / 2**20:.0f} MiB)")
        return None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=".")
    return buffer.getvalue()


def _cpu_model() -> str | None:
    from benchharness.environment import capture_host

    return (capture_host().get("cpu") or {}).get("model")


# -- the driver's side ------------------------------------------------------------------------------


@dataclass
class RayOptions:
    address: str | None = None  # None: a local Ray instance on this machine
    max_node_losses: int = DEFAULT_MAX_NODE_LOSSES


def connect(ray, options: RayOptions, warn: Callable[[str], None]) -> None:
    """Join the cluster at ``options.address``, or start a local instance sized to this machine
    (its GPUs as the sampler sees them, fake NVML included). Raises UserError if Ray cannot start
    or the address does not answer."""
    kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if options.address:
        check_answers(options.address)
    try:
        if options.address:
            ray.init(address=options.address, **kwargs)
        else:
            ray.init(address="local", num_cpus=os.cpu_count(), **_local_gpus(warn), **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = options.address or "a local instance"
        raise UserError(f"benchharness: --executor ray: cannot start or join Ray at {where}: {exc} (is the cluster "
                        f"up, and started with the same RAY_AUTH_MODE, now {os.environ.get(AUTH_MODE, 'unset')}?)") from None


AUTH_MODE = "RAY_AUTH_MODE"
CONNECT_TIMEOUT_S = 5.0


def check_answers(address: str) -> None:
    """A UserError at once when nothing listens at ``host:port`` (Ray itself retries for minutes).
    Other forms (``auto``, ``ray://...``) are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "/" in address:
        return
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise UserError(f"benchharness: --ray-address {address}: nothing answers there ({exc.strerror or exc}); "
                        "start the cluster with `ray start --head` (see the README's Ray section)") from None


def use_token_if_present() -> None:
    """Ray (2.52 and later) turns token authentication on for a local instance and keeps the token
    in ~/.ray/auth_token; a driver that then joins a cluster with RAY_AUTH_MODE unset is refused.
    Where a token is at hand and the mode is unset, use the token (a local instance would anyway).
    Must run before Ray is imported."""
    if AUTH_MODE in os.environ:
        return
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH") or \
            (Path.home() / ".ray" / "auth_token").is_file():
        os.environ[AUTH_MODE] = "token"


def _local_gpus(warn) -> dict:
    """The local instance's GPUs: as many as NVML (or the fake) shows. Ray labels real GPUs with
    their model (``accelerator_type:H100``) itself; fake ones get the label here, as Ray would."""
    from benchharness.telemetry import make_sampler

    try:
        sampler = make_sampler(1000, lambda line: None)
        gpus = sampler.describe() or []
    except Exception as exc:  # no GPU facts: a CPU instance, said once
        warn(f"could not list this machine's GPUs for Ray ({exc}); trials run on the CPU")
        return {"num_gpus": 0}
    if not gpus or getattr(sampler, "source", None) != "fake-nvml":
        return {"num_gpus": len(gpus)}
    models: dict[str, int] = {}
    for gpu in gpus:
        name = ray_accelerator_name(gpu.get("name") or "unknown")
        models[name] = models.get(name, 0) + 1
    return {"num_gpus": len(gpus), "resources": {ACCELERATOR_PREFIX + m: n for m, n in models.items()}}


def ray_accelerator_name(gpu_name: str) -> str:
    """A GPU's name as a resource label, like Ray's own (``NVIDIA H100 80GB HBM3`` -> ``H100``)."""
    words = [w for w in gpu_name.replace("-", " ").split() if w.upper() not in ("NVIDIA", "TESLA", "GEFORCE")]
    return words[0] if words else "unknown"


@dataclass
class Pending:
    trial: Trial
    options: dict
    task_attempts: int = 1


class RayExecutor:
    """Submits the trials as Ray tasks and stores each result as it arrives (``execute.Executor``
    builds and appends the record). One driver per run directory (the run's lock holds)."""

    def __init__(self, executor, ray, options: RayOptions, sample_interval_ms: int,
                 on_record: Callable[[Trial, object], None], warn: Callable[[str], None]):
        self.executor = executor  # execute.Executor: the run directory's records
        self.ray = ray
        self.options = options
        self.sample_interval_ms = sample_interval_ms
        self.on_record = on_record
        self.warn = warn
        self.node_models: dict[str, str | None] = {}  # node id -> device model (GPU label, or CPU model)
        self._alive_at_start: set[str] = set()
        self._warned: set[tuple[str, str]] = set()
        self._run_remote = ray.remote(max_retries=0)(run_on_node)

    @property
    def run(self):
        return self.executor.run

    def run_all(self, todo: list[Trial]) -> None:
        """Run every trial in ``todo``; returns when each has a record. KeyboardInterrupt cancels
        the tasks still running (their workers die with them) and propagates."""
        resources = self.ray.cluster_resources()
        nodes = self.ray.nodes()
        self._alive_at_start = {n["NodeID"] for n in nodes if n.get("Alive")}
        pins = pin_curves(todo, resources)
        in_flight = {}
        try:
            for trial in todo:
                options = task_options(trial.params, resources, nodes, pins[curve_key(trial.params)])
                in_flight[self._submit(Pending(trial, options))] = Pending(trial, options)
            while in_flight:
                done, _ = self.ray.wait(list(in_flight), num_returns=1, timeout=WAIT_S)
                for ref in done:
                    self._collect(ref, in_flight.pop(ref), in_flight)
        except BaseException:
            for ref in in_flight:
                self.ray.cancel(ref, force=True)
            raise

    def _submit(self, pending: Pending):
        describe = self.executor.wants_environment
        return self._run_remote.options(**pending.options).remote(
            pending.trial, self.executor.runtime, self.sample_interval_ms, describe, self.run.path.name,
            pending.task_attempts)

    def _collect(self, ref, pending: Pending, in_flight: dict) -> None:
        """Store a finished task's trial; resubmit it if its node was lost; record a task that
        failed for another reason as a failed trial."""
        try:
            result: NodeResult = self.ray.get(ref)
        except Exception as exc:
            if self._node_lost(exc) and pending.task_attempts <= self.options.max_node_losses:
                pending.task_attempts += 1
                self.warn(f"trial {pending.trial.trial_id}: its Ray node was lost ({type(exc).__name__}); "
                          f"running it again (start {pending.task_attempts} of at most {self.options.max_node_losses + 1})")
                in_flight[self._submit(pending)] = pending
                return
            self._store_lost(pending, exc)
            return
        self._store(pending.trial, result)

    def _node_lost(self, exc: Exception) -> bool:
        from ray import exceptions

        if isinstance(exc, (exceptions.NodeDiedError, exceptions.ObjectLostError, exceptions.OwnerDiedError)):
            return True
        # A crashed task worker is a lost node only if fewer nodes are alive than when the run began
        # (Ray's memory monitor killing the worker of a trial that ate the host's memory is no loss).
        return isinstance(exc, exceptions.WorkerCrashedError) and self._nodes_lost_since_start()

    def _nodes_lost_since_start(self) -> bool:
        """Whether a node that was alive when the sweep began, or has run a trial since, is dead now
        (a cluster keeps its long-dead nodes in ``ray.nodes()``: those do not count)."""
        known = self._alive_at_start | set(self.node_models)
        return any(not n.get("Alive") and n["NodeID"] in known for n in self.ray.nodes())

    def _store(self, trial: Trial, result: NodeResult) -> None:
        for line in result.warnings:  # once per host: every task of a node says the same
            if (result.host, line) not in self._warned:
                self._warned.add((result.host, line))
                self.warn(f"{result.host}: {line}")
        self._note_node(result)
        log_path = self.run.new_log_path(trial.trial_id)
        log_path.write_bytes(result.log)
        if result.tensorboard_tar:
            _untar(result.tensorboard_tar, self.run.tensorboard_dir(trial.trial_id))
        peak = self.run.info.get("peak") if self._same_device_as_probe(result.node_id) else None
        write = None
        if result.samples_csv is not None:
            from benchharness.atomic import write_text_atomically

            write = lambda path: write_text_atomically(path, result.samples_csv)  # noqa: E731
        record = self.executor.store(trial, result.attempt, write, peak=peak)
        self.on_record(trial, record)

    def _store_lost(self, pending: Pending, exc: Exception) -> None:
        """A task that ended in an exception (its node lost too often, or a bug in the task): the
        trial is recorded as failed, with Ray's reason, so the sweep goes on and --retry-failed can
        run it again."""
        from benchharness.assemble import WorkerRun
        from benchharness.node import Attempt, precise_utc_now

        now = time.monotonic()
        reason = f"Ray task failed after {pending.task_attempts} start(s): {type(exc).__name__}: {str(exc)[:2000]}"
        worker = WorkerRun([], None, False, now, now, reason)
        execution = {"executor": "ray", "host": "unknown", "node_id": None, "started_utc": precise_utc_now(),
                     "finished_utc": precise_utc_now(), "cuda_visible_devices": None,
                     "task_attempts": pending.task_attempts}
        self.run.new_log_path(pending.trial.trial_id).write_text(reason + "\n")
        record = self.executor.store(pending.trial, Attempt(worker, None, None, execution), None, peak=None)
        self.on_record(pending.trial, record)

    def _note_node(self, result: NodeResult) -> None:
        """run.json's ``environment.ray_nodes``: each node that ran a trial, its host and devices."""
        if result.node_id in self.node_models:
            return
        self.node_models[result.node_id] = self._node_model(result.node_id, result.cpu_model)
        nodes = dict(self.run.info["environment"].get("ray_nodes") or {})
        nodes[result.node_id] = {"host": result.host, "gpus": result.gpus, "cpu": result.cpu_model}
        self.run.update_info(environment=self.run.info["environment"] | {"ray_nodes": nodes})

    def _same_device_as_probe(self, node_id: str) -> bool:
        """MFU uses the probed peak only for trials on the device model the probe ran on."""
        probed = (self.run.info["environment"].get("ray_probe") or {}).get("model")
        return probed is not None and self.node_models.get(node_id) == probed

    def probe(self, runtime: dict) -> None:
        """The device probe as a Ray task with a trial's resources (run.json's ``peak``, and the
        device model it holds for, in ``environment.ray_probe``)."""
        if self.run.info.get("peak"):
            return
        resources, nodes = self.ray.cluster_resources(), self.ray.nodes()
        options = task_options({}, resources, nodes, (accelerator_types(resources) or [None])[0])
        try:
            peak, log, node_id, cpu_model = self.ray.get(self.ray.remote(max_retries=0)(probe_on_node).options(**options).remote(runtime))
        except Exception as exc:
            self.warn(f"the device probe failed on Ray ({type(exc).__name__}: {exc}): mfu stays null")
            return
        (self.run.path / "logs" / "probe.log").write_bytes(log)
        if peak is None:
            self.warn(f"the device probe failed (see {self.run.path / 'logs' / 'probe.log'}): mfu stays null")
            return
        model = self._node_model(node_id, cpu_model)
        self.run.update_info(peak=peak, environment=self.run.info["environment"] | {"ray_probe": {"node_id": node_id, "model": model}})

    def _node_model(self, node_id: str, cpu_model: str | None) -> str | None:
        """A node's device model: its GPU model as Ray labels it, else its CPU model."""
        node = next((n for n in self.ray.nodes() if n["NodeID"] == node_id), None)
        labels = accelerator_types((node or {}).get("Resources") or {})
        return labels[0] if labels else cpu_model


def _untar(content: bytes, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as tar:
        tar.extractall(folder, filter="data")
