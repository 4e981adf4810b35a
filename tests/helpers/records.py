"""Records and run directories for tests, built through the real record builder."""

from __future__ import annotations

from benchharness.assemble import RunContext, WorkerRun, build_record
from benchharness.plan import Trial

RUN_INFO = {"scenario": {"source": "s.yaml", "sha256": "0" * 64, "resolved": {"name": "s"}}, "environment": {}}


def worker_events(epoch_seconds=(2.0, 1.0, 1.0), samples=1000, status="ok", start=100.0, **result) -> list[dict]:
    """The events of a worker that ran ``len(epoch_seconds)`` epochs and reported ``status``.
    Phase marks are 0.5 s apart; each epoch starts 0.01 s after the previous one ended."""
    t, events = start, [{"event": "started", "t_monotonic": start, "pid": 1}]
    for name in ("imported", "built", "costed", "ready", "fit_start"):
        t += 0.5
        events.append({"event": name, "t_monotonic": t})
    for i, seconds in enumerate(epoch_seconds):
        t += 0.01
        events.append({"event": "epoch_start", "t_monotonic": t, "epoch": i})
        t += seconds
        events.append({"event": "epoch_end", "t_monotonic": t, "epoch": i, "seconds": seconds, "samples": samples,
                       "steps": 10, "loss": 1.0, "accuracy": 0.5, "step_times_ms": [seconds * 100] * 10})
    for name in ("fit_end", "summaries_written", "evaluated"):
        t += 0.5
        events.append({"event": name, "t_monotonic": t})
    events.append({"event": "result", "t_monotonic": t + 0.5, "status": status,
                   "error": None if status == "ok" else "boom", **result})
    return events


def make_record(tid: str, batch: int = 32, status: str = "ok", epoch_seconds=(2.0, 1.0, 1.0), repeat: int = 0,
                params: dict | None = None, earlier: list[dict] | None = None, attempt: int = 1, **result):
    """A ``TrialRecord`` of a trial with ``params`` (default: just ``batch_size`` and a timeout)."""
    events = worker_events(epoch_seconds, status=status, **result)
    worker = WorkerRun(events, 0 if status == "ok" else 1, False, 99.0, events[-1]["t_monotonic"] + 0.25)
    trial = Trial(tid, repeat, {"batch_size": batch, "timeout_s": 60.0, **(params or {})})
    return build_record(trial, worker, None, RunContext(earlier=earlier or []), attempt)
