from __future__ import annotations

import pytest

from benchharness.record import classify, empty_record, percentile, summarize_epochs

CONTRACT = {"schema_version", "trial_id", "repeat", "status", "error", "params", "device", "epochs",
            "first_epoch_s", "epoch_time_s", "throughput_sps", "step_time_ms", "telemetry", "eval",
            "pruning", "sizes", "tflite_accuracy", "flops_per_sample", "mfu", "wall_s"}


def test_empty_record_has_every_contract_field_null():
    record = empty_record("abc", 0, {"batch_size": 32})
    assert CONTRACT <= set(record)
    assert record["telemetry"] is None and record["mfu"] is None and record["epochs"] == []


def epoch(i, seconds, samples=1000, steps=(1.0, 2.0)):
    return {"epoch": i, "seconds": seconds, "samples": samples, "steps": len(steps), "step_times_ms": list(steps)}


def test_first_epoch_apart_median_of_steady():
    summary = summarize_epochs([epoch(0, 9.0, steps=(500.0,)), epoch(1, 2.0), epoch(2, 4.0), epoch(3, 3.0)])
    assert summary["first_epoch_s"] == 9.0
    assert summary["epoch_time_s"] == 3.0
    assert summary["throughput_sps"] == pytest.approx(1000 / 3.0)
    # The first epoch's 500 ms step (tracing) is not among the steady steps.
    assert summary["step_time_ms"] == {"p50": 1.5, "p90": 2.0}  # steps 1,1,1,2,2,2


def test_no_steady_epoch_means_null_not_zero():
    summary = summarize_epochs([epoch(0, 5.0)])
    assert summary == {"first_epoch_s": 5.0, "epoch_time_s": None, "throughput_sps": None, "step_time_ms": None}
    assert summarize_epochs([])["first_epoch_s"] is None


def test_percentile():
    assert percentile([], 50) is None
    assert percentile([3.0], 90) == 3.0
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([0, 10], 90) == pytest.approx(9.0)


SOME_TEXT = object()  # an error message must be present, wording free


@pytest.mark.parametrize("result, rc, timed_out, tail, expected", [
    ({"status": "ok", "error": None}, 0, False, "", ("ok", None)),
    ({"status": "oom", "error": "ResourceExhaustedError: OOM"}, 1, False, "", ("oom", "ResourceExhaustedError: OOM")),
    (None, -9, True, "", ("timeout", "exceeded timeout_s=5; the worker's process group was killed")),
    (None, -9, False, "", ("oom", SOME_TEXT)),
    (None, -6, False, "... OOM when allocating tensor with shape[512]", ("oom", SOME_TEXT)),
    (None, 3, False, "Segfault somewhere\nlast words", ("failed", "worker exited with code 3 before reporting: Segfault somewhere | last words")),
])
def test_classify(result, rc, timed_out, tail, expected):
    status, error = classify(result, rc, timed_out, tail, 5)
    assert status == expected[0]
    if expected[1] is SOME_TEXT:
        assert error  # an oom without a report still says why it was classified so
    else:
        assert error == expected[1]
