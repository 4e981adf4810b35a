"""pytest-benchmark: the harness's cost inside an epoch (``overhead.py``): its own path against a
bare ``model.fit``, ABBA rounds; the ratio of steady-epoch medians is in ``extra_info``."""

from __future__ import annotations

import overhead

FULL = {"batch_size": 128, "samples": 12000, "epochs": 4, "rounds": 6}
TINY = {"batch_size": 128, "samples": 512, "epochs": 2, "rounds": 2}


def test_overhead_harness_vs_bare_fit(benchmark, sized, headline):
    size = sized(FULL, TINY)
    setup = overhead.prepare(size["batch_size"], size["samples"])
    rounds = []
    benchmark.group = "inside an epoch"
    benchmark.pedantic(lambda: rounds.append(overhead.one_round(setup, len(rounds), size["epochs"])),
                       rounds=size["rounds"], iterations=1, warmup_rounds=0)
    summary = overhead.summarize(rounds)
    benchmark.extra_info.update(size | summary)
    headline(overhead.headline(summary))
