"""The roofline's x: a training step's arithmetic intensity at the trial's batch size (plain numbers,
the record builder and the report's points; no TensorFlow)."""

from __future__ import annotations

import pytest

from benchharness.cost import (ACTIVATION_PASSES, OPTIMIZER_SLOTS, SLOT_PASSES, TRAINING_FLOPS_FACTOR, WEIGHT_PASSES,
                               step_intensity_of, training_step_intensity)

# A model of 1 MFLOP forward per sample, 1 M float32 weights (4 MB) and 50,000 float32 activations
# per sample (200 kB).
F, W, A = 1e6, 4e6, 2e5


def test_the_counts_are_the_documented_ones():
    assert (TRAINING_FLOPS_FACTOR, WEIGHT_PASSES, SLOT_PASSES, ACTIVATION_PASSES) == (3, 6, 2, 3)
    assert OPTIMIZER_SLOTS == {"sgd": 1, "rmsprop": 1, "adam": 2, "adamw": 2}


@pytest.mark.parametrize("batch, expected", [
    # Adam: 3 F b FLOPs over (6 + 2 x 2) W + 3 A b bytes = 3e6 b / (4e7 + 6e5 b).
    (1, 3e6 / (4e7 + 6e5)),  # 0.0739: the weights dominate
    (8, 24e6 / (4e7 + 4.8e6)),  # 0.536
    (64, 192e6 / (4e7 + 38.4e6)),  # 2.449
    (1024, 3072e6 / (4e7 + 614.4e6)),  # 4.694
])
def test_intensity_at_a_batch_size_is_the_formula(batch, expected):
    assert training_step_intensity(F, W, A, batch) == pytest.approx(expected, rel=1e-12)
    assert training_step_intensity(F, W, A, batch, optimizer_slots=2) == pytest.approx(expected, rel=1e-12)


def test_intensity_rises_with_batch_size_toward_forward_flops_per_activation_byte():
    batches = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096]
    values = [training_step_intensity(F, W, A, b) for b in batches]
    assert all(low < high for low, high in zip(values, values[1:]))
    limit = TRAINING_FLOPS_FACTOR * F / (ACTIVATION_PASSES * A)
    assert limit == F / A == 5.0
    assert all(v < limit for v in values)
    # The gap to the limit is limit x c_w W / (c_w W + 3 A b): it halves where 3 A b = c_w W.
    half = 10 * W / (3 * A)  # batch 66.7
    assert training_step_intensity(F, W, A, half) == pytest.approx(limit / 2)
    assert training_step_intensity(F, W, A, 10**9) == pytest.approx(limit, rel=1e-6)


def test_optimizer_slots_and_missing_figures():
    # SGD (tf_keras keeps a momentum slot): 8 weight passes instead of Adam's 10, so a little more intense.
    assert training_step_intensity(F, W, A, 32, optimizer_slots=1) == pytest.approx(96e6 / (8 * W + 3 * A * 32))
    assert training_step_intensity(F, W, A, 32, optimizer_slots=1) > training_step_intensity(F, W, A, 32)
    assert training_step_intensity(None, W, A, 32) is None
    assert training_step_intensity(F, None, A, 32) is None and training_step_intensity(F, W, None, 32) is None
    assert training_step_intensity(F, W, A, None) is None
    cost = {"flops_per_sample": F, "weight_bytes": W, "activation_bytes_per_sample": A}
    assert step_intensity_of(cost, {"batch_size": 8, "optimizer": "adam"}) == pytest.approx(24e6 / (4e7 + 4.8e6))
    assert step_intensity_of(cost, {"batch_size": 8, "optimizer": "rmsprop"}) == pytest.approx(24e6 / (3.2e7 + 4.8e6))
    assert step_intensity_of(cost, {"batch_size": 8}) is None  # which optimizer is unknown: no guess
    assert step_intensity_of({"flops_per_sample": F, "mac_bytes_per_sample": W + A}, {"batch_size": 8,
                                                                                      "optimizer": "adam"}) is None


COST = {"flops_per_sample": F, "macs_per_sample": F / 2, "conv_dense_macs_per_sample": F / 2,
        "mac_bytes_per_sample": W + A, "weight_bytes": W, "activation_bytes_per_sample": A,
        "arithmetic_intensity": F / (W + A), "flops_saved_by_sparsity": None}


def sweep(batches, cost=COST, model="m"):
    from helpers.records import make_record

    return [make_record(f"{model}{b}", batch=b, params={"model": model, "optimizer": "adam"}, cost=cost)
            for b in batches]


def test_the_record_stores_the_intensity_at_its_batch_size():
    records = sweep([8, 64])
    assert [r.cost.step_arithmetic_intensity for r in records] == pytest.approx(
        [24e6 / (4e7 + 4.8e6), 192e6 / (4e7 + 38.4e6)])
    assert records[0].cost.weight_bytes == W and records[0].cost.activation_bytes_per_sample == A
    assert records[0].cost.arithmetic_intensity == records[1].cost.arithmetic_intensity  # batch 1, forward
    # A cost counted without the split (an older worker): the parts and the step figure are null.
    old = {k: v for k, v in COST.items() if k not in ("weight_bytes", "activation_bytes_per_sample")}
    record = sweep([8], cost=old)[0]
    assert record.cost.weight_bytes is None and record.cost.step_arithmetic_intensity is None


def _runs(records, peak=None):
    from benchharness.report import LoadedRun

    info = {"peak": peak or {"peak_flops_per_s": 1e11, "memory_bandwidth_bytes_per_s": 1e10}}
    return [LoadedRun(None, info, [r if isinstance(r, dict) else r.model_dump(mode="json") for r in records])]


def test_a_batch_sweep_moves_right_on_the_roofline():
    from benchharness.report import charts, roofline_points

    batches = [16, 32, 64, 128, 256]
    points, peak = roofline_points(_runs(sweep(batches)))
    xs = [p["intensity"] for p in sorted(points, key=lambda p: p["batch_size"])]
    assert [p["batch_size"] for p in sorted(points, key=lambda p: p["batch_size"])] == batches
    assert len(set(xs)) == len(xs) and all(low < high for low, high in zip(xs, xs[1:]))
    assert xs == pytest.approx([training_step_intensity(F, W, A, b) for b in batches])
    svg = charts.roofline(points, peak["peak_flops_per_s"], peak["memory_bandwidth_bytes_per_s"])
    assert "training-step arithmetic intensity (FLOPs per byte moved)" in svg and "not placed" not in svg


def test_records_without_the_split_are_computed_or_counted_in_a_note():
    from benchharness.report import charts, roofline_points

    new = [r.model_dump(mode="json") for r in sweep([16, 32])]
    # A record whose stored figure is null but whose cost has the split: computed from cost and params.
    recomputed = new[1] | {"cost": new[1]["cost"] | {"step_arithmetic_intensity": None}}
    # A record of an older schema (golden models_run): no split, no step figure.
    old = new[0] | {"trial_id": "old", "cost": {k: v for k, v in new[0]["cost"].items()
                                                 if k not in ("weight_bytes", "activation_bytes_per_sample",
                                                              "step_arithmetic_intensity")}}
    points, peak = roofline_points(_runs([new[0], recomputed, old]))
    assert [p["intensity"] for p in points] == pytest.approx(
        [training_step_intensity(F, W, A, 16), training_step_intensity(F, W, A, 32), None])
    svg = charts.roofline(points, peak["peak_flops_per_s"], peak["memory_bandwidth_bytes_per_s"])
    assert "1 trial not placed" in svg
    # Only unplaceable trials: the ceilings are still drawn, with the note.
    svg = charts.roofline(points[2:], peak["peak_flops_per_s"], peak["memory_bandwidth_bytes_per_s"])
    assert svg is not None and "1 trial not placed" in svg
