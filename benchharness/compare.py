"""Compare two runs point by point: did a change make training slower or hungrier?

Pure functions over run.json and trial records (dicts): nothing here renders or touches TensorFlow;
``report.comparison`` renders, ``cli`` wires. A *point* is a set of resolved parameters (a trial id
without its repeat): its repeats are the point's trials, and each trial (process) is one sample.

Per point and metric (``METRICS``, each with the direction that is good) the comparison gives the
base and head figures, their ratio head / base with an interval, and a verdict
(``stats.change_verdict``): ``worse`` or ``better`` only when the ratio is past the threshold *and*
its interval lies entirely on that side of 1; ``noise`` when it is past the threshold but the data
cannot separate it from 1; ``same`` within the threshold. The interval:

- two or more ok trials on each side: Welch t on the trials' log figures, 90 % two-sided (a one-sided
  test at 5 %), ``stats.ratio_of_trials``;
- fewer on a side: each side's own 95 % interval (one trial's windows, step 8's
  ``throughput_ci_sps``, or the repeats' interval), ends over opposite ends
  (``stats.ratio_of_intervals``): beyond 1 exactly when the intervals do not overlap;
- model sizes are exact (bytes of a saved file): one trial a side suffices;
- otherwise (one trial of a memory, energy or accuracy figure) there is no interval: a change past
  the threshold is ``noise``.

A point also compares its trials' statuses (more trials ending oom, failed or timed out than in the
base is a regression, with no statistics: an OOM is not noise), and is ``new`` or ``gone`` when
only one run has it. Environments are compared first (``fingerprint``): another device model makes
the runs incomparable unless allowed. The false-positive rate of the rule is in docs/design.md.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from benchharness import stats
from benchharness.errors import UserError

DEFAULT_THRESHOLD = 0.05
NEW, GONE = "new", "gone"
EXIT_NO_REGRESSION, EXIT_REGRESSION, EXIT_INCOMPARABLE = 0, 1, 2
NOT_OK = ("oom", "failed", "timeout")


# -- what is compared ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Metric:
    """One compared figure: ``value(record)`` is None where it was not measured.

    ``interval(record)``: one trial's own interval of the figure, where the record has one (None: the
    figure has no within-trial spread). ``exact``: the same at every repeat by construction."""

    name: str
    label: str
    unit: str
    higher_is_better: bool
    value: Callable[[dict], float | None]
    interval: Callable[[dict], stats.Interval | None] | None = None
    exact: bool = False


def _telemetry(record: dict, key: str):
    return (record.get("telemetry") or {}).get(key)


def _part(record: dict, part: str, key: str):
    return (record.get(part) or {}).get(key)


def _energy_per_sample(record: dict) -> float | None:
    samples_per_joule = _telemetry(record, "samples_per_joule")
    return 1 / samples_per_joule if samples_per_joule else None


def _throughput_interval(record: dict) -> stats.Interval | None:
    """Step 8's within-trial interval of the median throughput (null below 2 windows)."""
    ci = record.get("throughput_ci_sps")
    if not ci or not record.get("throughput_sps"):
        return None
    return stats.Interval(record["throughput_sps"], sum(ci) / 2, ci[0], ci[1], record.get("steady_windows") or 2,
                          record.get("throughput_cv"))


def _steady_seconds(record: dict) -> list[float]:
    return [e["seconds"] for e in record["epochs"][record.get("warmup_epochs") or 1:] if e["seconds"] > 0]


def _epoch_time_interval(record: dict) -> stats.Interval | None:
    """The same within-trial interval over the steady epochs' seconds (centred on their median,
    which is ``epoch_time_s``)."""
    seconds = _steady_seconds(record)
    return stats.throughput_interval(seconds) if len(seconds) >= 2 else None


def _size(key: str) -> Callable[[dict], float | None]:
    return lambda record: _part(record, "sizes", key)


METRICS: tuple[Metric, ...] = (
    Metric("throughput_sps", "throughput", "samples/s", True, lambda r: r.get("throughput_sps"), _throughput_interval),
    Metric("epoch_time_s", "steady epoch time", "s", False, lambda r: r.get("epoch_time_s"), _epoch_time_interval),
    Metric("mem_primary_mb", "memory peak", "MiB", False, lambda r: _telemetry(r, "mem_primary_mb")),
    Metric("energy_per_sample_j", "energy per sample", "J", False, _energy_per_sample),
    Metric("test_accuracy", "test accuracy", "", True, lambda r: _part(r, "eval", "accuracy")),
    Metric("tflite_accuracy", "TFLite accuracy", "", True, lambda r: _part(r, "tflite_accuracy", "float")),
    Metric("tflite_quant_accuracy", "TFLite quantized accuracy", "", True,
           lambda r: _part(r, "tflite_accuracy", "quant")),
    Metric("keras_zip_bytes", "Keras model, zipped", "bytes", False, _size("keras_zip_bytes"), exact=True),
    Metric("tflite_zip_bytes", "TFLite model, zipped", "bytes", False, _size("tflite_zip_bytes"), exact=True),
    Metric("tflite_quant_zip_bytes", "TFLite quantized model, zipped", "bytes", False,
           _size("tflite_quant_zip_bytes"), exact=True),
)


# -- the two runs --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunData:
    """One run directory as read: run.json (``info``) and its current trial records."""

    path: Path
    info: dict
    records: list[dict]

    @property
    def name(self) -> str:
        return self.path.name


def load_run(path: Path) -> RunData:
    """Read and validate a run directory. Raises ``UserError`` (one line naming the file and key)
    for a path that is not a run directory, a bad results file, or a run without records."""
    from benchharness.store import RunDir

    run = RunDir.open(Path(path))
    stored = run.read_trials().records
    records = comparable(stored)
    if not stored:
        raise UserError(f"{run.trials_path}: no trial records yet; nothing to compare")
    if not records:
        raise UserError(f"{run.trials_path}: only probes and time-to-accuracy trials; no throughput point to compare")
    return RunData(run.path, run.info, records)


def comparable(records: list[dict]) -> list[dict]:
    """The records compared point by point: throughput trials. Largest-batch probes are steps of a
    search (which probes run depends on the path it took), and time-to-accuracy trials stop at a
    target, so neither is a throughput point (their answers are in the report, not compared yet)."""
    return [r for r in records if r.get("role", "trial") == "trial" and r.get("tta") is None]


# -- environment fingerprint ---------------------------------------------------------------------

@dataclass(frozen=True)
class EnvRow:
    field: str
    base: str | None
    head: str | None

    @property
    def differs(self) -> bool:
        return self.base != self.head


def _mapping(value) -> dict:
    """run.json's ``environment`` is free-form: a part that is not a mapping counts as missing."""
    return value if isinstance(value, dict) else {}


def _gpus(environment: dict) -> list[dict]:
    gpus = environment.get("gpus")
    return [g for g in gpus if isinstance(g, dict)] if isinstance(gpus, list) else []


def trained_on(info: dict, records: list[dict]) -> str:
    """The device model the trials trained on: the records' devices (kind and name), else run.json's
    GPUs, else its CPU. What makes two runs' figures comparable at all."""
    devices = sorted({f"{d['kind']}: {d['name']}" for r in records if (d := r.get("device"))})
    if devices:
        return ", ".join(devices)
    environment = _mapping(info.get("environment"))
    gpus = sorted({f"gpu: {g.get('name')}" for g in _gpus(environment)})
    return ", ".join(gpus) or f"cpu: {_mapping(environment.get('cpu')).get('model')}"


def _joined(values) -> str | None:
    kept = sorted({str(v) for v in values if v is not None})
    return ", ".join(kept) or None


def _software(environment: dict) -> dict[str, str | None]:
    tf = _mapping(environment.get("tensorflow"))
    build = _mapping(tf.get("cuda_build"))
    packages = _mapping(environment.get("packages"))
    cuda = build.get("cuda_version") if build.get("is_cuda_build") else "none (not a CUDA build)"
    return {"CUDA (TensorFlow build)": cuda if tf else None,
            "cuDNN (TensorFlow build)": build.get("cudnn_version") if build.get("is_cuda_build") else None,
            "TensorFlow": tf.get("tensorflow") or packages.get("tensorflow"),
            "tf_keras": tf.get("tf_keras") or packages.get("tf-keras"),
            "tfmot": packages.get("tensorflow-model-optimization"),
            "numpy": packages.get("numpy")}


def fingerprint(info: dict, records: list[dict]) -> dict[str, str | None]:
    """What the figures depend on, in the order shown: device, driver, CUDA/cuDNN, the framework's
    versions, the CPU, the host, and the scenario's runtime settings (``runtime.xla``...)."""
    environment = _mapping(info.get("environment"))
    gpus = _gpus(environment)
    cpu = _mapping(environment.get("cpu"))
    counts = {d.get("count") for r in records if (d := r.get("device")) and d.get("kind") == "gpu"}
    out = {"device": trained_on(info, records), "GPUs visible to TensorFlow": _joined(counts),
           "GPUs (NVML)": _joined(g.get("name") for g in gpus), "GPU driver": _joined(g.get("driver") for g in gpus)}
    out |= _software(environment)
    out |= {"CPU": cpu.get("model"), "CPU cores (logical/physical)":
            f"{cpu.get('logical_cores')}/{cpu.get('physical_cores')}" if cpu else None,
            "host": environment.get("host"), "Python": environment.get("python"), "benchharness": info.get("benchharness")}
    out |= _execution(info, records)
    runtime = _mapping(_mapping(_mapping(info.get("scenario")).get("resolved")).get("runtime"))
    return out | {f"runtime.{key}": _plain(value) for key, value in sorted(runtime.items())}


def _execution(info: dict, records: list[dict]) -> dict[str, str | None]:
    """How the trials ran: the executor and its concurrency rule, and whether any shared a host at
    the same time (a figure measured beside another trial is not one measured alone)."""
    from benchharness.analyze import overlapping_trials

    executor = _mapping(info.get("executor"))
    shared = overlapping_trials(records)
    return {"executor": executor.get("kind") or "local",
            "concurrency": executor.get("concurrency") or "one trial at a time",
            "trials that shared a host": f"{len(shared)} of {len(records)}" if shared else "none"}


def _plain(value) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def environment_rows(base: RunData, head: RunData) -> list[EnvRow]:
    """Every fingerprint field of either run, the differing ones first (in fingerprint order)."""
    a, b = fingerprint(base.info, base.records), fingerprint(head.info, head.records)
    rows = [EnvRow(key, a.get(key), b.get(key)) for key in dict.fromkeys([*a, *b])]
    return [r for r in rows if r.differs] + [r for r in rows if not r.differs]


# -- points --------------------------------------------------------------------------------------

def point_key(record: dict, ignore: tuple[str, ...] = ()) -> tuple:
    """A trial's point: its resolved parameters (its id without the repeat), minus ``ignore``."""
    return tuple(sorted((k, v) for k, v in record["params"].items() if k not in ignore))


def group_points(records: list[dict], ignore: tuple[str, ...]) -> dict[tuple, list[dict]]:
    points: dict[tuple, list[dict]] = {}
    for record in records:
        points.setdefault(point_key(record, ignore), []).append(record)
    return points


def varying_keys(keys: list[tuple]) -> list[str]:
    """The parameters whose values differ between points: what names a point."""
    values: dict[str, set] = {}
    for key in keys:
        for name, value in key:
            values.setdefault(name, set()).add(repr(value))
    return [name for name, seen in values.items() if len(seen) > 1] or ["batch_size"]


def point_label(key: tuple, names: list[str]) -> str:
    params = dict(key)
    return " ".join(f"{name}={params.get(name)}" for name in names)


@dataclass(frozen=True)
class MetricRow:
    """One metric of one point. ``base``/``head``: the figures the ratio is made of (geometric mean
    of the trials, or each side's median where intervals are compared); ``low``/``high``: the
    ratio's interval (None: none); ``method``: trials, intervals, exact or none."""

    metric: Metric
    base: float
    head: float
    ratio: float
    low: float | None
    high: float | None
    n_base: int
    n_head: int
    method: str
    verdict: str


def _values(metric: Metric, records: list[dict]) -> list[tuple[float, dict]]:
    ok = [(metric.value(r), r) for r in records if r["status"] == "ok"]
    return [(v, r) for v, r in ok if v is not None]


def _geomean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def _side_interval(metric: Metric, values: list[tuple[float, dict]]) -> stats.Interval | None:
    if len(values) >= 2:
        return stats.trial_level_interval([v for v, _ in values])
    return metric.interval(values[0][1]) if metric.interval else None


def _change(metric: Metric, base: list[tuple[float, dict]], head: list[tuple[float, dict]]):
    """(base figure, head figure, the ratio's interval or None)."""
    b, h = [v for v, _ in base], [v for v, _ in head]
    if metric.exact and len(set(b)) == len(set(h)) == 1:  # bytes of a file: one trial tells it
        return b[0], h[0], stats.RatioInterval(h[0] / b[0], h[0] / b[0], h[0] / b[0], "exact")
    if len(b) >= 2 and len(h) >= 2:
        return _geomean(b), _geomean(h), stats.ratio_of_trials(b, h)
    bi, hi = _side_interval(metric, base), _side_interval(metric, head)
    if bi is None or hi is None:
        return _geomean(b), _geomean(h), None
    return bi.median, hi.median, stats.ratio_of_intervals(bi, hi)


def compare_metric(metric: Metric, base: list[dict], head: list[dict], threshold: float) -> MetricRow | str | None:
    """One metric of one point: a row, a note (str) saying why it is not compared, or None when
    neither side measured it."""
    b, h = _values(metric, base), _values(metric, head)
    if not b and not h or not all(any(r["status"] == "ok" for r in side) for side in (base, head)):
        return None  # measured by neither, or a side has no ok trial (its status change says so)
    if not b or not h:
        return f"{metric.label}: measured in the {'head' if h else 'base'} run only"
    if any(v <= 0 for v, _ in b + h):
        return f"{metric.label}: a figure of 0 has no ratio; not compared"
    base_figure, head_figure, change = _change(metric, b, h)
    ratio = change.ratio if change else head_figure / base_figure
    verdict = stats.change_verdict(change, ratio, metric.higher_is_better, threshold)
    return MetricRow(metric, base_figure, head_figure, ratio, change.low if change else None,
                     change.high if change else None, len(b), len(h), change.method if change else "none", verdict)


def comparable_problem(metric: Metric, base: list[dict], head: list[dict]) -> str | None:
    """Why ``metric`` must not be compared at this point although both sides measured it, or None:
    memory figures from different sources, or epochs that hold different sample counts."""
    if metric.name == "mem_primary_mb":
        sources = [{_telemetry(r, "mem_primary_source") for r in side if _telemetry(r, "mem_primary_mb") is not None}
                   for side in (base, head)]
        if sources[0] and sources[1] and sources[0] != sources[1]:
            return (f"memory peak: base measured {', '.join(sorted(sources[0]))}, head {', '.join(sorted(sources[1]))}; "
                    "not compared")
    if metric.name == "epoch_time_s":
        samples = {e["samples"] for r in base + head if r["status"] == "ok"
                   for e in r["epochs"][r.get("warmup_epochs") or 1:]}
        if len(samples) > 1:
            return "steady epoch time: the epochs hold different sample counts (samples_per_epoch: auto); compare throughput"
    return None


# -- one point -----------------------------------------------------------------------------------

@dataclass
class PointComparison:
    """One point of either run. ``status_change`` names a change in how its trials ended."""

    label: str
    base: list[dict]
    head: list[dict]
    rows: list[MetricRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    status_change: str | None = None
    status_verdict: str | None = None  # worse or better

    @property
    def verdict(self) -> str:
        """new, gone, or the worst of its metrics and status: worse, better, noise, same."""
        if not self.base or not self.head:
            return NEW if self.head else GONE
        verdicts = {row.verdict for row in self.rows} | {self.status_verdict}
        return next((v for v in (stats.WORSE, stats.BETTER, stats.NOISE) if v in verdicts), stats.SAME)

    @property
    def worse_rows(self) -> list[MetricRow]:
        return [row for row in self.rows if row.verdict == stats.WORSE]


def _statuses(records: list[dict]) -> str:
    counts = {s: sum(r["status"] == s for r in records) for s in ("ok", *NOT_OK)}
    return ", ".join(f"{s} {n}" if len(records) > 1 else s for s, n in counts.items() if n)


def status_change(base: list[dict], head: list[dict]) -> tuple[str | None, str | None]:
    """(what changed, worse/better/None): a regression when the head has trials that ended oom,
    failed or timed out and a smaller share of ok trials than the base (no statistics: an OOM is
    not noise); better the other way round."""
    share = [sum(r["status"] == "ok" for r in side) / len(side) for side in (base, head)]
    if share[0] == share[1]:
        return None, None
    text = f"{_statuses(base)} -> {_statuses(head)}"
    if share[1] < share[0]:
        return text, stats.WORSE
    return text, stats.BETTER


def compare_point(label: str, base: list[dict], head: list[dict], threshold: float) -> PointComparison:
    point = PointComparison(label, base, head)
    if not base or not head:
        return point
    point.status_change, point.status_verdict = status_change(base, head)
    for metric in METRICS:
        problem = comparable_problem(metric, base, head)
        outcome = problem or compare_metric(metric, base, head, threshold)
        if isinstance(outcome, MetricRow):
            point.rows.append(outcome)
        elif outcome is not None:
            point.notes.append(outcome)
    return point


# -- did the recommended batch change? ------------------------------------------------------------

@dataclass(frozen=True)
class RecommendationChange:
    """One curve's recommended batch size in each run (``analyze.recommend``)."""

    curve: str
    base: int | None
    base_decided: bool
    head: int | None
    head_decided: bool

    @property
    def changed(self) -> bool:
        return self.base != self.head


def recommendation_changes(base: list[dict], head: list[dict], ignore: tuple[str, ...],
                           tolerance: float = 0.05) -> list[RecommendationChange]:
    """The recommended batch of each curve both runs hold (curves matched like points, without the
    batch size)."""
    from benchharness.analyze import describe_group, recommend

    not_curve = (*ignore, "batch_size", "timeout_s")
    a, b = group_points(base, not_curve), group_points(head, not_curve)
    out = []
    for key in (k for k in a if k in b):
        ra, rb = recommend(a[key], tolerance), recommend(b[key], tolerance)
        out.append(RecommendationChange(describe_group(a[key]), *_chosen(ra), *_chosen(rb)))
    return out


def _chosen(rec) -> tuple[int | None, bool]:
    return (rec.recommended.batch_size if rec.recommended else None), rec.decided


# -- two runs ------------------------------------------------------------------------------------

@dataclass
class Comparison:
    """Two runs compared. ``incomparable``: why no verdict is given (exit 2), or None."""

    base: RunData
    head: RunData
    threshold: float
    environment: list[EnvRow]
    points: list[PointComparison]
    ignored: tuple[str, ...] = ()
    ignored_values: list[EnvRow] = field(default_factory=list)
    recommendations: list[RecommendationChange] = field(default_factory=list)
    incomparable: str | None = None

    @property
    def regressions(self) -> list[PointComparison]:
        return [p for p in self.points if p.verdict == stats.WORSE]

    @property
    def matched(self) -> int:
        return sum(bool(p.base and p.head) for p in self.points)

    @property
    def exit_code(self) -> int:
        """0 no regression, 1 a regression the statistics support, 2 incomparable."""
        if self.incomparable:
            return EXIT_INCOMPARABLE
        return EXIT_REGRESSION if self.regressions else EXIT_NO_REGRESSION


@dataclass(frozen=True)
class CompareOptions:
    threshold: float = DEFAULT_THRESHOLD
    ignore: tuple[str, ...] = ()
    allow_different_device: bool = False


def compare_runs(base: RunData, head: RunData, options: CompareOptions = CompareOptions()) -> Comparison:
    """Compare ``head`` with ``base``: environments first, then every point of either run."""
    if not 0 <= options.threshold < 1:
        raise ValueError(f"threshold must be in [0, 1), got {options.threshold}")
    environment = environment_rows(base, head)
    cmp = Comparison(base, head, options.threshold, environment, [], options.ignore,
                     ignored_values(base, head, options.ignore))
    device = next(r for r in environment if r.field == "device")
    if device.differs and not options.allow_different_device:
        cmp.incomparable = (f"{head.path / 'run.json'}: device: the base run trained on {device.base}, the head run on "
                            f"{device.head}; their figures are not comparable (pass --allow-different-device to "
                            "compare them anyway)")
        return cmp
    cmp.points = compare_points(base.records, head.records, options)
    if not cmp.matched:
        differ = ", ".join(differing_params(base.records, head.records, options.ignore)) or "none"
        cmp.incomparable = (f"{head.path}: no point of the head run matches one of the base run (parameters whose "
                            f"values differ: {differ}; --ignore-param KEY matches points without KEY)")
        return cmp
    cmp.recommendations = recommendation_changes(base.records, head.records, options.ignore)
    return cmp


def compare_points(base: list[dict], head: list[dict], options: CompareOptions) -> list[PointComparison]:
    """Every point of either run, in the base's order, then the head's new ones."""
    a, b = group_points(base, options.ignore), group_points(head, options.ignore)
    keys = list(dict.fromkeys([*a, *b]))
    names = varying_keys(keys)
    return [compare_point(point_label(key, names), a.get(key, []), b.get(key, []), options.threshold) for key in keys]


def differing_params(base: list[dict], head: list[dict], ignore: tuple[str, ...]) -> list[str]:
    """The parameters whose sets of values differ between the runs (what keeps points apart)."""
    values = [{} for _ in range(2)]
    for side, records in zip(values, (base, head)):
        for record in records:
            for key, value in record["params"].items():
                side.setdefault(key, set()).add(repr(value))
    keys = dict.fromkeys([*values[0], *values[1]])
    return [k for k in keys if k not in ignore and values[0].get(k) != values[1].get(k)]


def ignored_values(base: RunData, head: RunData, ignore: tuple[str, ...]) -> list[EnvRow]:
    """The values of the ignored parameters in each run (what was compared across)."""
    return [EnvRow(key, _joined(r["params"].get(key) for r in base.records),
                   _joined(r["params"].get(key) for r in head.records)) for key in ignore]


def compare_paths(base: Path, head: Path, options: CompareOptions = CompareOptions()) -> Comparison:
    """Read both run directories and compare them. Raises ``UserError`` for bad input."""
    return compare_runs(load_run(base), load_run(head), options)
