"""Throughput statistics for benchmark trials: pure functions, no TensorFlow, no file I/O.

A *window* is one steady epoch (after warm-up); its figure is throughput in samples/s. This module
turns a trial's window figures into an estimate with its uncertainty (`throughput_interval`),
decides when a trial may stop measuring (`stop_decision`, after BenchmarkDotNet's MaxRelativeError
stop), tells a non-steady trace from noise (`has_trend`), decides when the warm-up has ended
(`warmup_settled`), answers "does a larger batch pay off?" from intervals (`decide`); a time
to accuracy over seeds is `trimmed_interval`, compared as a rate (`inverted`) with the same rule; and
it says whether a change between two runs is one the data support (`ratio_of_trials`, `change_verdict`).
Style after asv's ``_stats.py``: small functions, documented contracts.

Intervals
    The interval of the median that the trial reports: centred on the median, with the Student t
    half-width of the mean at ``confidence`` (95 %) widened by sqrt(pi/2), the median's standard
    error over the mean's under gaussian noise. Within one trial the windows are not
    independent (thermal state and background load persist from one epoch to the next), so a
    within-trial interval is narrower than the truth. The analysis across repeats therefore uses
    `trial_level_interval` over the repeats' medians: one process is one independent sample.

Stop rule (`stop_decision`)
    Stop at the first of: the figure is precise enough (``precision``), ``max_epochs``, or the time
    budget. The trial's reported figure is the median of its windows, so "precise enough" widens
    the mean's interval by sqrt(pi/2), the ratio of the median's standard error to the mean's
    under gaussian noise.

The pays-off rule (`decide`)
    The recommended batch is the smallest measured batch whose throughput is within ``tolerance``
    (5 %) of the best. With intervals, the true best throughput M lies in ``[max low, max high]``
    over the measured points (if every interval covers its truth), so each measured batch b is

    * *clearly within*  if ``low_b  >= (1 - tolerance) * max high``  (in for any M the data allow),
    * *clearly outside* if ``high_b <  (1 - tolerance) * max low``   (out for any M the data allow),
    * *ambiguous* otherwise.

    The answer is *decided* when the smallest measured batch that is not clearly outside is clearly
    within, or is the only batch not clearly outside: then every smaller measured batch is clearly
    outside, and that batch is the answer for every set of true values the intervals allow (the true
    best is never clearly outside, so a lone candidate is it). Comparing a low end with a high end adds the two
    half-widths instead of combining them in quadrature: deliberately conservative, because a
    within-trial interval is too narrow (see above) and an adaptive stop picks lucky, narrow
    intervals more often than their nominal confidence says.

    Otherwise the answer is *undecided*: ``recommended_batch`` is the median-based choice (the rule
    applied to the point estimates, ``Interval.median``) and ``indistinguishable`` is the contiguous
    range of measured batches from the smallest one not clearly outside up to the first clearly-within
    one (or the largest measured, if none is clearly within); the true answer lies in that range,
    and so does the median-based choice.

    Points with no interval (OOM, failed) take no part in the comparison; a failed batch below the
    recommended one is named in the reason. One measured point is decided only if it is the sole
    point of the curve: with other points failed there is nothing to compare it with.

The change rule (`change_verdict`, for ``benchharness compare``)
    A change between two runs is a ratio head / base with an interval: over the trials (each process
    one sample) a Welch t interval on the log scale at 90 % (`ratio_of_trials`: a one-sided test at
    5 %), or from each side's own interval where a side has one trial (`ratio_of_intervals`). It is
    *worse* only when the ratio is past the threshold and its interval lies entirely beyond 1; past
    the threshold with an interval that reaches 1 it is *noise*. The threshold does most of the
    work against false positives: at 5 % window noise, 8 windows and 3 repeats an unchanged point is
    flagged about 0.13 % of the time and a 10 % slowdown found 99 % (docs/design.md, "Comparing runs").
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = [
    "Interval", "throughput_interval", "t_quantile", "t_quantiles", "use_t_quantiles", "trial_level_interval",
    "trimmed_interval", "inverted", "has_trend", "StopRule", "stop_decision", "warmup_settled", "Point", "Answer",
    "decide", "classify", "median_choice", "RatioInterval", "ratio_of_trials", "ratio_of_intervals", "change_verdict",
]

# has_trend: below this many windows a halves comparison has too few points per half to test.
MIN_TREND_WINDOWS = 6
# has_trend: a change between the half medians smaller than this is not worth flagging, however
# significant: 3 % is above what a steady trace shows (1 % noise) and below a real level shift.
MIN_TREND_CHANGE = 0.03
# warmup_settled: the last quarter's median step time within this of the previous quarter's.
SETTLED_CHANGE = 0.10
# stop_decision: a trial reports the median of its windows, whose standard error under gaussian
# noise is sqrt(pi / 2) ~ 1.25 times the mean's; the stop scales the mean's interval by this, so that
# "precision" holds for the figure reported, not for the mean.
MEDIAN_SE_FACTOR = math.sqrt(math.pi / 2)
# The confidence of every interval the harness reports and the stop rule watches.
CONFIDENCE = 0.95


# -- intervals -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Interval:
    """A throughput estimate (samples/s): the median with its interval (see the module docstring).

    ``cv`` is the sample standard deviation over the mean (None when n == 1)."""

    median: float
    mean: float
    low: float
    high: float
    n: int
    cv: float | None

    @property
    def half_width_rel(self) -> float:
        """Half-width over the mean (0.02 = +-2 %); 0 for a single figure, inf for a mean <= 0."""
        return (self.high - self.low) / 2 / self.mean if self.mean > 0 else math.inf

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high


def _figures(values: Sequence[float]) -> list[float]:
    """The figures as floats; ValueError unless all are finite and > 0 (throughputs)."""
    x = [float(v) for v in np.asarray(values, dtype=float).ravel()]
    if not all(math.isfinite(v) and v > 0 for v in x):
        raise ValueError(f"throughput figures must be finite and > 0, got {x!r}")
    return x


# Student t quantiles given by the caller: a worker checks the stop rule without importing
# scipy.stats (1.2 s here, which would land inside the trial's fixed cost); the parent computes the
# table with `t_quantiles` and sends it in the trial's spec.
_GIVEN_T: dict[tuple[float, int], float] = {}


def t_quantiles(confidence: float, max_dof: int) -> dict[int, float]:
    """The two-sided ``confidence`` Student t quantile for 1..max_dof degrees of freedom (scipy)."""
    return {dof: _t_quantile(confidence, dof) for dof in range(1, max_dof + 1)}


def t_quantile(confidence: float, dof: int) -> float:
    """The two-sided ``confidence`` Student t quantile at ``dof`` degrees of freedom."""
    return _t_quantile(confidence, dof)


def use_t_quantiles(confidence: float, table: dict[int, float]) -> None:
    """Use ``table`` (from `t_quantiles`) instead of scipy for these degrees of freedom."""
    _GIVEN_T.update({(confidence, int(dof)): float(q) for dof, q in table.items()})


@functools.lru_cache(maxsize=256)
def _t_quantile(confidence: float, dof: int) -> float:
    # Cached: the stop rule asks for the same few quantiles after every window.
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if (confidence, dof) in _GIVEN_T:
        return _GIVEN_T[(confidence, dof)]
    from scipy import stats as sps

    return float(sps.t.ppf(0.5 + confidence / 2, dof))


def _median(x: list[float]) -> float:
    s = sorted(x)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def _t_interval(x: list[float], confidence: float) -> Interval | None:
    # Plain floats, not numpy: the stop rule calls this after every window of thousands of replays,
    # and for n <= a few dozen numpy's per-call overhead is most of the time.
    n = len(x)
    if n == 0:
        return None
    mean = math.fsum(x) / n
    if n == 1:
        return Interval(x[0], mean, mean, mean, 1, None)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in x) / (n - 1))
    # The figure reported is the median: the interval is centred on it, and its half-width is the
    # mean's t half-width times sqrt(pi/2), the median's standard error over the mean's under
    # gaussian noise. A mean-centred interval could miss its own median on a skewed trace.
    half = _t_quantile(confidence, n - 1) * sd / math.sqrt(n) * MEDIAN_SE_FACTOR
    median = _median(x)
    return Interval(median, mean, median - half, median + half, n, sd / mean)


def throughput_interval(windows: Sequence[float], confidence: float = CONFIDENCE) -> Interval | None:
    """The 95 % interval of the median throughput over one trial's window figures (samples/s):
    Student t over the windows, widened by sqrt(pi/2) and centred on the median.

    n == 0: None. n == 1: low == high == the figure, cv None.
    Caveat: consecutive windows of one process are autocorrelated (thermal state, background
    load), so this interval is narrower than the truth; it is what the stop rule watches, while the
    analysis across repeats uses `trial_level_interval` (one process = one independent sample)."""
    return _t_interval(_figures(windows), confidence)


def trial_level_interval(medians: Sequence[float], confidence: float = CONFIDENCE) -> Interval | None:
    """The same Student-t arithmetic over the repeats' median throughputs (one per process).

    This is the interval the analysis uses: repeats run in separate processes, so their medians are
    independent samples and the interval means what it says (unlike a within-trial one)."""
    return _t_interval(_figures(medians), confidence)


def trimmed_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval | None:
    """The figure of a time to accuracy over seeds: the mean after dropping the fastest and the
    slowest when there are 5 or more (MLPerf's rule for its time-to-train results), with the
    Student t interval of the mean over the values kept (``median`` holds that mean: it is the
    figure reported; its low end is clamped at 0). Values must be finite and > 0; None for none.
    The interval over trimmed values is somewhat narrower than the truth (the extremes are gone):
    with fewer than 5 seeds nothing is trimmed."""
    x = sorted(_figures(values)) if len(values) else []
    kept = x[1:-1] if len(x) >= 5 else x
    n = len(kept)
    if n == 0:
        return None
    mean = math.fsum(kept) / n
    if n == 1:
        return Interval(mean, mean, mean, mean, 1, None)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in kept) / (n - 1))
    half = _t_quantile(confidence, n - 1) * sd / math.sqrt(n)
    # A time or an energy is positive: the part of the interval below 0 holds no possible value.
    return Interval(mean, mean, max(0.0, mean - half), mean + half, n, sd / mean)


def inverted(interval: Interval) -> Interval:
    """The interval of 1 / value (a time as a rate, so that higher is better and ``decide`` applies):
    the ends swap; a low end at or below 0 leaves the rate unbounded above."""
    high = 1 / interval.low if interval.low > 0 else math.inf
    figure = 1 / interval.median
    return Interval(figure, 1 / interval.mean, 1 / interval.high, high, interval.n, interval.cv)


# -- steady state ----------------------------------------------------------------------------------

def has_trend(windows: Sequence[float], alpha: float = 0.01) -> bool:
    """True if the windows show no steady state: a level shift or drift, tested, not guessed.

    Flags only a change that is both practically large (half medians >= 3 % apart; medians so that
    a few dips do not count as a shift) and significant: the Welch t-test between the halves or the
    least-squares slope has p < alpha / 2 (Bonferroni over the two tests). Fewer than 6 windows:
    False (too few to test)."""
    x = np.asarray(_figures(windows))
    if x.size < MIN_TREND_WINDOWS:
        return False
    first, second = x[: x.size // 2], x[x.size // 2:]
    base = float(np.median(first))
    if abs(float(np.median(second)) - base) / base < MIN_TREND_CHANGE:
        return False
    return _trend_p(first, second, x) < alpha / 2


def _trend_p(first: np.ndarray, second: np.ndarray, x: np.ndarray) -> float:
    """The smaller p-value of the halves' Welch test and the regression slope (nan counts as 1)."""
    from scipy import stats as sps

    # Identical figures in a half make scipy warn and return nan: no evidence, the other test speaks.
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        welch = sps.ttest_ind(first, second, equal_var=False).pvalue
        slope = sps.linregress(np.arange(x.size), x).pvalue
    ps = [float(p) for p in (welch, slope) if np.isfinite(p)]
    return min(ps, default=1.0)


def warmup_settled(step_times_ms: Sequence[float]) -> bool:
    """Whether a warm-up epoch's step times (ms, in order) have settled by its end.

    Settled: the median of the last quarter of the steps is within 10 % of the median of the
    quarter before it (the first half is ignored: tracing and autotuning live there). Fewer than 4
    steps: False (cannot tell; the caller runs another warm-up epoch, within its epoch cap)."""
    x = np.asarray(step_times_ms, dtype=float).ravel()
    if x.size < 4:
        return False
    quarter = x.size // 4
    last = float(np.median(x[-quarter:]))
    previous = float(np.median(x[-2 * quarter:-quarter]))
    return previous > 0 and abs(last - previous) / previous <= SETTLED_CHANGE


# -- when to stop measuring ------------------------------------------------------------------------

@dataclass(frozen=True)
class StopRule:
    """When a trial stops measuring.

    min_steady_epochs: windows needed before the precision stop may fire.
    max_epochs: cap on epochs in all, warm-up included.
    precision: target relative half-width of the 95 % interval of the trial's figure, the median
        (0.02 = +-2 %); see `stop_decision` for how that interval is estimated.
    max_measure_s: cap on the seconds spent in ``fit`` (warm-up included), or None for no cap."""

    min_steady_epochs: int = 3
    max_epochs: int = 20
    precision: float = 0.02
    max_measure_s: float | None = None

    def __post_init__(self):
        if self.min_steady_epochs < 2:
            raise ValueError("min_steady_epochs must be >= 2: one window has no interval")
        if self.max_epochs < 1 or self.precision <= 0:
            raise ValueError("max_epochs must be >= 1 and precision > 0")
        if self.max_measure_s is not None and self.max_measure_s <= 0:
            raise ValueError("max_measure_s must be > 0 or None")


def stop_decision(windows: Sequence[float], elapsed_s: float, epochs_done: int,
                  rule: StopRule) -> str | None:
    """Called after each window: None to go on, else why to stop.

    windows: the steady window figures so far (samples/s); elapsed_s: seconds spent measuring;
    epochs_done: epochs run so far, warm-up included. Reasons, first match wins:
    "precision": n >= min_steady_epochs and half_width_rel <= precision, where half_width_rel is
        that of `throughput_interval` at 95 %: the median's interval, sqrt(pi/2) x the mean's.
        Judged on the mean's interval instead, a +-2 % target lets about 6 % of 1 %-noise traces
        stop at 3-4 windows with a median more than 1 % off the full-length one.
    "max_epochs": epochs_done >= max_epochs.
    "time_budget": max_measure_s is set and elapsed_s >= max_measure_s."""
    interval = throughput_interval(windows, CONFIDENCE)
    if (interval is not None and interval.n >= rule.min_steady_epochs
            and interval.half_width_rel <= rule.precision):
        return "precision"
    if epochs_done >= rule.max_epochs:
        return "max_epochs"
    if rule.max_measure_s is not None and elapsed_s >= rule.max_measure_s:
        return "time_budget"
    return None


# -- does a larger batch pay off? ------------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    """One batch size of a curve; interval None = no ok measurement (OOM, failed)."""

    batch_size: int
    interval: Interval | None


@dataclass(frozen=True)
class Answer:
    """The pays-off answer; see the module docstring for the criterion."""

    decided: bool
    recommended_batch: int | None
    indistinguishable: tuple[int, ...]
    best_batch: int | None
    reason: str


WITHIN, OUTSIDE, AMBIGUOUS = "within", "outside", "ambiguous"


def classify(points: Sequence[Point], tolerance: float = 0.05) -> dict[int, str]:
    """Each measured batch as "within", "outside" or "ambiguous" of ``tolerance`` of the best,
    for every best throughput the intervals allow (see the module docstring)."""
    measured = [p for p in points if p.interval is not None]
    if not measured:
        return {}
    best_low = max(p.interval.low for p in measured)
    best_high = max(p.interval.high for p in measured)
    out = {}
    for p in measured:
        if p.interval.low >= (1 - tolerance) * best_high:
            out[p.batch_size] = WITHIN
        elif p.interval.high < (1 - tolerance) * best_low:
            out[p.batch_size] = OUTSIDE
        else:
            out[p.batch_size] = AMBIGUOUS
    return out


def median_choice(measured: Sequence[Point], tolerance: float) -> tuple[int, int]:
    """(recommended, best) by the point estimates alone: the rule without the intervals. Every point
    must have an interval (its ``median`` is the figure)."""
    best = max(measured, key=lambda p: (p.interval.median, -p.batch_size))
    line = (1 - tolerance) * best.interval.median
    chosen = next(p for p in measured if p.interval.median >= line)
    return chosen.batch_size, best.batch_size


def decide(points: Sequence[Point], tolerance: float = 0.05) -> Answer:
    """The pays-off answer for one curve: the smallest batch within ``tolerance`` of the best,
    decided only when the intervals separate it (criterion in the module docstring)."""
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance}")
    ordered = sorted(points, key=lambda p: p.batch_size)
    if len({p.batch_size for p in ordered}) != len(ordered):
        raise ValueError("one point per batch size: merge repeats into one interval first")
    measured = [p for p in ordered if p.interval is not None]
    if not measured:
        return Answer(False, None, (), None, "no batch size has an ok measurement, so there is no answer")
    chosen, best = median_choice(measured, tolerance)
    if len(measured) == 1:
        return _single_point(ordered, chosen)
    status = classify(measured, tolerance)
    candidates = _candidates(measured, status)
    span = (min(candidates[0], chosen), max(candidates[-1], chosen))
    range_ = tuple(p.batch_size for p in measured if span[0] <= p.batch_size <= span[1])
    # One candidate left is the answer even when its own interval is wide: every other batch is
    # clearly outside, and the true best (never clearly outside) must be this one.
    if len(candidates) == 1:
        return Answer(True, candidates[0], (candidates[0],), best,
                      _decided_reason(ordered, candidates[0], best, tolerance))
    return Answer(False, chosen, range_, best, _undecided_reason(measured, status, range_, tolerance))


def _single_point(ordered: list[Point], chosen: int) -> Answer:
    if len(ordered) == 1:
        return Answer(True, chosen, (chosen,), chosen, f"batch {chosen} is the only batch size of the curve")
    failed = ", ".join(str(p.batch_size) for p in ordered if p.interval is None)
    return Answer(False, chosen, (chosen,), chosen,
                  f"only batch {chosen} has a measurement (batch {failed} did not), so there is nothing "
                  "to compare it with")


def _candidates(measured: list[Point], status: dict[int, str]) -> list[int]:
    """Batches that may be the true answer: not clearly outside, up to the first clearly within."""
    out = []
    for p in measured:
        if status[p.batch_size] == OUTSIDE:
            continue
        out.append(p.batch_size)
        if status[p.batch_size] == WITHIN:
            break
    return out


def _decided_reason(ordered: list[Point], chosen: int, best: int, tolerance: float) -> str:
    text = (f"batch {chosen} is within {tolerance:.0%} of the best (batch {best}) for every value the "
            "intervals allow")
    below = [p for p in ordered if p.batch_size < chosen]
    if any(p.interval is not None for p in below):
        text += ", and every smaller measured batch is clearly below that line"
    failed = [str(p.batch_size) for p in below if p.interval is None]
    if failed:
        text += f" (batch {', '.join(failed)} has no measurement and was not compared)"
    return text


def _undecided_reason(measured: list[Point], status: dict[int, str], range_: tuple[int, ...],
                      tolerance: float) -> str:
    names = ", ".join(map(str, range_))
    unclear = [b for b in range_ if status.get(b) == AMBIGUOUS]
    text = f"the intervals cannot separate batches {names}: "
    if unclear:
        verb = "straddles" if len(unclear) == 1 else "straddle"
        text += f"batch {', '.join(map(str, unclear))} {verb} the {tolerance:.0%} line"
    else:
        text += f"no batch is clearly within {tolerance:.0%} of the best"
    widest = max(measured, key=lambda p: p.interval.half_width_rel)
    return text + (f" (widest interval: batch {widest.batch_size}, +-{widest.interval.half_width_rel:.1%}); "
                   "more repeats or a tighter stop precision would narrow the intervals and separate them")


# -- did a change make it slower? (benchharness compare) -------------------------------------------

# compare: the one-sided level of the trial-level test; its interval is the two-sided 90 % one.
COMPARE_CONFIDENCE = 0.90


@dataclass(frozen=True)
class RatioInterval:
    """head / base with its interval. ``method``: "trials" (Welch t over the trials' log figures),
    "intervals" (the two sides' own intervals, ends over opposite ends), "exact" (no spread on
    either side: the interval is the ratio itself)."""

    ratio: float
    low: float
    high: float
    method: str


def ratio_of_trials(base: Sequence[float], head: Sequence[float],
                    confidence: float = COMPARE_CONFIDENCE) -> RatioInterval:
    """The ratio of geometric means head / base with its Welch t interval on the log scale, each
    trial (process) one sample: two or more figures per side, all finite and > 0 (ValueError else).

    Logs, because a change is a factor and a process's noise is a share of its figure. Welch,
    because a change (a heavier model) may change the spread too. A side whose figures are all equal
    adds no spread; with both such the interval is the ratio itself (an exact figure, e.g. bytes)."""
    x, y = np.log(_figures(base)), np.log(_figures(head))
    if x.size < 2 or y.size < 2:
        raise ValueError("ratio_of_trials needs two or more figures per side")
    d = float(y.mean() - x.mean())
    vx, vy = float(x.var(ddof=1)) / x.size, float(y.var(ddof=1)) / y.size
    if vx + vy <= 0:
        return RatioInterval(math.exp(d), math.exp(d), math.exp(d), "exact")
    dof = (vx + vy) ** 2 / sum(v * v / (n - 1) for v, n in ((vx, x.size), (vy, y.size)) if v > 0)
    half = _t_quantile_real(confidence, dof) * math.sqrt(vx + vy)
    return RatioInterval(math.exp(d), math.exp(d - half), math.exp(d + half), "trials")


def _t_quantile_real(confidence: float, dof: float) -> float:
    """The two-sided Student t quantile for a real number of degrees of freedom (Welch's)."""
    from scipy import stats as sps

    return float(sps.t.ppf(0.5 + confidence / 2, dof))


def ratio_of_intervals(base: Interval, head: Interval) -> RatioInterval:
    """head / base from each side's own interval (one trial's windows, or a point's repeats): the
    ratio of the figures, with the conservative interval ``[head.low / base.high, head.high / base.low]``.
    It lies beyond 1 exactly when the two intervals do not overlap: asv's fallback for too few
    samples, and it adds the half-widths where a test would combine them in quadrature, because a
    within-trial interval is narrower than the truth."""
    if base.median <= 0 or head.median <= 0:
        raise ValueError("ratio_of_intervals needs figures > 0")
    high = head.high / base.low if base.low > 0 else math.inf  # a base interval reaching 0 bounds nothing
    return RatioInterval(head.median / base.median, max(head.low, 0.0) / base.high, high, "intervals")


BETTER, WORSE, SAME, NOISE = "better", "worse", "same", "noise"


def change_verdict(change: RatioInterval | None, ratio: float, higher_is_better: bool, threshold: float) -> str:
    """``worse`` or ``better`` when the ratio is past ``1 -+ threshold`` on that side and its interval
    lies entirely on that side of 1 (the data support a change); ``noise`` when the ratio is past
    the threshold but the interval reaches 1, or there is no interval; ``same`` within the threshold.

    ``change`` None: no interval (one trial without one on a side); ``ratio`` is then the figures'."""
    good = ratio if higher_is_better else 1 / ratio
    if (1 - threshold) < good < 1 / (1 - threshold) or good == 1:  # (a threshold of 0: no change is the same)
        return SAME
    if change is None:
        return NOISE
    low, high = (change.low, change.high) if higher_is_better else (_inverse(change.high), _inverse(change.low))
    if good <= 1 - threshold and high < 1:
        return WORSE
    if good >= 1 / (1 - threshold) and low > 1:
        return BETTER
    return NOISE


def _inverse(value: float) -> float:
    return math.inf if value <= 0 else 1 / value


def ratio_words(ratio: float, interval: tuple[float, float] | list[float] | None, what: str = "throughput",
                missing: str = "no interval", caveat: str | None = None, one_process_a_side: bool = False) -> str:
    """``ratio`` (head / base) in words: "no measurable difference" unless its 95 % interval lies
    entirely on one side of 1; without an interval the bare ratio and ``missing`` (why none);
    with a ``caveat`` (a reason the interval cannot be trusted to separate, e.g. one side ran on a
    busy machine) no difference is claimed either, and the caveat says why.

    ``one_process_a_side``: a side's interval is over the windows of one process, so a separation
    holds for these processes only: the spread between processes of the same trial (8-15 % on a
    shared 2-core CPU, docs/compare-check.md) is not in it, and the words say so."""
    if interval is None:
        return f"{ratio:.2f}x {what} ({missing}, so no difference can be claimed)"
    low, high = interval
    digits = _ratio_digits(low, high)
    span = f"95 % interval {low:.{digits}f}-{high:.{digits}f}"
    if low <= 1.0 <= high:
        return f"no measurable difference in {what} ({ratio:.2f}x, {span})"
    if caveat:
        return f"{ratio:.{digits}f}x {what} ({span}), not claimed as a difference: {caveat}"
    side = "higher" if low > 1.0 else "lower"
    change = f"{abs(ratio - 1):.1%}" if abs(ratio - 1) < 0.1 else f"{abs(ratio - 1):.0%}"
    if one_process_a_side:
        return (f"{ratio:.{digits}f}x {what}, {change} {side} in these processes ({span}; a side measured in one "
                "process does not show the spread between processes: repeats would)")
    return f"{ratio:.{digits}f}x {what}, {change} {side} ({span})"


def _ratio_digits(low: float, high: float) -> int:
    """2 decimals, or more where 2 would print an end of an interval that excludes 1 as 1 (a
    "lower" that reads 0.98-1.00 looks like a contradiction); at most 4."""
    if low <= 1.0 <= high:
        return 2
    return next((d for d in (2, 3) if format(1.0, f".{d}f") not in (f"{low:.{d}f}", f"{high:.{d}f}")), 4)
