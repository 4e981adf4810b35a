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


def summarize_epochs(epochs: list[dict]) -> dict:
    """Timing figures from the worker's epochs.

    Each epoch is ``{epoch, seconds, samples, steps, step_times_ms, ...}``. The first epoch (tracing,
    autotuning, cache filling) is reported apart as ``first_epoch_s``; the rest are steady.
    Returns ``first_epoch_s`` and ``epoch_time_s`` in seconds (median of steady epochs),
    ``throughput_sps`` in samples per second, and ``step_time_ms`` {p50, p90} over steady steps.
    Figures that cannot be computed (no steady epoch) are None.
    """
    first = epochs[0]["seconds"] if epochs else None
    steady = epochs[1:]
    if not steady:
        return {"first_epoch_s": first, "epoch_time_s": None, "throughput_sps": None, "step_time_ms": None}
    epoch_time = statistics.median(e["seconds"] for e in steady)
    samples = statistics.median(e["samples"] for e in steady)
    steps = [ms for e in steady for ms in e.get("step_times_ms") or []]
    return {
        "first_epoch_s": first,
        "epoch_time_s": epoch_time,
        "throughput_sps": samples / epoch_time if epoch_time > 0 else None,
        "step_time_ms": {"p50": percentile(steps, 50), "p90": percentile(steps, 90)} if steps else None,
    }


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
