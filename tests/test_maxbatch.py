"""The largest-batch search without TensorFlow: its arithmetic against memory models with a known
answer, the probes' classification, the doubling-and-bisection baseline, and the driver's replay
of recorded probes (what makes a search resumable)."""

from __future__ import annotations

import itertools

import pytest

from benchharness.maxbatch import (Done, Next, ProbeResult, SearchConfig, classify_record, doubling_bisection_probes,
                                   next_probe, on_grid, predicted_interval, run_offline, seed_prediction,
                                   summarize_search, verified_batch)
from benchharness.telemetry.fake_nvml import FakeMemoryModel

T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306}
# The fake device of the end-to-end test (tests/test_e2e_maxbatch.py): 8 GiB, a little bent.
CI_MODEL = FakeMemoryModel(fixed_mb=500, per_sample_mb=6.0, per_sample_squared_mb=0.0002)
LIMIT = 8192.0


def brute_force_largest(model: FakeMemoryModel, limit: float, step: int, upper: int = 65536) -> int | None:
    fitting = [b for b in range(step, upper + 1, step) if model.mb(b) <= limit]
    return max(fitting, default=None)


def search(model: FakeMemoryModel, config: SearchConfig = SearchConfig(), limit: float = LIMIT) -> list[ProbeResult]:
    return run_offline(config, limit, model.mb)


def test_grid():
    assert on_grid(1239.9, 8) == 1232 and on_grid(1240, 8) == 1240 and on_grid(3, 8) == 8
    assert on_grid(17.0, 1) == 17


def test_the_fake_memory_model_knows_its_largest_batch():
    for model in (CI_MODEL, FakeMemoryModel(fixed_mb=0, per_sample_mb=2.0),
                  FakeMemoryModel(fixed_mb=7000, per_sample_mb=60.0, per_sample_squared_mb=0.01)):
        for step in (1, 8, 64):
            assert model.largest_batch(LIMIT, step) == brute_force_largest(model, LIMIT, step)


def test_on_the_ci_model_the_search_is_exact_cheap_and_predicted():
    """The "done when" of step 13, on the memory model the end-to-end test gives the fake device."""
    probes = search(CI_MODEL)
    truth = CI_MODEL.largest_batch(LIMIT, 8)
    summary = summarize_search(SearchConfig(), LIMIT, probes, "confirmed", T95.get)
    assert summary["verified"] == truth == 1224 and summary["oom_at"] == 1232
    baseline = doubling_bisection_probes(32, 8, truth, 65536)
    assert len(probes) == summary["probe_count"] == 8 and baseline == 16
    assert len(probes) <= 0.6 * baseline
    assert len(probes) <= 0.6 * doubling_bisection_probes(32, 8, truth, 65536, confirm=False)  # 14: even without
    assert abs(summary["predicted"] - truth) <= 0.1 * truth
    assert abs(summary["seed_predicted"] - truth) <= 0.1 * truth  # from the first two probes alone
    low, high = summary["predicted_interval"]
    assert low <= truth <= high
    assert summary["fit"]["residual_mb"] > 0  # the square term bends the line, and the fit says so


MODELS = [FakeMemoryModel(fixed_mb=a, per_sample_mb=b, per_sample_squared_mb=0.0)
          for a, b in itertools.product((0, 300, 2000), (0.5, 2.0, 6.0, 20.0, 60.0))]


@pytest.mark.parametrize("bend", [0.0, 0.02, 0.05])
def test_across_memory_models_the_search_is_exact_and_beats_doubling_far_from_the_start(bend):
    """Every model of the family: the exact answer; where the answer is 8 or more times the start,
    at most 60 % of doubling and bisection's probes (same confirmations). ``bend`` is the share of the
    limit the square term adds at the largest batch (cuDNN workspaces, XLA)."""
    for linear in MODELS:
        straight = (LIMIT - linear.fixed_mb) / linear.per_sample_mb
        model = linear.model_copy(update={"per_sample_squared_mb": bend * LIMIT / straight**2})
        truth = model.largest_batch(LIMIT, 8)
        probes = search(model)
        assert verified_batch(probes) == truth, model
        baseline = doubling_bisection_probes(32, 8, truth, 65536)
        if truth >= 8 * 32:
            assert len(probes) <= 0.6 * baseline, (model, [(p.batch, p.outcome) for p in probes])


def test_doubling_and_bisection_count_by_hand():
    # 32 64 128 fit, 256 does not; bisect 128..256 on a grid of 8: 192 (no), 160 (no), 144 (no),
    # 136 (fits): 4 + 4 probes, then one more at 136 and at 144
    assert doubling_bisection_probes(32, 8, 136, 65536, confirm=False) == 8
    assert doubling_bisection_probes(32, 8, 136, 65536) == 10
    assert doubling_bisection_probes(32, 8, None, 65536, confirm=False) == 3  # 32, 16, 8: nothing fits
    assert doubling_bisection_probes(32, 8, 10**9, 256, confirm=False) == 4  # 32..256, all fit, stops at upper


def test_the_start_out_of_memory_halves_toward_one_step():
    model = FakeMemoryModel(fixed_mb=0, per_sample_mb=400.0)  # 20 samples fit in 8 GiB
    probes = search(model)
    assert [p.batch for p in probes[:3]] == [32, 16, 24] and verified_batch(probes) == 16
    nothing = search(FakeMemoryModel(fixed_mb=9000, per_sample_mb=1.0))
    assert verified_batch(nothing) is None and [p.batch for p in nothing] == [32, 16, 8]


def test_the_search_stops_at_upper():
    probes = search(FakeMemoryModel(fixed_mb=0, per_sample_mb=0.001), SearchConfig(upper=4096))
    assert max(p.batch for p in probes) == 4096 and verified_batch(probes) == 4096
    assert isinstance(next_probe(SearchConfig(upper=4096), LIMIT, probes), Done)


def fits(batch, repeat=0, mem=None):
    return ProbeResult(batch, repeat, "fits", mem if mem is not None else 100.0 + batch)


def oom(batch, repeat=0):
    return ProbeResult(batch, repeat, "oom")


def test_confirmation_probes_and_a_disagreeing_one():
    config = SearchConfig(start=8, step=8)
    probes = [fits(8), fits(16), oom(24)]
    assert next_probe(config, 1000.0, probes) == Next(16, 1, "confirm")
    assert next_probe(config, 1000.0, probes + [fits(16, 1)]) == Next(24, 1, "confirm")
    assert next_probe(config, 1000.0, probes + [fits(16, 1), oom(24, 1)]) == Done("confirmed")
    # The second probe at 16 runs out of memory: 16 is not verified, the search goes on below it.
    flaky = probes + [oom(16, 1)]
    assert next_probe(config, 1000.0, flaky) == Next(8, 1, "confirm")
    # The second probe at 24 fits: no batch ran out of memory twice, and the search says so.
    done = next_probe(config, 1000.0, probes + [fits(16, 1), fits(24, 1)])
    assert isinstance(done, Done) and "only one of its probes" in done.reason
    summary = summarize_search(config, 1000.0, probes + [fits(16, 1), fits(24, 1)], done.reason, T95.get)
    assert summary["verified"] == 16 and summary["oom_at"] is None


def test_a_failed_probe_ends_the_search_with_its_reason():
    decision = next_probe(SearchConfig(), LIMIT, [fits(32), ProbeResult(352, 0, "failed", error="Timeout")])
    assert isinstance(decision, Done) and "batch 352 failed (Timeout)" in decision.reason


def test_a_probe_without_a_memory_figure_ends_the_search():
    decision = next_probe(SearchConfig(), LIMIT, [ProbeResult(32, 0, "fits", None)])
    assert isinstance(decision, Done) and "no memory figure" in decision.reason


@pytest.mark.parametrize("record, expected", [
    ({"status": "ok", "telemetry": {"mem_primary_source": "tf_allocator_peak", "mem_primary_mb": 812.5}},
     ("fits", 812.5)),
    ({"status": "ok", "telemetry": {"mem_primary_source": "fake_memory_model", "mem_primary_mb": 700.0}},
     ("fits", 700.0)),
    ({"status": "ok", "telemetry": {"mem_primary_source": "process_nvml", "mem_primary_mb": 1500.0}}, ("fits", None)),
    ({"status": "ok", "telemetry": None}, ("fits", None)),
    ({"status": "oom", "telemetry": {"mem_primary_source": "process_nvml", "mem_primary_mb": 8195.0}}, ("oom", None)),
    ({"status": "failed", "telemetry": None}, ("failed", None)),
    ({"status": "timeout", "telemetry": None}, ("failed", None)),
])
def test_probe_classification(record, expected):
    """Only the allocator peak (or the fake device's model) is fitted: NVML's figures hold the CUDA
    context and a pool that grows in steps; a crash or a timeout says nothing about memory."""
    assert classify_record(record) == expected


def test_prediction_interval_needs_three_probes_and_contains_a_straight_line():
    line = [(32, 692.0), (352, 2612.0)]
    assert predicted_interval(line, LIMIT, 8, 65536, T95.get) is None
    assert seed_prediction(SearchConfig(), LIMIT, [fits(b, mem=m) for b, m in line]) == 1280
    noisy = line + [(1200, 7650.0), (1264, 8140.0)]  # the line is 500 + 6 b: these are 50 MiB below, 50 above
    low, high = predicted_interval(noisy, LIMIT, 8, 65536, T95.get)
    assert low < 1280 < high and high - low < 200


def test_replaying_recorded_probes_runs_none_again():
    """A resumed search: every probe the first run recorded is found by its trial id, so none runs."""
    from benchharness.search import Search, probe_trial

    curve = {"model": "m", "dataset": "synthetic", "batch_size": 32}
    config = SearchConfig()
    recorded, ran = {}, []

    def run_probe(trial):
        ran.append(trial.trial_id)
        batch = trial.params["batch_size"]
        ok = CI_MODEL.mb(batch) <= LIMIT
        record = {"trial_id": trial.trial_id, "status": "ok" if ok else "oom", "error": None,
                  "telemetry": {"mem_primary_source": "fake_memory_model" if ok else "process_nvml",
                                "mem_primary_mb": CI_MODEL.mb(batch), "mem_limit_mb": LIMIT}}
        return record

    first = Search(config, run_probe, recorded).curve(curve)
    assert first["verified"] == 1224 and len(ran) == first["probe_count"] == 8
    again = Search(config, lambda trial: pytest.fail("ran a recorded probe"), dict(recorded)).curve(curve)
    assert again == first
    probe = probe_trial(curve, 64, 1, config)
    assert probe.role == "probe" and probe.params["epochs"] == 2 and probe.params["samples_per_epoch"] == 5 * 64
    assert probe.trial_id != probe_trial(curve, 64, 0, config).trial_id


def test_on_the_cpu_the_search_stops_after_one_probe_and_says_why():
    from benchharness.search import Search

    record = {"trial_id": "x", "status": "ok", "error": None,
              "telemetry": {"mem_primary_source": "rss_growth", "mem_primary_mb": 50.0, "mem_limit_mb": None}}
    entry = Search(SearchConfig(), lambda trial: record | {"trial_id": trial.trial_id}, {}).curve({"model": "m"})
    assert entry["probe_count"] == 1 and entry["verified"] is None and "no memory limit" in entry["stop_reason"]


def test_the_probe_chart_draws_the_fit_the_limit_and_the_answer():
    from benchharness.report.charts import max_batch_probes

    probes = [{"batch_size": b, "status": s, "mem_mb": m} for b, s, m in
              ((32, "ok", 692.0), (352, "ok", 2637.0), (1232, "oom", None), (1224, "ok", 8144.0))]
    entry = {"fit": {"intercept_mb": 466.0, "mb_per_sample": 6.27, "residual_mb": 25.5, "points": 3},
             "limit_mb": 8192.0, "verified": 1224}
    svg = max_batch_probes([{"label": "tiny_mlp on synthetic", "entry": entry, "probes": probes}])
    assert svg.startswith("<svg") and "largest batch that fits: 1224" in svg and "6.27 MiB per sample" in svg
    assert max_batch_probes([{"label": "x", "entry": entry, "probes": probes[2:3]}]) is None  # nothing fit


def test_a_sweeps_curve_finds_its_search_answer_and_charts_mark_it():
    from benchharness.analyze import max_batch_of, recommend
    from benchharness.report.charts import memory_vs_batch, throughput_vs_batch
    from helpers.records import make_record

    params = {"model": "tutorial_cnn", "dataset": "synthetic"}
    records = [make_record(f"t{b}", batch=b, params=params).model_dump(mode="json") for b in (256, 1024)]
    entry = {"curve": params | {"timeout_s": 60.0}, "verified": 1224}
    other = {"curve": params | {"model": "mnist_cnn", "timeout_s": 60.0}, "verified": 64}
    assert max_batch_of(records, [other, entry]) is entry and max_batch_of(records, [other]) is None
    rec = recommend(records)
    rec.max_batch = entry
    assert "largest batch that fits: 1224" in throughput_vs_batch([rec])
    assert memory_vs_batch([rec]) is None  # no memory figures in these records: no memory chart


def test_an_upper_bound_off_the_grid_ends_the_search_on_the_grid():
    """An ``upper`` that is no multiple of the step once made the band's bisection loop for ever."""
    from benchharness.maxbatch import _last_under

    assert _last_under(lambda x: x <= 90, 8, 100) == 88
    assert _last_under(lambda x: x <= 7, 8, 100) == 0
    assert _last_under(lambda x: True, 8, 100) == 100
