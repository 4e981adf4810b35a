"""Timing figures from the worker's epochs: pure functions, tested without TensorFlow."""

from __future__ import annotations

import statistics


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in [0, 100]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize_epochs(epochs: list[dict], warmup_epochs: int = 1) -> dict:
    """Timing figures and their uncertainty from the worker's epochs.

    Each epoch is ``{epoch, seconds, samples, steps, step_times_ms, ...}``. The first
    ``warmup_epochs`` (tracing, autotuning, cache filling) are warm-up; the first of them is reported
    apart as ``first_epoch_s``. Every later epoch is a steady measurement window. Returns, in seconds,
    ``first_epoch_s`` and ``epoch_time_s`` (median of the windows of full size); in samples per second,
    ``throughput_sps`` (median of the windows' throughputs), ``windows_sps`` and
    ``throughput_ci_sps`` ([low, high], 95 % Student t over the windows: narrower than the truth,
    the windows of one process are autocorrelated); ``throughput_cv``; ``steady_windows`` (None, not 0, when there is none);
    ``no_steady_state`` (the windows trend: ``stats.has_trend``; None below the windows it needs);
    ``step_time_ms`` {p50, p90} over steady steps. What cannot be computed is None.
    """
    from benchharness import stats

    steady = epochs[warmup_epochs:]
    windows = [e["samples"] / e["seconds"] for e in steady if e["seconds"] > 0]
    interval = stats.throughput_interval(windows) if windows else None
    steps = [ms for e in steady for ms in e.get("step_times_ms") or []]
    return {
        "first_epoch_s": epochs[0]["seconds"] if epochs else None,
        "warmup_epochs": min(warmup_epochs, len(epochs)) if epochs else None,
        "steady_windows": len(windows) if windows else None,
        "windows_sps": windows or None,
        "epoch_time_s": _full_epoch_time(steady),
        "throughput_sps": interval.median if interval else None,
        "throughput_ci_sps": [interval.low, interval.high] if interval and interval.n > 1 else None,
        "throughput_cv": interval.cv if interval else None,
        "no_steady_state": stats.has_trend(windows) if len(windows) >= stats.MIN_TREND_WINDOWS else None,
        "step_time_ms": {"p50": percentile(steps, 50), "p90": percentile(steps, 90)} if steps else None,
    }


def summarize_step_windows(epochs: list[dict], warmup_epochs: int = 1) -> dict | None:
    """The record's ``step_windows``: the windows of steps inside the steady epochs (each epoch's
    ``step_windows``, ``[{steps, samples, seconds}, ...]``, from the worker's timer with fixed epochs),
    in order. Returns ``steps_per_window``, ``sps`` (each window's samples/s), ``median_sps``,
    ``ci_sps`` (95 % Student t over the windows, ``stats.throughput_interval``: narrower than the
    truth, the windows of one process are autocorrelated), ``cv`` and ``n``; None below 2 windows
    (and for trials whose epochs were not split: ``epochs: auto``, time to accuracy)."""
    from benchharness import stats

    windows = [w for e in epochs[warmup_epochs:] for w in e.get("step_windows") or [] if w["seconds"] > 0]
    if len(windows) < 2:
        return None
    sps = [w["samples"] / w["seconds"] for w in windows]
    interval = stats.throughput_interval(sps)
    return {"steps_per_window": max(w["steps"] for w in windows), "sps": sps, "median_sps": interval.median,
            "ci_sps": [interval.low, interval.high], "cv": interval.cv, "n": interval.n}


def _full_epoch_time(steady: list[dict]) -> float | None:
    """The median seconds of the steady epochs of full size: a trial that stops at its target ends
    in a partial epoch, whose seconds are no epoch's time (its throughput still counts)."""
    if not steady:
        return None
    full = max(e["samples"] for e in steady)
    return statistics.median(e["seconds"] for e in steady if e["samples"] == full)


def epochs_from_events(events: list[dict]) -> list[dict]:
    """Per-epoch entries (with ``step_times_ms``) and their start and end on the shared monotonic clock."""
    starts = {e["epoch"]: e["t_monotonic"] for e in events if e["event"] == "epoch_start"}
    epochs = []
    for e in events:
        if e["event"] == "epoch_end":
            entry = {k: v for k, v in e.items() if k not in ("event", "t_monotonic")}
            entry["t_start_monotonic"] = starts.get(e["epoch"])
            entry["t_end_monotonic"] = e["t_monotonic"]
            epochs.append(entry)
    return epochs
