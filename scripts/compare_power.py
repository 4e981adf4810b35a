"""False-positive rate and power of `benchharness compare`'s rule, by simulation.

The rule is the code's own (``stats.ratio_of_trials`` and ``stats.change_verdict``); the data are
trial figures drawn as ``tests/helpers/synthetic_runs.py`` draws them: each steady window's
throughput is the truth times exp(N(0, noise^2)), a trial's figure is the median of its windows,
and ``process`` adds a per-trial factor exp(N(0, process^2)) that the windows cannot see.

For each setting it prints, per pair of runs with ``points`` points (one of them slowed down in the
detection case): the share of A/A pairs with at least one ``worse`` point, the share of pairs whose
slowed point is ``worse``, and the chance that a batch of 20 pairs meets the calibration test's
bounds (A/A at most 1 of 20 flagged; at least 19 of 20 slowed points detected).

    python scripts/compare_power.py                  # the table in docs/design.md (about 40 s)
    python scripts/compare_power.py --points 10      # the pair's false-positive rate grows with its points
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from scipy.stats import binom

from benchharness import stats

SETTINGS = (  # (windows per trial, window noise, process noise, repeats)
    (8, 0.05, 0.0, 3), (6, 0.05, 0.0, 3), (5, 0.05, 0.0, 3), (14, 0.05, 0.0, 3),
    (8, 0.05, 0.01, 3), (8, 0.05, 0.02, 3), (8, 0.05, 0.02, 5),
    (1, 0.05, 0.0, 3), (1, 0.05, 0.0, 5), (1, 0.05, 0.0, 8), (1, 0.05, 0.0, 10),
)


def trial_figures(rng, n: int, windows: int, noise: float, process: float, factor: float = 1.0) -> list[float]:
    per_window = rng.normal(0.0, noise, (n, windows))
    return (factor * np.exp(rng.normal(0.0, process, n) + np.median(per_window, axis=1))).tolist()


def worse(base: list[float], head: list[float], threshold: float) -> bool:
    change = stats.ratio_of_trials(base, head)
    return stats.change_verdict(change, change.ratio, True, threshold) == stats.WORSE


def rates(rng, setting, points: int, pairs: int, threshold: float, slowdown: float) -> tuple[float, float]:
    windows, noise, process, repeats = setting
    draw = lambda factor=1.0: trial_figures(rng, repeats, windows, noise, process, factor)  # noqa: E731
    false = sum(any(worse(draw(), draw(), threshold) for _ in range(points)) for _ in range(pairs))
    found = sum(worse(draw(), draw(1 / slowdown), threshold) for _ in range(pairs))
    return false / pairs, found / pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--points", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=0.05)
    parser.add_argument("--slowdown", type=float, default=1.10, help="epoch time x this on the slowed point")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"{args.points} points a pair, threshold {args.threshold:.0%}, slowed point: epoch time x{args.slowdown}, "
          f"{args.pairs} pairs a setting")
    print("windows  noise  process  repeats | A/A pairs flagged  slowdown found | P(A/A <= 1/20)  P(found >= 19/20)")
    for setting in SETTINGS:
        false, found = rates(rng, setting, args.points, args.pairs, args.threshold, args.slowdown)
        windows, noise, process, repeats = setting
        print(f"{windows:7d}  {noise:5.0%}  {process:7.0%}  {repeats:7d} | {false:17.2%}  {found:14.1%} | "
              f"{binom.cdf(1, 20, false):14.3f}  {1 - binom.cdf(18, 20, found):17.3f}")
    per_trial = 0.05 * math.sqrt(2 / 3)
    print(f"\nOne window a trial is a trial-level noise of 5 %: with 3 repeats a side the log ratio's standard "
          f"error is {per_trial:.3f}, against a change of {math.log(args.slowdown):.3f}.")


if __name__ == "__main__":
    main()
