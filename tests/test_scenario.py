"""Scenario loading: a corpus of malformed files, each with its exact message, and the good paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchharness.errors import UserError
from benchharness.plan import load_plan
from benchharness.scenario import load_scenario

HERE = Path(__file__).parent
BAD = HERE / "scenarios_bad"
REPO = HERE.parent

# file -> the exact lines the loader reports ({f} is the path as given).
EXPECTED = {
    "01_syntax_unclosed_bracket.yaml": ["{f}:4:9: YAML syntax error: expected ',' or ']', but got ':' (while parsing a flow sequence that starts on line 3, column 15)"],
    "02_empty.yaml": ["{f}:1: file is empty; a scenario needs at least 'name'"],
    "03_duplicate_key.yaml": ["{f}:5: defaults.batch_size: duplicate key (first on line 3); YAML would silently keep the last value"],
    "04_unknown_top_key.yaml": ["{f}:2: sweeps: unknown key (did you mean 'sweep'?)"],
    "05_unknown_default_key.yaml": ["{f}:3: defaults.batchsize: unknown key (did you mean 'batch_size'?)"],
    "06_unknown_runtime_key.yaml": ["{f}:3: runtime.memory_grwoth: unknown key (did you mean 'memory_growth'?)"],
    "07_string_for_int.yaml": ["{f}:3: defaults.batch_size: must be a positive integer, got '64'"],
    "08_negative_batch_in_sweep.yaml": ["{f}:5: sweep.batch_size[1]: must be a positive integer, got -64"],
    "09_sparsity_out_of_range.yaml": ["{f}:3: sweep.sparsity[2]: must be a number in [0, 1), got 1.3"],
    "10_empty_sweep_list.yaml": ["{f}:3: sweep.batch_size: must list at least one value"],
    "11_sweep_value_not_list.yaml": ["{f}:3: sweep.batch_size: must be a list of values, got 64"],
    "12_unknown_model.yaml": ["{f}:3: defaults.model: unknown model 'resnet9000'; known models: imdb_lstm, mnist_cnn, mobilenet_v1, mobilenet_v2, mobilenet_v3_large, mobilenet_v3_small, resnet50, shufflenet_v2, tutorial_cnn (or module:function)"],
    "13_unknown_dataset.yaml": ["{f}:3: defaults.dataset: unknown dataset 'imagenet21k'; known datasets: cifar10, fashion_mnist, imdb, mnist, synthetic, idx:DIR, npz:PATH"],
    "14_growth_with_limit.yaml": ["{f}:4: runtime.memory_limit_mb: cannot be combined with memory_growth: true (TensorFlow refuses both on one GPU); set memory_growth: false to cap memory"],
    "15_epochs_too_few.yaml": ["{f}:3: defaults.epochs: must be auto or an integer >= 2 (the first epoch is warm-up and reported apart), got 1"],
    "16_missing_name.yaml": ["{f}:1: name: required key is missing"],
    "17_top_level_list.yaml": ["{f}:1: (top level): a scenario must be a mapping of keys (name, defaults, sweep, ...), got list"],
    "18_repeats_swept.yaml": ["{f}:3: sweep.repeats: repeats cannot be swept; set defaults.repeats"],
    "19_sample_interval_too_small.yaml": ["{f}:3: runtime.sample_interval_ms: must be 0 (sampling off) or an integer in [10, 10000] (milliseconds), got 5"],
    "20_include_not_a_list.yaml": ["{f}:2: include: must be a list of parameter mappings, got {{'batch_size': 16}}"],
    "21_exclude_unknown_key.yaml": ["{f}:5: exclude[0].batch_sise: unknown key (did you mean 'batch_size'?)"],
    "22_bool_for_int.yaml": ["{f}:3: defaults.epochs: must be auto or an integer >= 2 (the first epoch is warm-up and reported apart), got true"],
    "23_unknown_optimizer.yaml": ["{f}:3: defaults.optimizer: must be one of adam, sgd, rmsprop, adamw, got 'adagrad-plus'"],
    "24_user_model_missing_file.yaml": ["{f}:3: defaults.model: model reference 'no/such/file.py:build': file no/such/file.py does not exist"],
    "25_several_errors.yaml": [
        "{f}:3: defaults.epochs: must be auto or an integer >= 2 (the first epoch is warm-up and reported apart), got 0",
        "{f}:4: defaults.learning_rate: must be a positive number, got -0.1",
        "{f}:6: runtime.xla: must be true or false, got 'yes'",
        "{f}:8: sweep.batch_size[1]: must be a positive integer, got 0",
    ],
    "26_negative_timeout.yaml": ["{f}:3: defaults.timeout_s: must be a positive number of seconds, got -5"],
    "27_empty_name.yaml": ["{f}:1: name: must be a non-empty string, got ''"],
    "28_tab_indentation.yaml": ["{f}:3:1: YAML syntax error: found character '\\t' that cannot start any token"],
    "29_include_bad_value.yaml": ["{f}:4: include[1].batch_size: must be a positive integer, got 2.5"],
    "30_runtime_not_mapping.yaml": ["{f}:2: runtime: must be a mapping of runtime settings, got 'fast'"],
    "31_model_dataset_mismatch.yaml": ["{f}:5: sweep.dataset[1]: model 'imdb_lstm' takes token sequences; dataset 'fashion_mnist' holds images"],
    "32_wrong_input_shape.yaml": ["{f}:4: defaults.dataset: model 'mnist_cnn' takes 28x28x1 inputs; dataset 'cifar10' has 32x32x3"],
    "33_option_for_wrong_model.yaml": ["{f}:4: defaults.maxlen: model 'tutorial_cnn' does not read maxlen"],
    "34_idx_dir_missing.yaml": ["{f}:3: defaults.dataset: dataset 'idx:/no/such/dir': /no/such/dir is not a directory"],
    "35_begin_after_end.yaml": ["{f}:5: defaults.end_step: must be greater than begin_step (500), got 200"],
    "36_initial_above_final.yaml": ["{f}:3: defaults.initial_sparsity: 0.6 is above the target sparsity 0.5; the polynomial schedule only increases sparsity"],
    "38_application_input_size.yaml": ["{f}:4: defaults.dataset: model 'mobilenet_v2' takes 224x224x3 inputs; dataset 'cifar10' has 32x32x3 (set input_size)"],
    "39_max_epochs_too_few.yaml": ["{f}:4: defaults.max_epochs: must leave room for a warm-up epoch and min_steady_epochs (5): at least 6, got 4"],
    "40_bad_order.yaml": ["{f}:2: order: must be interleaved, random or sequential, got 'shuffled'"],
    "41_auto_samples_with_pruning.yaml": ["{f}:4: defaults.samples_per_epoch: pruning needs a fixed step count: set samples_per_epoch to a number (or null) for trials with sparsity > 0"],
    "37_bad_schedule_name.yaml": ["{f}:4: defaults.pruning_schedule: must be polynomial or constant, got 'cubic'"],
    "42_sample_interval_negative.yaml": ["{f}:3: runtime.sample_interval_ms: must be 0 (sampling off) or an integer in [10, 10000] (milliseconds), got -100"],
    # Hostile or broken YAML: refused by the reader in one line each, never expanded or walked.
    "43_alias_bomb.yaml": ["{f}:9: defaults.f[0]: alias *e stands for 66,430 values: the document expands past 100,000 (an alias bomb?)"],
    "44_recursive_alias.yaml": ["{f}:3: sweep.batch_size[2]: recursive alias: *sizes stands for a value that contains it"],
    "45_deep_nesting.yaml": ["{f}:3: defaults.model" + "[0]" * 31 + ": nested deeper than 32 levels; a scenario needs 3"],
    "46_unknown_tag.yaml": ["{f}:3: defaults.batch_size: unknown tag !size; a scenario holds plain values, lists and mappings"],
    "47_bad_explicit_int.yaml": ["{f}:4: defaults.batch_size: 'abc' is not a valid !!int"],
    "48_infinite_numbers.yaml": [
        "{f}:3: defaults.learning_rate: must be a positive number, got .inf, which is not a finite number",
        "{f}:4: defaults.timeout_s: must be a positive number of seconds, got .inf, which is not a finite number",
    ],
    "49_nan_in_sweep.yaml": [
        "{f}:3: sweep.learning_rate[1]: must be a positive number, got .nan, which is not a finite number",
        "{f}:4: sweep.sparsity[1]: must be a number in [0, 1), got -.inf, which is not a finite number",
    ],
    "50_plan_too_large.yaml": ["{f}:3: sweep: the plan has 10,000,000,000 trials, over the limit of 10,000 (counted, not built); narrow the sweep, or pass --allow-large-plan to run it anyway"],
    "51_merge_key.yaml": ["{f}:5: include[0]: merge keys (<<) are not supported; write the keys out"],
    "52_python_object_tag.yaml": ["{f}:2: description: unsupported tag !!python/object/apply:os.system; a scenario holds plain values, lists and mappings"],
    "53_alias_nesting_too_deep.yaml": ["{f}:6: d" + "[0]" * 10 + ": alias *c nests values deeper than 32 levels"],
    # Multi-replica trials: what the runtime cannot give is known before anything runs.
    "54_replicas_without_mirrored.yaml": ["{f}:3: sweep.num_gpus[1]: 2 replicas need runtime.distribute: mirrored (distribute is none)"],
    "55_replicas_above_logical_cpus.yaml": ["{f}:6: sweep.num_gpus[1]: 4 replicas, but runtime.logical_cpu_devices is 2"],
    "56_global_batch_not_divisible.yaml": ["{f}:3: defaults.batch_size: batch_scaling: global splits batch 30 among 4 replicas: must divide evenly"],
    "58_pruning_with_mirrored.yaml": ["{f}:3: defaults.sparsity: pruning trials run on one device: not with runtime.distribute: mirrored"],
    "59_target_on_synthetic_with_fixed_epochs.yaml": [
        "{f}:2: defaults.dataset: synthetic data has no test split to evaluate the target on: use a real dataset",
        "{f}:3: defaults.epochs: with a target a trial trains until it reaches the target or max_epochs: leave epochs at auto",
    ],
    "60_max_batch_start_off_grid.yaml": ["{f}:4: max_batch.start: must be a multiple of max_batch.step (8), got 30"],
    "61_search_without_sampling.yaml": ["{f}:4: runtime.sample_interval_ms: search: max_batch reads each probe's memory from the sampled telemetry: must not be 0"],
    "62_bad_target_and_lr_values.yaml": [
        "{f}:4: defaults.lr_scaling: must be none, linear or sqrt (the learning rate per batch size, from lr_base_batch), got 'cubic'",
        "{f}:5: target.eval_every_samples: required key is missing",
        "{f}:6: target.metric: must be accuracy (reached at or above value) or loss (at or below), got 'top5'",
        "{f}:8: target.eval_every: unknown key (did you mean 'eval_every_samples'?)",
    ],
    "57_bad_distribution_values.yaml": [
        "{f}:3: defaults.num_gpus: must be a positive integer (replicas: the first num_gpus of the trial's devices), got 0",
        "{f}:4: defaults.batch_scaling: must be per_replica (weak scaling: batch_size per replica) or global (strong scaling), got 'linear'",
        "{f}:6: runtime.distribute: must be none or mirrored, got 'horovod'",
        "{f}:7: runtime.cross_device_ops: must be nccl, hierarchical_copy or one_device, got 'ring'",
        "{f}:8: runtime.logical_cpu_devices: must be a positive integer (logical CPU devices, for runs without a GPU) or null, got 0",
    ],
}


def test_corpus_is_complete():
    assert sorted(p.name for p in BAD.glob("*.yaml")) == sorted(EXPECTED)
    assert len(EXPECTED) >= 20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_scenario_reports_exact_lines(name):
    path = BAD / name
    with pytest.raises(UserError) as caught:
        load_plan(path)  # the document's checks, then the product's
    assert caught.value.lines == [line.format(f=path) for line in EXPECTED[name]]


def test_missing_file_is_one_line():
    with pytest.raises(UserError) as caught:
        load_scenario("nowhere/x.yaml")
    assert caught.value.lines == ["nowhere/x.yaml: no such scenario file"]


@pytest.mark.parametrize("path", sorted((REPO / "scenarios").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_scenario_loads_and_plans(path):
    _, plan = load_plan(path)
    assert plan.trials, "a shipped scenario must plan at least one trial"
    assert plan.warnings == ()


def test_defaults_resolve(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: minimal\n")
    resolved = load_scenario(path).resolved()
    assert resolved["defaults"]["epochs"] == "auto"
    assert (resolved["defaults"]["min_steady_epochs"], resolved["defaults"]["max_epochs"],
            resolved["defaults"]["precision"], resolved["defaults"]["max_measure_s"]) == (3, 20, 0.02, None)
    assert resolved["order"] == "interleaved"
    assert resolved["defaults"]["model"] == "tutorial_cnn"
    assert resolved["runtime"] == {"memory_growth": True, "memory_limit_mb": None, "mixed_precision": False,
                                   "xla": False, "sample_interval_ms": 100, "distribute": "none",
                                   "cross_device_ops": "nccl", "logical_cpu_devices": None}


def test_scenario_is_immutable(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: frozen\n")
    scenario = load_scenario(path).scenario
    with pytest.raises(Exception):
        scenario.defaults.batch_size = 7


def test_exclude_matching_nothing_is_a_warning(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: w\nsweep:\n  batch_size: [32, 64]\nexclude:\n  - batch_size: 128\n")
    assert load_plan(path)[1].warnings == (f"{path}:5: exclude[0]: matches no trial of the sweep",)


def test_memory_limit_without_growth_is_valid(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: cap\nruntime:\n  memory_growth: false\n  memory_limit_mb: 2048\n")
    assert load_scenario(path).scenario.runtime.memory_limit_mb == 2048


def _run_cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "benchharness", *args], capture_output=True, text=True, cwd=cwd)


def test_validate_cli_exit_codes_and_one_line_per_error():
    bad = _run_cli("validate", "scenarios/batch_sweep.yaml", str(BAD / "08_negative_batch_in_sweep.yaml"))
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [
        f"{BAD / '08_negative_batch_in_sweep.yaml'}:5: sweep.batch_size[1]: must be a positive integer, got -64"]
    good = _run_cli("validate", "scenarios/batch_sweep.yaml")
    assert good.returncode == 0, good.stderr
    assert "scenarios/batch_sweep.yaml: ok, 5 trial(s)" in good.stdout


def test_validate_and_dry_run_import_no_tensorflow():
    code = ("import sys; from benchharness.cli import main; "
            "assert main(['validate', 'scenarios/batch_sweep.yaml']) == 0; "
            "assert main(['run', 'scenarios/batch_sweep.yaml', '--dry-run']) == 0; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "5 trial(s)" in result.stdout


def test_bad_flag_is_one_line_exit_2():
    result = _run_cli("run", "scenarios/batch_sweep.yaml", "--frobnicate")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "benchharness: unrecognized arguments: --frobnicate (see --help)"]


def test_unreachable_pruning_target_is_a_warning(scenario_file):
    """tfmot's IMDB example schedule ends at step 3000 but training has 2346 steps: 0.683, not 0.7."""
    from benchharness.plan import make_plan

    loaded = scenario_file("name: imdb\ndefaults:\n  model: imdb_lstm\n  samples_per_epoch: 25000\n"
                           "  batch_size: 32\n  sparsity: 0.7\n  initial_sparsity: 0.3\n"
                           "  begin_step: 1000\n  end_step: 3000\n  epochs: 3\n")
    assert make_plan(loaded).warnings == (
        f"{loaded.path}:9: defaults.end_step: the schedule reaches sparsity 0.683, not the target 0.7 "
        "(batch_size 32: 2346 steps, frequency 100); put end_step on begin_step + k * frequency within "
        "the steps, or leave it null",)


def test_pruning_with_auto_epochs_runs_fixed_epochs_and_says_so(scenario_file):
    from benchharness.plan import PRUNING_EPOCHS_FOR_AUTO, make_plan

    loaded = scenario_file("name: p\ndefaults:\n  sparsity: 0.5\nsweep:\n  batch_size: [32, 64]\n")
    plan = make_plan(loaded)
    assert {t.params["epochs"] for t in plan.trials} == {PRUNING_EPOCHS_FOR_AUTO}
    assert plan.warnings == (f"{loaded.path}:2: defaults.epochs: pruning trials need a fixed step count: with "
                             f"epochs: auto they run {PRUNING_EPOCHS_FOR_AUTO} epochs (set epochs to choose)",)
    dense = make_plan(scenario_file("name: d\nsweep:\n  batch_size: [32]\n", name="d.yaml"))
    assert dense.trials[0].params["epochs"] == "auto" and dense.warnings == ()


def test_sample_interval_zero_turns_sampling_off_and_its_neighbours_are_errors(tmp_path):
    def load(value):
        path = tmp_path / "s.yaml"
        path.write_text(f"name: sampling\nruntime:\n  sample_interval_ms: {value}\n")
        return path

    assert load_scenario(load(0)).scenario.runtime.sample_interval_ms == 0
    assert load_scenario(load(10)).scenario.runtime.sample_interval_ms == 10
    assert load_scenario(load(10000)).scenario.runtime.sample_interval_ms == 10000
    for bad in ("1", "9", "10001", "false", "0.0", "'0'", "null"):
        with pytest.raises(UserError) as caught:
            load_scenario(load(bad))
        assert caught.value.lines == [f"{tmp_path / 's.yaml'}:3: runtime.sample_interval_ms: must be 0 (sampling off) "
                                      f"or an integer in [10, 10000] (milliseconds), got {bad}"], bad


def test_validate_cli_bad_sample_interval_is_exit_2_and_one_line():
    path = BAD / "19_sample_interval_too_small.yaml"
    bad = _run_cli("validate", str(path))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [
        f"{path}:3: runtime.sample_interval_ms: must be 0 (sampling off) or an integer in [10, 10000] (milliseconds), got 5"]


@pytest.mark.slow
def test_sampling_off_runs_and_reports_without_telemetry(tmp_path):
    """``sample_interval_ms: 0``: a real run with no sampler; its record's telemetry is null and the
    reports still render."""
    import json

    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"name: sampling-off\ndefaults:\n  model: \"{HERE / 'helpers' / 'models.py'}:tiny_mlp\"\n"
                        "  epochs: 2\n  samples_per_epoch: 256\n  timeout_s: 120\nruntime:\n  sample_interval_ms: 0\n")
    run = _run_cli("run", str(scenario), "--out", str(tmp_path / "results"), "--no-report", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    (run_dir,) = (tmp_path / "results").iterdir()
    (record,) = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    assert record["status"] == "ok" and record["telemetry"] is None and record["throughput_sps"] > 0
    assert not list((run_dir / "samples").glob("*.csv"))
    answer = _run_cli("report", str(run_dir), "--format", "json", cwd=tmp_path)
    assert answer.returncode == 0 and json.loads(answer.stdout), answer.stderr
    html = _run_cli("report", str(run_dir), "-o", str(tmp_path / "r.html"), cwd=tmp_path)
    assert html.returncode == 0 and (tmp_path / "r.html").is_file(), html.stderr


# -- bounded input: size of the file, of the document, of the plan ---------------------------------


def test_a_10_mb_sweep_list_is_refused_without_being_read(tmp_path):
    """The reader reads at most MAX_BYTES + 1 bytes: a 10 MB list is one line, not a minute of parsing."""
    from benchharness.yamldoc import MAX_BYTES

    path = tmp_path / "big.yaml"
    path.write_text("name: big\nsweep:\n  batch_size: [" + ", ".join(["64"] * 2_500_000) + "]\n")
    assert path.stat().st_size > 10_000_000
    with pytest.raises(UserError) as caught:
        load_plan(path)
    assert caught.value.lines == [
        f"{path}: too large for a scenario file: over {MAX_BYTES // 1024} KiB (one is a few kilobytes; a sweep "
        "list of that size would also plan far more trials than can run)"]


def test_a_document_of_too_many_values_is_refused(tmp_path, monkeypatch):
    from benchharness import yamldoc

    monkeypatch.setattr(yamldoc, "MAX_VALUES", 20)
    path = tmp_path / "s.yaml"
    path.write_text("name: many\nsweep:\n  batch_size: [" + ", ".join(map(str, range(1, 30))) + "]\n")
    with pytest.raises(UserError) as caught:
        load_scenario(path)
    assert caught.value.lines == [f"{path}:3: sweep.batch_size[13]: the document holds more than 20 values"]


def test_an_alias_bomb_of_10_to_the_100_values_is_refused_in_one_line(tmp_path):
    """Measured, not expanded: each node is measured once, so a bomb costs its written size. Fifty
    levels of a hundred aliases stand for 10^102 values: no walk of them would ever end."""
    lines = ["name: bomb", "description: &l0 [" + ", ".join(["lol"] * 100) + "]", "defaults:"]
    lines += [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 100) + "]" for i in range(1, 51)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError) as caught:
        load_scenario(path)
    assert caught.value.lines == [f"{path}:5: defaults.l2[8]: alias *l1 stands for 10,101 values: the document "
                                  "expands past 100,000 (an alias bomb?)"]


def test_an_alias_bomb_is_one_line_and_exit_2_from_the_cli():
    path = BAD / "43_alias_bomb.yaml"
    result = _run_cli("validate", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [line.format(f=path) for line in EXPECTED["43_alias_bomb.yaml"]]


def test_aliases_within_the_limits_still_work(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: reuse\ndefaults: &d\n  batch_size: 64\ninclude:\n  - &i {batch_size: 16}\n"
                    "sweep:\n  batch_size: &sizes [32, 64]\n  seed: [0, 1]\nexclude:\n  - *i\n")
    scenario = load_scenario(path).scenario
    assert scenario.sweep.batch_size == [32, 64] and scenario.include[0].batch_size == 16


def test_several_tag_problems_are_reported_together_without_a_second_line_each(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: tags\ndefaults:\n  epochs: !!int two\n  precision: !!float x\n"
                    "  measure_sizes: !!bool maybe\nsweep:\n  batch_size: [32, !!int 6.5]\n")
    with pytest.raises(UserError) as caught:
        load_scenario(path)
    assert caught.value.lines == [
        f"{path}:3: defaults.epochs: 'two' is not a valid !!int",
        f"{path}:4: defaults.precision: 'x' is not a valid !!float",
        f"{path}:5: defaults.measure_sizes: 'maybe' is not a valid !!bool",
        f"{path}:7: sweep.batch_size[1]: '6.5' is not a valid !!int",
    ]


def test_explicit_standard_tags_that_fit_are_accepted(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: !!str 123\ndefaults:\n  batch_size: !!int \"64\"\n  learning_rate: !!float 1e-3\n")
    scenario = load_scenario(path).scenario
    assert (scenario.name, scenario.defaults.batch_size, scenario.defaults.learning_rate) == ("123", 64, 0.001)


def test_finite_numbers_are_still_numbers(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: ok\ndefaults:\n  learning_rate: 1.0e+3\n  timeout_s: 1e9\n")
    with pytest.raises(UserError) as caught:  # YAML 1.1 reads 1e9 (no dot) as a string: a type error, as before
        load_scenario(path)
    assert caught.value.lines == [f"{path}:4: defaults.timeout_s: must be a positive number of seconds, got '1e9'"]
    path.write_text("name: ok\ndefaults:\n  learning_rate: 1.0e+3\n  timeout_s: 1.0e+9\n")
    assert load_scenario(path).scenario.defaults.timeout_s == 1e9


def test_plan_of_10_to_the_10_trials_is_refused_by_validate_and_dry_run_with_its_count():
    path = BAD / "50_plan_too_large.yaml"
    expected = [line.format(f=path) for line in EXPECTED["50_plan_too_large.yaml"]]
    for args in (("validate", str(path)), ("run", str(path), "--dry-run")):
        result = _run_cli(*args)
        assert result.returncode == 2 and result.stderr.strip().splitlines() == expected, (args, result.stderr)


def test_the_plan_is_counted_not_built(monkeypatch):
    """The refusal comes from arithmetic: with expansion made impossible, the count is still given."""
    import benchharness.plan as plan

    def no_building(*args, **kwargs):
        raise AssertionError("the plan was built")

    monkeypatch.setattr(plan, "expand", no_building)
    monkeypatch.setattr(plan, "sweep_product", no_building)
    with pytest.raises(UserError, match="the plan has 10,000,000,000 trials"):
        load_plan(BAD / "50_plan_too_large.yaml")
    with pytest.raises(UserError, match="even with --allow-large-plan at most 100,000"):
        load_plan(BAD / "50_plan_too_large.yaml", allow_large_plan=True)


def test_allow_large_plan_lets_a_plan_over_the_limit_through(tmp_path):
    path = tmp_path / "s.yaml"  # 101 x 100 = 10,100 trials
    path.write_text("name: large\nsweep:\n  batch_size: [" + ", ".join(map(str, range(1, 102))) + "]\n"
                    "  seed: [" + ", ".join(map(str, range(100))) + "]\n")
    refused = _run_cli("validate", str(path))
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        f"{path}:2: sweep: the plan has 10,100 trials, over the limit of 10,000 (counted, not built); narrow the "
        "sweep, or pass --allow-large-plan to run it anyway"]
    allowed = _run_cli("validate", str(path), "--allow-large-plan")
    assert allowed.returncode == 0 and f"{path}: ok, 10100 trial(s)" in allowed.stdout, allowed.stderr


def test_the_help_states_the_limits_the_plan_applies():
    from benchharness.plan import HARD_LIMIT, PLAN_LIMIT

    for verb in ("run", "validate"):
        text = " ".join(_run_cli(verb, "--help").stdout.split())
        assert f"--allow-large-plan accept a plan of more than {PLAN_LIMIT:,} trials" in text
        assert f"never more than {HARD_LIMIT:,}" in text
