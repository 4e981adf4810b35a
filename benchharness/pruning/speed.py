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


def speed_vs_dense_words(pruning: dict, caveat: str | None = None) -> str:
    """A record's ``pruning`` part in words (``stats.ratio_words``): "no measurable difference in
    throughput (0.97x, 95 % interval 0.91-1.04)" when the interval holds 1, "0.81x throughput, 19 %
    lower (...)" or "... higher" when it lies entirely on one side, the bare ratio and why there is
    no interval without one, "no figure: ..." without a ratio (no ok dense peer, or no throughput);
    ``caveat``: why a separation is not claimed (a busy machine on one side)."""
    from benchharness.stats import ratio_words

    ratio, interval = pruning.get("throughput_vs_dense"), pruning.get("throughput_vs_dense_ci")
    if ratio is None:
        return "no figure: no ok dense peer with a throughput to compare with"
    missing = ("no interval: fewer than two windows on a side, or recorded before windows of steps")
    return ratio_words(ratio, interval, missing=missing, caveat=caveat, one_process_a_side=True)
