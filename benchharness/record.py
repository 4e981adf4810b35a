"""The trial record and run.json as code: frozen pydantic models, one per nested part.

This module is the definition; ``docs/schema/*.json`` is its published form (``benchharness
schema``), and a test fails when they drift. Every record has every field: a figure that was not
measured, or does not apply, is ``null``, never a made-up number. Units are in the names (``_s``
seconds, ``_ms`` milliseconds, ``_mb`` MiB, ``_sps`` samples per second, ``_j`` joules, ``_w``
watts, ``_pct`` percent, ``_bytes``) or in the field's description.

The parent builds a record once (``benchharness.assemble``); nothing changes it afterwards.
Version history (``store`` upgrades older run directories when it reads them):

- 1: the first published layout (README only).
- 2: this module; adds ``after_fit_s``, ``phases_s``, ``device.count``, the measurement windows
  (``warmup_epochs``, ``steady_windows``, ``windows_sps``, ``throughput_ci_sps``, ``throughput_cv``,
  ``stop_reason``, ``no_steady_state``) and stores ``pruning.throughput_vs_dense`` (version 1
  computed it in the report).
- 3: telemetry from the trial's own GPUs only, time-weighted, with coverage and ``withheld`` reasons;
  per-GPU ``devices``, ``throttle``, the labelled primary memory figure (``mem_primary_mb``,
  ``mem_primary_source``, ``mem_limit_mb``), other GPU processes by name; cost's training-step
  intensity; the record's ``attempt``; run.json's ``planned_trials``, ``recorded`` and a boolean
  ``complete`` (version 2's ``complete`` was the record count, now ``recorded``); multi-replica
  trials: ``replicas``, ``per_replica_batch``, ``global_batch``, ``cross_device_ops``,
  ``scaling_efficiency`` (upgraded records: one replica, both batches the batch size).
- 4: where and when each trial ran (``execution``: executor, host, Ray node, start and end), so
  trials that shared a host can be told apart; run.json's ``executor`` (local or Ray, and the
  concurrency rule). Upgraded records and runs: ``null`` (version 3 ran one trial at a time, locally).
- 5: a record's ``role`` (``trial``, or ``probe``: a short trial of the largest-batch search) and
  ``tta`` (time to accuracy, for trials with a scenario ``target``); ``stop_reason: target``; the
  memory source ``fake_memory_model``; run.json's ``max_batch`` (the search's answer per curve).
  Upgraded records: role ``trial``, ``tta`` null; upgraded runs: ``max_batch`` null.
- 6: ``step_windows`` (windows of steps inside fixed epochs, with their interval) and
  ``pruning.throughput_vs_dense_ci`` / ``throughput_vs_dense_windows`` (the ratio over windows,
  with its interval). Upgraded records: all null (the old bare ratio kept).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from benchharness import SCHEMA_VERSION

Status = Literal["ok", "oom", "failed", "timeout"]


class Part(BaseModel):
    """Every part of a record: immutable, no unknown keys, no field left out."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Device(Part):
    kind: Literal["gpu", "cpu"]
    name: str
    count: int | None = Field(description="GPUs visible to TensorFlow; null on the CPU")


class Epoch(Part):
    epoch: int = Field(ge=0, description="0-based; epoch 0 is the warm-up")
    seconds: float = Field(description="wall time from the previous epoch's end (epoch 0: its start) to "
                                       "this epoch's end (perf_counter), s")
    samples: int = Field(description="training samples in the epoch")
    steps: int = Field(description="batches in the epoch")
    loss: float | None
    accuracy: float | None
    t_start_monotonic: float | None = Field(description="epoch start on time.monotonic(), s (aligns telemetry)")
    t_end_monotonic: float | None = Field(description="epoch end on time.monotonic(), s")


class StepTimes(Part):
    p50: float | None = Field(description="median step time over the steady epochs, ms")
    p90: float | None = Field(description="90th percentile step time over the steady epochs, ms")


WITHHELD = ("figure name -> why it is null although samples exist: the window is shorter than twice the "
            "device's averaging period, or the samples cover under 90 % of it")


class EpochTelemetry(Part):
    epoch: int
    util_mean_pct: float | None = Field(description="time-weighted mean over the epoch")
    util_p90_pct: float | None = Field(description="time-weighted 90th percentile over the epoch")
    mem_peak_mb: float | None
    power_mean_w: float | None = Field(description="time-weighted mean over the epoch")
    energy_j: float | None
    coverage: float | None = Field(description="share of the epoch the utilization readings speak for (0-1)")
    withheld: dict[str, str] = Field(description=WITHHELD)
    host_other_cpu_pct: float | None = Field(description="CPU used outside the trial's process tree, % of all cores")


class GpuTelemetry(Part):
    """One of the trial's GPUs over the steady epochs."""

    index: int | None = Field(description="NVML's index (not CUDA's: CUDA numbers by PCI bus id here); null for MIG")
    pci_bus_id: str | None
    uuid: str | None
    util_mean_pct: float | None
    util_p90_pct: float | None
    power_mean_w: float | None
    energy_j: float | None
    coverage: float | None
    withheld: dict[str, str] = Field(description=WITHHELD)
    proc_mem_peak_mb: float | None = Field(description="the trial's own memory on this GPU as NVML lists it (whole trial)")
    other_processes: list[str] | None = Field(description="'PID (name)' of other compute processes seen on this GPU "
                                                          "during the steady epochs; null where the list was unreadable")


class Throttle(Part):
    """Clock-event reasons (NVML) over the steady epochs."""

    reasons: list[str] = Field(description="every reason seen, NVML's names in snake case (e.g. sw_power_cap)")
    thermal: bool = Field(description="a thermal slowdown (software or hardware) was seen")
    power: bool = Field(description="a power cap or power-brake slowdown was seen")
    hardware: bool = Field(description="a hardware slowdown (clocks halved or more: heat, power brake or draw) was seen")
    throttled_share: float | None = Field(description="share of the covered steady time (all the trial's GPUs) with "
                                                      "thermal, power or hardware-slowdown reasons")
    throttled_epochs: list[int] = Field(description="steady epochs (windows) in which such reasons were seen")
    sm_clock_mean_mhz: float | None
    sm_clock_min_mhz: float | None
    temp_max_c: float | None


MemorySource = Literal["tf_allocator_peak", "process_nvml", "device_used", "rss_growth", "fake_memory_model"]


class Telemetry(Part):
    source: Literal["nvml", "fake-nvml", "cpu"]
    util_metric: str = Field(description="what util_*_pct measures, in words (e.g. GPU kernel-busy %)")
    util_mean_pct: float | None = Field(description="time-weighted mean over the steady epochs, the trial's GPUs only")
    util_p90_pct: float | None = Field(description="time-weighted 90th percentile over the steady epochs")
    mem_peak_mb: float | None = Field(description="peak over the whole trial (device memory used, or RSS on CPU)")
    power_mean_w: float | None = Field(description="time-weighted mean over the steady epochs, per GPU")
    energy_j: float | None = Field(description="over the steady epochs, summed over the trial's GPUs")
    coverage: float | None = Field(description="share of the steady epochs the utilization readings speak for (0-1), "
                                               "least-covered GPU")
    energy_coverage: float | None = Field(description="share of the steady epochs between the first and last energy "
                                                      "reading (0-1), least-covered GPU")
    withheld: dict[str, str] = Field(description=WITHHELD)
    averaging_period_s: float | None = Field(description="the period one reading averages over: NVML's (from its "
                                                         "sample times, else 1 s), or the sampling interval on the CPU")
    mem_total_mb: float | None
    mem_primary_mb: float | None = Field(description="how much memory the trial needed, from the best source "
                                                     "(mem_primary_source)")
    mem_primary_source: MemorySource | None = Field(
        description="tf_allocator_peak: TensorFlow's allocator peak over the timed epochs (largest of the trial's "
                    "GPUs); process_nvml: the trial's own memory as NVML lists it; device_used: the GPU's used "
                    "memory, everything on it included; rss_growth: CPU, the trial's peak RSS minus its RSS after "
                    "importing TensorFlow; fake_memory_model: the fake NVML profile's memory model for the trial's "
                    "batch (CI: no real device)")
    mem_limit_mb: float | None = Field(description="the memory a batch must fit in: runtime.memory_limit_mb, else "
                                                   "the GPU's total; null on the CPU (host RAM is no such limit)")
    energy_method: str | None = Field(description="'energy counter' or 'power integral'")
    samples_per_joule: float | None
    sample_count: int
    steady_sample_count: int
    gaps: dict[str, int] = Field(description="failed readings per metric")
    lost: list[str] = Field(description="what the sampler lost, in words")
    devices: list[GpuTelemetry] | None = Field(description="each of the trial's GPUs apart; null on the CPU")
    throttle: Throttle | None = Field(description="null on the CPU or where NVML gave no clock-event reasons")
    per_epoch: list[EpochTelemetry]
    tf_peak_mb: float | None = Field(description="TensorFlow's allocator peak over the timed epochs, largest of the "
                                                 "trial's GPUs; null on the CPU")
    host_other_cpu_pct: float | None = Field(
        description="time-weighted mean CPU used on the host outside the trial's process tree and the harness, "
                    "% of all cores, over the steady epochs")
    host_other_cpu_p90_pct: float | None
    gpu_other_processes_max: int | None = Field(
        description="most other compute processes seen on one of the trial's GPUs at once (NVML); null on the CPU")
    gpu_other_processes: list[str] | None = Field(
        description="'PID (name)' of every other compute process seen on the trial's GPUs in the steady epochs")
    busy: bool | None = Field(description="measured on a busy machine (see busy_reason); null if it could not be told")
    busy_reason: str | None


class Eval(Part):
    accuracy: float | None
    loss: float | None
    samples: int


class PruningSchedule(Part):
    kind: Literal["polynomial", "constant"]
    initial_sparsity: float
    final_sparsity: float
    begin_step: int
    end_step: int
    frequency: int


class Pruning(Part):
    target: float = Field(description="the scenario's sparsity")
    measured: float | None = Field(description="fraction of exact zeros in the pruned weights")
    per_layer: dict[str, float | None]
    pruned_weights: int
    schedule: PruningSchedule
    wrapped_layers: list[str]
    throughput_vs_dense: float | None = Field(
        description="steady throughput / the dense peer's (same model, data, batch; same repeat if any): with 2 or "
                    "more window figures a side (throughput_vs_dense_windows), the ratio of the windows' geometric "
                    "means; else the ratio of the two throughput_sps")
    throughput_vs_dense_ci: Annotated[list[float], Field(min_length=2, max_length=2)] | None = Field(
        description="[low, high] 95 % Welch t interval of throughput_vs_dense on the windows' log figures "
                    "(stats.ratio_of_trials; a window's figure: step_windows.sps, else windows_sps); narrower than "
                    "the truth (the windows of one process are autocorrelated, and a process's own level is not "
                    "in it); null with fewer than 2 window figures on a side, and in records before version 6")
    throughput_vs_dense_windows: Annotated[list[int], Field(min_length=2, max_length=2)] | None = Field(
        description="[pruned, dense]: the window figures the interval rests on; null without an interval")


class StepWindows(Part):
    """Windows of consecutive steps inside the steady epochs of a fixed-epochs trial, each timed from
    one device sync to the next (docs/design.md, "Windows of steps inside fixed epochs")."""

    steps_per_window: int = Field(description="steps in each window: enough to last 0.25 s at the warm-up's step "
                                              "time, capped so that a steady epoch holds at least 8 windows, at "
                                              "least 2, a multiple of steps_per_execution")
    sps: list[float] = Field(description="each window's throughput (its steps x global batch / its seconds), "
                                         "samples/s, in order")
    median_sps: float = Field(description="median of sps, samples/s")
    ci_sps: Annotated[list[float], Field(min_length=2, max_length=2)] | None = Field(
        description="[low, high] 95 % Student t interval of the median over the windows (stats.throughput_interval), "
                    "samples/s; the windows are of one process and autocorrelated, so it is narrower than the truth")
    cv: float | None = Field(description="coefficient of variation of sps")
    n: int = Field(description="windows (2 or more)")


class Sizes(Part):
    keras_bytes: int
    keras_zip_bytes: int
    tflite_bytes: int
    tflite_zip_bytes: int
    tflite_quant_bytes: int
    tflite_quant_zip_bytes: int


class TfliteAccuracy(Part):
    float: float | None
    quant: float | None
    samples: int


class Cost(Part):
    flops_per_sample: float | None = Field(description="forward FLOPs of one sample (profiler)")
    macs_per_sample: float | None
    conv_dense_macs_per_sample: float | None = Field(description="the papers' count: Conv/Dense MACs only")
    mac_bytes_per_sample: float = Field(
        description="memory access cost of one sample (ShuffleNetV2's MAC): every layer's weights plus its input "
                    "and output activations at the compute dtype, bytes")
    weight_bytes: float | None = Field(
        description="all the model's weights (trainable and not) at the compute dtype, bytes: the part of "
                    "mac_bytes_per_sample that does not grow with the batch; null in records written before "
                    "it was counted")
    activation_bytes_per_sample: float | None = Field(
        description="every layer's input and output activations of one sample at the compute dtype, bytes: "
                    "mac_bytes_per_sample minus weight_bytes; null in records written before it was counted")
    arithmetic_intensity: float | None = Field(
        description="forward FLOPs of one sample (batch 1) per byte of mac_bytes_per_sample: the same at every "
                    "batch size (the roofline uses step_arithmetic_intensity)")
    step_arithmetic_intensity: float | None = Field(
        description="FLOPs per byte moved by one training step at the trial's batch size b and optimizer (s slots): "
                    "3 F b / ((6 + 2 s) weight_bytes + 3 activation_bytes_per_sample b), F = flops_per_sample "
                    "(benchharness.cost.training_step_intensity); null without the weight/activation split")
    flops_saved_by_sparsity: float | None = Field(description="per sample, with a sparse kernel (not what ran)")
    achieved_flops_per_s: float | None = Field(description="3 x forward FLOPs x steady throughput")


class DensePretrain(Part):
    epochs: int
    seconds: float
    accuracy: float | None


class Execution(Part):
    """Where and when the trial's worker ran: trials whose spans overlap on one host shared its CPU,
    PCIe and memory (the report says so)."""

    executor: Literal["local", "ray"]
    host: str = Field(description="hostname of the machine the worker ran on")
    node_id: str | None = Field(description="the Ray node (several may share a host); null for the local executor")
    started_utc: str = Field(description="the worker's spawn, ISO 8601 UTC with microseconds (the host's clock)")
    finished_utc: str = Field(description="the worker's exit, ISO 8601 UTC with microseconds (the host's clock)")
    cuda_visible_devices: str | None = Field(description="CUDA_VISIBLE_DEVICES given to the worker; null if unset")
    task_attempts: int | None = Field(description="Ray: times the task started (above 1 after a lost node); "
                                                  "null for the local executor")


class TtaEval(Part):
    """One evaluation of the test split on the schedule (every ``eval_every_samples`` training samples)."""

    samples: int = Field(description="training samples seen when it ran (the first whole step at or after k x "
                                     "eval_every_samples)")
    steps: int
    train_s: float = Field(description="training time until then, evaluation excluded, s")
    wall_s: float = Field(description="time since the fit started, evaluation included, s")
    eval_s: float = Field(description="this evaluation's own time, s")
    value: float = Field(description="the target metric on the test split")


class LrPolicy(Part):
    """The learning rate the trial trained with, per batch size (scenario lr_scaling)."""

    scaling: Literal["none", "linear", "sqrt"]
    base_learning_rate: float = Field(description="params.learning_rate: the rate at lr_base_batch")
    base_batch: int = Field(description="params.lr_base_batch")
    learning_rate: float = Field(description="after scaling: base x (batch / base_batch) (linear), x sqrt(...) (sqrt)")
    warmup_epochs: float = Field(description="epochs of linear ramp from the base rate to the scaled one (Goyal et "
                                             "al. 2017); 0: none")
    warmup_steps: int


class Tta(Part):
    """Time to accuracy: training until the test metric reaches the target, or max_epochs."""

    metric: Literal["accuracy", "loss"]
    target: float = Field(description="accuracy: reached at or above; loss: at or below")
    eval_every_samples: int
    converged: bool
    time_to_target_s: float | None = Field(description="training time until the evaluation that reached the target, "
                                                       "evaluation excluded (first-step tracing included), s; null "
                                                       "when it did not converge")
    wall_to_target_s: float | None = Field(description="fit start to the end of that evaluation, evaluations "
                                                       "included, s; null when it did not converge")
    epochs: float = Field(description="passes over the training split until the target (or the end): samples / "
                                      "train_samples")
    steps: int
    samples: int
    train_samples: int = Field(description="size of the training split")
    trained_s: float = Field(description="training time of the whole trial, evaluation excluded, s")
    throughput_sps: float | None = Field(description="median over the evaluation periods after the first (which "
                                                     "holds tracing) of samples / training time; null with fewer "
                                                     "than two periods")
    energy_j: float | None = Field(description="device energy from the fit start to the end of the evaluation that "
                                               "reached the target (evaluations included), summed over the trial's "
                                               "GPUs; null where not converged or not measured (energy_note)")
    energy_note: str | None
    seed: int = Field(description="the seed this trial trained with: params.seed + repeat")
    lr_policy: LrPolicy
    evals: list[TtaEval]


class TrialRecord(Part):
    """One trial, as appended to trials.jsonl."""

    schema_version: Literal[SCHEMA_VERSION]
    trial_id: str
    repeat: int = Field(ge=0)
    attempt: int = Field(ge=1, description="1, or more when --retry-failed ran the trial again; a reader keeps the "
                                           "highest attempt of a trial_id (the others are superseded)")
    role: Literal["trial", "probe"] = Field(
        description="trial: a planned trial of the sweep; probe: a short trial of the largest-batch search (a "
                    "warm-up and one window of max_batch.probe_steps steps; run.json's max_batch)")
    status: Status
    error: str | None
    params: dict[str, Any] = Field(description="every resolved scenario parameter except repeats")
    device: Device | None
    epochs: list[Epoch]
    first_epoch_s: float | None = Field(description="the first warm-up epoch, reported apart")
    warmup_epochs: int | None = Field(description="epochs treated as warm-up (1, or more while step times settled)")
    steady_windows: int | None = Field(description="steady epochs measured: each one is a measurement window")
    windows_sps: list[float] | None = Field(description="throughput of each steady window, samples/s")
    epoch_time_s: float | None = Field(description="median of the steady epochs")
    throughput_sps: float | None = Field(description="median of the windows' throughputs, samples/s")
    throughput_ci_sps: Annotated[list[float], Field(min_length=2, max_length=2)] | None = Field(
        description="[low, high] 95 % Student t interval of steady throughput over the windows, samples/s; "
                    "narrower than the truth (one process's windows are autocorrelated); null below 2 windows")
    throughput_cv: float | None = Field(description="coefficient of variation of the windows' throughputs")
    stop_reason: Literal["precision", "max_epochs", "time_budget", "fixed_epochs", "target"] | None = Field(
        description="why measuring stopped: the interval was within precision, a limit, fixed epochs, or the "
                    "test metric reached the scenario's target")
    no_steady_state: bool | None = Field(
        description="the windows trend (level shift or drift, tested); null with too few windows to test")
    step_windows: StepWindows | None = Field(
        description="windows of steps inside the steady epochs (fixed epochs only); the epoch-based figures above "
                    "are unchanged. Null with epochs: auto or samples_per_epoch: auto (the epochs are the windows), "
                    "for time-to-accuracy trials, with fewer than 2 windows, and before version 6")
    replicas: int = Field(ge=1, description="model replicas the trial trained on (params.num_gpus with "
                                            "runtime.distribute: mirrored, else 1)")
    per_replica_batch: int | None = Field(description="samples each replica processes per step")
    global_batch: int | None = Field(description="samples per training step over all replicas; throughput_sps "
                                                 "counts these")
    cross_device_ops: Literal["nccl", "hierarchical_copy", "one_device"] | None = Field(
        description="the gradient all-reduce that ran (NCCL or the hierarchical copy are GPU-only: one_device on "
                    "CPU devices, hierarchical_copy where NCCL failed); null without a distribution strategy")
    scaling_efficiency: float | None = Field(
        description="E(N) = throughput_sps / (replicas x the one-replica throughput of the same curve: same params "
                    "but num_gpus, same repeat if any), 1.0 = perfect scaling; null where that point was not recorded "
                    "earlier in the run (the report computes E(N) over every record)")
    step_time_ms: StepTimes | None
    telemetry: Telemetry | None
    eval: Eval | None
    pruning: Pruning | None
    sizes: Sizes | None
    tflite_accuracy: TfliteAccuracy | None
    flops_per_sample: float | None
    mfu: float | None = Field(description="model FLOPs utilization against run.json's peak")
    cost: Cost | None
    dense_pretrain: DensePretrain | None
    startup_s: float | None = Field(description="spawn of the worker to its data being ready")
    after_fit_s: float | None = Field(description="end of the last timed epoch to the worker's exit")
    phases_s: dict[str, float] | None = Field(
        description="where the time outside the timed epochs went, by phase (see docs/design.md)")
    wall_s: float | None = Field(description="spawn to exit of the worker")
    execution: Execution | None = Field(description="where and when the worker ran; null in records written "
                                                    "before version 4")
    tta: Tta | None = Field(description="time to accuracy (scenario target); null for other trials")


class ScenarioInfo(Part):
    source: str
    sha256: str
    resolved: dict[str, Any] = Field(description="the validated scenario, every default filled in")


class Peak(Part):
    """The device probe's ceilings (``benchharness.probe``)."""

    device: str = Field(description="the TensorFlow device probed, e.g. /GPU:0")
    dtype: str = Field(description="the matmul's dtype")
    matmul_n: int = Field(description="side of the square matmul")
    tf32: bool | None = Field(description="float32 matmuls ran as TF32; null on the CPU or for other dtypes")
    peak_flops_per_s: float
    memory_bandwidth_bytes_per_s: float = Field(description="read + write bytes per second of a device copy")
    method: str


class ExecutorInfo(Part):
    """How the run's trials were spread: the executor and its concurrency rule."""

    kind: Literal["local", "ray"]
    ray_address: str | None = Field(description="the cluster joined; null: a local Ray instance or no Ray")
    ray_version: str | None
    concurrency: str = Field(description="how many trials may run at once, in words (e.g. one per GPU)")


class MaxBatchFit(Part):
    intercept_mb: float
    mb_per_sample: float
    residual_mb: float | None = Field(description="residual standard deviation of the fit; null with two points")
    points: int = Field(description="fitting batches the line rests on")


class MaxBatch(Part):
    """The largest batch that fits, for one curve (``benchharness.maxbatch``)."""

    curve: dict[str, Any] = Field(description="the curve's parameters (a trial's params without batch_size)")
    limit_mb: float | None = Field(description="the memory a batch must fit in (runtime.memory_limit_mb, else the "
                                               "device's total)")
    headroom_mb: float | None
    step: int = Field(description="batch granularity: every probed batch is a multiple of it")
    start: int
    predicted: int | None = Field(description="where the least-squares line of memory against batch over every "
                                              "fitting probe reaches the limit, on the grid")
    predicted_interval: Annotated[list[int], Field(min_length=2, max_length=2)] | None = Field(
        description="[low, high]: where the line's 95 % prediction band reaches the limit; null below three fitting "
                    "probes")
    seed_predicted: int | None = Field(description="the prediction from the first two fitting probes alone, made "
                                                   "before any probe near the limit")
    verified: int | None = Field(description="the largest batch that completed its measurement window in both of "
                                             "two probes")
    oom_at: int | None = Field(description="verified + step, when it ran out of memory in both of two probes")
    fit: MaxBatchFit | None
    probes: list[str] = Field(description="the probes' trial ids, in the order they ran")
    probe_count: int
    doubling_bisection_probes: int | None = Field(
        description="probes the usual search (double from start, then bisect; the same two confirmations) needs "
                    "for the same answer")
    stop_reason: str


class RunInfo(Part):
    """run.json."""

    schema_version: Literal[SCHEMA_VERSION]
    benchharness: str
    started_utc: str
    finished_utc: str | None
    scenario: ScenarioInfo
    environment: dict[str, Any] = Field(description="python, packages, CPU, RAM, GPUs, TensorFlow build")
    peak: Peak | None = Field(description="null until the probe ran, or when it failed")
    planned_trials: list[str] | None = Field(description="the plan's trial ids in run order; null before version 3")
    recorded: int | None = Field(description="current records in trials.jsonl when the run last stopped")
    complete: bool | None = Field(description="every planned trial has a record and the sweep ended by itself; "
                                              "false after an interruption; null before version 3")
    executor: ExecutorInfo | None = Field(description="the executor of the last invocation; null before version 4")
    max_batch: list[MaxBatch] | None = Field(description="the largest-batch search's answer per curve (search: "
                                                         "max_batch or `benchharness maxbatch`); null otherwise")


SCHEMAS = {"trial-record": TrialRecord, "run": RunInfo}


def json_schema(name: str) -> dict:
    """The published JSON Schema (draft 2020-12) of ``name``: ``trial-record`` (one line of
    trials.jsonl) or ``run`` (run.json). ``docs/schema/<name>.schema.json`` holds the same."""
    schema = SCHEMAS[name].model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"benchharness/{name}/v{SCHEMA_VERSION}", **schema}
