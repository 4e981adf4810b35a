"""Turn a trial's samples into the record's ``telemetry`` figures, aligned to the worker's epochs.

Pure functions: samples and epochs share ``time.monotonic()`` (one clock for every process on a
Linux host), so a sample belongs to an epoch when its time falls between that epoch's start and end.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from benchharness.telemetry import windows
from benchharness.telemetry.base import TrialSamples
from benchharness.telemetry.nvml import HARDWARE_REASONS, POWER_REASONS, REASON_NAMES, THERMAL_REASONS

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
    """Samples as CSV, units in the column names; empty cells where a reading failed. Written whole
    or not at all (``atomic``)."""
    from benchharness.atomic import write_text_atomically

    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=samples.columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(samples.rows)
    write_text_atomically(path, text.getvalue())


def _window(rows: list[dict], start: float | None, end: float | None) -> list[dict]:
    if start is None or end is None:
        return []
    return [r for r in rows if start <= r["t_monotonic"] <= end]


def _values(rows: list[dict], column: str) -> list[float]:
    return [r[column] for r in rows if r.get(column) is not None]


def _per_sample(rows: list[dict], column: str) -> list[tuple[float, float]]:
    """(t, value) once per sample time: host-wide columns repeat on every device's row."""
    return sorted({r["t_monotonic"]: r[column] for r in rows if r.get(column) is not None}.items())


def by_device(rows: list[dict]) -> dict:
    """Rows grouped by device (a GPU's PCI bus id, or "cpu"), in first-seen order."""
    groups: dict = {}
    for row in rows:
        groups.setdefault(row["device"], []).append(row)
    return groups


class Weighted:
    """One column's readings on every device as time spans (``windows.spans``), for time-weighted
    figures over any window and the share of it the readings cover (the least-covered device)."""

    def __init__(self, groups: dict, column: str, hold_s: float | None):
        self.per_device = [windows.spans([(r["t_monotonic"], r[column]) for r in rows if r.get(column) is not None],
                                         hold_s) for rows in groups.values()]
        self.pooled = [span for device in self.per_device for span in device]

    def coverage(self, start: float, end: float) -> float | None:
        if end <= start or not self.per_device:
            return None
        return min(windows.covered_s(device, start, end) for device in self.per_device) / (end - start)

    def mean(self, start: float, end: float) -> float | None:
        return windows.weighted_mean(self.pooled, start, end)

    def percentile(self, start: float, end: float, q: float) -> float | None:
        return windows.weighted_percentile(self.pooled, start, end, q)


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


def energy_j(rows: list[dict], start: float | None, end: float | None) -> tuple[float | None, str | None, float | None]:
    """Energy (J) between ``start`` and ``end``, summed over devices, from the cumulative series
    interpolated at the exact window ends (a sample grid of 100 ms would otherwise cut up to two
    intervals off a 1 s epoch); how it was measured; and its coverage: the share of the window
    between the first and last reading of the least-covered device (outside it the series is flat
    by clamping, so energy would be missing). (None, None, None) when a device has neither counter
    nor power."""
    if start is None or end is None or end <= start or not rows:
        return None, None, None
    total, methods, coverage = 0.0, set(), 1.0
    for device_rows in by_device(rows).values():
        series = _cumulative_energy(device_rows)
        if series is None:
            return None, None, None
        points, method = series
        total += _interpolate(points, end) - _interpolate(points, start)
        methods.add(method)
        coverage = min(coverage, max(0.0, min(end, points[-1][0]) - max(start, points[0][0])) / (end - start))
    return total, " + ".join(sorted(methods)), coverage


def _figures(all_rows: list[dict], start: float | None, end: float | None, samples: TrialSamples) -> dict:
    """Time-weighted utilization and power over [start, end], their coverage, memory peak over the
    samples inside it, and energy over exactly it. A time-weighted figure is None where the window is
    too short for the device's averaging period or the samples cover too little of it; ``withheld``
    says why, per figure."""
    if start is None or end is None or end <= start:
        return {"util_mean_pct": None, "util_p90_pct": None, "mem_peak_mb": None, "power_mean_w": None,
                "energy_j": None, "energy_method": None, "coverage": None, "energy_coverage": None, "withheld": {}}
    metric, groups = METRICS[samples.source], by_device(all_rows)
    util, power = Weighted(groups, metric["util"], _hold(samples, metric["util"])), Weighted(groups, "power_w", samples.hold_s)
    energy, energy_method, energy_coverage = energy_j(all_rows, start, end)
    out = {"util_mean_pct": util.mean(start, end), "util_p90_pct": util.percentile(start, end, 90),
           "mem_peak_mb": max(_values(_window(all_rows, start, end), metric["mem"]), default=None),
           "power_mean_w": power.mean(start, end), "energy_j": energy,
           "coverage": util.coverage(start, end), "energy_coverage": energy_coverage, "withheld": {}}
    for names, coverage in ((("util_mean_pct", "util_p90_pct"), out["coverage"]),
                            (("power_mean_w",), power.coverage(start, end)), (("energy_j",), energy_coverage)):
        if all(out[name] is None for name in names):
            continue
        reason = windows.withheld_because(end - start, coverage, samples.period_s, samples.period_source)
        if (names == ("energy_j",) and reason and energy_method == "energy counter"
                and coverage is not None and coverage >= windows.MIN_COVERAGE):
            reason = None  # an energy counter is exact between readings: no averaging period applies
        for name in names if reason else ():
            out[name], out["withheld"][name] = None, reason
    out["energy_method"] = energy_method if out["energy_j"] is not None else None
    return out


def _hold(samples: TrialSamples, column: str) -> float | None:
    """The CPU sampler's utilization is a mean since the previous reading (no hold limit)."""
    return None if column == "cpu_proc_pct" else samples.hold_s


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


def _load(samples: TrialSamples, start: float | None, end: float | None) -> dict:
    """Other load on the machine during [start, end] (the steady epochs): host CPU (time-weighted;
    each reading is a mean since the previous one), other processes on the trial's GPUs, by name."""
    rows = _window(samples.rows, start, end)
    host_spans = windows.spans(_per_sample(samples.rows, "host_other_cpu_pct"), None)
    host_mean = windows.weighted_mean(host_spans, start, end) if rows else None
    gpu_max = max(_values(rows, "gpu_other_processes"), default=None)
    busy, reason = busy_verdict(host_mean, gpu_max, len({r["device"] for r in rows}))
    return {"host_other_cpu_pct": host_mean,
            "host_other_cpu_p90_pct": windows.weighted_percentile(host_spans, start, end, 90) if rows else None,
            "gpu_other_processes_max": gpu_max, "gpu_other_processes": _other_names(rows, samples.process_names),
            "busy": busy, "busy_reason": reason}


def _other_names(rows: list[dict], names: dict[int, str]) -> list[str] | None:
    """"PID (name)" of every other process seen on the trial's GPUs; None where no list was read."""
    lists = [r["gpu_other_pids"] for r in rows if r.get("gpu_other_pids") is not None]
    if not lists:
        return None
    pids = sorted({int(pid) for text in lists for pid in text.split()})
    return [f"{pid} ({names.get(pid, '?')})" for pid in pids]


def _reasons(mask: int | None) -> set[str]:
    return {name for bit, name in REASON_NAMES.items() if mask and mask & bit}


LIMITING_REASONS = set(THERMAL_REASONS.values()) | set(POWER_REASONS.values()) | set(HARDWARE_REASONS.values())


def _limited(row: dict) -> float:
    """1.0 where the row's clock-event reasons include a thermal, power or hardware limit, else 0.0."""
    return float(bool(_reasons(row["clocks_event_reasons"]) & LIMITING_REASONS))


def throttle_summary(samples: TrialSamples, steady: list[dict]) -> dict | None:
    """Clock-event reasons, SM clock and temperature over the steady epochs; which steady windows
    had thermal, power or hardware limits, and for what share of the covered time (every GPU of the
    trial counts: spans per device, pooled). None without NVML or without any reasons read."""
    if samples.source == "cpu":
        return None
    start, end = _bounds(steady)
    rows = [r for r in _window(samples.rows, start, end) if r.get("clocks_event_reasons") is not None]
    if not rows:
        return None
    # Spans per device: every GPU's rows share their times, and one series would give all but one
    # reading at each time a zero-width span.
    spans = [span for device_rows in by_device(rows).values()
             for span in windows.spans([(r["t_monotonic"], _limited(r)) for r in device_rows], samples.hold_s)]
    seen = set().union(*(_reasons(r["clocks_event_reasons"]) for r in rows))
    clocks, temps = _values(rows, "sm_clock_mhz"), _values(rows, "temp_c")
    hit = [e["epoch"] for e in steady if any(_limited(r) for r in rows
                                             if e["t_start_monotonic"] <= r["t_monotonic"] <= e["t_end_monotonic"])]
    return {"reasons": sorted(seen), "thermal": bool(seen & set(THERMAL_REASONS.values())),
            "power": bool(seen & set(POWER_REASONS.values())), "hardware": bool(seen & set(HARDWARE_REASONS.values())),
            "throttled_share": windows.weighted_mean(spans, start, end), "throttled_epochs": hit,
            "sm_clock_mean_mhz": _mean(clocks), "sm_clock_min_mhz": min(clocks, default=None),
            "temp_max_c": max(temps, default=None)}


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _bounds(steady: list[dict]) -> tuple[float | None, float | None]:
    return (steady[0].get("t_start_monotonic"), steady[-1].get("t_end_monotonic")) if steady else (None, None)


def per_device(samples: TrialSamples, start: float | None, end: float | None) -> list[dict] | None:
    """The steady figures of each of the trial's GPUs apart; None on the CPU."""
    if samples.source == "cpu":
        return None
    out = []
    for identity in samples.devices:
        key = identity["pci_bus_id"] or identity["uuid"]
        rows = [r for r in samples.rows if r["device"] == key]
        one = TrialSamples(samples.source, samples.columns, rows, hold_s=samples.hold_s, period_s=samples.period_s,
                           period_source=samples.period_source)
        figures = _figures(rows, start, end, one)
        out.append(identity | {name: figures[name] for name in DEVICE_FIGURES}
                   | {"proc_mem_peak_mb": max(_values(rows, "proc_mem_mb"), default=None),
                      "other_processes": _other_names(_window(rows, start, end), samples.process_names)})
    return out


DEVICE_FIGURES = ("util_mean_pct", "util_p90_pct", "power_mean_w", "energy_j", "coverage", "withheld")


def summarize(samples: TrialSamples, epochs: list[dict], mem_total_mb: float | None, warmup_epochs: int = 1) -> dict:
    """The record's ``telemetry`` from the trial's own devices: time-weighted utilization mean/p90
    and power over the steady epochs (all after the ``warmup_epochs``), energy over exactly them,
    each with its coverage and withheld (None, with the reason) where the samples cannot support it;
    memory peak over the whole trial; samples per joule; throttling; other load on the machine
    (host CPU %, other GPU processes by name, ``busy`` and why); per-GPU and per-epoch breakdowns."""
    rows = samples.rows
    steady = epochs[warmup_epochs:]
    start, end = _bounds(steady)
    figures = _figures(rows, start, end, samples)
    metric = METRICS[samples.source]
    return {
        "source": samples.source,
        "util_metric": metric["util_label"],
        **figures,
        **_load(samples, start, end),
        "mem_peak_mb": max(_values(rows, metric["mem"]), default=None),
        "mem_total_mb": mem_total_mb,
        "samples_per_joule": sum(e["samples"] for e in steady) / figures["energy_j"] if figures["energy_j"] else None,
        "averaging_period_s": samples.period_s,
        "sample_count": len(rows),
        "steady_sample_count": len(_window(rows, start, end)),
        "gaps": {k: v for k, v in samples.gaps.items() if v},
        "lost": list(samples.lost),
        "devices": per_device(samples, start, end),
        "throttle": throttle_summary(samples, steady),
        "per_epoch": [_epoch_figures(samples, e) for e in epochs],
    }


def _epoch_figures(samples: TrialSamples, epoch: dict) -> dict:
    figures = _figures(samples.rows, epoch.get("t_start_monotonic"), epoch.get("t_end_monotonic"), samples)
    return {"epoch": epoch["epoch"], **{k: v for k, v in figures.items() if k not in ("energy_coverage", "energy_method")},
            "host_other_cpu_pct": _load(samples, epoch.get("t_start_monotonic"), epoch.get("t_end_monotonic"))["host_other_cpu_pct"]}


def total_memory_mb(samples: TrialSamples) -> float | None:
    """The device's total memory as sampled (GPU), or None where the sampler does not report it."""
    return max(_values(samples.rows, "mem_total_mb"), default=None)


def primary_memory(telemetry: dict, tf_peak_mb: float | None, rss_after_import_mb: float | None,
                   fake_model_mb: float | None = None) -> dict:
    """The record's answer to "how much memory does this trial need", and where it comes from.

    On a GPU, in order of preference: TensorFlow's allocator peak over the timed epochs (what the
    model, its batch and the optimizer took, without the CUDA context or other processes), the
    trial's own memory as NVML lists it, the GPU's used memory (everything on it). On the CPU: the
    trial's peak RSS minus its RSS right after importing TensorFlow (the model, data and training).
    On the fake NVML with a memory model (CI), the model's figure comes first, labelled as such.
    """
    devices = telemetry.get("devices") or []
    own = max((d["proc_mem_peak_mb"] for d in devices if d.get("proc_mem_peak_mb") is not None), default=None)
    if telemetry["source"] == "cpu":
        peak = telemetry.get("mem_peak_mb")
        growth = peak - rss_after_import_mb if peak is not None and rss_after_import_mb is not None else None
        choices = [("rss_growth", growth)]
    else:
        choices = [("fake_memory_model", fake_model_mb if telemetry["source"] == "fake-nvml" else None),
                   ("tf_allocator_peak", tf_peak_mb), ("process_nvml", own), ("device_used", telemetry.get("mem_peak_mb"))]
    source, value = next(((s, v) for s, v in choices if v is not None), (None, None))
    return {"tf_peak_mb": tf_peak_mb, "mem_primary_mb": value, "mem_primary_source": source}
