"""Time-weighted figures over a window, and whether the samples cover it well enough to mean anything.

Why not a plain mean of the readings: the sampler is a thread on a fixed grid, and after a stall (the
harness's GIL, a swapped-out page, a slow NVML call) it catches up with readings back to back. Those
readings all report the same device state, so a plain mean counts that moment several times. Here
each reading speaks for the time before it, back to the previous reading, and no further back than
``hold_s`` (what one reading can know):

- NVML's utilization and power are averages over the driver's own sample period (1/6 s to 1 s by
  product), so a reading speaks for at most ``max(sampling interval, that period)``;
- the CPU sampler's ``cpu_proc_pct`` and every sampler's ``host_other_cpu_pct`` are means since the
  previous reading (``hold_s=None``: they speak for exactly that interval, however long).

The time a window's readings speak for, over its length, is its *coverage*. A figure is withheld
(``None`` with a reason) when coverage is under ``MIN_COVERAGE``, or when the window is shorter than
twice the averaging period: an average over a period longer than half the window mixes in what came
before or after it.
"""

from __future__ import annotations

from typing import NamedTuple

MIN_COVERAGE = 0.9
MIN_PERIODS_PER_WINDOW = 2.0
SUGGESTION = "raise samples_per_epoch (or, with samples_per_epoch: auto, window_s) for longer windows"


class Span(NamedTuple):
    """One reading's value and the interval [t0, t1] it speaks for (seconds on time.monotonic())."""

    t0: float
    t1: float
    value: float


def spans(readings: list[tuple[float, float]], hold_s: float | None) -> list[Span]:
    """The interval each reading ``(t, value)`` speaks for: back to the previous reading, and at most
    ``hold_s`` (None: no limit, the first reading then speaks for nothing)."""
    out, previous = [], None
    for t, value in sorted(readings):
        t0 = t - hold_s if hold_s is not None else (previous if previous is not None else t)
        if previous is not None:
            t0 = max(t0, previous)
        out.append(Span(t0, t, value))
        previous = t
    return out


def _clipped(spans_: list[Span], start: float, end: float) -> list[tuple[float, float]]:
    """(seconds inside [start, end], value) of every span that overlaps the window."""
    return [(min(s.t1, end) - max(s.t0, start), s.value) for s in spans_ if s.t1 > start and s.t0 < end]


def covered_s(spans_: list[Span], start: float, end: float) -> float:
    """Seconds of [start, end] that some reading speaks for (spans never overlap: see ``spans``)."""
    return sum(w for w, _ in _clipped(spans_, start, end))


def weighted_mean(spans_: list[Span], start: float, end: float) -> float | None:
    pieces = [(w, v) for w, v in _clipped(spans_, start, end) if w > 0]
    total = sum(w for w, _ in pieces)
    return sum(w * v for w, v in pieces) / total if total > 0 else None


def weighted_percentile(spans_: list[Span], start: float, end: float, q: float) -> float | None:
    """The value below which ``q`` % of the covered time lies (lower value at a tie)."""
    pieces = sorted((v, w) for w, v in _clipped(spans_, start, end) if w > 0)
    total = sum(w for _, w in pieces)
    if total <= 0:
        return None
    cumulative = 0.0
    for value, weight in pieces:
        cumulative += weight
        if cumulative >= total * q / 100 - 1e-12:
            return value
    return pieces[-1][0]


def withheld_because(length_s: float, coverage: float | None, period_s: float, period_source: str) -> str | None:
    """Why a window's time-weighted figures must not be shown, in words; None when they may be."""
    if length_s < MIN_PERIODS_PER_WINDOW * period_s:
        return (f"the window ({length_s:.2f} s) is shorter than twice {period_source} ({period_s:.2f} s); "
                f"{SUGGESTION}")
    if coverage is None or coverage < MIN_COVERAGE:
        share = 0 if coverage is None else coverage * 100
        return f"the samples cover {share:.0f} % of the window (under {MIN_COVERAGE:.0%}); {SUGGESTION}"
    return None
