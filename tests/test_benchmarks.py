"""The benchmarks still run (tiny sizes): a figure in the README must stay reproducible.

``pytest benchmarks/ --bench-size tiny`` runs every pytest-benchmark benchmark once through, in one
process, its results saved as pytest-benchmark JSON; the README's ``python benchmarks/X.py`` commands
are the same measurements without pytest (each script's main loops over the functions its benchmark
calls): two run here as scripts, the others parse their arguments. Their numbers are not asserted;
timing targets are checked by running the benchmarks at full size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent
BENCHMARKS = REPO / "benchmarks"

pytestmark = pytest.mark.slow

# benchmark -> keys its extra_info must hold (the figure the README quotes, and its verdict).
EXPECTED = {
    "test_overhead_harness_vs_bare_fit": {"ratio", "ratio_ci95", "harness", "bare", "round_ratios", "meets_target"},
    "test_data_pipeline_real_vs_synthetic": {"ratio", "ratio_ci95", "real", "synthetic", "meets_target"},
    "test_fixed_cost_trial_vs_bare_import": {"bare_import", "trial_outside_epochs", "difference_s", "phases_s",
                                             "meets_target"},
    "test_report_render": {"trials", "html_kib", "meets_target"},
    "test_busy_answer_two_runs_under_burst_load": {"runs", "verdict", "meets_target"},
    "test_sampler_read_cost[fake-nvml]": {"source", "rows_per_read", "host_processes"},
    "test_sampler_read_cost[cpu]": {"source", "rows_per_read", "host_processes"},
} | {f"test_sampling_on_vs_off[{source}-{where}]": {"ratio", "ratio_ci95", "sampling_on", "sampling_off",
                                                    "neighbour_ratio", "reads_per_s", "training", "meets_target"}
      for source in ("fake-nvml", "cpu") for where in ("in-process", "child-process")}


def run(*args: str, timeout: int = 300) -> str:
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return result.stdout


def test_pytest_benchmarks_run_tiny_and_save_their_figures(tmp_path):
    saved = tmp_path / "benchmarks.json"
    out = run("-m", "pytest", "benchmarks/", "--bench-size", "tiny", "--benchmark-only", "-p", "no:cacheprovider",
              "--benchmark-max-time", "0.05", f"--benchmark-json={saved}", timeout=600)
    assert "benchmark figures" in out and "-> ratio " in out
    benchmarks = {b["name"]: b for b in json.loads(saved.read_text())["benchmarks"]}
    assert set(benchmarks) == set(EXPECTED)
    for name, keys in EXPECTED.items():
        assert keys <= set(benchmarks[name]["extra_info"]), name
        assert benchmarks[name]["stats"]["rounds"] >= 1
    for source in ("fake-nvml", "cpu"):
        read = benchmarks[f"test_sampler_read_cost[{source}]"]
        assert read["extra_info"]["source"] == source and read["extra_info"]["rows_per_read"] >= 1
        assert 0 < read["stats"]["mean"] < 0.1  # seconds per read
        for where in ("in-process", "child-process"):
            on_off = benchmarks[f"test_sampling_on_vs_off[{source}-{where}]"]["extra_info"]
            assert on_off["source"] == source and on_off["training"] == where
            assert on_off["sampling_on"]["n"] >= 1 and on_off["sampling_off"]["n"] >= 1 and on_off["reads_per_s"] > 0


def test_overhead_script_runs():
    out = run(str(BENCHMARKS / "overhead.py"), "--samples", "512", "--epochs", "2", "--rounds", "1")
    assert "round 1: harness " in out and "-> ratio " in out


def test_report_render_script_runs():
    assert "rendered a 10-trial run in " in run(str(BENCHMARKS / "report_render.py"), "--trials", "10")


@pytest.mark.parametrize("script", ["data_pipeline.py", "fixed_cost.py", "busy_answer.py"])
def test_other_scripts_parse_their_arguments(script):
    assert "usage: " in run(str(BENCHMARKS / script), "--help")
