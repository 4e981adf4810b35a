"""Synthetic per-window throughput traces and batch-size curves with known truth, for replaying the
rules of `benchharness.stats`. Everything is seeded (numpy default_rng), so the corpus is the same
on every run.

A trace is one trial's steady windows, in samples/s. Full length is 19 windows: the StopRule
default max_epochs = 20 epochs in all, minus 1 warm-up epoch.

Kinds (noise is gaussian, relative to the level):
    steady       level T, 1 % noise
    noisy        level T, 5 % noise
    outliers     steady plus 1-3 dips of 25-35 % at random windows (a GC pause, a checkpoint)
    bursty       steady plus background load: an on/off square wave with random run lengths; each
                 burst lowers throughput by 20-40 %
    level_shift  steady with a step of 10-25 % (up or down) at a random window of the middle third
    slow_drift   steady with a linear drift of 10-20 % (up or down) over the trace

*Stable* kinds are steady, noisy and outliers: stationary around T (a dip is not a regime), so the
full-length median estimates T and an early stop can be compared with it.

Curves: batches 32..512 with a true throughput per batch from a step-time model
``step_s = ((t0)**p + (b / Tmax)**p) ** (1 / p)`` (a fixed per-step overhead t0 and a per-sample
cost 1 / Tmax, blended with sharpness p; the knee sits at b = t0 * Tmax), in four shapes:
    knee       the knee between batch 48 and 384, sharpness p 2..8
    plateau    the knee at or below batch 16: every batch near the top
    rising     the knee beyond batch 1000: each doubling still gains a lot
    near_tie   a plateau with one batch placed at 93-97 % of the best: within 2 % of the line
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchharness.stats import StopRule, stop_decision

FULL_WINDOWS = 19
KINDS = ("steady", "noisy", "outliers", "bursty", "level_shift", "slow_drift")
STABLE_KINDS = ("steady", "noisy", "outliers")
BATCHES = (32, 64, 128, 256, 512)
SHAPES = ("knee", "plateau", "rising", "near_tie")


# -- traces ----------------------------------------------------------------------------------------

def _noise(rng, n, rel):
    return 1 + rel * rng.standard_normal(n)


def _steady(truth, rng, n):
    return truth * _noise(rng, n, 0.01)


def _noisy(truth, rng, n):
    return truth * _noise(rng, n, 0.05)


def _outliers(truth, rng, n):
    x = _steady(truth, rng, n)
    dips = rng.choice(n, size=rng.integers(1, 4), replace=False)
    x[dips] *= 1 - rng.uniform(0.25, 0.35, dips.size)
    return x


def _bursty(truth, rng, n):
    x = _steady(truth, rng, n)
    i, on = 0, rng.random() < 0.3
    while i < n:
        run = int(rng.geometric(1 / 3 if on else 1 / 5))  # mean burst 3 windows, mean calm 5
        if on:
            x[i:i + run] *= 1 - rng.uniform(0.2, 0.4)
        i, on = i + run, not on
    return x


def _level_shift(truth, rng, n):
    x = _steady(truth, rng, n)
    at = rng.integers(n // 3, 2 * n // 3 + 1)
    x[at:] *= 1 + rng.choice([-1, 1]) * rng.uniform(0.10, 0.25)
    return x


def _slow_drift(truth, rng, n):
    x = _steady(truth, rng, n)
    return x * (1 + rng.choice([-1, 1]) * rng.uniform(0.10, 0.20) * np.linspace(0, 1, n))


_MAKERS = {"steady": _steady, "noisy": _noisy, "outliers": _outliers, "bursty": _bursty,
           "level_shift": _level_shift, "slow_drift": _slow_drift}


def trace(kind: str, truth: float, rng: np.random.Generator, n: int = FULL_WINDOWS) -> np.ndarray:
    """One trace of ``kind`` around the true throughput ``truth`` (samples/s), ``n`` windows."""
    return _MAKERS[kind](truth, rng, n)


def corpus(kind: str, count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` full-length traces of ``kind``, true levels spread over 200..20,000 samples/s."""
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    return [trace(kind, float(rng.uniform(200, 20_000)), rng) for _ in range(count)]


def replay(windows, rule: StopRule = StopRule(), warmup_epochs: int = 1) -> tuple[np.ndarray, str]:
    """Replay the stop rule on a full trace: the windows it would have measured, and why it stopped.
    Elapsed time counts 1 s per window (only matters with a max_measure_s)."""
    for n in range(1, len(windows) + 1):
        reason = stop_decision(windows[:n], float(n), warmup_epochs + n, rule)
        if reason:
            return np.asarray(windows[:n]), reason
    return np.asarray(windows), "trace_end"


# -- batch-size curves -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Curve:
    """A batch-size curve with known truth: true throughput per batch (None = OOM) and the trace
    kind each batch's windows are drawn from."""

    shape: str
    batches: tuple[int, ...]
    truth: tuple[float | None, ...]
    kinds: tuple[str, ...]


def _step_model(rng, knee, p):
    tmax = float(rng.uniform(1_000, 50_000))
    b = np.asarray(BATCHES, dtype=float)
    return tmax * b / (knee ** p + b ** p) ** (1 / p)


def _near_tie(rng):
    # Below the tied batch the curve rises clearly; above it, it sits on a plateau (+-1 %).
    at = int(rng.integers(1, len(BATCHES) - 1))
    ratio = np.empty(len(BATCHES))
    ratio[at + 1:] = 1 + rng.uniform(-0.01, 0.01, len(BATCHES) - at - 1)
    ratio[at] = rng.uniform(0.93, 0.97) * ratio[at + 1:].max()
    ratio[:at] = ratio[at] * 0.8 ** np.arange(at, 0, -1)
    return float(rng.uniform(1_000, 50_000)) * ratio


def _truth(shape, rng):
    if shape == "knee":
        return _step_model(rng, float(np.exp(rng.uniform(np.log(48), np.log(384)))), rng.uniform(2, 8))
    if shape == "plateau":
        return _step_model(rng, float(rng.uniform(4, 16)), rng.uniform(2, 8))
    if shape == "rising":
        return _step_model(rng, float(rng.uniform(1_000, 4_000)), rng.uniform(2, 8))
    return _near_tie(rng)


def curve(shape: str, rng: np.random.Generator, kinds=STABLE_KINDS, p_oom: float = 0.2) -> Curve:
    """One random curve of ``shape``; with probability ``p_oom`` the largest batch is an OOM."""
    truth = [float(t) for t in _truth(shape, rng)]
    if rng.random() < p_oom:
        truth[-1] = None
    picked = tuple(str(k) for k in rng.choice(kinds, size=len(BATCHES)))
    return Curve(shape, BATCHES, tuple(truth), picked)


def true_recommended(c: Curve, tolerance: float = 0.05) -> int:
    """The pays-off rule applied to the true throughputs."""
    ok = [(b, t) for b, t in zip(c.batches, c.truth) if t is not None]
    top = max(t for _, t in ok)
    return next(b for b, t in ok if t >= (1 - tolerance) * top)


def curve_traces(c: Curve, repeats: int, rng: np.random.Generator) -> list[list[np.ndarray] | None]:
    """Per batch: ``repeats`` full-length traces (one per process), or None for an OOM batch."""
    return [None if t is None else [trace(k, t, rng) for _ in range(repeats)]
            for t, k in zip(c.truth, c.kinds)]
