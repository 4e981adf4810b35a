"""The trial record: its fields (DESIGN.md's contract), the timing statistics, and outcome classes.

Pure functions only: the parent builds records from what the worker reported, so the statistics
are tested without TensorFlow.
"""

from __future__ import annotations

import statistics

from benchharness import SCHEMA_VERSION

def empty_record(trial_id: str, repeat: int, params: dict) -> dict:
    """A record with every contract field present and ``None`` where nothing was measured."""
    return {
        "schema_version": SCHEMA_VERSION,
        "trial_id": trial_id,
        "repeat": repeat,
        "status": None,
        "error": None,
        "params": dict(params),
        "device": None,
        "epochs": [],
        "first_epoch_s": None,
        "epoch_time_s": None,
        "throughput_sps": None,
        "step_time_ms": None,
        "telemetry": None,
        "eval": None,
        "pruning": None,
        "sizes": None,
        "tflite_accuracy": None,
        "flops_per_sample": None,
        "mfu": None,
        "cost": None,
        "dense_pretrain": None,
        "startup_s": None,
        "wall_s": None,
    }


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


OOM_MARKERS = ("ResourceExhaustedError", "OOM when allocating", "out of memory")


def classify(result: dict | None, returncode: int | None, timed_out: bool, log_tail: str,
             timeout_s: float) -> tuple[str, str | None]:
    """Decide a trial's ``(status, error)`` from what the worker reported and how it ended.

    ``result`` is the worker's final event (None if it died first); ``returncode`` follows
    ``subprocess`` (negative = killed by that signal).
    """
    if timed_out:
        return "timeout", f"exceeded timeout_s={timeout_s:g}; the worker's process group was killed"
    if result is not None:
        return result["status"], result.get("error")
    tail = log_tail.strip()
    if any(marker in tail for marker in OOM_MARKERS):
        return "oom", f"worker died out of memory (exit {returncode}): {_last_lines(tail, 3)}"
    if returncode == -9:
        return "oom", ("worker killed by SIGKILL before reporting, not by the harness; "
                       "the kernel's OOM killer is the usual sender")
    return "failed", f"worker exited with code {returncode} before reporting: {_last_lines(tail, 5)}"


def _last_lines(text: str, count: int) -> str:
    return " | ".join(text.splitlines()[-count:]) if text else "(no output)"
