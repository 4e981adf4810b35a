"""pytest-benchmark: is the answer stable on a machine that is busy in bursts (``busy_answer.py``)?
Two back-to-back ``benchharness run``s under a 5 s on / 5 s off load (one round: minutes); both
answers and the verdict are in ``extra_info``. The tiny size runs a two-trial sweep of a tiny model."""

from __future__ import annotations

from pathlib import Path

import busy_answer

REPO = Path(__file__).resolve().parent.parent
TINY_SCENARIO = (f"name: tiny\ndefaults:\n  model: \"{REPO / 'tests' / 'helpers' / 'models.py'}:tiny_mlp\"\n"
                 "  samples_per_epoch: 256\n  max_epochs: 4\n  timeout_s: 120\nsweep:\n  batch_size: [16, 64]\n")


def test_busy_answer_two_runs_under_burst_load(benchmark, bench_size, headline, tmp_path):
    if bench_size == "full":
        scenario, on_s, off_s = REPO / "scenarios" / "batch_sweep.yaml", 5.0, 5.0
    else:
        scenario, on_s, off_s = tmp_path / "tiny.yaml", 1.0, 1.0
        scenario.write_text(TINY_SCENARIO)
    benchmark.group = "answer under load"
    results = benchmark.pedantic(busy_answer.measure, args=(scenario, on_s, off_s), rounds=1, iterations=1)
    summary = busy_answer.summarize(results)
    benchmark.extra_info.update({"scenario": scenario.name, "on_s": on_s, "off_s": off_s} | summary)
    for line in busy_answer.report_lines(results):
        headline(line)
