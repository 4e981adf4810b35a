"""The one place a trial record is built: from what the worker reported, how its process ended, and
the samples the parent took. Derived figures (MFU, achieved FLOP/s, ``throughput_vs_dense``, the
fixed-cost phases) are computed here, once; the report reads them from the record.

Pure functions over plain data: tested without TensorFlow or a process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchharness import SCHEMA_VERSION
from benchharness.epochs import epochs_from_events, summarize_epochs, summarize_step_windows
from benchharness.outcome import classify
from benchharness.record import TrialRecord

# What the worker reports and the record keeps as it is.
WORKER_FIELDS = ("device", "eval", "pruning", "sizes", "tflite_accuracy", "dense_pretrain", "cost")

# The worker's phase-end events in order, and the name of the phase each one ends. ``spawn`` and
# ``exit`` are the parent's own marks; ``fit_end`` ends the fit, whose epochs are timed apart.
PHASE_MARKS = (("started", "process_start"), ("imported", "import"), ("built", "build"),
               ("costed", "count_flops"), ("ready", "data"), ("fit_start", "pretrain_and_wrap"),
               ("fit_end", "fit_overhead"), ("summaries_written", "summaries"), ("evaluated", "evaluate"),
               ("result", "export_and_report"), ("exit", "exit"))


@dataclass(frozen=True)
class WorkerRun:
    """How one worker process went: its events, and the parent's view of its start and end.

    ``spawned_monotonic`` and ``exited_monotonic`` are on ``time.monotonic()`` like the events.
    """

    events: list[dict]
    returncode: int | None
    timed_out: bool
    spawned_monotonic: float
    exited_monotonic: float
    log_tail: str = ""
    oom_killed: bool | None = None  # the cgroup's oom_kill count rose while it ran (None: unreadable)

    def last(self, name: str) -> dict | None:
        return next((e for e in reversed(self.events) if e["event"] == name), None)

    @property
    def measurement(self) -> dict:
        """The worker's measurement facts (``warmup_epochs``, ``stop_reason``); empty if it never reported."""
        return (self.last("result") or {}).get("measurement") or {}

    @property
    def warmup_epochs(self) -> int:
        return self.measurement.get("warmup_epochs") or 1

    def mark(self, name: str) -> float | None:
        """When the phase mark ``name`` happened (s, monotonic); None if it never did."""
        if name == "exit":
            return self.exited_monotonic
        event = self.last(name)
        return event["t_monotonic"] if event else None


@dataclass(frozen=True)
class RunContext:
    """What a record needs from the rest of the run: the probed peak (run.json's ``peak``) and the
    records already stored (a pruned trial's dense peer is among them)."""

    peak: dict | None = None
    earlier: list[dict] = field(default_factory=list)


def build_record(trial, worker: WorkerRun, telemetry: dict | None, context: RunContext,
                 attempt: int = 1, execution: dict | None = None,
                 energy_to_target: tuple[float | None, str | None] = (None, None)) -> TrialRecord:
    """The trial's record, validated. ``telemetry`` is ``telemetry.summary.summarize``'s output or None;
    ``execution`` where and when the worker ran (``record.Execution``), None if not known;
    ``energy_to_target`` a time-to-accuracy trial's (J, why None) (``node.energy_to_target``).

    Raises ``pydantic.ValidationError`` if the pieces do not make a valid record (a bug, not bad input).
    """
    result = worker.last("result")
    status, error = classify(result, worker.returncode, worker.timed_out, worker.log_tail, trial.params["timeout_s"],
                             worker.oom_killed)
    epochs = epochs_from_events(worker.events)
    fields = {"schema_version": SCHEMA_VERSION, "trial_id": trial.trial_id, "repeat": trial.repeat, "attempt": attempt,
              "role": getattr(trial, "role", "trial"), "status": status, "error": error, "params": dict(trial.params),
              "tta": _tta(result, status, energy_to_target),
              "epochs": [{k: v for k, v in e.items() if k not in ("step_times_ms", "step_windows")} for e in epochs],
              **summarize_epochs(epochs, worker.warmup_epochs),
              "step_windows": summarize_step_windows(epochs, worker.warmup_epochs),
              "stop_reason": worker.measurement.get("stop_reason"), **{key: (result or {}).get(key) for key in WORKER_FIELDS},
              "telemetry": _with_memory(telemetry, worker), "wall_s": worker.exited_monotonic - worker.spawned_monotonic,
              **fixed_cost(worker, epochs), "execution": execution}
    fields.update(utilization_of_peak(fields, context.peak))
    if fields["pruning"] is not None:
        fields["pruning"] = fields["pruning"] | speed_vs_dense(fields, context.earlier)
    fields.update(distribution(fields, (result or {}).get("distribution"), context.earlier))
    return TrialRecord.model_validate(fields)


def _tta(result: dict | None, status: str, energy: tuple[float | None, str | None]) -> dict | None:
    """The worker's time-to-accuracy figures with the energy the parent measured; None for a trial
    without a target or one that did not finish (its status says why)."""
    tta = (result or {}).get("tta")
    if tta is None or status != "ok":
        return None
    return tta | {"energy_j": energy[0], "energy_note": energy[1]}


def distribution(fields: dict, reported: dict | None, earlier: list[dict]) -> dict:
    """``replicas``, the batches and the all-reduce as the worker reported them (a trial that failed
    before reporting: as its params asked), and ``scaling_efficiency`` against the curve's one-replica
    point when that is already recorded (records are frozen: a later one-replica point does not
    change this record; the report's scaling chart uses every record)."""
    from benchharness.scaling import batches_of, efficiency, one_replica_peer, replicas_of

    if reported is None:
        replicas = replicas_of(fields["params"])
        per_replica, global_batch = batches_of(fields["params"], replicas)
        reported = {"replicas": replicas, "per_replica_batch": per_replica, "global_batch": global_batch,
                    "cross_device_ops": None}
    out = {key: reported.get(key) for key in ("replicas", "per_replica_batch", "global_batch", "cross_device_ops")}
    peer = one_replica_peer(fields, earlier) if fields["status"] == "ok" else None
    one = fields.get("throughput_sps") if out["replicas"] == 1 else (peer or {}).get("throughput_sps")
    out["scaling_efficiency"] = efficiency(fields.get("throughput_sps"), out["replicas"], one)
    return out


def _with_memory(telemetry: dict | None, worker: WorkerRun) -> dict | None:
    """The sampled figures plus the worker's own memory figures, and the primary one labelled."""
    from benchharness.telemetry.summary import primary_memory

    if telemetry is None:
        return None
    imported = worker.last("imported") or {}
    result = worker.last("result") or {}
    return telemetry | primary_memory(telemetry, result.get("tf_peak_mb"), imported.get("rss_mb"),
                                      result.get("fake_memory_mb"))


def fixed_cost(worker: WorkerRun, epochs: list[dict]) -> dict:
    """``startup_s`` (spawn to data ready), ``after_fit_s`` (end of the fit to exit) and ``phases_s``:
    the time outside the timed epochs by phase, in seconds; the phases add up to ``wall_s`` minus
    the epochs' seconds. A phase whose end mark is missing (a failed or timed-out trial) is folded
    into the next one present, and the epochs' seconds come off whichever phase spans them."""
    phases, previous = {}, worker.spawned_monotonic
    epochs_end = epochs[-1]["t_end_monotonic"] if epochs else None
    timed = sum(e["seconds"] for e in epochs)
    for mark, phase in PHASE_MARKS:
        at = worker.mark(mark)
        if at is None:
            continue
        phases[phase] = at - previous
        if timed and epochs_end is not None and epochs_end <= at:
            phases[phase] -= timed  # this phase holds the timed epochs
            timed = 0.0
        previous = at
    ready, fit_end = worker.mark("ready"), worker.mark("fit_end")
    return {"startup_s": None if ready is None else ready - worker.spawned_monotonic,
            "after_fit_s": None if fit_end is None else worker.exited_monotonic - fit_end,
            "phases_s": phases or None}


def utilization_of_peak(fields: dict, peak: dict | None) -> dict:
    """``flops_per_sample``, ``mfu`` against the run's probed peak, and the cost's achieved FLOP/s and
    training-step arithmetic intensity at the trial's batch size and optimizer."""
    from benchharness.cost import achieved_flops_per_s, mfu, step_intensity_of

    cost = fields.get("cost")
    flops = (cost or {}).get("flops_per_sample")
    out = {"flops_per_sample": flops,
           "mfu": mfu(flops, fields.get("throughput_sps"), (peak or {}).get("peak_flops_per_s"))}
    if cost is not None:
        # A cost reported without the weight/activation split was not counted that way: null, never a guess.
        cost = {"weight_bytes": None, "activation_bytes_per_sample": None} | cost
        out["cost"] = cost | {"achieved_flops_per_s": achieved_flops_per_s(flops, fields.get("throughput_sps")),
                              "step_arithmetic_intensity": step_intensity_of(cost, fields["params"])}
    return out


# What must match for two trials to be compared as "the same training, dense vs pruned". Not
# ``epochs``: a pruning trial always runs fixed epochs while its dense peer may measure with
# ``epochs: auto``, and both figures are per steady window.
PRUNING_PEERS = ("model", "dataset", "batch_size", "samples_per_epoch")


def dense_peer(record: dict, records: list[dict]) -> dict | None:
    """The ok dense trial (sparsity 0) with the same ``PRUNING_PEERS`` params, same repeat if any."""
    key = tuple(record["params"].get(k) for k in PRUNING_PEERS)
    peers = [r for r in records if r["status"] == "ok" and not r["params"].get("sparsity")
             and tuple(r["params"].get(k) for k in PRUNING_PEERS) == key]
    same_repeat = [r for r in peers if r["repeat"] == record["repeat"]]
    return (same_repeat or peers or [None])[0]


def speed_vs_dense(record: dict, records: list[dict]) -> dict:
    """A pruned trial's ``pruning.throughput_vs_dense`` with ``throughput_vs_dense_ci`` and
    ``throughput_vs_dense_windows``: over the windows of the trial and its dense peer where each has 2
    or more (``pruning.speed.ratio_over_windows``), else the bare ratio (`throughput_vs_dense`) and
    null interval and counts."""
    from benchharness.pruning.speed import ratio_over_windows, window_figures

    bare = {"throughput_vs_dense": throughput_vs_dense(record, records), "throughput_vs_dense_ci": None,
            "throughput_vs_dense_windows": None}
    if bare["throughput_vs_dense"] is None:
        return bare
    return ratio_over_windows(window_figures(record), window_figures(dense_peer(record, records))) or bare


def throughput_vs_dense(record: dict, records: list[dict]) -> float | None:
    """A pruned trial's steady throughput divided by its dense peer's (1.0 = no cost), the bare ratio
    of their ``throughput_sps`` (version 1's upgrade, and where a side has under 2 windows); None if
    either is missing. Unstructured pruning keeps dense kernels, so expect about 1.0 or below."""
    if not record["params"].get("sparsity") or record.get("throughput_sps") is None:
        return None
    peer = dense_peer(record, records)
    if peer is None or not peer.get("throughput_sps"):
        return None
    return record["throughput_sps"] / peer["throughput_sps"]
