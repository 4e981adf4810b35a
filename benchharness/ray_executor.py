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

import functools
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
PROBE_TIMEOUT_S = 600  # the probe's worker has 300 s (probe.PROBE_TIMEOUT_S); this also covers scheduling
WAIT_S = 1.0
INSTALL_HINT = "pip install 'benchharness[ray]'"


def import_ray():
    """Ray, or a clear UserError: it is an optional extra."""
    try:
        import ray
    except ImportError:
        raise UserError(f"benchharness: --executor ray needs Ray, an optional extra: {INSTALL_HINT}") from None
    return ray


# -- where a trial may run ------------------------------------------------------------------------


# Params that may differ within one device pin: a curve's batch sizes and timeouts, and the dense
# and one-replica peers that pruned and multi-replica trials are measured against.
NOT_PINNED = ("batch_size", "timeout_s", "sparsity", "num_gpus")


def curve_key(params: dict) -> tuple:
    """What must run on one GPU model: every param but ``NOT_PINNED`` (so a batch-size curve, and
    a pruned or multi-replica trial with its dense or one-replica peer, never span two devices)."""
    return tuple(sorted((k, repr(v)) for k, v in params.items() if k not in NOT_PINNED))


def accelerator_types(resources: dict) -> list[str]:
    """The GPU models of a node's (or the cluster's) resources as Ray names them
    (``accelerator_type:A100`` -> ``A100``), sorted."""
    return sorted(k[len(ACCELERATOR_PREFIX):] for k in resources if k.startswith(ACCELERATOR_PREFIX))


def gpus_by_model(nodes: list[dict]) -> dict[str, float]:
    """GPUs per model over the live nodes (Ray gives each node ``accelerator_type:X`` = 1, not its
    GPU count, so the count is the nodes' ``GPU``)."""
    counts: dict[str, float] = {}
    for node in (n for n in nodes if n.get("Alive")):
        for model in accelerator_types(node["Resources"]):
            counts[model] = counts.get(model, 0.0) + float(node["Resources"].get("GPU", 0))
    return {m: c for m, c in counts.items() if c > 0}


def pin_curves(trials: list[Trial], nodes: list[dict], already: dict[tuple, str] | None = None) -> dict[tuple, str | None]:
    """Each curve's GPU model: every trial of a curve runs on one model. ``already``: curves pinned
    by records of an earlier invocation (a resumed run keeps them). Other curves are dealt to the
    models in turn, weighted by their GPU counts. None where no live node has a named GPU model."""
    weights = gpus_by_model(nodes)
    curves = list(dict.fromkeys(curve_key(t.params) for t in trials))
    pins = {c: m for c, m in (already or {}).items() if m in weights}
    dealt = {m: sum(1 for v in pins.values() if v == m) for m in weights}
    for curve in (c for c in curves if c not in pins):
        if not weights:
            pins[curve] = None
            continue
        model = min(weights, key=lambda m: ((dealt[m] + 1) / weights[m], m))
        dealt[model] += 1
        pins[curve] = model
    return pins


def smallest_node_cpus(nodes: list[dict]) -> float:
    """The CPUs of the smallest live node that has any (a head started with ``--num-cpus=0`` runs
    no trials): a CPU trial asks for that many, so it has a node to itself."""
    cpus = [n["Resources"].get("CPU", 0) for n in nodes if n.get("Alive") and n["Resources"].get("CPU", 0) > 0]
    return min(cpus) if cpus else 1.0


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


def fits_a_live_node(options: dict, nodes: list[dict]) -> bool:
    """Whether some live node's total resources hold the request: Ray waits for ever otherwise."""
    wanted = {"CPU": options.get("num_cpus", 0), "GPU": options.get("num_gpus", 0), **options.get("resources", {})}
    return any(n.get("Alive") and all(n["Resources"].get(k, 0) >= v for k, v in wanted.items() if v) for n in nodes)


def dependencies(trial: Trial, todo: list[Trial]) -> set[str]:
    """The trials of ``todo`` whose records this trial's record is measured against, so it runs
    after them: a pruned trial's dense peers, a multi-replica trial's one-replica peers."""
    from benchharness.assemble import PRUNING_PEERS
    from benchharness.scaling import replicas_of, scaling_key

    params, deps = trial.params, set()
    if params.get("sparsity"):
        key = tuple(params.get(k) for k in PRUNING_PEERS)
        deps |= {t.trial_id for t in todo if not t.params.get("sparsity")
                 and tuple(t.params.get(k) for k in PRUNING_PEERS) == key}
    if replicas_of(params) > 1:
        deps |= {t.trial_id for t in todo if replicas_of(t.params) == 1 and scaling_key(t.params) == scaling_key(params)}
    return deps - {trial.trial_id}


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


@functools.lru_cache(maxsize=1)  # a Ray worker process runs many tasks on one machine
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
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError, ray.exceptions.AuthenticationError
        where = options.address or "a local instance"
        # Ray 2.52+ turns token authentication on for a local instance (~/.ray/auth_token) and refuses
        # a driver whose RAY_AUTH_MODE differs from the cluster's: say which mode this one had.
        raise UserError(f"benchharness: --executor ray: cannot start or join Ray at {where}: {exc} (is the cluster "
                        f"up, and is RAY_AUTH_MODE the one it was started with? here: "
                        f"{os.environ.get(AUTH_MODE, 'unset')})") from None


AUTH_MODE = "RAY_AUTH_MODE"
CONNECT_TIMEOUT_S = 5.0


def check_answers(address: str) -> None:
    """A UserError at once when nothing listens at ``host:port`` (Ray itself retries for minutes).
    Other forms (``auto``, ``ray://...``) are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "/" in address:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise UserError(f"benchharness: --ray-address {address}: nothing answers there ({exc.strerror or exc}); "
                        "start the cluster with `ray start --head` (see the README's Ray section)") from None


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
    after: set[str] = field(default_factory=set)  # trial ids it waits for (``dependencies``)
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
        """Run every trial in ``todo``; returns when each has a record. A trial waits for its
        dependencies' records; one no live node can hold is recorded failed instead of waiting for
        ever. KeyboardInterrupt cancels the tasks still running (their workers die) and propagates."""
        nodes = self.ray.nodes()
        self._alive_at_start = {n["NodeID"] for n in nodes if n.get("Alive")}
        waiting = self._plan(todo, nodes)
        in_flight: dict = {}
        try:
            while waiting or in_flight:
                self._submit_ready(waiting, in_flight, force=not in_flight)
                if not in_flight:
                    continue
                done, _ = self.ray.wait(list(in_flight), num_returns=1, timeout=WAIT_S)
                for ref in done:
                    self._collect(ref, in_flight.pop(ref), in_flight)
                self._refuse_unschedulable(in_flight)
        except BaseException:
            for ref in in_flight:
                self.ray.cancel(ref, force=True)
            raise

    def _plan(self, todo: list[Trial], nodes: list[dict]) -> list[Pending]:
        resources = self.ray.cluster_resources()
        pins = pin_curves(todo, nodes, self._recorded_pins())
        return [Pending(t, task_options(t.params, resources, nodes, pins[curve_key(t.params)]), dependencies(t, todo))
                for t in todo]

    def _recorded_pins(self) -> dict[tuple, str]:
        """The GPU model each curve's recorded trials ran on (a resumed run keeps its pins)."""
        nodes = self.run.info["environment"].get("ray_nodes") or {}
        pins = {}
        for record in self.executor.records:
            node = nodes.get((record.get("execution") or {}).get("node_id") or "")
            if node and node.get("gpu_model"):
                pins.setdefault(curve_key(record["params"]), node["gpu_model"])
        return pins

    def _submit_ready(self, waiting: list[Pending], in_flight: dict, force: bool = False) -> None:
        """Submit each waiting trial whose dependencies are recorded (with ``force``, when nothing
        runs, the first waiting one anyway: a dependency can never block the sweep); record one
        that no live node can hold as failed."""
        recorded = {r["trial_id"] for r in self.executor.records}
        ready = [p for p in waiting if p.after <= recorded] or (waiting[:1] if force else [])
        nodes = None
        for pending in ready:
            waiting.remove(pending)
            nodes = nodes or self.ray.nodes()
            if fits_a_live_node(pending.options, nodes):
                in_flight[self._submit(pending)] = pending
            else:
                self._store_lost(pending, f"no live Ray node can hold it (it asks for {pending.options})")

    def _refuse_unschedulable(self, in_flight: dict) -> None:
        """A task whose request no live node can hold any more (its pinned GPU model's nodes died)
        would wait for ever: cancel it and record the trial failed."""
        nodes = self.ray.nodes()
        for ref, pending in list(in_flight.items()):
            if not fits_a_live_node(pending.options, nodes):
                self.ray.cancel(ref, force=True)
                del in_flight[ref]
                self._store_lost(pending, f"no live Ray node can hold it any more (it asks for {pending.options})")

    def _submit(self, pending: Pending):
        describe = self.executor.wants_environment
        return self._run_remote.options(**pending.options).remote(
            pending.trial, self.executor.runtime, self.sample_interval_ms, describe, self.run.path.name,
            pending.task_attempts)

    def _collect(self, ref, pending: Pending, in_flight: dict) -> None:
        """Store a finished task's trial; resubmit it if its node was lost; record a task that
        failed for another reason as a failed (or, killed by Ray's memory monitor, oom) trial."""
        try:
            result: NodeResult = self.ray.get(ref)
        except Exception as exc:
            if self._node_lost(exc) and pending.task_attempts <= self.options.max_node_losses:
                pending.task_attempts += 1
                self.warn(f"trial {pending.trial.trial_id}: its Ray node was lost ({type(exc).__name__}); "
                          f"running it again (start {pending.task_attempts} of at most {self.options.max_node_losses + 1})")
                in_flight[self._submit(pending)] = pending
                return
            # Ray's memory monitor's kill is ray.exceptions.OutOfMemoryError: outcome.classify reads
            # that name as an OOM (the node's memory ran out; Ray picked this trial's task).
            self._store_lost(pending, f"{type(exc).__name__}: {str(exc)[:2000]}")
            return
        self._store(pending.trial, result)

    def _node_lost(self, exc: Exception) -> bool:
        from ray import exceptions

        if isinstance(exc, (exceptions.NodeDiedError, exceptions.ObjectLostError, exceptions.OwnerDiedError)):
            return True
        # A crashed task worker is a lost node only if a node of this sweep is dead (Ray's memory
        # monitor killing the worker of a trial that ate the host's memory is no loss).
        return isinstance(exc, exceptions.WorkerCrashedError) and self._nodes_lost_since_start()

    def _nodes_lost_since_start(self) -> bool:
        """Whether a node that was alive when the sweep began, or has run a trial since, is dead now
        (a cluster keeps its long-dead nodes in ``ray.nodes()``: those do not count)."""
        known = self._alive_at_start | set(self.node_models)
        return any(not n.get("Alive") and n["NodeID"] in known for n in self.ray.nodes())

    def _store(self, trial: Trial, result: NodeResult) -> None:
        """The record first; the log, TensorBoard files and run.json's node list after it, each
        optional (a failure is a warning, the record is kept)."""
        for line in result.warnings:  # once per host: every task of a node says the same
            if (result.host, line) not in self._warned:
                self._warned.add((result.host, line))
                self.warn(f"{result.host}: {line}")
        model = self._learn_node(result)
        peak = self.run.info.get("peak") if model is not None and model == self._probed_model() else None
        write = None
        if result.samples_csv is not None:
            from benchharness.atomic import write_text_atomically

            write = lambda path: write_text_atomically(path, result.samples_csv)  # noqa: E731
        log_path = self.run.new_log_path(trial.trial_id)  # this attempt's, named before the record counts it
        record = self.executor.store(trial, result.attempt, write, peak=peak)
        self._optional(f"{log_path}", lambda: log_path.write_bytes(result.log))
        if result.tensorboard_tar:
            folder = self.run.tensorboard_dir(trial.trial_id)
            self._optional(f"{folder}", lambda: _untar(result.tensorboard_tar, folder))
        self._optional("run.json's environment.ray_nodes", lambda: self._note_node(result, model))
        self.on_record(trial, record)

    def _optional(self, what: str, write: Callable[[], object]) -> None:
        try:
            write()
        except (OSError, tarfile.TarError, ValueError) as exc:
            self.warn(f"{what}: could not be written ({exc}); the trial's record is kept")

    def _store_lost(self, pending: Pending, reason: str) -> None:
        """A trial whose task ended without a result (its node lost too often, no node to hold it,
        killed by Ray's memory monitor, a bug in the task): recorded as failed (oom for the memory
        monitor, by ``outcome.classify``), with the reason, so the sweep goes on and
        ``--retry-failed`` can run it again."""
        from benchharness.assemble import WorkerRun
        from benchharness.node import Attempt, precise_utc_now

        now = time.monotonic()
        reason = f"Ray task ended after {pending.task_attempts} start(s) without a result: {reason}"
        worker = WorkerRun([], None, False, now, now, reason)
        execution = {"executor": "ray", "host": "unknown", "node_id": None, "started_utc": precise_utc_now(),
                     "finished_utc": precise_utc_now(), "cuda_visible_devices": None,
                     "task_attempts": pending.task_attempts}
        log_path = self.run.new_log_path(pending.trial.trial_id)
        record = self.executor.store(pending.trial, Attempt(worker, None, None, execution), None, peak=None)
        self._optional(f"{log_path}", lambda: log_path.write_text(reason + "\n"))
        self.on_record(pending.trial, record)

    def _learn_node(self, result: NodeResult) -> str | None:
        if result.node_id not in self.node_models:
            self.node_models[result.node_id] = self._node_model(result.node_id, result.cpu_model)
        return self.node_models[result.node_id]

    def _note_node(self, result: NodeResult, model: str | None) -> None:
        """run.json's ``environment.ray_nodes``: each node that ran a trial, its host and devices."""
        nodes = dict(self.run.info["environment"].get("ray_nodes") or {})
        if result.node_id in nodes:
            return
        gpu_model = model if result.gpus else None
        nodes[result.node_id] = {"host": result.host, "gpus": result.gpus, "cpu": result.cpu_model, "gpu_model": gpu_model}
        self.run.update_info(environment=self.run.info["environment"] | {"ray_nodes": nodes})

    def _probed_model(self) -> str | None:
        return (self.run.info["environment"].get("ray_probe") or {}).get("model")

    def probe(self, runtime: dict) -> None:
        """The device probe as a Ray task with a trial's resources (run.json's ``peak``, and the
        device model it holds for, in ``environment.ray_probe``). A peak probed elsewhere (a local
        run resumed on Ray) is probed again: MFU must use the device the trials run on."""
        if self.run.info.get("peak") and self._probed_model():
            return
        resources, nodes = self.ray.cluster_resources(), self.ray.nodes()
        options = task_options({}, resources, nodes, next(iter(gpus_by_model(nodes)), None))
        if not fits_a_live_node(options, nodes):
            self.warn(f"the device probe cannot run: no live Ray node holds {options}; mfu stays null")
            return
        ref = self.ray.remote(max_retries=0)(probe_on_node).options(**options).remote(runtime)
        try:
            peak, log, node_id, cpu_model = self.ray.get(ref, timeout=PROBE_TIMEOUT_S)
        except Exception as exc:
            self.ray.cancel(ref, force=True)
            self.warn(f"the device probe failed on Ray ({type(exc).__name__}: {exc}): mfu stays null")
            self.run.update_info(peak=None)
            return
        self._optional("logs/probe.log", lambda: (self.run.path / "logs" / "probe.log").write_bytes(log))
        model = self._node_model(node_id, cpu_model) if peak is not None else None
        if peak is None:
            self.warn(f"the device probe failed (see {self.run.path / 'logs' / 'probe.log'}): mfu stays null")
        self.run.update_info(peak=peak, environment=self.run.info["environment"] | {"ray_probe": {"node_id": node_id, "model": model}})

    def _node_model(self, node_id: str, cpu_model: str | None) -> str | None:
        """A node's device model: its GPU model as Ray labels it, else its CPU model."""
        node = next((n for n in self.ray.nodes() if n["NodeID"] == node_id), None)
        labels = accelerator_types((node or {}).get("Resources") or {})
        return labels[0] if labels else cpu_model


def _untar(content: bytes, folder: Path) -> None:
    """Unpack a node's TensorBoard files; members that would land outside ``folder`` (absolute
    paths, ``..``, links) are refused, with tarfile's data filter where this Python has it."""
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(folder, filter="data")
            return
        for member in tar.getmembers():
            if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in Path(member.name).parts:
                raise tarfile.TarError(f"unsafe member {member.name!r}")
        tar.extractall(folder)
