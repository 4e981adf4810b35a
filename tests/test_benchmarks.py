"""The benchmark scripts still run (tiny sizes): a figure in the README must stay reproducible.
Their numbers are not asserted here; timing targets are checked by running the scripts themselves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"

pytestmark = pytest.mark.slow


def run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_overhead_benchmark_runs():
    out = run("overhead.py", "--samples", "512", "--epochs", "2", "--rounds", "1")
    assert "-> ratio " in out


def test_fixed_cost_benchmark_runs():
    out = run("fixed_cost.py", "--rounds", "1", "--samples", "256", "--skip-imports")
    assert "bare spawn-to-import of tensorflow + tf_keras: median " in out
    assert "difference: " in out and "  import " in out and "  exit " in out


def test_data_pipeline_benchmark_runs():
    out = run("data_pipeline.py", "--dataset", "synthetic", "--samples", "512", "--epochs", "2", "--rounds", "1")
    assert "-> ratio " in out


def test_report_render_benchmark_runs():
    assert "rendered a 10-trial run in " in run("report_render.py", "--trials", "10")


def test_busy_answer_benchmark_runs(tmp_path):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(f"name: tiny\ndefaults:\n  model: \"{BENCHMARKS.parent / 'tests' / 'helpers' / 'models.py'}:tiny_mlp\"\n"
                        "  samples_per_epoch: 256\n  max_epochs: 4\n  timeout_s: 120\nsweep:\n  batch_size: [16, 64]\n")
    out = run("busy_answer.py", "--scenario", str(scenario), "--on-s", "1", "--off-s", "1")
    assert out.count("run 1: ") == 1 and out.count("run 2: ") == 1
    assert "verdict: " in out
