"""Analysis across trials: pure functions over trial records (dicts), shared by the CLI summary and
the report. Nothing here reads files or touches TensorFlow.

Each batch size of a curve gets an interval of its steady throughput: over the repeats' medians
when it has two or more ok repeats (one process is one independent sample), else its one trial's
interval over its windows (narrower than the truth: the windows of one process are
autocorrelated). ``benchharness.stats.decide`` compares the intervals, so the answer says
*undecided* when the data cannot separate the candidates."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone

from benchharness import stats

# -- "does a larger batch pay off?" ------------------------------------------------------------------

NOT_GROUPING = ("batch_size", "timeout_s")
SATURATED_PCT = 80.0


def group_key(record: dict) -> tuple:
    """Trials that differ only in batch size (and timeout) belong to one curve."""
    return tuple(sorted((k, v) for k, v in record["params"].items() if k not in NOT_GROUPING))


def curve_groups(records: list[dict]) -> list[list[dict]]:
    """The planned throughput trials split into curves (``group_key``), in the order each curve first
    appears; the largest-batch search's probes (``role: probe``, one short window each) and the
    curves trained to a target (``tta``) are no curve's here."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        if r.get("role", "trial") == "trial":
            groups.setdefault(group_key(r), []).append(r)
    # Trials trained to a target stop when they reach it (often inside the first pass, the warm-up):
    # their throughput is answered beside their time to accuracy (``analyze_tta``), not here.
    return [group for group in groups.values() if not any(r.get("tta") for r in group)]


def max_batch_of(records: list[dict], entries: list[dict] | None) -> dict | None:
    """The run.json ``max_batch`` entry of the curve ``records`` belong to (its ``curve`` is a
    trial's params without batch_size), or None."""
    key = group_key(records[0])
    return next((e for e in entries or [] if group_key({"params": e["curve"]}) == key), None)


def describe_group(records: list[dict]) -> str:
    """A short label of what a curve holds: model, dataset and any non-default pruning."""
    p = records[0]["params"]
    label = f"{p['model']} on {p['dataset']}"
    return label + (f", sparsity {p['sparsity']}" if p.get("sparsity") else "")


@dataclass
class BatchPoint:
    batch_size: int
    throughputs: list[float] = field(default_factory=list)  # samples/s, one per ok repeat
    epoch_times: list[float] = field(default_factory=list)
    utils: list[float] = field(default_factory=list)
    mems: list[float] = field(default_factory=list)  # MiB: each ok record's primary memory figure
    mem_sources: set[str] = field(default_factory=set)  # where those figures come from (record.MemorySource)
    statuses: list[str] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)  # the ok records behind ``throughputs``

    @property
    def interval(self) -> stats.Interval | None:
        """The point's 95 % interval of steady throughput (see the module docstring); None without
        an ok measurement, or for one trial that has a single window (no interval to compute)."""
        if len(self.throughputs) >= 2:
            return stats.trial_level_interval(self.throughputs)
        if len(self.records) == 1 and self.records[0].get("throughput_ci_sps"):
            r = self.records[0]
            low, high = r["throughput_ci_sps"]
            return stats.Interval(r["throughput_sps"], (low + high) / 2, low, high, r.get("steady_windows") or 2,
                                  r.get("throughput_cv"))
        return None

    @property
    def n(self) -> int:
        """How many figures the interval rests on: repeats, or the one trial's windows."""
        interval = self.interval
        return interval.n if interval is not None else len(self.throughputs)

    @property
    def throughput(self) -> float | None:
        return statistics.median(self.throughputs) if self.throughputs else None

    @property
    def epoch_time(self) -> float | None:
        return statistics.median(self.epoch_times) if self.epoch_times else None

    @property
    def util(self) -> float | None:
        return statistics.median(self.utils) if self.utils else None

    @property
    def oom(self) -> bool:
        return "oom" in self.statuses and not self.throughputs


@dataclass
class Doubling:
    from_batch: int
    to_batch: int
    gain: float  # throughput ratio - 1
    noise: bool  # the two intervals overlap: not a difference the data can tell


@dataclass
class Recommendation:
    label: str
    points: list[BatchPoint]
    tolerance: float
    best: BatchPoint | None = None
    recommended: BatchPoint | None = None
    answer: stats.Answer | None = None
    doublings: list[Doubling] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    memory_fit: dict | None = None
    util_metric: str | None = None
    headline: str = ""
    max_batch: dict | None = None  # run.json's max_batch entry of this curve (the search's answer)

    @property
    def decided(self) -> bool:
        return bool(self.answer and self.answer.decided)


def batch_points(records: list[dict]) -> list[BatchPoint]:
    points: dict[int, BatchPoint] = {}
    for r in records:
        point = points.setdefault(r["params"]["batch_size"], BatchPoint(r["params"]["batch_size"]))
        point.statuses.append(r["status"])
        if r["status"] != "ok" or r.get("throughput_sps") is None:
            continue
        point.throughputs.append(r["throughput_sps"])
        point.records.append(r)
        point.epoch_times.append(r["epoch_time_s"])
        telemetry = r.get("telemetry") or {}
        if telemetry.get("util_mean_pct") is not None:
            point.utils.append(telemetry["util_mean_pct"])
        if telemetry.get("mem_primary_mb") is not None:
            point.mems.append(telemetry["mem_primary_mb"])
            point.mem_sources.add(telemetry["mem_primary_source"])
    return [points[b] for b in sorted(points)]


MEMORY_LABELS = {
    "tf_allocator_peak": "TensorFlow allocator peak (timed epochs)",
    "process_nvml": "the trial's own GPU memory (NVML process list)",
    "device_used": "GPU memory used, whole device (NVML; other processes and the CUDA context included)",
    "rss_growth": "RSS growth after importing TensorFlow (trial process tree)",
}


def memory_label(sources: set[str]) -> str:
    """The memory figures' label in words; several sources (a mixed curve) are all named."""
    return " / ".join(MEMORY_LABELS.get(s, s) for s in sorted(sources)) or "memory"


def device_memory_limit_mb(telemetry: dict) -> float | None:
    """The memory a batch must fit in: ``runtime.memory_limit_mb`` or the GPU's total (the record's
    ``mem_limit_mb``); None on the CPU, where the host's RAM is no limit a batch size runs into
    (swap, other processes), so no out-of-memory batch is estimated."""
    return None if telemetry.get("source") == "cpu" else telemetry.get("mem_limit_mb")


def memory_fit(points: list[BatchPoint], total_mb: float | None) -> dict | None:
    """Least-squares line of TensorFlow's allocator peak (MiB) against batch size, and where it
    crosses the memory limit: an estimate, labelled as one wherever it is shown. Only the allocator
    peak is fitted (or, in CI, the fake device's memory model): NVML's figures hold the CUDA context
    and a growing pool, RSS holds the data set."""
    from benchharness.maxbatch import FITTED_SOURCES

    xs = [(p.batch_size, m) for p in points if len(p.mem_sources) == 1 and p.mem_sources <= set(FITTED_SOURCES)
          for m in p.mems]
    if len({x for x, _ in xs}) < 2:
        return None
    mean_x = statistics.fmean(x for x, _ in xs)
    mean_y = statistics.fmean(y for _, y in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in xs) / sum((x - mean_x) ** 2 for x, _ in xs)
    intercept = mean_y - slope * mean_x
    oom_batch = (total_mb - intercept) / slope if total_mb and slope > 0 else None
    return {"intercept_mb": intercept, "mb_per_sample": slope, "total_mb": total_mb, "estimated_oom_batch": oom_batch}


def _doublings(points: list[BatchPoint]) -> list[Doubling]:
    measured = [p for p in points if p.throughput]
    out = []
    for a, b in zip(measured, measured[1:]):
        noise = a.interval is not None and b.interval is not None and a.interval.overlaps(b.interval)
        out.append(Doubling(a.batch_size, b.batch_size, b.throughput / a.throughput - 1, noise))
    return out


def answer(points: list[BatchPoint], tolerance: float) -> stats.Answer:
    """``stats.decide`` over the points' intervals. A measured point with no interval (one trial
    with a single window) cannot be compared: the answer is undecided and names every measured
    batch, with the median-based choice as the recommendation."""
    figures = [stats.Point(p.batch_size, p.interval or _point_figure(p)) for p in points]
    measured = [f for f in figures if f.interval is not None]
    single = [p.batch_size for p in points if p.throughput and p.interval is None]
    if not single or len(measured) < 2:
        return stats.decide(figures, tolerance)
    chosen, best = stats.median_choice(measured, tolerance)
    return stats.Answer(False, chosen, tuple(f.batch_size for f in measured), best,
                        f"batch {', '.join(map(str, single))} rest on a single steady window, so there is no "
                        "interval to compare; measure with epochs: auto (several windows) or repeats >= 2")


def _point_figure(point: BatchPoint) -> stats.Interval | None:
    """A lone measured point's figure as a zero-width interval (there is nothing to compare it with)."""
    if not point.throughput:
        return None
    return stats.Interval(point.throughput, point.throughput, point.throughput, point.throughput, 1, None)


def recommend(records: list[dict], tolerance: float = 0.05, overlaps: dict[str, list[str]] | None = None) -> Recommendation:
    """The pays-off rule for one curve: the recommended batch is the smallest whose steady
    throughput is within ``tolerance`` of the best, *decided* only when the intervals separate it
    (``stats.decide``); plus the gain of each step up and the flags "device not saturated",
    "memory-bound", "noise", "no steady state", "busy machine" and "shared host" (``overlaps``:
    ``overlapping_trials`` of the whole run, since a curve's trial may overlap another curve's)."""
    points = batch_points(records)
    telemetry = next((r["telemetry"] for r in records if r.get("telemetry")), {}) or {}
    rec = Recommendation(describe_group(records), points, tolerance, util_metric=telemetry.get("util_metric"))
    rec.memory_fit = memory_fit(points, device_memory_limit_mb(telemetry))
    measured = [p for p in points if p.throughput]
    if not measured:
        rec.headline = f"{rec.label}: no batch size completed, so there is no answer."
        return rec
    rec.answer = answer(points, tolerance)
    by_batch = {p.batch_size: p for p in points}
    rec.best, rec.recommended = by_batch[rec.answer.best_batch], by_batch[rec.answer.recommended_batch]
    rec.doublings = _doublings(points)
    rec.flags = _flags(rec, points) + trust_flags(records, overlaps)
    rec.headline = _headline(rec)
    return rec


def _span(record: dict) -> tuple[str, datetime, datetime] | None:
    """The record's host and span (aware datetimes), or None where it has none or it cannot be read
    (a times string the schema lets through is no reason to fail a report)."""
    execution = record.get("execution")
    if not execution:
        return None
    try:
        start, end = (_utc(execution[key]) for key in ("started_utc", "finished_utc"))
    except (KeyError, TypeError, ValueError):
        return None
    return execution.get("host"), start, end


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def overlapping_trials(records: list[dict]) -> dict[str, list[str]]:
    """Trial id -> the other trials whose workers ran on the same host at the same time (by the
    records' ``execution`` spans, on that host's clock). Such trials shared its CPUs, PCIe and
    memory, so neither figure is a trial alone on the machine. Records without a span (before
    schema 4, or the local executor's one-at-a-time) overlap nothing."""
    spans = [(r["trial_id"], span) for r in records if (span := _span(r)) is not None]
    spans.sort(key=lambda item: item[1][1])
    out: dict[str, list[str]] = {}
    for i, (trial, (host, start, end)) in enumerate(spans):
        for other, (other_host, other_start, other_end) in spans[i + 1:]:
            if other_start >= end:
                break  # sorted by start: nothing later overlaps this one
            if other_host == host and other_end > start and other != trial:
                out.setdefault(trial, []).append(other)
                out.setdefault(other, []).append(trial)
    return out


def trust_flags(records: list[dict], overlaps: dict[str, list[str]] | None = None) -> list[str]:
    """Trials whose figure is fragile: windows that trend, a machine that was busy, or a host
    shared with another trial of the run (``overlaps``; None: computed over ``records``)."""
    flags = []
    overlaps = overlapping_trials(records) if overlaps is None else overlaps
    for r in (r for r in records if r["status"] == "ok"):
        name = f"batch {r['params'].get('batch_size')} (trial {r.get('trial_id')})"
        if overlaps.get(r["trial_id"]):
            others = ", ".join(overlaps[r["trial_id"]])
            flags.append(f"shared host: {name} ran at the same time on one host ({r['execution']['host']}) as "
                         f"trial(s) {others}: they shared its CPUs, PCIe and memory")
        if r.get("no_steady_state"):
            flags.append(f"no steady state: {name}: its windows drift or shift level, so its median is not one "
                         "steady figure")
        telemetry = r.get("telemetry") or {}
        if telemetry.get("busy"):
            flags.append(f"busy machine: {name}: {telemetry.get('busy_reason') or 'other work ran'}")
        flags += telemetry_flags(name, telemetry)
    return flags


def telemetry_flags(name: str, telemetry: dict) -> list[str]:
    """A throttled GPU, and device figures withheld because their samples could not support them."""
    flags = []
    throttle = telemetry.get("throttle") or {}
    if throttle.get("thermal") or throttle.get("power") or throttle.get("hardware"):
        kinds = " and ".join(k for k in ("thermal", "power", "hardware") if throttle.get(k))
        share = throttle.get("throttled_share")
        flags.append(f"throttled: {name}: {kinds} clock limits ({', '.join(throttle['reasons'])}) in steady windows "
                     f"{throttle['throttled_epochs']}"
                     + (f", {share:.0%} of the time" if share is not None else "")
                     + f"; SM clock down to {throttle.get('sm_clock_min_mhz') or 0:.0f} MHz: this figure holds for "
                       "this card at this temperature and power limit")
    withheld = telemetry.get("withheld") or {}
    if "util_mean_pct" in withheld:
        flags.append(f"utilization not shown: {name}: {withheld['util_mean_pct']}")
    return flags


def _flags(rec: Recommendation, points: list[BatchPoint]) -> list[str]:
    flags = []
    best = rec.best
    if best.util is not None and best.util < SATURATED_PCT:
        flags.append(f"device not saturated: {rec.util_metric or 'utilization'} is {best.util:.1f} % at batch "
                     f"{best.batch_size} (under {SATURATED_PCT:.0f} %); the input pipeline or per-step overhead "
                     "may be the limit")
    larger = [p for p in points if p.batch_size > best.batch_size]
    next_oom = next((p for p in larger if p.oom), None)
    fit = rec.memory_fit or {}
    estimate = fit.get("estimated_oom_batch")
    if next_oom is not None and next_oom.batch_size <= 2 * best.batch_size:
        flags.append(f"memory-bound: batch {next_oom.batch_size} ran out of memory, so the next doubling does not fit")
    elif not larger and estimate is not None and estimate < 2 * best.batch_size:
        flags.append(f"memory-bound: the next doubling (batch {2 * best.batch_size}) would not fit "
                     f"(estimated limit: batch {estimate:.0f})")
    if not larger and len([p for p in points if p.throughput]) >= 2 and rec.doublings and rec.doublings[-1].gain > rec.tolerance:
        flags.append(f"still rising: the largest batch tried ({best.batch_size}) is the best and its last step up "
                     f"gained {rec.doublings[-1].gain:+.0%}; try larger batches")
    for d in rec.doublings:
        if d.noise:
            flags.append(f"noise: batch {d.from_batch} -> {d.to_batch} ({d.gain:+.1%}): their intervals overlap")
    return flags


def _headline(rec: Recommendation) -> str:
    best, chosen, answer_ = rec.best, rec.recommended, rec.answer
    if not answer_.decided:
        span = answer_.indistinguishable
        where = f"at batch {span[0]}" if len(span) == 1 else f"between batch {span[0]} and {span[-1]}"
        return (f"{rec.label}: undecided {where}: {answer_.reason}. "
                f"By the medians alone it would be batch {chosen.batch_size} "
                f"({chosen.throughput:,.0f} samples/s; best {best.throughput:,.0f} at batch {best.batch_size}).")
    first = next(p for p in rec.points if p.throughput)
    text = (f"{rec.label}: use batch {chosen.batch_size} (decided: the intervals separate it). It is the smallest "
            f"batch within {rec.tolerance:.0%} of the best throughput ({_with_interval(best)} at batch "
            f"{best.batch_size})")
    if chosen.batch_size != first.batch_size:
        text += (f"; from batch {first.batch_size} to {chosen.batch_size} throughput rises "
                 f"{chosen.throughput / first.throughput:.1f}x")
    beyond = [d for d in rec.doublings if d.from_batch >= chosen.batch_size]
    if beyond:
        text += f"; beyond it each step up gains at most {max(d.gain for d in beyond):+.1%}"
    return text + "."


def _with_interval(point: BatchPoint) -> str:
    interval = point.interval
    if interval is None or interval.n < 2:
        return f"{point.throughput:,.0f} samples/s"
    return f"{point.throughput:,.0f} samples/s, 95 % interval {interval.low:,.0f}-{interval.high:,.0f}, n={interval.n}"


def answer_json(rec: Recommendation) -> dict:
    """One curve's answer for scripts and CI (``benchharness report --format json``)."""
    answer_ = rec.answer
    return {"curve": rec.label, "decided": rec.decided,
            "recommended_batch": answer_.recommended_batch if answer_ else None,
            "best_batch": answer_.best_batch if answer_ else None,
            "indistinguishable": list(answer_.indistinguishable) if answer_ else [],
            "reason": answer_.reason if answer_ else rec.headline, "flags": rec.flags,
            "points": [_point_json(p) for p in rec.points]}


def _point_json(point: BatchPoint) -> dict:
    """``n`` counts what the interval rests on: ``interval_over`` says repeats or one trial's windows."""
    interval = point.interval
    return {"batch_size": point.batch_size, "throughput_sps": point.throughput,
            "throughput_ci_sps": [interval.low, interval.high] if interval else None, "n": point.n,
            "interval_over": None if interval is None else ("repeats" if len(point.throughputs) >= 2 else "windows"),
            "statuses": point.statuses,
            "stop_reasons": [r.get("stop_reason") for r in point.records]}


# -- "how well does it scale over replicas?" ------------------------------------------------------


@dataclass
class ScalingPoint:
    replicas: int
    point: BatchPoint  # the throughput figures and their interval (its batch_size is the global batch)

    @property
    def throughput(self) -> float | None:
        return self.point.throughput


@dataclass
class ScalingCurve:
    """One scaling curve: trials alike but for num_gpus; E(N) against its one-replica point."""

    label: str
    batch_scaling: str
    points: list[ScalingPoint]

    @property
    def one(self) -> ScalingPoint | None:
        return next((p for p in self.points if p.replicas == 1 and p.throughput), None)

    def efficiency(self, point: ScalingPoint) -> tuple[float | None, float | None, float | None]:
        """E(N) = T(N) / (N T(1)) from the medians, with a conservative interval: the ends of T(N)'s
        interval over the opposite ends of T(1)'s (None where either has no interval)."""
        from benchharness.scaling import efficiency

        one = self.one
        if one is None or point.throughput is None:
            return None, None, None
        value = efficiency(point.throughput, point.replicas, one.throughput)
        mine, base = point.point.interval, one.point.interval
        if point is one:
            return value, None, None  # 1 by definition: no interval
        if mine is None or base is None or base.low <= 0:
            return value, None, None
        return value, mine.low / (point.replicas * base.high), mine.high / (point.replicas * base.low)


def scaling_curves(records: list[dict]) -> list[ScalingCurve]:
    """The records' scaling curves (``benchharness.scaling.scaling_key``) that hold two or more
    replica counts, in the order each first appears; records without ``replicas`` count as one."""
    from benchharness.scaling import scaling_key

    groups: dict[tuple, list[dict]] = {}
    for r in records:
        if r.get("role", "trial") == "trial":
            groups.setdefault(scaling_key(r["params"]), []).append(r)
    curves = []
    for group in groups.values():
        by_replicas: dict[int, list[dict]] = {}
        for r in group:
            by_replicas.setdefault(r.get("replicas") or 1, []).append(r)
        if len(by_replicas) < 2:
            continue
        points = [ScalingPoint(n, batch_points(rs)[0]) for n, rs in sorted(by_replicas.items())]
        p = group[0]["params"]
        mode = p.get("batch_scaling", "per_replica")
        batch = f"batch {p['batch_size']} {'per replica' if mode == 'per_replica' else 'global'}"
        curves.append(ScalingCurve(f"{describe_group(group)}, {batch}", mode, points))
    return curves
