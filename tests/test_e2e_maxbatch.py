"""End to end, real worker processes (TensorFlow on the CPU): the largest-batch search against the
fake device's memory model (its OOMs are TensorFlow's own ResourceExhaustedError, raised in the
worker), its resume, and a trial trained to a target accuracy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers.cli import REPO, cli, model, only_run_dir, records

from benchharness.telemetry.fake_nvml import load_profile

pytestmark = pytest.mark.slow

FAKE_DEVICE = REPO / "tests" / "fake_device.yaml"


def test_the_search_finds_the_fake_devices_exact_largest_batch_cheaply_and_resumes(tmp_path):
    scenario = tmp_path / "maxbatch.yaml"
    scenario.write_text(f"""
name: e2e-maxbatch
defaults:
  model: "{model('tiny_mlp')}"
  timeout_s: 120
runtime:
  sample_interval_ms: 50
""")
    env = os.environ | {"BENCHHARNESS_FAKE_NVML": str(FAKE_DEVICE), "PYTHONPATH": str(REPO)}
    result = cli("maxbatch", scenario, "--out", tmp_path / "results", "--no-report", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    run_dir = only_run_dir(tmp_path / "results")
    (entry,) = json.loads((run_dir / "run.json").read_text())["max_batch"]
    truth = load_profile(str(FAKE_DEVICE)).memory_model.largest_batch(8192, 8)
    assert entry["verified"] == truth == 1224 and entry["oom_at"] == truth + 8
    assert entry["probe_count"] <= 0.6 * entry["doubling_bisection_probes"]
    assert abs(entry["predicted"] - truth) <= 0.1 * truth and abs(entry["seed_predicted"] - truth) <= 0.1 * truth
    probes = records(run_dir)
    assert [r["trial_id"] for r in probes] == entry["probes"] and {r["role"] for r in probes} == {"probe"}
    for r in probes:
        if r["status"] == "oom":  # TensorFlow's own error, raised by the worker at the first step
            assert r["error"].startswith("ResourceExhaustedError: OOM when allocating tensors for batch")
        else:
            assert r["status"] == "ok" and r["telemetry"]["mem_primary_source"] == "fake_memory_model"
            assert [e["steps"] for e in r["epochs"]] == [5, 5]  # a warm-up and one window of probe_steps
    assert f"Largest batch that fits, {model('tiny_mlp')} on synthetic: verified 1224 (twice)" in result.stdout
    again = cli("maxbatch", scenario, "--resume", run_dir, "--no-report", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert len(records(run_dir)) == len(probes)  # every probe was recorded: none ran again
    assert json.loads((run_dir / "run.json").read_text())["max_batch"] == [entry]


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="apt-get install dataset-fashion-mnist (.ci/run installs it)")
def test_a_trial_trains_to_its_target_on_schedule_and_the_report_answers(tmp_path):
    scenario = tmp_path / "tta.yaml"
    scenario.write_text("""
name: e2e-tta
defaults:
  model: tutorial_cnn
  dataset: fashion_mnist
  samples_per_epoch: 6000
  batch_size: 64
  lr_scaling: linear
  max_epochs: 3
runtime:
  sample_interval_ms: 50
target:
  metric: accuracy
  value: 0.7
  eval_every_samples: 1000
""")
    env = os.environ | {"BENCHHARNESS_FAKE_NVML": "1", "PYTHONPATH": str(REPO)}
    result = cli("run", scenario, "--out", tmp_path / "results", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    run_dir = only_run_dir(tmp_path / "results")
    (record,) = records(run_dir)
    tta = record["tta"]
    assert tta["converged"] and record["stop_reason"] == "target" and tta["evals"][-1]["value"] >= 0.7
    assert [e["samples"] for e in tta["evals"]] == [1024, 2048, 3008, 4032, 5056, 6016, 7040][:len(tta["evals"])]
    assert tta["time_to_target_s"] < tta["wall_to_target_s"]  # evaluation is not training time
    assert tta["lr_policy"]["learning_rate"] == pytest.approx(0.002)  # linear: 0.001 x 64 / 32
    assert tta["energy_j"] > 0 and tta["energy_note"] is None  # the fake device's energy counter
    assert record["eval"]["accuracy"] == tta["evals"][-1]["value"]
    html = (tmp_path / "reports" / f"{run_dir.name}.html").read_text()
    assert "Does the larger batch still pay off once convergence counts?" in html
    assert "Time to accuracy" in result.stdout
