"""pytest-benchmark: is the input pipeline the bottleneck (``data_pipeline.py``)? A real dataset
against synthetic data of the same shape, rounds interleaved; the throughput ratio is in ``extra_info``."""

from __future__ import annotations

import data_pipeline

from benchharness.worker.device import import_keras, import_tensorflow

FULL = {"dataset": "fashion_mnist", "batch_size": 128, "samples": 12000, "epochs": 4, "rounds": 3}
TINY = {"dataset": "synthetic", "batch_size": 128, "samples": 512, "epochs": 2, "rounds": 2}


def test_data_pipeline_real_vs_synthetic(benchmark, sized, headline):
    size = sized(FULL, TINY)
    tf, keras = import_tensorflow(), import_keras()
    base = data_pipeline.base_params(size["batch_size"], size["samples"])
    rounds = []
    benchmark.group = "input pipeline"
    benchmark.pedantic(lambda: rounds.append(data_pipeline.one_round(tf, keras, base, size["dataset"], size["epochs"])),
                       rounds=size["rounds"], iterations=1, warmup_rounds=0)
    summary = data_pipeline.summarize(rounds, size["dataset"])
    benchmark.extra_info.update(size | summary)
    headline(data_pipeline.headline(summary))
