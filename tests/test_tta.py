"""Time to accuracy without TensorFlow: the evaluation schedule, the learning-rate policy, the
figure over seeds, the worker's callbacks driven by hand (a fake Keras), and the analysis."""

from __future__ import annotations

import math
import types

import pytest

from benchharness import stats
from benchharness.analyze_tta import agreement, tta_curve, tta_groups
from benchharness.tta import (eval_schedule, eval_step, learning_rate_at, lr_policy, period_throughput, reached,
                              scaled_learning_rate)


def test_evaluations_fall_on_fixed_samples_for_every_batch_size():
    """MLPerf's rule: the k-th evaluation at the first whole step at or after k x 12,000 samples."""
    assert [eval_step(k, 32, 12000) * 32 for k in (1, 2, 3)] == [12000, 24000, 36000]
    assert [eval_step(k, 512, 12000) * 512 for k in (1, 2, 3)] == [12288, 24064, 36352]
    for batch in (32, 100, 128, 512, 4096):
        for k, step in enumerate(eval_schedule(batch, 12000, 2000), start=1):
            assert 0 <= step * batch - k * 12000 < batch  # never early, never a whole batch late: no drift
    assert eval_schedule(512, 12000, 23) == [] and eval_schedule(512, 12000, 24) == [24]
    with pytest.raises(ValueError):
        eval_step(0, 32, 12000)


def test_learning_rate_policies():
    assert scaled_learning_rate(0.001, 512, 32, "none") == 0.001
    assert scaled_learning_rate(0.001, 512, 32, "linear") == pytest.approx(0.016)
    assert scaled_learning_rate(0.001, 512, 32, "sqrt") == pytest.approx(0.004)
    params = {"learning_rate": 0.001, "lr_scaling": "linear", "lr_base_batch": 32, "lr_warmup_epochs": 0.5}
    policy = lr_policy(params, 128, 60000)
    assert policy["learning_rate"] == pytest.approx(0.004) and policy["warmup_steps"] == math.ceil(30000 / 128)
    assert learning_rate_at(0, policy) == pytest.approx(0.001)  # Goyal et al.: from the base rate ...
    assert learning_rate_at(policy["warmup_steps"] // 2, policy) == pytest.approx(0.0025, rel=0.01)
    assert learning_rate_at(policy["warmup_steps"], policy) == pytest.approx(0.004)  # ... to the scaled one
    assert lr_policy(params | {"lr_warmup_epochs": 0.0}, 128, 60000)["warmup_steps"] == 0


def test_target_direction_and_period_throughput():
    assert reached("accuracy", 0.87, 0.87) and not reached("accuracy", 0.8699, 0.87)
    assert reached("loss", 0.3, 0.35) and not reached("loss", 0.4, 0.35)
    evals = [{"samples": 12000, "train_s": 5.0}, {"samples": 24000, "train_s": 8.0}, {"samples": 36000, "train_s": 12.0}]
    assert period_throughput(evals) == pytest.approx((4000 + 3000) / 2)  # the first period (tracing) left out
    assert period_throughput(evals[:1]) is None


def test_trimmed_interval_drops_the_extremes_from_five_seeds():
    three = stats.trimmed_interval([10.0, 12.0, 14.0])
    assert three.median == 12.0 and three.n == 3
    assert three.high - 12.0 == pytest.approx(4.303 * 2.0 / math.sqrt(3), rel=1e-3)  # t(2) x sd / sqrt(n)
    five = stats.trimmed_interval([1.0, 10.0, 12.0, 14.0, 100.0])
    assert (five.median, five.n, five.low, five.high) == (three.median, 3, three.low, three.high)
    assert stats.trimmed_interval([7.0]).low == 7.0 and stats.trimmed_interval([]) is None
    rate = stats.inverted(three)
    assert rate.median == pytest.approx(1 / 12) and rate.low == pytest.approx(1 / three.high)


# -- the worker's callbacks, driven by hand --------------------------------------------------------


class FakeCallback:
    def __init__(self):
        self.model = types.SimpleNamespace(stop_training=False)


FAKE_KERAS = types.SimpleNamespace(callbacks=types.SimpleNamespace(Callback=FakeCallback))


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Events:
    def __init__(self):
        self.emitted = []

    def emit(self, event, **fields):
        self.emitted.append((event, fields))


def test_the_target_stop_evaluates_on_schedule_keeps_evaluation_apart_and_stops(monkeypatch):
    from benchharness.worker import timing, tta

    clock = Clock()
    monkeypatch.setattr(tta.time, "perf_counter", clock)
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    values = iter([0.70, 0.80, 0.88])

    def evaluate():
        clock.now += 2.0  # each evaluation takes 2 s
        return {"accuracy": next(values), "loss": 1.0}

    events = Events()
    target = {"metric": "accuracy", "value": 0.87, "eval_every_samples": 1000}
    stop = tta.make_target_stop(FAKE_KERAS, events, evaluate, target, batch=300)
    timer = timing.make_epoch_timer(FAKE_KERAS, events, lambda steps: steps * 300, lambda: stop.paused_s)
    stop.model = timer.model = types.SimpleNamespace(stop_training=False)
    for callback in (timer, stop):
        callback.on_train_begin()
        callback.on_epoch_begin(0)
    for step in range(20):
        clock.now += 0.1  # each training step takes 0.1 s
        timer.on_train_batch_end(step)
        stop.on_train_batch_end(step)
        if stop.model.stop_training:
            break
    timer.on_epoch_end(step)
    # evaluations after steps 4 (1,200 samples), 7 (2,100) and 10 (3,000): never early, one batch late at most
    assert [e["steps"] for e in stop.evals] == [4, 7, 10] and stop.converged and step == 9
    assert [e["train_s"] for e in stop.evals] == pytest.approx([0.4, 0.7, 1.0])  # evaluation excluded
    assert stop.evals[-1]["wall_s"] == pytest.approx(1.0 + 3 * 2.0)  # evaluation included
    assert timer.epochs[0]["seconds"] == pytest.approx(1.0) and timer.epochs[0]["samples"] == 3000
    assert max(timer.last_step_ms) == pytest.approx(100.0)  # no step carries an evaluation's 2 s
    result = tta.tta_result(stop, timer.epochs, {"learning_rate": 0.001}, target, 300, 6000, seed=3)
    assert result["converged"] and result["time_to_target_s"] == pytest.approx(1.0) and result["epochs"] == 0.5
    assert result["samples"] == 3000 and result["steps"] == 10 and result["seed"] == 3
    assert result["throughput_sps"] == pytest.approx(3000.0)  # 900 samples per 0.3 s between evaluations


# -- the analysis -----------------------------------------------------------------------------------


def tta_record(batch, repeat, seconds, converged=True, lr_scaling="none", throughput=1000.0, status="ok"):
    tta = None if status != "ok" else {
        "metric": "accuracy", "target": 0.87, "eval_every_samples": 12000, "converged": converged,
        "time_to_target_s": seconds if converged else None, "wall_to_target_s": seconds * 1.2 if converged else None,
        "epochs": 2.0, "steps": 100, "samples": 24000, "train_samples": 60000, "trained_s": seconds,
        "throughput_sps": throughput, "energy_j": None, "energy_note": "not measured", "seed": repeat,
        "lr_policy": {"scaling": lr_scaling, "base_learning_rate": 0.001, "base_batch": 32, "learning_rate": 0.001,
                      "warmup_epochs": 0.0, "warmup_steps": 0}, "evals": []}
    return {"trial_id": f"{batch}-{repeat}-{lr_scaling}", "role": "trial", "status": status, "repeat": repeat,
            "params": {"model": "tutorial_cnn", "dataset": "fashion_mnist", "batch_size": batch, "seed": 0,
                       "lr_scaling": lr_scaling, "timeout_s": 60.0}, "tta": tta}


def test_the_fastest_batch_its_interval_the_misses_and_agreement_with_throughput():
    records = ([tta_record(32, r, s, throughput=3000 + r) for r, s in enumerate((40.0, 42.0, 41.0))]
               + [tta_record(128, r, s, throughput=4500 + r) for r, s in enumerate((20.0, 21.0, 19.5))]
               + [tta_record(512, 0, 0, converged=False, throughput=6000), tta_record(512, 1, 30.0, throughput=6001),
                  tta_record(512, 2, 0, status="oom")])
    records.append(tta_record(32, 0, 10.0, lr_scaling="linear"))
    groups = tta_groups(records)
    assert [len(g) for g in groups] == [9, 1]  # one curve per learning-rate policy; seeds are repeats
    curve = tta_curve(groups[0])
    by_batch = {p.batch_size: p for p in curve.points}
    assert by_batch[128].time.median == pytest.approx(20.166, rel=1e-3) and by_batch[128].time.n == 3
    assert (by_batch[512].not_converged, by_batch[512].failed, by_batch[512].trials) == (1, 1, 3)
    assert curve.fastest.recommended_batch == 128 and curve.fastest.decided
    assert curve.by_throughput.recommended_batch == 512
    assert "disagree" in curve.agreement and "batch 512: 1 of 3 did not reach it, 1 failed" in curve.headline


def test_agreement_in_words():
    decided = lambda batch: stats.Answer(True, batch, (batch,), batch, "")  # noqa: E731
    assert agreement(decided(128), decided(128)) == "they agree (batch 128)"
    assert agreement(None, decided(128)).startswith("no batch size reached the target")
    assert "by the point figures" in agreement(stats.Answer(False, 128, (32, 128), 128, ""), decided(128))


def test_trials_trained_to_a_target_are_no_throughput_curve():
    from benchharness.analyze import curve_groups

    records = [tta_record(32, 0, 40.0), tta_record(128, 0, 20.0)]
    plain = dict(records[0], trial_id="plain", tta=None, params=records[0]["params"] | {"lr_scaling": "sqrt"})
    probe = dict(plain, trial_id="probe", role="probe")
    assert curve_groups(records + [plain, probe]) == [[plain]]


# -- the record and the report ----------------------------------------------------------------------


def test_a_time_to_accuracy_record_carries_its_figures_and_the_parents_energy():
    from benchharness.assemble import RunContext, WorkerRun, build_record
    from benchharness.plan import Trial
    from helpers.records import worker_events

    tta = dict(tta_record(128, 1, 20.0)["tta"])
    del tta["energy_j"], tta["energy_note"]  # the worker does not measure energy: the parent adds it
    events = worker_events((2.0, 1.0), tta=tta, measurement={"warmup_epochs": 1, "stop_reason": "target"})
    worker = WorkerRun(events, 0, False, 99.0, events[-1]["t_monotonic"] + 0.25)
    target = {"metric": "accuracy", "value": 0.87, "eval_every_samples": 12000}
    trial = Trial("t", 1, {"batch_size": 128, "timeout_s": 60.0}, target=target)
    record = build_record(trial, worker, None, RunContext(), energy_to_target=(512.0, None))
    assert record.role == "trial" and record.stop_reason == "target"
    assert record.tta.time_to_target_s == 20.0 and record.tta.energy_j == 512.0 and record.tta.seed == 1
    failed = build_record(trial, WorkerRun(worker_events((2.0,), status="failed"), 1, False, 99.0, 120.0), None,
                          RunContext())
    assert failed.tta is None  # its status says why


def test_trial_ids_tell_a_target_and_a_probe_from_a_plain_trial():
    from benchharness.plan import trial_id

    params = {"batch_size": 32}
    plain = trial_id(params, 0)
    assert trial_id(params, 0, role="trial", target=None) == plain  # existing ids unchanged
    assert len({plain, trial_id(params, 0, role="probe"), trial_id(params, 0, target={"value": 0.87})}) == 3


def test_version_4_records_and_runs_upgrade_to_5():
    from benchharness.record import RunInfo, TrialRecord
    from benchharness.upgrade import upgrade_records, upgrade_run_info
    from helpers.records import RUN_INFO, make_record

    current = make_record("t1").model_dump(mode="json")
    old = {k: v for k, v in current.items() if k not in ("role", "tta")} | {"schema_version": 4}
    (upgraded,) = upgrade_records([old])
    assert TrialRecord.model_validate(upgraded).role == "trial" and upgraded["tta"] is None
    info = {"schema_version": 4, "benchharness": "0.1.0", "started_utc": "x", "finished_utc": None, **RUN_INFO,
            "peak": None, "planned_trials": [], "recorded": 0, "complete": False, "executor": None}
    assert RunInfo.model_validate(upgrade_run_info(info)).max_batch is None


def test_the_report_answers_time_to_accuracy_and_the_largest_batch(tmp_path):
    from benchharness.report import render
    from benchharness.store import RunDir
    from helpers.records import RUN_INFO

    from benchharness.assemble import RunContext, WorkerRun, build_record
    from benchharness.plan import Trial
    from helpers.records import worker_events

    run = RunDir.create(tmp_path, "step13", RUN_INFO)
    for batch, repeat, seconds in ((32, 0, 40.0), (32, 1, 42.0), (128, 0, 20.0), (128, 1, 21.0)):
        tta = {k: v for k, v in tta_record(batch, repeat, seconds)["tta"].items() if k not in ("energy_j", "energy_note")}
        events = worker_events((2.0, 1.0), tta=tta)
        trial = Trial(f"tta{batch}{repeat}", repeat, {"batch_size": batch, "model": "tutorial_cnn",
                                                     "dataset": "fashion_mnist", "seed": 0, "timeout_s": 60.0})
        run.append_record(build_record(trial, WorkerRun(events, 0, False, 99.0, 120.0), None, RunContext()))
    probe = Trial("p1", 0, {"batch_size": 64, "model": "tutorial_cnn", "dataset": "synthetic", "timeout_s": 60.0},
                  role="probe")
    run.append_record(build_record(probe, WorkerRun(worker_events((1.0, 1.0)), 0, False, 99.0, 110.0), None,
                                   RunContext()))
    entry = {"curve": {"model": "tutorial_cnn", "dataset": "synthetic", "timeout_s": 60.0}, "limit_mb": 8192.0,
             "headroom_mb": 409.6, "step": 8, "start": 64, "predicted": 1232, "predicted_interval": [1216, 1240],
             "seed_predicted": 1264, "verified": 1224, "oom_at": 1232, "fit": None, "probes": ["p1"],
             "probe_count": 1, "doubling_bisection_probes": 16, "stop_reason": "confirmed"}
    run.update_info(max_batch=[entry])
    html = render([run.path], tmp_path / "r.html").read_text()
    assert "How large can the batch go?" in html and "the largest batch that fits is <strong>1224</strong>" in html
    assert "Does the larger batch still pay off once convergence counts?" in html
    assert "to accuracy 0.87, batch 128 trains fastest" in html and "p1</code> probe" in html
    md = render([run.path], tmp_path / "r.md", "md").read_text()
    assert "**Largest batch that fits, tutorial_cnn on synthetic: 1224** (twice)" in md
    assert "| 128 | 0.001 | 2 of 2 | 20.5 |" in md


def test_a_time_interval_never_goes_below_zero():
    wide = stats.trimmed_interval([26.0, 42.9])  # two seeds: t(1) = 12.7
    assert wide.low == 0.0 and wide.high > 100 and wide.median == pytest.approx(34.45)
    assert stats.inverted(wide).high == math.inf  # as a rate: unbounded above, so never "clearly" slower


def test_a_batch_where_a_seed_missed_the_target_is_no_candidate_for_fastest():
    records = ([tta_record(32, r, s) for r, s in enumerate((28.0, 30.0, 29.0))]
               + [tta_record(128, 0, 0, converged=False), tta_record(128, 1, 15.0), tta_record(128, 2, 16.0)])
    curve = tta_curve(records)
    assert curve.fastest.recommended_batch == 32 and not curve.fastest.decided
    assert "batch 32 trains fastest (the only batch where every seed reached it" in curve.headline
    assert "batch 128: 1 of 3 did not reach it" in curve.headline


def test_a_batch_larger_than_the_interval_evaluates_once_a_step_without_falling_behind(monkeypatch):
    """Batch 512, an evaluation every 200 samples: every step passes two or three schedule points;
    one evaluation per step, and the schedule never lags behind the samples seen."""
    from benchharness.worker import tta

    clock = Clock()
    monkeypatch.setattr(tta.time, "perf_counter", clock)
    target = {"metric": "accuracy", "value": 0.99, "eval_every_samples": 200}
    stop = tta.make_target_stop(FAKE_KERAS, Events(), lambda: {"accuracy": 0.5, "loss": 1.0}, target, batch=512)
    stop.model = types.SimpleNamespace(stop_training=False)
    stop.on_train_begin()
    stop.on_epoch_begin(0)
    for step in range(5):
        stop.on_train_batch_end(step)
    assert [e["samples"] for e in stop.evals] == [512, 1024, 1536, 2048, 2560]
