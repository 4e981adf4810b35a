"""Tests of benchharness.stats: the interval arithmetic against scipy and by hand, the stop reasons,
the warm-up and trend checks, decide() on hand-made curves, and the replay corpus of
tests/traces.py (synthetic traces with known truth), which is the acceptance test of the rules.
Run with -s to see the corpus rates."""

from __future__ import annotations

import functools
import math
from collections import Counter

import numpy as np
import pytest
from scipy import stats as sps

from benchharness.stats import (Answer, Interval, Point, StopRule, decide, has_trend, stop_decision,
                                throughput_interval, trial_level_interval, warmup_settled)
import traces

TRACES_PER_KIND = 600
CURVES_PER_SHAPE = 250


# -- interval arithmetic ---------------------------------------------------------------------------

def test_interval_by_hand():
    iv = throughput_interval([100, 102, 98])
    t = 4.302652729749464  # t_{0.975, 2}
    half = t * 2 / math.sqrt(3) * math.sqrt(math.pi / 2)  # s = 2; the median's SE is sqrt(pi/2) x the mean's
    assert half == pytest.approx(6.226810, abs=1e-6)
    assert (iv.mean, iv.median, iv.n) == (100, 100, 3)
    assert iv.low == pytest.approx(100 - half) and iv.high == pytest.approx(100 + half)
    assert iv.cv == pytest.approx(0.02)
    assert iv.half_width_rel == pytest.approx(half / 100)


def test_the_interval_is_centred_on_the_median_it_qualifies():
    # a skewed trace: 12 windows at 100, 7 dips to 50; the median (100) must lie inside its interval
    iv = throughput_interval([100] * 12 + [50] * 7)
    assert iv.median == 100 and iv.low < 100 < iv.high


@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
@pytest.mark.parametrize("n", [2, 5, 19])
def test_interval_matches_scipy(confidence, n):
    x = np.random.default_rng(n).normal(1000, 30, n)
    low, high = sps.t.interval(confidence, n - 1, loc=np.median(x), scale=sps.sem(x) * math.sqrt(math.pi / 2))
    iv = throughput_interval(x, confidence)
    assert iv.low == pytest.approx(low, rel=1e-12) and iv.high == pytest.approx(high, rel=1e-12)
    assert iv.median == pytest.approx(np.median(x)) and iv.cv == pytest.approx(x.std(ddof=1) / x.mean())


def test_interval_of_one_and_none():
    assert throughput_interval([]) is None
    one = throughput_interval([250.0])
    assert (one.low, one.high, one.mean, one.median, one.n, one.cv) == (250, 250, 250, 250, 1, None)
    assert one.half_width_rel == 0


def test_trial_level_interval_is_the_same_arithmetic_over_medians():
    medians = [980.0, 1010.0, 1003.0]
    assert trial_level_interval(medians) == throughput_interval(medians)
    assert trial_level_interval(medians, 0.99).high > trial_level_interval(medians, 0.95).high
    assert trial_level_interval([]) is None


@pytest.mark.parametrize("bad", [[100, 0], [100, -5], [100, float("nan")], [float("inf")]])
def test_figures_must_be_positive_and_finite(bad):
    with pytest.raises(ValueError):
        throughput_interval(bad)


def test_confidence_must_be_a_probability():
    with pytest.raises(ValueError):
        throughput_interval([1, 2, 3], confidence=1.5)


def test_contains_and_overlaps():
    a, b, c = (Interval(m, m, m - 1, m + 1, 3, 0.01) for m in (10, 11.5, 13))
    assert a.contains(10.9) and not a.contains(11.1)
    assert a.overlaps(b) and b.overlaps(c) and not a.overlaps(c)


# -- stop rule --------------------------------------------------------------------------------------

def test_stop_for_precision_needs_min_steady_epochs():
    rule = StopRule()
    assert stop_decision([1000, 1001], 2.0, 3, rule) is None  # two windows: too few, however close
    assert stop_decision([1000, 1001, 999], 3.0, 4, rule) == "precision"


def test_precision_is_judged_on_the_median_not_the_mean():
    # the mean's half-width is ~1.8 %: inside +-2 %, but not once widened by sqrt(pi/2) for the median.
    windows = [1000, 1017, 983, 1012, 988]
    assert 0.02 < throughput_interval(windows).half_width_rel < 0.025
    assert stop_decision(windows, 5.0, 6, StopRule()) is None
    assert stop_decision(windows, 5.0, 6, StopRule(precision=0.025)) == "precision"


def test_stop_at_max_epochs_counts_the_warmup():
    noisy = [1000, 1200, 800, 1100, 900]
    assert stop_decision(noisy, 5.0, 19, StopRule()) is None
    assert stop_decision(noisy, 5.0, 20, StopRule()) == "max_epochs"
    assert stop_decision(noisy, 5.0, 6, StopRule(max_epochs=6)) == "max_epochs"


def test_stop_at_time_budget():
    noisy = [1000, 1200, 800]
    rule = StopRule(max_measure_s=60.0)
    assert stop_decision(noisy, 59.9, 4, rule) is None
    assert stop_decision(noisy, 60.0, 4, rule) == "time_budget"
    assert stop_decision(noisy, 1e6, 4, StopRule()) is None  # no budget by default


def test_precision_wins_over_the_caps():
    assert stop_decision([1000, 1001, 999], 100.0, 20, StopRule(max_measure_s=1.0)) == "precision"


@pytest.mark.parametrize("kwargs", [{"min_steady_epochs": 1}, {"max_epochs": 0}, {"precision": 0},
                                    {"max_measure_s": 0}])
def test_stop_rule_rejects_nonsense(kwargs):
    with pytest.raises(ValueError):
        StopRule(**kwargs)


# -- warm-up and trend ------------------------------------------------------------------------------

def test_warmup_settled():
    tracing_then_flat = [900, 300, 120] + [50, 51, 49, 50] * 5
    assert warmup_settled(tracing_then_flat)
    still_falling = list(np.linspace(200, 50, 24))  # last quarter ~37 % faster than the one before
    assert not warmup_settled(still_falling)
    assert not warmup_settled([50, 50, 50])  # too few steps to tell


def test_has_trend_small_cases():
    shift = [1000, 1003, 998, 1001, 999, 1002, 900, 902, 899, 901, 898, 903]
    assert has_trend(shift)
    assert not has_trend([1000, 1001, 999, 1000, 1002, 998, 1001, 999])
    assert not has_trend([1000, 1001, 999, 1000, 700, 998, 1001, 999, 1000, 1002])  # one dip is no shift
    assert not has_trend([1000, 1000, 700, 700, 700])  # 5 windows: too few to test
    # A noiseless step: the Welch test is undefined (zero variances), the slope test speaks.
    assert has_trend([1000.0] * 6 + [900.0] * 6)
    # A 0.5 % drift under 0.05 % noise is highly significant but too small to matter.
    noise = 1 + 0.0005 * np.random.default_rng(0).standard_normal(19)
    tiny = 1000 * (1 + 0.005 * np.linspace(0, 1, 19)) * noise
    assert not has_trend(tiny)


# -- decide() on hand-made curves -------------------------------------------------------------------

def iv(center: float, half: float) -> Interval:
    return Interval(center, center, center - half, center + half, 3, 0.01)


def curve(*pairs) -> list[Point]:
    return [Point(b, None if c is None else iv(c, h)) for b, c, h in pairs]


CLEAR = curve((32, 100, 1), (64, 180, 2), (128, 200, 2), (256, 202, 2))


def test_decide_clear_knee():
    answer = decide(CLEAR)
    assert answer == Answer(True, 128, (128,), 256, answer.reason)
    assert "batch 128 is within 5%" in answer.reason


def test_decide_undecided_when_the_next_smaller_overlaps_the_line():
    # Batch 64 at 190 +- 4: the 5 % line is 0.95 * [200, 204] = [190, 193.8], inside its interval.
    answer = decide(curve((32, 100, 1), (64, 190, 4), (128, 200, 2), (256, 202, 2)))
    assert not answer.decided
    assert answer.recommended_batch == 128  # 190 < 0.95 * 202 by the medians
    assert answer.indistinguishable == (64, 128)
    assert "64" in answer.reason and "more repeats" in answer.reason


def test_decide_undecided_when_the_candidate_is_not_clearly_within():
    # Batch 128 at 194 +- 2: its low end (192) is under 0.95 * the best's high end (204 * 0.95 = 193.8).
    answer = decide(curve((32, 100, 1), (64, 150, 2), (128, 194, 2), (256, 202, 2)))
    assert (answer.decided, answer.recommended_batch, answer.indistinguishable) == (False, 128, (128, 256))


def test_decide_wide_intervals_make_everything_indistinguishable():
    answer = decide(curve((32, 180, 30), (64, 190, 30), (128, 200, 30)))
    assert not answer.decided and answer.indistinguishable == (32, 64, 128)


def test_decide_with_no_measured_point():
    answer = decide(curve((32, None, 0), (64, None, 0)))
    assert answer == Answer(False, None, (), None, answer.reason)
    assert decide([]).recommended_batch is None


def test_decide_ignores_an_oom_at_the_top():
    answer = decide(CLEAR + [Point(512, None)])
    assert (answer.decided, answer.recommended_batch, answer.best_batch) == (True, 128, 256)


def test_decide_names_a_failed_batch_below_the_answer():
    points = [p if p.batch_size != 64 else Point(64, None) for p in CLEAR]
    answer = decide(points)
    assert answer.decided and answer.recommended_batch == 128
    assert "batch 64 has no measurement" in answer.reason


def test_decide_single_measured_point():
    only = decide(curve((64, 500, 5)))
    assert (only.decided, only.recommended_batch, only.best_batch) == (True, 64, 64)
    with_oom = decide(curve((64, 500, 5), (128, None, 0)))
    assert (with_oom.decided, with_oom.recommended_batch) == (False, 64)


def test_decide_order_of_points_does_not_matter_but_duplicates_do():
    assert decide(list(reversed(CLEAR))) == decide(CLEAR)
    with pytest.raises(ValueError):
        decide(CLEAR + [CLEAR[0]])


def test_decide_tolerance_moves_the_answer():
    assert decide(CLEAR, tolerance=0.0).decided is False  # 128 and 256 overlap: no clear best
    assert decide(CLEAR, tolerance=0.15).recommended_batch == 64  # 178 >= 0.85 * 204 = 173.4


# -- replay corpus: the acceptance test -------------------------------------------------------------

def test_traces_are_seeded():
    first, again = traces.corpus("bursty", 3, seed=5), traces.corpus("bursty", 3, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert all(len(t) == traces.FULL_WINDOWS for t in first)


@functools.lru_cache(maxsize=None)
def stable_replays() -> dict[str, list[tuple[bool, int]]]:
    """Per stable kind: (adaptive median within 1 % of the full-length median, windows used)."""
    out = {}
    for kind in traces.STABLE_KINDS:
        rows = []
        for full in traces.corpus(kind, TRACES_PER_KIND, seed=1):
            kept, _ = traces.replay(full)
            rows.append((abs(np.median(kept) / np.median(full) - 1) <= 0.01, len(kept)))
        out[kind] = rows
    return out


def test_adaptive_stop_agrees_with_full_length_and_saves_windows():
    rows = [r for kind_rows in stable_replays().values() for r in kind_rows]
    agree = np.mean([ok for ok, _ in rows])
    saving = 1 - np.mean([n for _, n in rows]) / traces.FULL_WINDOWS
    for kind, kind_rows in stable_replays().items():
        print(f"\n{kind:>9}: median within 1 % of full length {np.mean([ok for ok, _ in kind_rows]):.1%}, "
              f"windows saved {1 - np.mean([n for _, n in kind_rows]) / traces.FULL_WINDOWS:.1%}")
    print(f"   stable: median within 1 % of full length {agree:.1%}, windows saved {saving:.1%}")
    assert agree >= 0.95
    assert saving >= 0.40


def test_the_saving_comes_from_precise_traces():
    # The saving comes from steady traces; 5 %-noise traces cannot reach +-2 % within 19 windows.
    steady = [n for _, n in stable_replays()["steady"]]
    noisy = [n for _, n in stable_replays()["noisy"]]
    assert np.mean(steady) <= 6 and min(steady) >= StopRule().min_steady_epochs
    assert np.mean([n == traces.FULL_WINDOWS for n in noisy]) >= 0.8


@functools.lru_cache(maxsize=None)
def trend_rates() -> dict[str, float]:
    return {kind: float(np.mean([has_trend(t) for t in traces.corpus(kind, TRACES_PER_KIND, seed=2)]))
            for kind in traces.KINDS}


def test_has_trend_flags_level_shifts_and_drift_but_not_noise():
    rates = trend_rates()
    print("\nhas_trend flags: " + ", ".join(f"{k} {v:.1%}" for k, v in rates.items()))
    assert rates["level_shift"] == 1.0
    assert rates["slow_drift"] >= 0.95
    assert rates["steady"] <= 0.05 and rates["noisy"] <= 0.05 and rates["outliers"] <= 0.05


def point_interval(repeats: list[np.ndarray], adaptive: bool) -> Interval:
    """One batch's interval: within-trial for one repeat, over the repeats' medians for several."""
    windows = [traces.replay(r)[0] if adaptive else r for r in repeats]
    if len(windows) == 1:
        return throughput_interval(windows[0])
    return trial_level_interval([float(np.median(w)) for w in windows])


def answers(c: traces.Curve, repeats: int, rng) -> tuple[Answer, Answer]:
    """decide() on full-length and on adaptive-length windows of the same traces."""
    per_batch = traces.curve_traces(c, repeats, rng)
    full, adaptive = ([Point(b, None if reps is None else point_interval(reps, mode))
                       for b, reps in zip(c.batches, per_batch)] for mode in (False, True))
    return decide(full), decide(adaptive)


def outcome(answer: Answer, truth: int) -> str:
    if not answer.decided:
        return "undecided"
    return "right" if answer.recommended_batch == truth else "wrong"


@functools.lru_cache(maxsize=None)
def curve_outcomes(kinds: tuple[str, ...] = traces.STABLE_KINDS, seed: int = 7) -> Counter:
    """Counts of (repeats, full-length outcome, adaptive outcome) over the curve corpus."""
    rng = np.random.default_rng(seed)
    counts = Counter()
    for _ in range(CURVES_PER_SHAPE):
        for shape in traces.SHAPES:
            c = traces.curve(shape, rng, kinds=kinds)
            truth = traces.true_recommended(c)
            for repeats in (1, 3):
                full, adaptive = answers(c, repeats, rng)
                counts[repeats, outcome(full, truth), outcome(adaptive, truth)] += 1
    return counts


def rates(counts: Counter, repeats_set=(1, 3)) -> dict[str, float]:
    """The corpus rates over the cases with the given numbers of repeats."""
    rows = Counter()
    for (r, f, a), n in counts.items():
        rows[f, a] += n if r in repeats_set else 0
    total = sum(rows.values())
    full_decided = sum(n for (f, _), n in rows.items() if f != "undecided")
    return {
        "adaptive decided-and-wrong": sum(n for (_, a), n in rows.items() if a == "wrong") / total,
        "full decided-and-wrong": sum(n for (f, _), n in rows.items() if f == "wrong") / total,
        "adaptive decided-and-right": sum(n for (_, a), n in rows.items() if a == "right") / total,
        "full decided": full_decided / total,
        "adaptive right of full-decided":
            sum(n for (f, a), n in rows.items() if f != "undecided" and a == "right") / full_decided,
    }


def show(title: str, counts: Counter):
    for label, repeats_set in (("all", (1, 3)), ("repeats 1", (1,)), ("repeats 3", (3,))):
        cases = sum(n for (r, _, _), n in counts.items() if r in repeats_set)
        figures = ", ".join(f"{k} {v:.1%}" for k, v in rates(counts, repeats_set).items())
        print(f"\n{title}, {label} ({cases} cases): {figures}")


def test_decide_on_curves_is_rarely_wrong_and_mostly_as_decided_as_full_length():
    counts = curve_outcomes()
    show("curves of stable points", counts)
    r = rates(counts)
    assert r["adaptive decided-and-wrong"] <= 0.01
    assert r["full decided-and-wrong"] <= 0.01
    assert r["full decided"] >= 0.3  # the 80 % below is over a sizeable share of the corpus
    assert r["adaptive right of full-decided"] >= 0.80


def test_decide_on_near_ties_mostly_declines():
    # Near ties put one batch within 2 % of the 5 % line: +-2 % intervals cannot tell its side.
    rng = np.random.default_rng(11)
    decided = [answers(traces.curve("near_tie", rng), 3, rng)[1].decided for _ in range(100)]
    assert np.mean(decided) <= 0.25


def test_decide_with_bursty_points_needs_repeats():
    # Background load the windows of one process cannot see: one repeat's interval is too narrow,
    # the repeats' medians (one process = one sample) keep decide() honest.
    counts = curve_outcomes(kinds=traces.STABLE_KINDS + ("bursty",), seed=8)
    show("curves with bursty points", counts)
    assert rates(counts, (3,))["adaptive decided-and-wrong"] <= 0.01
