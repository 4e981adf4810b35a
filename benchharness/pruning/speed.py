"""What pruning does to training speed, with its uncertainty: the ratio of a pruned trial's window
figures to its dense peer's (computed once, in ``assemble.build_record``) and its wording for the
report. Pure: no TensorFlow, no files.

Unstructured pruning keeps dense kernels (a zero is multiplied like any number), so the honest
expectation is "no measurable difference" or a little slower (tfmot's masks cost a multiply and a
step update), and the wording only says faster or slower when the interval lies entirely on one side
of 1."""

from __future__ import annotations


def window_figures(record: dict) -> list[float]:
    """A record's throughput per window (samples/s): its windows of steps (``step_windows.sps``), else
    its steady epochs (``windows_sps``: a dense peer measured with ``epochs: auto``); [] for none."""
    return list((record.get("step_windows") or {}).get("sps") or record.get("windows_sps") or [])


def ratio_over_windows(pruned: list[float], dense: list[float]) -> dict | None:
    """``throughput_vs_dense`` (pruned / dense, the ratio of the windows' geometric means) with
    ``throughput_vs_dense_ci``, the 95 % Welch t interval on the log figures
    (``stats.ratio_of_trials``, each window one sample), and ``throughput_vs_dense_windows``
    [n pruned, n dense]; None below 2 figures on a side. The windows of one process are
    autocorrelated, so the interval is narrower than the truth (see docs/design.md)."""
    from benchharness.stats import CONFIDENCE, ratio_of_trials

    if len(pruned) < 2 or len(dense) < 2:
        return None
    change = ratio_of_trials(dense, pruned, confidence=CONFIDENCE)
    return {"throughput_vs_dense": change.ratio, "throughput_vs_dense_ci": [change.low, change.high],
            "throughput_vs_dense_windows": [len(pruned), len(dense)]}


def speed_vs_dense_words(pruning: dict) -> str:
    """A record's ``pruning`` part in words: "no measurable difference (0.97x, 95 % interval
    0.91-1.04)" when the interval holds 1, "slower: 0.81x (95 % interval 0.78-0.84)" or "faster:
    1.12x (...)" when it lies entirely below or above 1, "0.95x (no interval: ...)" without one, and
    "no figure: ..." without a ratio (no ok dense peer, or no throughput)."""
    ratio, interval = pruning.get("throughput_vs_dense"), pruning.get("throughput_vs_dense_ci")
    if ratio is None:
        return "no figure: no ok dense peer with a throughput to compare with"
    if not interval:
        return (f"{ratio:.2f}x (no interval: fewer than two windows on a side, or recorded before windows "
                "of steps; one process's figure against another's)")
    low, high = interval
    digits = _digits(low, high)
    span = f"95 % interval {low:.{digits}f}-{high:.{digits}f}"
    if low <= 1.0 <= high:
        return f"no measurable difference ({ratio:.{digits}f}x, {span})"
    return f"{'slower' if high < 1.0 else 'faster'}: {ratio:.{digits}f}x ({span})"


def _digits(low: float, high: float) -> int:
    """2 decimals, or more where 2 would print an end of an interval that excludes 1 as 1 (a
    "slower" that reads 0.98-1.00 looks like a contradiction); at most 4."""
    if low <= 1.0 <= high:
        return 2
    return next((d for d in (2, 3) if format(1.0, f".{d}f") not in (f"{low:.{d}f}", f"{high:.{d}f}")), 4)
