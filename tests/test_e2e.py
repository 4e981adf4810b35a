"""End to end: the CLI runs real sweeps in real worker processes (TensorFlow on the CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.cli import REPO, cli, default_signals, model, only_run_dir, records, tagged_env, workers_left

pytestmark = pytest.mark.slow


def test_sweep_with_an_oom_trial_goes_on(tmp_path):
    scenario = tmp_path / "oom.yaml"
    scenario.write_text(f"""
name: e2e
defaults:
  epochs: 2
  samples_per_epoch: 4096
runtime:
  sample_interval_ms: 20
sweep:
  model: ["{model('oom_model')}", "{model('tiny_mlp')}"]
  batch_size: [32, 64]
exclude:
  - model: "{model('oom_model')}"
    batch_size: 64
""")
    result = cli("run", scenario, "--out", tmp_path / "results", cwd=tmp_path)
    assert result.returncode == 0, result.stderr  # an OOM is a measured result, not a failure
    run_dir = only_run_dir(tmp_path / "results")
    report = tmp_path / "reports" / f"{run_dir.name}.html"
    assert result.stdout.strip().splitlines()[-2:] == [f"run directory: {run_dir}",
                                                       f"report: {report.relative_to(tmp_path)}"]
    assert report.is_file() and "When does a larger batch pay off?" in report.read_text()
    assert "estimated out of memory" not in report.read_text()  # never from host RAM
    oom, *oks = records(run_dir)
    assert oom["status"] == "oom" and "ResourceExhaustedError" in oom["error"]
    assert oom["epoch_time_s"] is None and oom["throughput_sps"] is None
    assert [r["params"]["batch_size"] for r in oks] == [32, 64]
    for r in oks:
        assert r["status"] == "ok" and r["error"] is None
        assert [e["epoch"] for e in r["epochs"]] == [0, 1]
        assert r["epochs"][1]["samples"] == 4096 and r["epochs"][1]["steps"] == 4096 // r["params"]["batch_size"]
        assert r["epoch_time_s"] == r["epochs"][1]["seconds"]
        assert r["throughput_sps"] == pytest.approx(4096 / r["epoch_time_s"])
        telemetry = r["telemetry"]
        assert telemetry["source"] == "cpu" and telemetry["power_mean_w"] is None and telemetry["energy_j"] is None
        assert telemetry["mem_peak_mb"] > 50 and telemetry["mem_total_mb"] > telemetry["mem_peak_mb"]
        # The CPU's memory figure is RSS growth after the TensorFlow import, and no limit applies.
        assert telemetry["mem_primary_source"] == "rss_growth" and telemetry["mem_limit_mb"] is None
        assert 0 < telemetry["mem_primary_mb"] < telemetry["mem_peak_mb"] and telemetry["devices"] is None
        assert (run_dir / "samples" / f"{r['trial_id']}.csv").read_text().startswith(
            "t_monotonic,device,cpu_proc_pct,cpu_system_pct,rss_mb")
        assert r["step_time_ms"]["p50"] > 0 and r["first_epoch_s"] > 0 and r["wall_s"] > r["startup_s"] > 0
        assert r["device"]["kind"] == "cpu"
        assert r["eval"] is None and r["sizes"] is None  # not measured: null, never invented
    run_json = json.loads((run_dir / "run.json").read_text())
    peak = run_json["peak"]["peak_flops_per_s"]
    assert peak > 1e9 and run_json["peak"]["memory_bandwidth_bytes_per_s"] > 1e8
    for r in oks:
        # tiny_mlp: Dense(784 -> 16) + ReLU + Dense(16 -> 10): 2 x MACs + bias adds (ReLU is not counted).
        assert r["flops_per_sample"] == 2 * (784 * 16 + 16 * 10) + 16 + 10
        assert r["mfu"] == pytest.approx(3 * r["flops_per_sample"] * r["throughput_sps"] / peak)
    assert len(list((run_dir / "cost").glob("*.json"))) == 1  # both tiny_mlp trials, one count
    assert run_json["environment"]["tensorflow"]["tf_keras"].startswith("2.")
    assert run_json["scenario"]["source"] == str(scenario) and run_json["finished_utc"]
    assert (run_dir / "logs" / f"{oom['trial_id']}.log").read_text().count("ResourceExhaustedError") >= 1
    # TensorFlow's log noise and the worker's traceback stay in the per-trial log, off the terminal.
    for noise in ("oneDNN custom operations", "cpu_feature_guard", "Traceback"):
        assert noise not in result.stdout + result.stderr
    assert "Traceback" in (run_dir / "logs" / f"{oom['trial_id']}.log").read_text()


FOUR_GPUS = """
# NVML's index order is not PCI bus order here: CUDA (CUDA_DEVICE_ORDER=PCI_BUS_ID) numbers them
# 01 -> 0, 41 -> 1, 81 -> 2, C1 -> 3, so the trial's CUDA_VISIBLE_DEVICES=3 is NVML's GPU 2.
gpus:
  - {pci_bus_id: "00000000:81:00.0", uuid: GPU-81aa, other_util_pct: 100}
  - {pci_bus_id: "00000000:01:00.0", uuid: GPU-01bb}
  - {pci_bus_id: "00000000:C1:00.0", uuid: GPU-c1cc}
  - {pci_bus_id: "00000000:41:00.0", uuid: GPU-41dd, other_util_pct: 50}
trial_pci_bus_ids: ["00000000:C1:00.0"]
averaging_period_s: 0.1
other_compute_pids: [5000001]
"""


def test_fake_nvml_run_takes_its_figures_from_the_trials_gpu_alone(tmp_path):
    """Four GPUs, the trial on NVML's GPU 2 (CUDA's 3): every figure is that GPU's, not a mean of four."""
    scenario, profile = tmp_path / "fake.yaml", tmp_path / "four.yaml"
    profile.write_text(FOUR_GPUS)
    scenario.write_text(f"""
name: e2e-fake
defaults:
  model: "{model('tiny_mlp')}"
  epochs: 3
  samples_per_epoch: 32768
runtime:
  sample_interval_ms: 50
sweep:
  batch_size: [32, 256]
""")
    result = cli("run", scenario, "--out", tmp_path / "results", cwd=tmp_path,
                 env=os.environ | {"BENCHHARNESS_FAKE_NVML": str(profile), "CUDA_VISIBLE_DEVICES": "3",
                                   "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    run_dir = only_run_dir(tmp_path / "results")
    small, large = records(run_dir)
    for r in (small, large):
        t = r["telemetry"]
        assert t["source"] == "fake-nvml" and t["mem_total_mb"] == 8192 and t["steady_sample_count"] > 0
        assert t["energy_j"] > 0 and t["samples_per_joule"] > 0 and t["gaps"] == {} and t["lost"] == []
        assert [d["index"] for d in t["devices"]] == [2] and t["devices"][0]["pci_bus_id"] == "00000000:C1:00.0"
        assert t["gpu_other_processes"] == ["5000001 (fake-other-job)"] and t["busy"] is True
        assert t["mem_primary_source"] == "process_nvml" and t["mem_primary_mb"] == t["mem_peak_mb"]
        assert t["mem_limit_mb"] == 8192 and t["throttle"]["throttled_epochs"] == []
        assert (run_dir / "samples" / f"{r['trial_id']}.csv").exists()
    # 100 * (1 - exp(-b / 128)): GPU 2's own figures (all four together would read about 53 and 77).
    assert (small["telemetry"]["util_mean_pct"], large["telemetry"]["util_mean_pct"]) == (22, 86)
    assert (small["telemetry"]["mem_peak_mb"], large["telemetry"]["mem_peak_mb"]) == (300 + 4 * 32, 300 + 4 * 256)
    steady_s = sum(e["seconds"] for e in large["epochs"][1:])
    # Energy of GPU 2 alone: 30 W idle + 220 W x 86 % over the steady epochs (not four GPUs' sum).
    assert large["telemetry"]["energy_j"] == pytest.approx((30 + 220 * 0.86) * steady_s, rel=0.05)
    gpus = json.loads((run_dir / "run.json").read_text())["environment"]["gpus"]
    assert [(g["index"], g["pci_bus_id"], g["uuid"]) for g in gpus] == [(2, "00000000:C1:00.0", "GPU-c1cc")]
    # The memory chart plots the primary figure and says which one it is; no out-of-memory estimate
    # (only TensorFlow's allocator peak is fitted, and the CPU build of TensorFlow has none).
    report = next(line.split("report: ", 1)[1] for line in result.stdout.splitlines() if line.startswith("report: "))
    html = (tmp_path / report).read_text()
    assert "the trial&#39;s own GPU memory (NVML process list)" in html or "the trial's own GPU memory (NVML process list)" in html
    assert "estimated out of memory" not in html


def test_timeout_and_failure_are_recorded_and_exit_1(tmp_path):
    scenario = tmp_path / "bad.yaml"
    # Only the hanging trial has a short timeout: the others must not time out while TensorFlow
    # imports on a loaded machine.
    scenario.write_text(f"""
name: e2e-bad
defaults:
  model: "{model('hanging_model')}"
  timeout_s: 8
include:
  - {{model: "{model('failing_model')}", timeout_s: 120}}
  - {{model: "{model('not_a_model')}", timeout_s: 120}}
""")
    started = time.monotonic()
    result = cli("run", scenario, "--out", tmp_path / "results", "--no-report", env=tagged_env(str(tmp_path)))
    assert result.returncode == 1
    hang, fail, wrong = records(only_run_dir(tmp_path / "results"))
    assert hang["status"] == "timeout" and "timeout_s=8" in hang["error"]
    assert 8 <= hang["wall_s"] < 20
    assert fail["status"] == "failed" and fail["error"].startswith("RuntimeError: this model is broken on purpose")
    assert wrong["status"] == "failed" and "not a tf_keras Model" in wrong["error"]
    assert time.monotonic() - started < 300
    assert not workers_left(str(tmp_path))


def test_ctrl_c_keeps_finished_records_and_resume_completes(tmp_path):
    scenario = tmp_path / "sigint.yaml"
    scenario.write_text(f"""
name: e2e-sigint
defaults:
  model: "{model('tiny_mlp')}"
  epochs: 2
  samples_per_epoch: 256
sweep:
  batch_size: [16, 32, 64]
""")
    out = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-m", "benchharness", "run", str(scenario), "--out", str(out), "--no-report"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=tagged_env(str(tmp_path)), preexec_fn=default_signals)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out.exists() and any(out.iterdir()) and records(only_run_dir(out))):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    run_dir = only_run_dir(out)
    kept = records(run_dir)
    assert 1 <= len(kept) < 3 and all(r["status"] == "ok" for r in kept)
    resume_line = next(line for line in stderr.splitlines() if line.startswith("Resume with: "))
    assert resume_line == f"Resume with: benchharness run {scenario} --resume {run_dir}"
    assert not workers_left(str(tmp_path))

    resumed = cli("run", scenario, "--resume", run_dir, "--no-report")
    assert resumed.returncode == 0, resumed.stderr
    final = records(run_dir)
    assert final[: len(kept)] == kept
    assert sorted(r["params"]["batch_size"] for r in final) == [16, 32, 64]
    assert len({r["trial_id"] for r in final}) == 3


def test_resume_of_a_path_that_is_not_a_run_dir_is_exit_2(tmp_path):
    result = cli("run", "scenarios/batch_sweep.yaml", "--resume", tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"{tmp_path}: not a run directory (no run.json)"


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="apt-get install dataset-fashion-mnist (.ci/run installs it)")
def test_tutorial_cnn_on_fashion_mnist_reaches_the_guide_accuracy(tmp_path):
    """TensorFlow's pruning-guide recipe (Adam, batch 32, 4 epochs) gives about 0.877 on Fashion-MNIST."""
    scenario = tmp_path / "fashion.yaml"
    scenario.write_text("name: fashion\ndefaults:\n  model: tutorial_cnn\n  dataset: fashion_mnist\n"
                        "  epochs: 4\n  batch_size: 32\n  optimizer: adam\n")
    result = cli("run", scenario, "--out", tmp_path / "results", "--no-report")
    assert result.returncode == 0, result.stderr
    (record,) = records(only_run_dir(tmp_path / "results"))
    assert record["eval"]["samples"] == 10000
    assert record["eval"]["accuracy"] >= 0.86, record["eval"]
    assert record["epochs"][0]["samples"] == 60000


def test_models_lists_every_model_with_parameters():
    result = cli("models")
    assert result.returncode == 0, result.stderr
    for name, params in (("tutorial_cnn", "20,410"), ("mnist_cnn", "3,274,762"), ("imdb_lstm", "2,691,713")):
        assert any(name in line and params in line for line in result.stdout.splitlines()), result.stdout
    # conv/FC MACs, the papers' convention, beside the profiler's (see test_flops for the by-hand count)
    assert any("mobilenet_v3_small" in line and "56.51 M" in line for line in result.stdout.splitlines())
    # TensorFlow's C++ log lines ("I0000 ... devices.cc") go to a log file, not the terminal
    assert "I0000" not in result.stderr and "cuda" not in result.stderr.lower(), result.stderr


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="apt-get install dataset-fashion-mnist (.ci/run installs it)")
def test_pruning_sweep_reproduces_the_guide(tmp_path):
    """scenarios/pruning_sweep.yaml as shipped: at sparsity 0.8 the guide's savings, measured."""
    result = cli("run", REPO / "scenarios" / "pruning_sweep.yaml", "--out", tmp_path / "results", "--no-report")
    assert result.returncode == 0, result.stderr
    by_sparsity = {r["params"]["sparsity"]: r for r in records(only_run_dir(tmp_path / "results"))}
    dense, pruned = by_sparsity[0.0], by_sparsity[0.8]
    assert pruned["pruning"]["measured"] == pytest.approx(0.8, abs=0.01)
    assert dense["sizes"]["keras_zip_bytes"] / pruned["sizes"]["keras_zip_bytes"] >= 2.8
    assert dense["sizes"]["keras_zip_bytes"] / pruned["sizes"]["tflite_quant_zip_bytes"] >= 8.5
    assert dense["eval"]["accuracy"] - pruned["eval"]["accuracy"] <= 0.02
    assert abs(pruned["tflite_accuracy"]["quant"] - pruned["eval"]["accuracy"]) <= 0.005
    assert pruned["pruning"]["throughput_vs_dense"] is not None
    # epochs: 2 is one steady epoch: its windows of steps carry the speed's interval against dense
    assert dense["step_windows"]["n"] >= 8
    for record in (r for r in by_sparsity.values() if r["params"]["sparsity"]):
        low, high = record["pruning"]["throughput_vs_dense_ci"]
        assert low <= record["pruning"]["throughput_vs_dense"] <= high
        assert min(record["pruning"]["throughput_vs_dense_windows"]) >= 8


def test_auto_windows_are_counted_in_whole_batches(tmp_path):
    scenario = tmp_path / "auto.yaml"
    scenario.write_text(f"""
name: e2e-auto
defaults:
  model: "{model('tiny_mlp')}"
  samples_per_epoch: auto
  window_s: 0.2
  max_epochs: 4
  batch_size: 32
""")
    result = cli("run", scenario, "--out", tmp_path / "results", "--no-report")
    assert result.returncode == 0, result.stderr
    (record,) = records(only_run_dir(tmp_path / "results"))
    warmup, *windows = record["epochs"]
    assert warmup["steps"] == 20 and warmup["samples"] == 20 * 32  # AUTO_WARMUP_STEPS
    assert len({w["steps"] for w in windows}) == 1 and all(w["samples"] == w["steps"] * 32 for w in windows)
    assert record["steady_windows"] == len(windows) == 3 and record["stop_reason"] in ("precision", "max_epochs")


def test_two_replicas_on_logical_cpu_devices_record_scaling_and_chart_it(tmp_path):
    """The multi-GPU code path without a GPU: MirroredStrategy over two logical CPU devices."""
    scenario = tmp_path / "scaling.yaml"
    scenario.write_text(f"""
name: scaling
defaults:
  model: "{model('tiny_mlp')}"
  epochs: 2
  samples_per_epoch: 512
  batch_size: 32
runtime:
  distribute: mirrored
  logical_cpu_devices: 2
  sample_interval_ms: 50
sweep:
  num_gpus: [1, 2]
""")
    result = cli("run", scenario, "--out", tmp_path / "results", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run_dir = only_run_dir(tmp_path / "results")
    one, two = records(run_dir)
    assert [r["status"] for r in (one, two)] == ["ok", "ok"]
    assert (one["replicas"], one["per_replica_batch"], one["global_batch"]) == (1, 32, 32)
    assert (two["replicas"], two["per_replica_batch"], two["global_batch"]) == (2, 32, 64)
    assert two["cross_device_ops"] == "one_device"  # NCCL is GPU-only: the record says what ran
    # Global throughput: every sample of the epoch, in 512 / 64 = 8 steps of the global batch.
    assert two["epochs"][1]["samples"] == 512 and two["epochs"][1]["steps"] == 8
    assert two["throughput_sps"] == pytest.approx(512 / two["epoch_time_s"])
    assert one["scaling_efficiency"] == 1.0
    assert two["scaling_efficiency"] == pytest.approx(two["throughput_sps"] / (2 * one["throughput_sps"]))
    html = (tmp_path / "reports" / f"{run_dir.name}.html").read_text()
    assert "Scaling over replicas" in html and "scaling efficiency E(N)" in html
