"""Analysis across trials: pure functions over trial records (dicts), shared by the CLI summary and
the report. Nothing here reads files or touches TensorFlow."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

# -- "does a larger batch pay off?" ------------------------------------------------------------------

NOT_GROUPING = ("batch_size", "timeout_s")
SATURATED_PCT = 80.0


def group_key(record: dict) -> tuple:
    """Trials that differ only in batch size (and timeout) belong to one curve."""
    return tuple(sorted((k, v) for k, v in record["params"].items() if k not in NOT_GROUPING))


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
    mems: list[float] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)

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
    def spread(self) -> tuple[float, float] | None:
        return (min(self.throughputs), max(self.throughputs)) if self.throughputs else None

    @property
    def oom(self) -> bool:
        return "oom" in self.statuses and not self.throughputs


@dataclass
class Doubling:
    from_batch: int
    to_batch: int
    gain: float  # throughput ratio - 1
    noise: bool  # inside the spread across >= 3 repeats: not a real difference


@dataclass
class Recommendation:
    label: str
    points: list[BatchPoint]
    tolerance: float
    best: BatchPoint | None = None
    recommended: BatchPoint | None = None
    doublings: list[Doubling] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    memory_fit: dict | None = None
    util_metric: str | None = None
    headline: str = ""


def batch_points(records: list[dict]) -> list[BatchPoint]:
    points: dict[int, BatchPoint] = {}
    for r in records:
        point = points.setdefault(r["params"]["batch_size"], BatchPoint(r["params"]["batch_size"]))
        point.statuses.append(r["status"])
        if r["status"] != "ok" or r.get("throughput_sps") is None:
            continue
        point.throughputs.append(r["throughput_sps"])
        point.epoch_times.append(r["epoch_time_s"])
        telemetry = r.get("telemetry") or {}
        if telemetry.get("util_mean_pct") is not None:
            point.utils.append(telemetry["util_mean_pct"])
        if telemetry.get("mem_peak_mb") is not None:
            point.mems.append(telemetry["mem_peak_mb"])
    return [points[b] for b in sorted(points)]


def memory_fit(points: list[BatchPoint], total_mb: float | None) -> dict | None:
    """Least-squares line of peak memory (MiB) against batch size, and where it crosses the device
    total: an estimate, labelled as one wherever it is shown."""
    xs = [(p.batch_size, m) for p in points for m in p.mems]
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
        noise = (len(a.throughputs) >= 3 and len(b.throughputs) >= 3
                 and a.spread[1] >= b.spread[0] and b.spread[1] >= a.spread[0])
        out.append(Doubling(a.batch_size, b.batch_size, b.throughput / a.throughput - 1, noise))
    return out


def recommend(records: list[dict], tolerance: float = 0.05) -> Recommendation:
    """The pays-off rule for one curve: the recommended batch is the smallest whose steady
    throughput is within ``tolerance`` of the best; plus the gain of each step up and the flags
    "device not saturated", "memory-bound" and (3+ repeats) "noise"."""
    points = batch_points(records)
    telemetry = next((r["telemetry"] for r in records if r.get("telemetry")), {}) or {}
    rec = Recommendation(describe_group(records), points, tolerance, util_metric=telemetry.get("util_metric"))
    rec.memory_fit = memory_fit(points, telemetry.get("mem_total_mb"))
    measured = [p for p in points if p.throughput]
    if not measured:
        rec.headline = f"{rec.label}: no batch size completed, so there is no answer."
        return rec
    rec.best = max(measured, key=lambda p: p.throughput)
    rec.recommended = next(p for p in measured if p.throughput >= (1 - tolerance) * rec.best.throughput)
    rec.doublings = _doublings(points)
    rec.flags = _flags(rec, points)
    rec.headline = _headline(rec)
    return rec


def _flags(rec: Recommendation, points: list[BatchPoint]) -> list[str]:
    flags = []
    best = rec.best
    if best.util is not None and best.util < SATURATED_PCT:
        flags.append(f"device not saturated: {rec.util_metric or 'utilization'} is {best.util:.0f} % at batch "
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
            flags.append(f"noise: batch {d.from_batch} -> {d.to_batch} ({d.gain:+.1%}) is inside the spread across repeats")
    return flags


def _headline(rec: Recommendation) -> str:
    best, chosen = rec.best, rec.recommended
    first = next(p for p in rec.points if p.throughput)
    text = (f"{rec.label}: use batch {chosen.batch_size}. It is the smallest batch within {rec.tolerance:.0%} of the "
            f"best throughput ({best.throughput:,.0f} samples/s at batch {best.batch_size})")
    if chosen.batch_size != first.batch_size:
        text += (f"; from batch {first.batch_size} to {chosen.batch_size} throughput rises "
                 f"{chosen.throughput / first.throughput:.1f}x")
    beyond = [d for d in rec.doublings if d.from_batch >= chosen.batch_size]
    if beyond:
        text += f"; beyond it each step up gains at most {max(d.gain for d in beyond):+.1%}"
    return text + "."
