"""Multi-replica arithmetic: the batches, E(N) in the record (against an earlier one-replica point)
and in the report's analysis (over every record, with intervals)."""

from __future__ import annotations

import pytest
from helpers.records import make_record

from benchharness.analyze import scaling_curves
from benchharness.scaling import batches_of, efficiency, one_replica_peer, replicas_of


def test_weak_scaling_keeps_the_batch_per_replica_and_strong_scaling_splits_it():
    assert batches_of({"batch_size": 64}, 4) == (64, 256)  # per_replica is the default
    assert batches_of({"batch_size": 64, "batch_scaling": "per_replica"}, 2) == (64, 128)
    assert batches_of({"batch_size": 64, "batch_scaling": "global"}, 4) == (16, 64)
    assert batches_of({"batch_size": 64, "batch_scaling": "global"}, 1) == (64, 64)
    assert batches_of({}, 2) == (None, None)


def test_replicas_default_to_one():
    assert replicas_of({}) == 1 and replicas_of({"num_gpus": 3}) == 3


def test_efficiency_is_throughput_over_n_times_the_one_replica_throughput():
    assert efficiency(1800.0, 2, 1000.0) == pytest.approx(0.9)
    assert efficiency(1000.0, 1, 1000.0) == 1.0
    assert efficiency(None, 2, 1000.0) is None and efficiency(1800.0, 2, None) is None


def scaling_record(tid: str, replicas: int, seconds: float, repeat: int = 0, earlier=None, mode="per_replica"):
    batch = 32
    global_batch = batch * replicas if mode == "per_replica" else batch
    distribution = {"replicas": replicas, "per_replica_batch": global_batch // replicas, "global_batch": global_batch,
                    "cross_device_ops": "one_device"}
    return make_record(tid, batch, epoch_seconds=(2.0, seconds, seconds), repeat=repeat,
                       params={"model": "m", "dataset": "d", "num_gpus": replicas, "batch_scaling": mode},
                       earlier=earlier, distribution=distribution).model_dump(mode="json")


def test_the_record_holds_replicas_batches_and_efficiency_against_an_earlier_one_replica_point():
    one = scaling_record("a", 1, 1.0)  # 1000 samples/s
    two = scaling_record("b", 2, 0.625, earlier=[one])  # 1600 samples/s: E(2) = 0.8
    assert (one["replicas"], one["global_batch"], one["scaling_efficiency"]) == (1, 32, 1.0)
    assert (two["replicas"], two["per_replica_batch"], two["global_batch"]) == (2, 32, 64)
    assert two["throughput_sps"] == pytest.approx(1600.0) and two["scaling_efficiency"] == pytest.approx(0.8)
    assert two["cross_device_ops"] == "one_device"
    # No one-replica point recorded before it: null, never a guess (the report computes it later).
    assert scaling_record("c", 2, 0.625)["scaling_efficiency"] is None


def test_the_one_replica_peer_is_the_same_curve_and_repeat():
    other_curve = make_record("x", 64, params={"model": "m", "dataset": "d", "num_gpus": 1, "batch_scaling": "per_replica"})
    peers = [other_curve.model_dump(mode="json"), scaling_record("a0", 1, 1.0), scaling_record("a1", 1, 0.5, repeat=1)]
    two = scaling_record("b", 2, 0.5, repeat=1)
    assert one_replica_peer(two, peers)["trial_id"] == "a1"


def test_a_failed_trial_records_the_replicas_its_params_asked_for():
    failed = make_record("f", 16, status="failed", epoch_seconds=(), params={"num_gpus": 2, "batch_scaling": "global"})
    assert (failed.replicas, failed.per_replica_batch, failed.global_batch) == (2, 8, 16)
    assert failed.scaling_efficiency is None and failed.cross_device_ops is None


def test_the_report_computes_e_of_n_over_repeats_with_a_conservative_interval():
    records = [scaling_record("a0", 1, 1.0), scaling_record("a1", 1, 1.0 / 1.1, repeat=1),
               scaling_record("b0", 2, 0.625), scaling_record("b1", 2, 0.5, repeat=1)]
    (curve,) = scaling_curves(records)
    assert [p.replicas for p in curve.points] == [1, 2] and curve.batch_scaling == "per_replica"
    one, two = curve.points
    assert one.throughput == pytest.approx(1050.0) and two.throughput == pytest.approx(1800.0)
    value, low, high = curve.efficiency(two)
    assert value == pytest.approx(1800.0 / (2 * 1050.0))
    t1, t2 = one.point.interval, two.point.interval
    assert low == pytest.approx(t2.low / (2 * t1.high)) and high == pytest.approx(t2.high / (2 * t1.low))
    assert curve.efficiency(one) == (pytest.approx(1.0), None, None)  # 1 by definition


def test_curves_with_one_replica_count_are_no_scaling_curves():
    assert scaling_curves([scaling_record("a", 1, 1.0), scaling_record("b", 1, 1.0, repeat=1)]) == []


def test_the_report_digest_answers_scaling_over_replicas(tmp_path):
    from helpers.records import RUN_INFO
    from helpers.synthetic_runs import write_run

    from benchharness.report import render

    one = scaling_record("a", 1, 1.0)
    run = write_run(tmp_path, "scaling", [one, scaling_record("b", 2, 0.625, earlier=[one])], RUN_INFO)
    html = render([run.path], tmp_path / "r.html").read_text()
    digest = html.split('<div class="digest">')[1].split("</div>")[0]
    assert "How well does it scale over replicas?" in digest
    assert "m on d, batch 32 per replica: 2 replicas, E(N) 0.80" in digest
