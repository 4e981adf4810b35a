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


REPEATED = "name: r\ndefaults:\n  repeats: 3\nsweep:\n  batch_size: [32, 64, 128]\n"


def test_interleaved_order_runs_every_point_once_per_round(scenario_file):
    from benchharness.plan import make_plan

    trials = make_plan(scenario_file(REPEATED)).trials
    assert [(t.repeat, t.params["batch_size"]) for t in trials] == [
        (0, 32), (0, 64), (0, 128), (1, 32), (1, 64), (1, 128), (2, 32), (2, 64), (2, 128)]


def test_sequential_and_random_orders(scenario_file):
    from benchharness.plan import make_plan

    sequential = make_plan(scenario_file(REPEATED.replace("name: r", "name: r\norder: sequential"))).trials
    assert [t.params["batch_size"] for t in sequential] == [32, 32, 32, 64, 64, 64, 128, 128, 128]
    shuffled = [make_plan(scenario_file(REPEATED.replace("name: r", f"name: r\norder: random\norder_seed: {seed}"),
                                        name=f"{seed}.yaml")).trials for seed in (1, 1, 2)]
    assert shuffled[0] == shuffled[1], "the same seed gives the same order"
    assert shuffled[0] != shuffled[2] and sorted(t.trial_id for t in shuffled[0]) == sorted(t.trial_id for t in sequential)


def test_resume_keeps_the_interleaved_order(tmp_path, scenario_file):
    from benchharness.execute import open_run
    from benchharness.plan import make_plan
    from helpers.records import make_record

    loaded = scenario_file(REPEATED)
    trials = make_plan(loaded).trials
    run, _ = open_run(loaded, trials, tmp_path, None, warn=print)
    for trial in trials[:4]:  # rounds 0 and the first point of round 1 finished, then Ctrl-C
        run.append_record(make_record(trial.trial_id, trial.params["batch_size"], repeat=trial.repeat))
    _, todo = open_run(loaded, make_plan(loaded).trials, tmp_path, run.path, warn=print)
    assert [(t.repeat, t.params["batch_size"]) for t in todo] == [(1, 64), (1, 128), (2, 32), (2, 64), (2, 128)]


def test_dense_trials_run_before_the_pruned_ones_they_are_compared_with(scenario_file):
    from benchharness.plan import make_plan

    text = "name: p\norder: {order}\ndefaults:\n  epochs: 2\nsweep:\n  sparsity: [0.8, 0.5, 0.0]\n  batch_size: [32, 64]\n"
    for order in ("interleaved", "sequential", "random"):
        trials = make_plan(scenario_file(text.format(order=order), name=f"{order}.yaml")).trials
        sparsities = [t.params["sparsity"] for t in trials]
        assert sparsities[:2] == [0.0, 0.0] and 0.0 not in sparsities[2:], order


# -- the plan's size, counted before it is built --------------------------------------------------

VALUES = {"batch_size": [16, 32, 64, 128], "seed": [0, 1, 2], "learning_rate": [0.1, 0.01, 0.001],
          "sparsity": [0.0, 0.5, 0.8], "epochs": ["auto", 2, 4], "optimizer": ["adam", "sgd"]}


def _random_scenario(rng) -> str:
    """A scenario with duplicate sweep values, excludes (matching or not, on swept keys or not) and
    includes (new points, sweep points, with their own repeats)."""
    import yaml

    def partial():
        entry = {k: rng.choice(VALUES[k]) for k in rng.sample(list(VALUES), rng.randint(1, 3))}
        return entry | ({"repeats": rng.choice([1, 2, 3])} if rng.random() < 0.2 else {})

    doc = {"name": "p", "defaults": {"repeats": rng.choice([1, 1, 2, 3])}}
    sweep = {k: [rng.choice(VALUES[k]) for _ in range(rng.randint(1, 4))]
             for k in rng.sample(list(VALUES), rng.randint(0, 4))}
    if sweep:
        doc["sweep"] = sweep
    if rng.random() < 0.6:
        doc["exclude"] = [partial() for _ in range(rng.randint(1, 4))]
    if rng.random() < 0.5:
        doc["include"] = [partial() for _ in range(rng.randint(1, 4))]
    return yaml.safe_dump(doc)


def test_plan_size_counts_exactly_what_expand_builds(scenario_file):
    import random

    from benchharness.plan import plan_size

    rng = random.Random(0)
    for n in range(300):
        text = _random_scenario(rng)
        scenario = scenario_file(text, name=f"{n}.yaml").scenario
        size = plan_size(scenario)
        assert size.exact and size.trials == len(expand(scenario)), text


def test_plan_size_overcounts_only_where_pruning_merges_auto_epochs_with_fixed_ones(scenario_file):
    """The documented corner: with sparsity > 0, epochs: auto becomes 3 epochs, the same trial as epochs: 3."""
    from benchharness.plan import PRUNING_EPOCHS_FOR_AUTO, plan_size

    scenario = scenario_file(f"name: c\ndefaults:\n  sparsity: 0.5\nsweep:\n  epochs: [auto, {PRUNING_EPOCHS_FOR_AUTO}]\n").scenario
    assert (plan_size(scenario).trials, len(expand(scenario))) == (2, 1)


def test_plan_size_of_tangled_excludes_is_a_lower_bound(scenario_file, monkeypatch):
    import benchharness.plan as plan

    scenario = scenario_file("name: t\nsweep:\n  batch_size: [16, 32, 64]\n  seed: [0, 1, 2]\n"
                             "exclude:\n  - {batch_size: 16}\n  - {seed: 0}\n").scenario
    assert plan.plan_size(scenario) == plan.PlanSize(4, True, 9)
    monkeypatch.setattr(plan, "_CLASS_COMBOS_LIMIT", 1)
    assert plan.plan_size(scenario) == plan.PlanSize(3, False, 9)  # 9 - 3 - 3: the overlap counted twice


def test_a_sweep_whose_excludes_leave_little_is_still_refused_past_what_can_be_enumerated(scenario_file):
    """exclude is applied by enumerating the product: 10^8 points are not enumerated to keep none."""
    import pytest

    from benchharness.errors import UserError
    from benchharness.plan import make_plan

    lists = "\n".join(f"  {k}: [{', '.join(map(str, range(1, 11)))}]" for k in
                      ("batch_size", "seed", "frequency", "steps_per_execution", "begin_step", "end_step",
                       "prune_after_dense_epochs", "samples_per_epoch"))
    loaded = scenario_file(f"name: e\nsweep:\n{lists}\nexclude:\n  - {{model: tutorial_cnn}}\n")
    with pytest.raises(UserError) as caught:
        make_plan(loaded, allow_large_plan=True)
    assert caught.value.lines == [
        f"{loaded.path}:2: sweep: the sweep's product has 100,000,000 points before exclude; at most 100,000 are "
        "enumerated: narrow the sweep lists instead of excluding most of them"]


def test_a_plan_at_the_limit_is_built_and_one_over_it_needs_the_flag(scenario_file):
    import pytest

    from benchharness.errors import UserError
    from benchharness.plan import PLAN_LIMIT, make_plan

    assert PLAN_LIMIT == 10_000
    at = scenario_file("name: a\ndefaults:\n  repeats: 100\nsweep:\n  batch_size: [" +
                       ", ".join(map(str, range(1, 101))) + "]\n")
    assert len(make_plan(at).trials) == PLAN_LIMIT
    over = scenario_file("name: o\ndefaults:\n  repeats: 100\nsweep:\n  batch_size: [" +
                         ", ".join(map(str, range(1, 101))) + "]\ninclude:\n  - {batch_size: 7, repeats: 101}\n",
                         name="o.yaml")
    with pytest.raises(UserError, match=r":4: sweep: the plan has 10,001 trials, over the limit of 10,000"):
        make_plan(over)
    assert len(make_plan(over, allow_large_plan=True).trials) == PLAN_LIMIT + 1
