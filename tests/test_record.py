"""The trial record: timing statistics, outcome classes, the one builder, the published schema,
and the upgrade of version-1 run directories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from benchharness import SCHEMA_VERSION
from benchharness.epochs import percentile, summarize_epochs
from benchharness.outcome import classify
from benchharness.record import RunInfo, TrialRecord, json_schema
from benchharness.store import RunDir
from helpers.records import make_record

REPO = Path(__file__).parent.parent
GOLDEN = sorted((REPO / "tests" / "golden").iterdir())


def epoch(i, seconds, samples=1000, steps=(1.0, 2.0)):
    return {"epoch": i, "seconds": seconds, "samples": samples, "steps": len(steps), "step_times_ms": list(steps)}


def test_first_epoch_apart_median_of_steady():
    summary = summarize_epochs([epoch(0, 9.0, steps=(500.0,)), epoch(1, 2.0), epoch(2, 4.0), epoch(3, 3.0)])
    assert summary["first_epoch_s"] == 9.0
    assert summary["epoch_time_s"] == 3.0
    assert summary["throughput_sps"] == pytest.approx(1000 / 3.0)
    # The first epoch's 500 ms step (tracing) is not among the steady steps.
    assert summary["step_time_ms"] == {"p50": 1.5, "p90": 2.0}  # steps 1,1,1,2,2,2
    assert summary["steady_windows"] == 3 and summary["windows_sps"] == [500.0, 250.0, 1000 / 3.0]


def test_windows_interval_against_scipy_and_by_hand():
    import math

    from scipy import stats as sps

    # windows of 1000 samples at 10.0, 9.8, 10.2 s... as throughputs: 100, 102.04..., 98.04...
    epochs = [epoch(0, 20.0)] + [epoch(i + 1, s) for i, s in enumerate((10.0, 1000 / 102, 1000 / 98))]
    summary = summarize_epochs(epochs)
    # the median (100) with the mean's t half-width widened by sqrt(pi/2): the median's interval
    low, high = sps.t.interval(0.95, 2, loc=100.0, scale=2.0 / 3 ** 0.5 * math.sqrt(math.pi / 2))
    assert summary["throughput_ci_sps"] == pytest.approx([low, high])
    assert summary["throughput_ci_sps"] == pytest.approx([100 - 6.22681, 100 + 6.22681], abs=1e-5)  # t(.975,2)=4.302653
    assert summary["throughput_cv"] == pytest.approx(0.02)  # s = 2 over a mean of 100


def test_later_warmup_epochs_are_not_windows():
    summary = summarize_epochs([epoch(0, 9.0), epoch(1, 6.0), epoch(2, 2.0), epoch(3, 2.0)], warmup_epochs=2)
    assert summary["first_epoch_s"] == 9.0 and summary["warmup_epochs"] == 2
    assert summary["windows_sps"] == [500.0, 500.0] and summary["epoch_time_s"] == 2.0


def test_no_steady_epoch_means_null_not_zero():
    summary = summarize_epochs([epoch(0, 5.0)])
    assert summary["first_epoch_s"] == 5.0 and summary["steady_windows"] is None and summary["windows_sps"] is None
    assert all(summary[k] is None for k in ("epoch_time_s", "throughput_sps", "throughput_ci_sps", "throughput_cv",
                                            "no_steady_state", "step_time_ms"))
    assert summarize_epochs([])["first_epoch_s"] is None


def test_a_level_shift_in_the_windows_is_no_steady_state():
    shifted = [epoch(0, 3.0)] + [epoch(i + 1, 1.0 if i < 4 else 1.5) for i in range(8)]
    steady = [epoch(0, 3.0)] + [epoch(i + 1, 1.0 + 0.001 * (i % 2)) for i in range(8)]
    assert summarize_epochs(shifted)["no_steady_state"] is True
    assert summarize_epochs(steady)["no_steady_state"] is False
    assert summarize_epochs(steady[:4])["no_steady_state"] is None  # 3 windows: too few to test


def test_percentile():
    assert percentile([], 50) is None
    assert percentile([3.0], 90) == 3.0
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([0, 10], 90) == pytest.approx(9.0)


SOME_TEXT = object()  # an error message must be present, wording free


@pytest.mark.parametrize("result, rc, timed_out, tail, expected", [
    ({"status": "ok", "error": None}, 0, False, "", ("ok", None)),
    ({"status": "oom", "error": "ResourceExhaustedError: OOM"}, 1, False, "", ("oom", "ResourceExhaustedError: OOM")),
    ({"status": "failed", "error": "ValueError: x"}, 1, False, "a\nb\nc\nd", ("failed", "ValueError: x | log tail: b | c | d")),
    (None, -9, True, "", ("timeout", "exceeded timeout_s=5; the worker's process group was killed")),
    (None, -9, False, "", ("failed", "worker killed by SIGKILL before reporting, not by the harness; the cgroup's "
                           "OOM-kill count could not be read, so this is not called an OOM")),
    (None, -6, False, "tensorflow.python.framework.errors_impl.ResourceExhaustedError: OOM when allocating tensor "
                      "with shape[512]", ("oom", SOME_TEXT)),
    (None, 3, False, "Segfault somewhere\nlast words", ("failed", "worker exited with code 3 before reporting: Segfault somewhere | last words")),
])
def test_classify(result, rc, timed_out, tail, expected):
    status, error = classify(result, rc, timed_out, tail, 5)
    assert status == expected[0]
    if expected[1] is SOME_TEXT:
        assert error  # an oom without a report still says why it was classified so
    else:
        assert error == expected[1]


def test_a_sigkill_is_an_oom_only_when_the_cgroup_counted_an_oom_kill():
    assert classify(None, -9, False, "", 5, oom_killed=True)[0] == "oom"
    status, error = classify(None, -9, False, "", 5, oom_killed=False)
    assert status == "failed" and "recorded none" in error


# Real texts: TensorFlow's fatal errors, and its allocator's non-fatal warning.
FATAL = [
    "tensorflow.python.framework.errors_impl.ResourceExhaustedError: {{function_node __wrapped__Conv2D_device_/job:"
    "localhost/replica:0/task:0/device:GPU:0}} OOM when allocating tensor with shape[512,32,28,28] and type float on "
    "/job:localhost/replica:0/task:0/device:GPU:0 by allocator GPU_0_bfc [Op:Conv2D]",
    "tensorflow.python.framework.errors_impl.InternalError: CUDA runtime implicit initialization on GPU:0 failed. "
    "Status: out of memory",
    "tensorflow.python.framework.errors_impl.InternalError: Failed to create cuDNN handle: CUDNN_STATUS_ALLOC_FAILED",
    "tensorflow.python.framework.errors_impl.UnknownError: CUDA_ERROR_OUT_OF_MEMORY: out of memory",
]
NOT_FATAL = [
    "W0000 00:00:1700000000.000000 12345 bfc_allocator.cc:310] Allocator (GPU_0_bfc) ran out of memory trying to "
    "allocate 2.25GiB with freed_by_count=0. The caller indicates that this is not a failure, but this may mean that "
    "there could be performance gains if more memory were available.",
    "tensorflow.python.framework.errors_impl.UnknownError: Failed to get convolution algorithm. This is probably "
    "because cuDNN failed to initialize",
    "E0000 cuda_driver.cc:1162] failed to alloc 2147483648 bytes on host: CUDA_ERROR_OUT_OF_MEMORY: out of memory",
]


@pytest.mark.parametrize("text", FATAL)
def test_fatal_out_of_memory_texts_are_oom(text):
    from benchharness.outcome import is_oom_text

    assert is_oom_text(f"Traceback (most recent call last):\n  ...\n{text}")
    assert classify(None, 1, False, f"some log\n{text}", 5)[0] == "oom"


@pytest.mark.parametrize("text", NOT_FATAL)
def test_warnings_and_other_errors_are_not_oom(text):
    from benchharness.outcome import is_oom_text

    assert not is_oom_text(text)
    assert classify(None, 1, False, f"some log\n{text}", 5)[0] == "failed"


def test_the_cgroup_oom_kill_count_is_read_from_v1_or_v2(tmp_path):
    from benchharness.process import cgroup_oom_kills

    proc, root = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cgroup").write_text("4:memory:/box\n0::/\n")
    (root / "memory" / "box").mkdir(parents=True)
    (root / "memory" / "box" / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    assert cgroup_oom_kills(proc, root) == 3
    (proc / "self" / "cgroup").write_text("0::/user.slice/box\n")
    (root / "user.slice" / "box").mkdir(parents=True)
    (root / "user.slice" / "box" / "memory.events").write_text("low 0\nhigh 0\nmax 2\noom 2\noom_kill 1\n")
    assert cgroup_oom_kills(proc, root) == 1
    assert cgroup_oom_kills(tmp_path / "nowhere", root) is None


# -- the builder ------------------------------------------------------------------------------------


def test_builder_fills_every_field_and_times_the_phases():
    record = make_record("t1", batch=32, epoch_seconds=(2.0, 1.0, 1.0))
    assert record.schema_version == SCHEMA_VERSION and record.status == "ok"
    assert record.first_epoch_s == 2.0 and record.epoch_time_s == 1.0 and record.throughput_sps == 1000.0
    assert record.telemetry is None and record.mfu is None and record.cost is None  # not measured: null
    phases = record.phases_s
    # helpers.records: spawn at 99.0, started at 100.0, marks 0.5 s apart, exit 0.25 s after the result
    assert phases["process_start"] == pytest.approx(1.0) and phases["import"] == pytest.approx(0.5)
    assert phases["fit_overhead"] == pytest.approx(0.53)  # three 10 ms gaps, then 0.5 s from the last epoch to fit_end
    assert phases["exit"] == pytest.approx(0.25)
    # the phases and the timed epochs add up to the wall time, to the microsecond
    assert sum(phases.values()) + sum(e.seconds for e in record.epochs) == pytest.approx(record.wall_s)
    assert record.startup_s == pytest.approx(3.0) and record.after_fit_s == pytest.approx(1.75)
    assert all(not hasattr(e, "step_times_ms") for e in record.epochs)  # summarized, not stored


def test_phases_add_up_for_a_trial_that_died_in_fit():
    from benchharness.assemble import WorkerRun, fixed_cost
    from helpers.records import worker_events

    events = worker_events((2.0, 1.0, 1.0))[:-4]  # up to the last epoch_end: no fit_end, no result
    worker = WorkerRun(events, -9, False, 99.0, events[-1]["t_monotonic"] + 0.5)
    epochs = [{"seconds": e["seconds"], "t_end_monotonic": e["t_monotonic"]} for e in events if e["event"] == "epoch_end"]
    figures = fixed_cost(worker, epochs)
    wall = worker.exited_monotonic - worker.spawned_monotonic
    assert sum(figures["phases_s"].values()) + 4.0 == pytest.approx(wall)
    assert figures["phases_s"]["exit"] == pytest.approx(0.5 + 0.03)  # the epochs' gaps, and the death
    assert figures["after_fit_s"] is None


def test_builder_computes_derived_figures_once():
    cost = {"flops_per_sample": 1e6, "macs_per_sample": 5e5, "conv_dense_macs_per_sample": 5e5,
            "mac_bytes_per_sample": 1e4, "arithmetic_intensity": 100.0, "flops_saved_by_sparsity": None}
    from benchharness.assemble import RunContext, WorkerRun, build_record
    from benchharness.plan import Trial
    from helpers.records import worker_events

    events = worker_events((2.0, 1.0), cost=cost)
    worker = WorkerRun(events, 0, False, 99.0, 110.0)
    record = build_record(Trial("x", 0, {"timeout_s": 9.0}), worker, None,
                          RunContext(peak={"peak_flops_per_s": 3e10}))
    # 3 x 1e6 FLOPs x 1000 samples/s = 3e9 FLOP/s, a tenth of the peak
    assert record.cost.achieved_flops_per_s == pytest.approx(3e9) and record.mfu == pytest.approx(0.1)


def test_a_record_is_frozen():
    record = make_record("t1")
    with pytest.raises(ValidationError):
        record.status = "failed"


def test_builder_pairs_a_pruned_trial_with_its_dense_peer():
    dense = make_record("d", params={"model": "m", "sparsity": 0.0}).model_dump(mode="json")
    pruning = {"target": 0.5, "measured": 0.5, "per_layer": {"dense": 0.5}, "pruned_weights": 10,
               "schedule": {"kind": "constant", "initial_sparsity": 0.0, "final_sparsity": 0.5, "begin_step": 0,
                            "end_step": 10, "frequency": 1}, "wrapped_layers": ["dense"]}
    pruned = make_record("p", params={"model": "m", "sparsity": 0.5}, epoch_seconds=(2.0, 2.0),
                         earlier=[dense], pruning=pruning)
    assert pruned.pruning.throughput_vs_dense == pytest.approx(0.5)


# -- the published schema ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["trial-record", "run"])
def test_published_schema_matches_the_models(name):
    committed = json.loads((REPO / "docs" / "schema" / f"{name}.schema.json").read_text())
    assert committed == json_schema(name), f"run: benchharness schema {name} > docs/schema/{name}.schema.json"


@pytest.mark.parametrize("name", ["trial-record", "run"])
def test_schema_verb_prints_the_committed_file(name):
    printed = subprocess.run([sys.executable, "-m", "benchharness", "schema", name], capture_output=True,
                             text=True, check=True, cwd=REPO).stdout
    assert json.loads(printed) == json.loads((REPO / "docs" / "schema" / f"{name}.schema.json").read_text())


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: p.name)
def test_golden_version_1_runs_upgrade_and_validate(golden):
    import jsonschema

    run = RunDir.open(golden)
    raw = [json.loads(line) for line in (golden / "trials.jsonl").read_text().splitlines()]
    assert {r["schema_version"] for r in raw} == {1}, "the golden runs are the version-1 corpus"
    records = run.read_trials().records
    assert len(records) == len(raw)
    for record in records:
        jsonschema.validate(record, json_schema("trial-record"))
        assert record["after_fit_s"] is None and record["phases_s"] is None  # not measured in version 1
    jsonschema.validate(run.info, json_schema("run"))


def test_upgrade_computes_throughput_vs_dense_for_version_1():
    records = RunDir.open(REPO / "tests" / "golden" / "pruning_run").read_trials().records
    ratios = [r["pruning"]["throughput_vs_dense"] for r in records if r["pruning"]]
    assert ratios and all(0.1 < ratio < 2 for ratio in ratios)


@pytest.mark.parametrize("change, key", [
    (lambda r: r.pop("wall_s"), "wall_s"),
    (lambda r: r.update(status="crashed"), "status"),
    (lambda r: r.update(throughput_sps="fast"), "throughput_sps"),
    (lambda r: r["epochs"][0].update(seconds=None), "epochs.0.seconds"),
    (lambda r: r.update(surprise=1), "surprise"),
    (lambda r: r.update(throughput_ci_sps=[1.0, 2.0, 3.0]), "throughput_ci_sps"),
])
def test_a_bad_record_fails_validation(change, key):
    import jsonschema

    record = make_record("t1").model_dump(mode="json")
    change(record)
    with pytest.raises(ValidationError) as caught:
        TrialRecord.model_validate(record)
    assert key in {".".join(str(p) for p in e["loc"]) for e in caught.value.errors()}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, json_schema("trial-record"))


def test_a_bad_record_in_a_results_file_is_one_line_with_file_line_and_key(tmp_path):
    from benchharness.errors import UserError
    from helpers.records import RUN_INFO

    run = RunDir.create(tmp_path, "r", RUN_INFO)
    run.append_record(make_record("t1"))
    bad = make_record("t2").model_dump(mode="json") | {"status": "crashed"}
    with open(run.trials_path, "a") as f:
        f.write(json.dumps(bad) + "\n")
    with pytest.raises(UserError) as caught:
        run.read_trials()
    assert caught.value.lines == [f"{run.trials_path}:2: status: input should be 'ok', 'oom', 'failed' or "
                                  f"'timeout'; not a valid TrialRecord (schema_version {SCHEMA_VERSION})"]


def test_run_info_requires_every_field():
    with pytest.raises(ValidationError):
        RunInfo.model_validate({"schema_version": SCHEMA_VERSION, "benchharness": "x"})
