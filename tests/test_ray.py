"""The Ray executor end to end: a real two-node Ray cluster on this machine (``ray start`` twice, fake
GPUs, fake NVML), a sweep into one run directory, a node killed mid-sweep, an OOM that is not retried."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from helpers.cli import REPO, cli, default_signals, model, only_run_dir, records, tagged_env, workers_left
from helpers.ray_cluster import LocalCluster, env_for_nodes, wait_for, worker_under

pytestmark = pytest.mark.slow

SCENARIO = f"""
name: ray-e2e
defaults:
  epochs: 3
  samples_per_epoch: 16384
runtime:
  sample_interval_ms: 100
sweep:
  model: ["{model('oom_model')}", "{model('tiny_mlp')}"]
  batch_size: [32, 64, 128, 256, 512]
exclude:
  - {{model: "{model('oom_model')}", batch_size: 64}}
  - {{model: "{model('oom_model')}", batch_size: 128}}
  - {{model: "{model('oom_model')}", batch_size: 256}}
  - {{model: "{model('oom_model')}", batch_size: 512}}
"""


@pytest.fixture
def cluster():
    tag = "ray-e2e"
    nodes = LocalCluster(tagged_env(tag) | env_for_nodes())
    try:
        nodes.add_node()
        nodes.add_node()
        yield nodes
    finally:
        nodes.stop()
    assert workers_left(tag) == []


def schema(name: str) -> dict:
    return json.loads((REPO / "docs" / "schema" / f"{name}.schema.json").read_text())


def test_a_node_lost_mid_sweep_still_records_every_trial_once(tmp_path, cluster):
    scenario = tmp_path / "ray.yaml"
    scenario.write_text(SCENARIO)
    harness = subprocess.Popen([sys.executable, "-m", "benchharness", "run", str(scenario), "--executor", "ray",
                                "--ray-address", cluster.address, "--out", str(tmp_path / "results")],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=os.environ | {"RAY_AUTH_MODE": "token"})  # as the README says for a cluster
    try:
        # Once both nodes have recorded a trial and the OOM (first in the plan) is recorded, kill
        # node 2 while it runs a trial.
        def both_nodes_and_the_oom_recorded() -> bool:
            stored = _records_under(tmp_path / "results")
            return len({r["execution"]["node_id"] for r in stored}) == 2 and any(r["status"] == "oom" for r in stored)

        assert wait_for(both_nodes_and_the_oom_recorded, 240)
        assert wait_for(lambda: worker_under(cluster.node_processes("bh_node2")), 180)
        assert cluster.kill_node("bh_node2") > 0
        stdout, stderr = harness.communicate(timeout=480)
    finally:
        harness.kill()
    assert harness.returncode == 0, stderr
    assert "its Ray node was lost" in stderr
    run_dir = only_run_dir(tmp_path / "results")
    stored = records(run_dir)
    # Every trial exactly once: six trials, six records, one attempt each.
    assert len(stored) == 6 and len({r["trial_id"] for r in stored}) == 6
    assert all(r["attempt"] == 1 and r["execution"]["executor"] == "ray" for r in stored)
    # The trial that was running on the lost node ran again and was recorded once.
    assert sorted(r["execution"]["task_attempts"] for r in stored)[-1] == 2
    # The OOM is data: recorded once as oom, its task started once, one log.
    (oom,) = [r for r in stored if r["status"] == "oom"]
    assert oom["execution"]["task_attempts"] == 1 and "ResourceExhaustedError" in oom["error"]
    assert len(list((run_dir / "logs").glob(f"{oom['trial_id']}*.log"))) == 1
    assert all(r["status"] == "ok" for r in stored if r is not oom)
    # The same schema as a local run's; the fake NVML sampled on the nodes.
    for record in stored:
        jsonschema.validate(record, schema("trial-record"))
        assert record["telemetry"]["source"] == "fake-nvml"
        assert record["execution"]["cuda_visible_devices"] in ("0", "1")
    info = json.loads((run_dir / "run.json").read_text())
    jsonschema.validate(info, schema("run"))
    assert info["executor"]["kind"] == "ray" and info["executor"]["ray_address"] == cluster.address
    assert info["complete"] is True and info["peak"] is not None
    for record in stored:
        assert (run_dir / "samples" / f"{record['trial_id']}.csv").is_file()
    # Two nodes shared this machine: the report says which trials overlapped.
    report = (tmp_path / "reports" / f"{run_dir.name}.html").read_text()
    assert "ran at the same time on one host" in report


def _records_under(parent: Path) -> list[dict]:
    """The records written so far; a last line the driver is still appending is not one yet."""
    out = []
    for path in parent.glob("*/trials.jsonl") if parent.is_dir() else []:
        text = path.read_text()
        out += [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines() if line.strip()]
    return out


def test_ray_is_checked_before_a_run_directory_is_made(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)
    result = cli("run", scenario, "--executor", "ray", "--ray-address", "127.0.0.1:1", "--out", tmp_path / "r",
                 cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "--ray-address 127.0.0.1:1: nothing answers there" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()
    flag = cli("run", scenario, "--ray-address", "127.0.0.1:1", cwd=tmp_path)
    assert flag.returncode == 2 and "--ray-address applies to --executor ray only" in flag.stderr


def test_a_local_ray_instance_stops_on_ctrl_c_and_resume_completes(tmp_path):
    """No address: a local Ray instance for the run; Ctrl-C kills the running task's worker and keeps
    the finished records; --resume with the Ray executor runs only what is missing."""
    scenario = tmp_path / "sigint.yaml"
    scenario.write_text(f"""
name: ray-sigint
defaults:
  model: "{model('tiny_mlp')}"
  epochs: 2
  samples_per_epoch: 2048
sweep:
  batch_size: [16, 32, 64]
""")
    out, tag = tmp_path / "results", f"ray-sigint-{tmp_path.name}"
    proc = subprocess.Popen([sys.executable, "-m", "benchharness", "run", str(scenario), "--executor", "ray",
                             "--out", str(out), "--no-report"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=tagged_env(tag), preexec_fn=default_signals)
    try:
        assert wait_for(lambda: _records_under(out), 240)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    run_dir = only_run_dir(out)
    kept = records(run_dir)
    assert 1 <= len(kept) < 3 and all(r["status"] == "ok" for r in kept)
    assert json.loads((run_dir / "run.json").read_text())["complete"] is False
    resume_line = next(line for line in stderr.splitlines() if line.startswith("Resume with: "))
    assert resume_line == f"Resume with: benchharness run {scenario} --resume {run_dir} --executor ray"
    assert wait_for(lambda: not workers_left(tag), 30)

    resumed = cli("run", scenario, "--resume", run_dir, "--executor", "ray", "--no-report")
    assert resumed.returncode == 0, resumed.stderr
    final = records(run_dir)
    assert final[: len(kept)] == kept and len({r["trial_id"] for r in final}) == 3
    assert sorted(r["params"]["batch_size"] for r in final) == [16, 32, 64]
    # One trial at a time on a host without GPUs: no two spans overlap.
    assert all(r["execution"]["host"] == final[0]["execution"]["host"] for r in final)
    from benchharness.analyze import overlapping_trials

    assert overlapping_trials(final) == {}
