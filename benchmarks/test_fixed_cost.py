"""pytest-benchmark: a trial's fixed cost outside its epochs (``fixed_cost.py``) against a bare
process that only imports TensorFlow, interleaved rounds; medians, ranges, the phase breakdown and
the verdict are in ``extra_info``. The optional-import check is a benchmark of its own (full size only)."""

from __future__ import annotations

import pytest

import fixed_cost

FULL = {"samples": 2048, "rounds": 4}
TINY = {"samples": 256, "rounds": 2}


def test_fixed_cost_trial_vs_bare_import(benchmark, sized, headline, tmp_path):
    size = sized(FULL, TINY)
    fixed = fixed_cost.FixedCost(tmp_path, size["samples"])
    benchmark.group = "outside the epochs"
    benchmark.pedantic(lambda: fixed.round(len(fixed.bare)), rounds=size["rounds"], iterations=1, warmup_rounds=0)
    summary = fixed_cost.summarize(fixed.bare, fixed.records)
    benchmark.extra_info.update(size | summary)
    headline(fixed_cost.headline(summary))


def test_fixed_cost_optional_imports(benchmark, bench_size, headline):
    if bench_size != "full":
        pytest.skip("full size only (one fresh TensorFlow process per optional package)")
    benchmark.group = "outside the epochs"
    costs, loaded = benchmark.pedantic(fixed_cost.optional_imports, args=(FULL["samples"],), rounds=1, iterations=1)
    benchmark.extra_info.update({"import_s_after_tensorflow": {k: round(v, 3) for k, v in costs.items()},
                                 "loaded_by_a_dense_trial": loaded})
    headline("import cost after tensorflow + tf_keras (s): " + ", ".join(f"{k} {v:.2f}" for k, v in costs.items())
             + f"; loaded by a dense trial: {', '.join(loaded) or 'none of them'}")
