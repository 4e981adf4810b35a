"""What the side-by-side benchmarks share: the ratio of two medians with its spread.

A side-by-side benchmark measures two things interleaved (ABBA or ABAB) so drift hits both; its
figure is the ratio of their medians. The spread says how far that ratio can be trusted on this
machine: each side's quartiles, a bootstrap 95 % interval of the ratio (each side resampled on its
own, seeded), and the per-round ratios' range.
"""

from __future__ import annotations

import statistics


def quartiles(values: list[float]) -> tuple[float, float]:
    """(25th, 75th) percentile; both the value itself for a single value."""
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def describe(values: list[float]) -> dict:
    """Median, quartiles, range and count of one side's values."""
    q1, q3 = quartiles(values)
    return {"median": statistics.median(values), "q1": q1, "q3": q3, "min": min(values), "max": max(values),
            "n": len(values)}


def ratio_interval(a: list[float], b: list[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Bootstrap 95 % interval of median(a) / median(b), each side resampled on its own."""
    import numpy as np

    rng = np.random.default_rng(seed)
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ma = np.median(rng.choice(xa, (resamples, len(xa))), axis=1)
    mb = np.median(rng.choice(xb, (resamples, len(xb))), axis=1)
    lo, hi = np.percentile(ma / mb, [2.5, 97.5])
    return float(lo), float(hi)


def median_interval(values: list[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Bootstrap 95 % interval of the median of ``values`` (paired ratios, for one)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(np.asarray(values, dtype=float), (resamples, len(values))), axis=1)
    lo, hi = np.percentile(medians, [2.5, 97.5])
    return float(lo), float(hi)


def compare(a: list[float], b: list[float], round_ratios: list[float] | None = None, digits: int = 4) -> dict:
    """``a`` against ``b``: each side described, the ratio of medians, its bootstrap interval and the
    per-round ratios (JSON-ready, rounded: this goes into pytest-benchmark's ``extra_info``)."""
    lo, hi = ratio_interval(a, b)
    out = {"a": describe(a), "b": describe(b), "ratio": statistics.median(a) / statistics.median(b),
           "ratio_ci95": [lo, hi]}
    if round_ratios:
        out["round_ratios"] = list(round_ratios)
        out["round_ratio_median"] = statistics.median(round_ratios)
    return _rounded(out, digits)


def _rounded(value, digits):
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v, digits) for v in value]
    return value


def spread_text(side: dict, unit: str = "s", fmt: str = ".4f") -> str:
    """``0.5123 s (IQR 0.5010-0.5300, n=24)``."""
    return f"{side['median']:{fmt}} {unit} (IQR {side['q1']:{fmt}}-{side['q3']:{fmt}}, n={side['n']})"
