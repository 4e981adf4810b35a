"""Turn a trial's samples into the record's ``telemetry`` figures, aligned to the worker's epochs.

Pure functions: samples and epochs share ``time.monotonic()`` (one clock for every process on a
Linux host), so a sample belongs to an epoch when its time falls between that epoch's start and end.
"""

from __future__ import annotations

import csv
from pathlib import Path

from benchharness.epochs import percentile
from benchharness.telemetry.base import TrialSamples

# A trial is "busy" when the rest of the host used at least this share of ALL cores (mean over the
# steady epochs). 25 %: on a 2-core box one busy core elsewhere is 50 % and on 4 cores 25 %, both
# flagged: a whole core taken from a trial whose input pipeline, TF's inter-op threads and the
# harness share a few cores moves throughput well beyond run-to-run noise. Background daemons, the
# trial's own interrupts and a little steal stay a few % and pass. On large hosts (16+ cores) it takes
# several busy cores to trip it: a deliberate choice against false alarms, and the figure itself
# (host_other_cpu_pct) is always in the record for a stricter reader.
BUSY_HOST_CPU_PCT = 25.0

# Per source: which column is "utilization", which is "memory", and what they mean.
METRICS = {
    "nvml": {"util": "util_gpu_pct", "mem": "mem_used_mb", "util_label": "GPU kernel-busy %"},
    "fake-nvml": {"util": "util_gpu_pct", "mem": "mem_used_mb", "util_label": "GPU kernel-busy % (fake NVML)"},
    "cpu": {"util": "cpu_proc_pct", "mem": "rss_mb", "util_label": "CPU % of all cores (trial process tree)"},
}


def write_csv(samples: TrialSamples, path: Path) -> None:
    """Samples as CSV, units in the column names; empty cells where a reading failed."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=samples.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(samples.rows)


def _window(rows: list[dict], start: float | None, end: float | None) -> list[dict]:
    if start is None or end is None:
        return []
    return [r for r in rows if start <= r["t_monotonic"] <= end]


def _values(rows: list[dict], column: str) -> list[float]:
    return [r[column] for r in rows if r.get(column) is not None]


def _per_sample(rows: list[dict], column: str) -> list:
    """One value per sample time: host-wide columns repeat on every device's row, counted once."""
    return list({r["t_monotonic"]: r[column] for r in rows if r.get(column) is not None}.values())


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _interpolate(points: list[tuple[float, float]], t: float) -> float:
    """Linear interpolation of a cumulative series at ``t``, clamped to its ends."""
    if t <= points[0][0]:
        return points[0][1]
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        if t <= t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0) if t1 > t0 else v1
    return points[-1][1]


def _cumulative_energy(rows: list[dict]) -> tuple[list[tuple[float, float]], str] | None:
    """One device's energy so far (J) at each sample: NVML's total-energy counter where it is read
    at least twice, else the trapezoid integral of power."""
    counter = [(r["t_monotonic"], r["energy_mj"] / 1000.0) for r in rows if r.get("energy_mj") is not None]
    if len(counter) >= 2:
        return counter, "energy counter"
    power = [(r["t_monotonic"], r["power_w"]) for r in rows if r.get("power_w") is not None]
    if len(power) < 2:
        return None
    cumulative, total = [(power[0][0], 0.0)], 0.0
    for (t0, p0), (t1, p1) in zip(power, power[1:]):
        total += (t1 - t0) * (p0 + p1) / 2
        cumulative.append((t1, total))
    return cumulative, "power integral"


def energy_j(rows: list[dict], start: float | None, end: float | None) -> tuple[float | None, str | None]:
    """Energy (J) between ``start`` and ``end``, summed over devices, from the cumulative series
    interpolated at the exact window ends (a sample grid of 100 ms would otherwise cut up to two
    intervals off a 1 s epoch). Returns (None, None) when a device has neither counter nor power."""
    if start is None or end is None or not rows:
        return None, None
    total, methods = 0.0, set()
    for device in sorted({r["device"] for r in rows}, key=str):
        series = _cumulative_energy([r for r in rows if r["device"] == device])
        if series is None:
            return None, None
        points, method = series
        total += _interpolate(points, end) - _interpolate(points, start)
        methods.add(method)
    return total, " + ".join(sorted(methods))


def _figures(all_rows: list[dict], start: float | None, end: float | None, source: str) -> dict:
    """Utilization, memory and power over the samples inside [start, end]; energy over exactly it."""
    metric = METRICS[source]
    rows = _window(all_rows, start, end)
    util = _values(rows, metric["util"])
    power = _values(rows, "power_w")
    energy, _ = energy_j(all_rows, start, end)
    return {"util_mean_pct": _mean(util), "util_p90_pct": percentile(util, 90),
            "mem_peak_mb": max(_values(rows, metric["mem"]), default=None),
            "power_mean_w": _mean(power), "energy_j": energy,
            "host_other_cpu_pct": _mean(_per_sample(rows, "host_other_cpu_pct"))}


def busy_verdict(host_other_pct: float | None, gpu_other_max: int | None,
                 gpus: int = 1) -> tuple[bool | None, str | None]:
    """(busy, reason in plain words) from the steady epochs' other load: ``host_other_pct`` (mean,
    % of all cores) and ``gpu_other_max`` (most other processes seen on the GPUs at once). Busy if
    either trips; None (not False) when neither was measured."""
    reasons = []
    if host_other_pct is not None and host_other_pct >= BUSY_HOST_CPU_PCT:
        reasons.append(f"other processes used {host_other_pct:.0f} % of all CPU cores during the steady epochs")
    if gpu_other_max:
        noun = "process" if gpu_other_max == 1 else "processes"
        reasons.append(f"{gpu_other_max} other {noun} ran on the {'GPU' if gpus == 1 else 'GPUs'}")
    if reasons:
        return True, "; ".join(reasons)
    if host_other_pct is None and gpu_other_max is None:
        return None, None
    return False, None


def _load(rows: list[dict], start: float | None, end: float | None) -> dict:
    """Other load on the machine over the samples inside [start, end] (the steady epochs)."""
    rows = _window(rows, start, end)
    host = _per_sample(rows, "host_other_cpu_pct")
    gpu_max = max(_per_sample(rows, "gpu_other_processes"), default=None)
    busy, reason = busy_verdict(_mean(host), gpu_max, len({r["device"] for r in rows}))
    return {"host_other_cpu_p90_pct": percentile(host, 90), "gpu_other_processes_max": gpu_max,
            "busy": busy, "busy_reason": reason}


def summarize(samples: TrialSamples, epochs: list[dict], mem_total_mb: float | None, warmup_epochs: int = 1) -> dict:
    """The record's ``telemetry``: utilization mean/p90, power and energy over the steady epochs
    (all after the ``warmup_epochs``), memory peak over the whole trial, samples per joule, other
    load on the machine over the steady epochs (host CPU %, other GPU processes, ``busy`` and why),
    and a per-epoch breakdown. A figure with no samples behind it is None."""
    rows = samples.rows
    steady = epochs[warmup_epochs:]
    start = steady[0].get("t_start_monotonic") if steady else None
    end = steady[-1].get("t_end_monotonic") if steady else None
    figures = _figures(rows, start, end, samples.source)
    energy, method = energy_j(rows, start, end)
    steady_samples = sum(e["samples"] for e in steady)
    metric = METRICS[samples.source]
    return {
        "source": samples.source,
        "util_metric": metric["util_label"],
        **figures,
        **_load(rows, start, end),
        "mem_peak_mb": max(_values(rows, metric["mem"]), default=None),
        "mem_total_mb": mem_total_mb,
        "energy_method": method,
        "samples_per_joule": steady_samples / energy if energy else None,
        "sample_count": len(rows),
        "steady_sample_count": len(_window(rows, start, end)),
        "gaps": {k: v for k, v in samples.gaps.items() if v},
        "lost": list(samples.lost),
        "per_epoch": [{"epoch": e["epoch"], **_figures(rows, e.get("t_start_monotonic"), e.get("t_end_monotonic"),
                                                        samples.source)} for e in epochs],
    }


def total_memory_mb(samples: TrialSamples) -> float | None:
    """The device's total memory as sampled (GPU), or None where the sampler does not report it."""
    return max(_values(samples.rows, "mem_total_mb"), default=None)
