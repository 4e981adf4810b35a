"""The Ray executor's decisions without a cluster: where a trial may run, which curve runs on which
GPU model, which trials shared a host, and what a lost node or a failed task becomes."""

from __future__ import annotations

import pytest

from benchharness.analyze import overlapping_trials
from benchharness.errors import UserError
from benchharness.plan import Trial
from benchharness.store import RunDir
from benchharness.ray_executor import (RayExecutor, RayOptions, check_answers, pin_curves, ray_accelerator_name,
                                       smallest_node_cpus, task_options)


def trial(batch: int, model: str = "m", **params) -> Trial:
    extra = "".join(f"-{k}{v}" for k, v in sorted(params.items()))
    return Trial(f"{model}-{batch}{extra}", 0, {"model": model, "batch_size": batch, "timeout_s": 60.0} | params)


NODES = [{"Alive": True, "Resources": {"CPU": 8.0}}, {"Alive": True, "Resources": {"CPU": 4.0}},
         {"Alive": False, "Resources": {"CPU": 1.0}}]


def test_a_cpu_trial_reserves_the_smallest_live_node_whole():
    assert smallest_node_cpus(NODES) == 4.0
    assert task_options({"batch_size": 32}, {"CPU": 12.0}, NODES, None) == {"num_gpus": 0, "num_cpus": 4.0}


def test_a_gpu_trial_reserves_its_replicas_gpus_on_its_curves_model():
    resources = {"CPU": 32.0, "GPU": 8.0, "accelerator_type:H100": 8.0}
    mirrored = {"batch_size": 64, "num_gpus": 4, "distribute": "mirrored"}
    assert task_options({"batch_size": 64}, resources, NODES, "H100") == {
        "num_gpus": 1, "num_cpus": 1, "resources": {"accelerator_type:H100": 0.001}}
    assert task_options(mirrored, resources, NODES, "H100")["num_gpus"] == 4
    assert "resources" not in task_options({"batch_size": 64}, {"GPU": 2.0}, NODES, None)


def gpu_node(model: str, gpus: int, alive: bool = True) -> dict:
    # Ray gives a node accelerator_type:<model> = 1 whatever its GPU count.
    return {"Alive": alive, "Resources": {"CPU": 8.0, "GPU": float(gpus), f"accelerator_type:{model}": 1.0}}


def test_every_trial_of_a_curve_runs_on_one_gpu_model_dealt_by_gpu_count():
    trials = [trial(b, m) for m in ("a", "b", "c") for b in (32, 64, 128)]
    # One A100 node with 8 GPUs, two T4 nodes with 2 each: A100 holds 2/3 of the GPUs.
    nodes = [gpu_node("A100", 8), gpu_node("T4", 2), gpu_node("T4", 2), gpu_node("H100", 8, alive=False)]
    pins = pin_curves(trials, nodes)
    assert len(pins) == 3 and sorted(pins.values()) == ["A100", "A100", "T4"]
    assert pin_curves(trials, [{"Alive": True, "Resources": {"CPU": 4.0}}]) == {key: None for key in pins}


def test_pruned_and_multi_replica_trials_share_their_peers_pin():
    dense, pruned = trial(32, sparsity=0.0), trial(32, sparsity=0.5)
    one, two = trial(64, num_gpus=1), trial(64, num_gpus=2)
    longer = trial(512, timeout_s=900.0)
    pins = pin_curves([dense, pruned, one, two, longer], [gpu_node("A100", 4), gpu_node("T4", 4)])
    assert len(set(pins)) == 1  # batch, timeout, sparsity and num_gpus never split a pin


def test_a_resumed_run_keeps_the_pins_of_its_recorded_trials():
    trials = [trial(32, "a"), trial(32, "b")]
    nodes = [gpu_node("A100", 4), gpu_node("T4", 4)]
    from benchharness.ray_executor import curve_key

    kept = {curve_key(trials[0].params): "T4", curve_key(trials[1].params): "T4"}
    assert set(pin_curves(trials, nodes, kept).values()) == {"T4"}


def test_a_head_without_cpus_does_not_make_cpu_trials_small():
    nodes = [{"Alive": True, "Resources": {"CPU": 0.0}}, {"Alive": True, "Resources": {"CPU": 16.0}}]
    assert smallest_node_cpus(nodes) == 16.0


def test_a_request_no_live_node_holds_is_seen():
    from benchharness.ray_executor import fits_a_live_node

    nodes = [gpu_node("A100", 2), gpu_node("T4", 4, alive=False)]
    assert fits_a_live_node({"num_gpus": 2, "num_cpus": 1, "resources": {"accelerator_type:A100": 0.001}}, nodes)
    assert not fits_a_live_node({"num_gpus": 4, "num_cpus": 1}, nodes)  # mirrored over 4 on 2-GPU nodes
    assert not fits_a_live_node({"num_gpus": 1, "num_cpus": 1, "resources": {"accelerator_type:T4": 0.001}}, nodes)


def test_pruned_and_multi_replica_trials_wait_for_their_peers():
    from benchharness.ray_executor import dependencies

    dense, pruned, other = trial(32, sparsity=0.0), trial(32, sparsity=0.5), trial(64, sparsity=0.5)
    one, two = trial(128, num_gpus=1), trial(128, num_gpus=2)
    todo = [dense, pruned, other, one, two]
    assert dependencies(pruned, todo) == {dense.trial_id}
    assert dependencies(other, todo) == set()  # its dense peer (batch 64) is not in this run's todo
    assert dependencies(two, todo) == {one.trial_id} and dependencies(dense, todo) == set()


def test_gpu_names_become_ray_accelerator_labels():
    assert ray_accelerator_name("NVIDIA H100 80GB HBM3") == "H100"
    assert ray_accelerator_name("Tesla T4") == "T4"
    assert ray_accelerator_name("NVIDIA GeForce RTX 2080 Ti") == "RTX"
    assert ray_accelerator_name("") == "unknown"


def test_an_address_where_nothing_listens_is_one_clear_error():
    with pytest.raises(UserError, match="127.0.0.1:1: nothing answers there"):
        check_answers("127.0.0.1:1")
    with pytest.raises(UserError, match=r"\[::1\]:1: nothing answers there \(Connection refused"):
        check_answers("[::1]:1")  # an IPv6 address is tried, not refused as a name
    check_answers("auto")  # left to Ray


def span(trial_id: str, host: str, start: str, end: str) -> dict:
    return {"trial_id": trial_id, "execution": {"host": host, "started_utc": f"2026-01-01T00:00:{start}+00:00",
                                                "finished_utc": f"2026-01-01T00:00:{end}+00:00"}}


def test_trials_overlap_only_on_the_same_host_at_the_same_time():
    records = [span("a", "h1", "00", "10"), span("b", "h1", "05", "15"), span("c", "h2", "00", "20"),
               span("d", "h1", "15", "20"), {"trial_id": "old", "execution": None}]
    assert overlapping_trials(records) == {"a": ["b"], "b": ["a"]}  # d starts as b ends: no overlap
    assert overlapping_trials([span("a", "h", "00", "10"), span("b", "h", "01", "02"), span("c", "h", "03", "04")]) \
        == {"a": ["b", "c"], "b": ["a"], "c": ["a"]}
    unreadable = {"trial_id": "x", "execution": {"host": "h1", "started_utc": "yesterday", "finished_utc": "now"}}
    naive = {"trial_id": "n", "execution": {"host": "h1", "started_utc": "2026-01-01T00:00:01",
                                            "finished_utc": "2026-01-01T00:00:02"}}
    assert overlapping_trials(records + [unreadable, naive]) == {"a": ["n", "b"], "b": ["a"], "n": ["a"]}


class FakeRay:
    """Just enough of Ray for the driver's bookkeeping: tasks that fail as told."""

    class exceptions:
        class NodeDiedError(Exception):
            pass

        class ObjectLostError(Exception):
            pass

        class OwnerDiedError(Exception):
            pass

        class WorkerCrashedError(Exception):
            pass

        class OutOfMemoryError(Exception):
            pass

    def __init__(self, failures: list[Exception]):
        self.failures = failures
        self.submitted = []

    def remote(self, **options):
        ray = self

        class Remote:
            def __init__(self, fn):
                self.fn = fn

            def options(self, **opts):
                return self

            def remote(self, *args):
                ray.submitted.append(args)
                return len(ray.submitted)

        return Remote

    def get(self, ref):
        raise self.failures.pop(0)

    def nodes(self):
        return [{"NodeID": "n1", "Alive": True, "Resources": {"CPU": 2.0}},
                {"NodeID": "n0", "Alive": False, "Resources": {"CPU": 2.0}}]  # dead before the sweep


def make_run(tmp_path):
    info = {"scenario": {"source": "s.yaml", "sha256": "-", "resolved": {}}, "environment": {}}
    return RunDir.create(tmp_path, "ray-units", info)


@pytest.fixture
def fake_ray(monkeypatch):
    import sys

    ray = FakeRay([])
    monkeypatch.setitem(sys.modules, "ray", ray)
    monkeypatch.setitem(sys.modules, "ray.exceptions", FakeRay.exceptions)
    return ray


def test_a_lost_node_runs_the_trial_again_and_a_failed_task_is_recorded_once(tmp_path, fake_ray):
    from benchharness.execute import Executor

    run = make_run(tmp_path)
    executor = Executor(run, {"sample_interval_ms": 0})
    seen = []
    driver = RayExecutor(executor, fake_ray, RayOptions(max_node_losses=1), 0, lambda t, r: seen.append(r), print)
    from benchharness.ray_executor import Pending

    pending, in_flight = Pending(trial(32), {}), {}
    fake_ray.failures = [FakeRay.exceptions.NodeDiedError("node n2 died"),
                         FakeRay.exceptions.NodeDiedError("node n3 died")]
    driver._collect(1, pending, in_flight)  # lost once: submitted again
    assert pending.task_attempts == 2 and len(in_flight) == 1 and seen == []
    ref = next(iter(in_flight))
    driver._collect(ref, in_flight.pop(ref), in_flight)  # lost again, past max_node_losses: a failed record
    assert in_flight == {} and len(seen) == 1
    (record,) = run.read_trials().records
    assert record["status"] == "failed" and "Ray task ended after 2 start(s) without a result: NodeDiedError" in record["error"]
    assert record["execution"]["task_attempts"] == 2


def test_a_crashed_worker_on_a_live_cluster_is_not_a_lost_node(tmp_path, fake_ray):
    """Ray's memory monitor kills the task of a trial that ate the host's memory: a result, not a
    retry (a node that died before the sweep does not make it a lost node)."""
    from benchharness.execute import Executor

    run = make_run(tmp_path)
    driver = RayExecutor(Executor(run, {"sample_interval_ms": 0}), fake_ray, RayOptions(), 0, lambda t, r: None, print)
    from benchharness.ray_executor import Pending

    fake_ray.failures = [FakeRay.exceptions.WorkerCrashedError("killed by the memory monitor")]
    driver._alive_at_start = {"n1"}
    in_flight = {}
    driver._collect(1, Pending(trial(64), {}), in_flight)
    assert in_flight == {} and run.read_trials().records[0]["status"] == "failed"


def test_a_local_instance_gets_the_fake_gpus_with_their_model_label(monkeypatch):
    from benchharness.ray_executor import _local_gpus

    monkeypatch.setenv("BENCHHARNESS_FAKE_NVML", "1")
    local = _local_gpus(print)
    assert local["num_gpus"] >= 1
    (label,) = local["resources"]
    assert label.startswith("accelerator_type:") and local["resources"][label] == local["num_gpus"]


def test_a_task_killed_by_rays_memory_monitor_is_an_oom_recorded_once(tmp_path, fake_ray):
    from benchharness.execute import Executor
    from benchharness.ray_executor import Pending

    run = make_run(tmp_path)
    driver = RayExecutor(Executor(run, {"sample_interval_ms": 0}), fake_ray, RayOptions(), 0, lambda t, r: None, print)
    fake_ray.failures = [FakeRay.exceptions.OutOfMemoryError("Task was killed due to the node running low on memory")]
    in_flight = {}
    driver._collect(1, Pending(trial(512), {}), in_flight)
    (record,) = run.read_trials().records
    assert in_flight == {} and record["status"] == "oom" and "OutOfMemoryError" in record["error"]
