from __future__ import annotations

from benchharness.plan import expand, trial_id, varying_keys

SWEEP = """
name: plan
defaults:
  epochs: 2
  repeats: 2
sweep:
  batch_size: [32, 64, 128]
  sparsity: [0.0, 0.5]
exclude:
  - batch_size: 128
    sparsity: 0.5
include:
  - batch_size: 16
    repeats: 1
"""


def test_product_minus_exclude_plus_include_times_repeats(scenario_file):
    trials = expand(scenario_file(SWEEP).scenario)
    points = [(t.params["batch_size"], t.params["sparsity"], t.repeat) for t in trials]
    expected = [(b, s, r) for b in (32, 64, 128) for s in (0.0, 0.5) for r in (0, 1) if (b, s) != (128, 0.5)]
    expected += [(16, 0.0, 0)]
    assert points == expected
    assert all("repeats" not in t.params for t in trials)


def test_ids_are_stable_unique_and_depend_on_params(scenario_file):
    first = expand(scenario_file(SWEEP).scenario)
    again = expand(scenario_file(SWEEP, name="copy.yaml").scenario)
    assert [t.trial_id for t in first] == [t.trial_id for t in again]
    assert len({t.trial_id for t in first}) == len(first)
    params = dict(first[0].params)
    assert trial_id(params, 0) == first[0].trial_id
    assert trial_id(params, 1) != trial_id(params, 0)
    assert trial_id(params | {"seed": 1}, 0) != trial_id(params, 0)
    # Key order does not matter, values do.
    assert trial_id(dict(reversed(list(params.items()))), 0) == trial_id(params, 0)


def test_adding_a_sweep_value_keeps_existing_ids(scenario_file):
    small = expand(scenario_file("name: a\nsweep:\n  batch_size: [32, 64]\n").scenario)
    large = expand(scenario_file("name: a\nsweep:\n  batch_size: [32, 64, 128]\n", name="b.yaml").scenario)
    assert {t.trial_id for t in small} < {t.trial_id for t in large}


def test_include_duplicating_a_sweep_point_runs_once(scenario_file):
    trials = expand(scenario_file("name: d\nsweep:\n  batch_size: [32, 64]\ninclude:\n  - batch_size: 32\n").scenario)
    assert [t.params["batch_size"] for t in trials] == [32, 64]


def test_varying_keys(scenario_file):
    trials = expand(scenario_file(SWEEP).scenario)
    assert varying_keys(trials) == ["batch_size", "sparsity"]
