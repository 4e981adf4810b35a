"""Comparing two runs (step 12): the calibration over synthetic run directories with known truth
(no TensorFlow), the rule's statistics against scipy, verdicts, the environment fingerprint, the
CLI's exit codes and formats, ``run --baseline``, and (slow) a real run compared with a baseline."""

from __future__ import annotations

import math
import re
import statistics
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import cli, model, only_run_dir
from helpers.synthetic_runs import (point_params, run_info, synthetic_run, trial_record, window_seconds,
                                    write_run)
from scipy import stats as sps

from benchharness import stats
from benchharness.cli import main
from benchharness.compare import CompareOptions, compare_paths
from benchharness.report import render

TRUTH = {32: 2000.0, 64: 3000.0, 128: 3500.0}  # samples/s per batch size
PAIRS = 20
SLOWED = 64
SLOWDOWN = 1.10  # the slowed point's epochs take 10 % longer: throughput / 1.1


def slowed(truth: dict) -> dict:
    return {b: sps_ / SLOWDOWN if b == SLOWED else sps_ for b, sps_ in truth.items()}


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    """20 A/A pairs and 20 pairs with one point slowed down, each run 3 points x 3 repeats with 5 %
    window noise and 8 windows a trial (``helpers.synthetic_runs``); a fixed seed, so the test is
    repeatable (the rates over many seeds are in docs/design.md: scripts/compare_power.py)."""
    rng = np.random.default_rng(20261128)
    root = tmp_path_factory.mktemp("calibration")
    aa, slow, bases = [], [], []
    for i in range(PAIRS):
        base = synthetic_run(root / f"pair{i}", "base", rng, TRUTH)
        aa.append(compare_paths(base.path, synthetic_run(root / f"pair{i}", "aa", rng, TRUTH).path))
        slow.append(compare_paths(base.path, synthetic_run(root / f"pair{i}", "slow", rng, slowed(TRUTH)).path))
        bases.append(base)
    return aa, slow, bases


def test_the_calibration_noise_is_5_percent_over_8_windows_and_3_repeats(calibration):
    aa, _, _ = calibration
    records = [r for cmp in aa for r in cmp.base.records + cmp.head.records]
    assert {r["steady_windows"] for r in records} == {8}
    assert all(len(point.base) == len(point.head) == 3 for cmp in aa for point in cmp.points)
    assert 0.045 < statistics.median(r["throughput_cv"] for r in records) < 0.055


def test_a_a_pairs_flag_at_most_one_regression_in_20(calibration):
    aa, _, _ = calibration
    flagged = [i for i, cmp in enumerate(aa) if cmp.exit_code == 1]
    assert len(flagged) <= 1, [aa[i].regressions[0].label for i in flagged]
    assert all(cmp.exit_code in (0, 1) and cmp.matched == 3 for cmp in aa)


def test_an_injected_10_percent_slowdown_is_detected_in_19_of_20_pairs_and_named(calibration):
    _, slow, _ = calibration
    detected = [cmp for cmp in slow if f"batch_size={SLOWED}" in [p.label for p in cmp.regressions]]
    assert len(detected) >= 19
    others = sum(p.label != f"batch_size={SLOWED}" for cmp in slow for p in cmp.regressions)
    assert others <= 1  # the points left alone are A/A comparisons
    point = next(p for p in detected[0].points if p.label == f"batch_size={SLOWED}")
    assert [row.metric.name for row in point.worse_rows] == ["throughput_sps", "epoch_time_s"]
    assert all(row.method == "trials" and row.n_base == row.n_head == 3 for row in point.rows)


def test_ok_to_oom_is_always_a_regression(calibration, tmp_path):
    _, _, bases = calibration
    for i, base in enumerate(bases):
        records = [r for r in base.read_trials().records if r["params"]["batch_size"] != 128]
        for repeat in range(3):  # the largest batch runs out of memory on every repeat, or on the first only
            status = "oom" if i % 2 == 0 or repeat == 0 else "ok"
            seconds = window_seconds(np.random.default_rng(i), TRUTH[128], 8, 0.05)
            records.append(trial_record(point_params(128), repeat, seconds if status == "ok" else [], status=status))
        head = write_run(tmp_path / str(i), "oom", records, run_info("oom"))
        cmp = compare_paths(base.path, head.path)
        (point,) = [p for p in cmp.points if p.label == "batch_size=128"]
        assert cmp.exit_code == 1 and point.verdict == "worse" and point.status_verdict == "worse"
        assert point.status_change == ("ok 3 -> oom 3" if i % 2 == 0 else "ok 3 -> ok 2, oom 1")


def test_a_device_change_exits_2_unless_allowed(tmp_path, capsys):
    rng = np.random.default_rng(1)
    base = synthetic_run(tmp_path, "cpu", rng, TRUTH)
    head = synthetic_run(tmp_path, "gpu", rng, TRUTH, device_name="NVIDIA H100 80GB HBM3")
    cmp = compare_paths(base.path, head.path)
    assert cmp.exit_code == 2 and not cmp.points
    assert cmp.incomparable.startswith(f"{head.path / 'run.json'}: device: the base run trained on cpu: AMD EPYC, "
                                       "the head run on gpu: NVIDIA H100 80GB HBM3")
    assert main(["compare", str(base.path), str(head.path)]) == 2
    printed = capsys.readouterr()
    assert "result: " + cmp.incomparable in printed.out and "point " not in printed.out
    assert main(["compare", str(base.path), str(head.path), "--format", "md", "-o", str(tmp_path / "c.md")]) == 2
    assert capsys.readouterr().err.strip() == cmp.incomparable  # one line on stderr
    allowed = compare_paths(base.path, head.path, CompareOptions(allow_different_device=True))
    assert allowed.exit_code in (0, 1) and allowed.matched == 3
    assert allowed.environment[0].field == "device" and allowed.environment[0].differs


def test_a_tensorflow_upgrade_is_shown_first_not_refused(tmp_path):
    rng = np.random.default_rng(2)
    base = synthetic_run(tmp_path, "old", rng, TRUTH, tensorflow="2.20.0")
    head = synthetic_run(tmp_path, "new", rng, TRUTH)
    cmp = compare_paths(base.path, head.path)
    assert cmp.exit_code in (0, 1) and cmp.matched == 3
    assert [(r.field, r.base, r.head) for r in cmp.environment if r.differs] == [
        ("TensorFlow", "2.20.0", "2.21.0"), ("tf_keras", "2.20.0", "2.21.0")]
    from benchharness.report.comparison import text_lines

    lines = text_lines(cmp)
    assert lines[1:4] == ["environment: 2 difference(s)", "  TensorFlow  2.20.0  ->  2.21.0",
                          "  tf_keras    2.20.0  ->  2.21.0"]


# -- the rule's statistics -------------------------------------------------------------------------


def test_ratio_of_trials_is_welchs_interval_on_the_log_scale():
    base, head = [1000.0, 1040.0, 980.0], [900.0, 950.0, 870.0, 910.0]
    change = stats.ratio_of_trials(base, head)
    welch = sps.ttest_ind(np.log(head), np.log(base), equal_var=False).confidence_interval(0.90)
    assert change.method == "trials"
    assert change.low == pytest.approx(math.exp(welch.low)) and change.high == pytest.approx(math.exp(welch.high))
    assert change.ratio == pytest.approx(math.exp(np.log(head).mean() - np.log(base).mean()))
    exact = stats.ratio_of_trials([5.0, 5.0], [6.0, 6.0])
    assert (exact.ratio, exact.low, exact.high, exact.method) == (pytest.approx(1.2), pytest.approx(1.2),
                                                                  pytest.approx(1.2), "exact")


@pytest.mark.parametrize("ratio, low, high, higher_is_better, verdict", [
    (0.90, 0.85, 0.95, True, "worse"),      # past 5 % and the interval below 1
    (0.90, 0.80, 1.01, True, "noise"),      # past 5 %, but the interval reaches 1
    (0.97, 0.95, 0.99, True, "same"),       # a real change, within the threshold
    (1.10, 1.05, 1.15, True, "better"),
    (1.10, 1.05, 1.15, False, "worse"),     # a lower-is-better figure (epoch time) that rose
    (1.06, 1.01, 1.11, False, "worse"),     # 1.06 > 1 / 0.95: the epoch takes 5.7 % longer
    (1.05, 1.01, 1.09, False, "same"),      # 1.05 < 1 / 0.95: throughput fell 4.8 %
    (0.90, None, None, True, "noise"),      # no interval
])
def test_change_verdict(ratio, low, high, higher_is_better, verdict):
    change = None if low is None else stats.RatioInterval(ratio, low, high, "trials")
    assert stats.change_verdict(change, ratio, higher_is_better, 0.05) == verdict


def test_a_threshold_of_0_flags_any_supported_change_and_no_change_is_the_same():
    exact = stats.RatioInterval(1.0, 1.0, 1.0, "exact")
    assert stats.change_verdict(exact, 1.0, True, 0.0) == "same"
    assert stats.change_verdict(stats.RatioInterval(0.99, 0.985, 0.995, "trials"), 0.99, True, 0.0) == "worse"


def test_ratio_of_intervals_is_beyond_1_exactly_when_the_intervals_do_not_overlap():
    base = stats.Interval(100, 100, 98, 102, 5, 0.01)
    apart = stats.ratio_of_intervals(base, stats.Interval(90, 90, 88, 92, 5, 0.01))
    touching = stats.ratio_of_intervals(base, stats.Interval(95, 95, 88, 98.5, 5, 0.01))
    assert apart.high < 1 and apart.low == pytest.approx(88 / 102) and apart.method == "intervals"
    assert touching.high > 1


# -- one trial a point, new and gone points, parameters left out of the match -------------------------


def test_one_trial_a_point_uses_its_windows_interval(tmp_path):
    rng = np.random.default_rng(3)
    base = synthetic_run(tmp_path, "base", rng, TRUTH, repeats=1, noise=0.01)
    clear = synthetic_run(tmp_path, "clear", rng, {**TRUTH, 64: 3000 / 1.3}, repeats=1, noise=0.01)
    cmp = compare_paths(base.path, clear.path)
    (point,) = cmp.regressions
    assert point.label == "batch_size=64" and point.rows[0].method == "intervals"
    assert point.rows[0].n_base == point.rows[0].n_head == 1
    noisy_base = synthetic_run(tmp_path, "nb", rng, TRUTH, repeats=1, noise=0.25)
    noisy = synthetic_run(tmp_path, "noisy", rng, {**TRUTH, 64: 3000 / 1.08}, repeats=1, noise=0.25)
    rows = {p.label: p.rows[0] for p in compare_paths(noisy_base.path, noisy.path).points}
    assert rows["batch_size=64"].verdict in ("noise", "same") and rows["batch_size=64"].low < 1 < rows["batch_size=64"].high


def test_model_sizes_are_exact_so_one_trial_tells_a_bigger_model(tmp_path):
    rng = np.random.default_rng(9)

    def run(name: str, keras_zip: int):
        sizes = {"keras_bytes": 90_000, "keras_zip_bytes": keras_zip, "tflite_bytes": 80_000, "tflite_zip_bytes": 70_000,
                 "tflite_quant_bytes": 20_000, "tflite_quant_zip_bytes": 15_000}
        records = [trial_record(point_params(b), 0, window_seconds(rng, s, 8, 0.05), sizes=sizes) for b, s in TRUTH.items()]
        return write_run(tmp_path, name, records, run_info(name))

    cmp = compare_paths(run("base", 50_000).path, run("head", 56_000).path)
    rows = {row.metric.name: row for row in cmp.points[0].rows}
    assert rows["keras_zip_bytes"].verdict == "worse" and rows["keras_zip_bytes"].method == "exact"
    assert rows["keras_zip_bytes"].ratio == pytest.approx(1.12) and rows["tflite_zip_bytes"].verdict == "same"
    assert cmp.exit_code == 1 and len(cmp.regressions) == 3


def test_new_and_gone_points_are_named_and_no_regression(tmp_path):
    rng = np.random.default_rng(4)
    base = synthetic_run(tmp_path, "base", rng, TRUTH)
    head = synthetic_run(tmp_path, "head", rng, {64: 3000.0, 128: 3500.0, 256: 3600.0})
    cmp = compare_paths(base.path, head.path)
    assert {p.label: p.verdict for p in cmp.points if p.verdict in ("new", "gone")} == {
        "batch_size=32": "gone", "batch_size=256": "new"}
    assert cmp.matched == 2 and cmp.exit_code in (0, 1)


def test_another_model_matches_only_when_its_parameter_is_ignored(tmp_path, capsys):
    rng = np.random.default_rng(5)
    base = synthetic_run(tmp_path, "base", rng, TRUTH)
    records = [trial_record(point_params(b, model="heavy.py:build"), repeat, window_seconds(rng, s / 2, 8, 0.05))
               for repeat in range(3) for b, s in TRUTH.items()]
    head = write_run(tmp_path, "heavy", records, run_info("heavy"))
    assert compare_paths(base.path, head.path).incomparable.endswith(
        "(parameters whose values differ: model; --ignore-param KEY matches points without KEY)")
    assert main(["compare", str(base.path), str(head.path), "--ignore-param", "model"]) == 1
    out = capsys.readouterr().out
    assert "matched without model: base tutorial_cnn, head heavy.py:build" in out
    assert re.search(r"^result: regression in 3 of 3 matched point\(s\) past 5% \(exit 1\): batch_size=32 "
                     r"\(throughput x0\.\d+, steady epoch time x[12]\.\d+\); batch_size=64", out, re.M)


def test_a_changed_recommended_batch_is_reported(tmp_path, capsys):
    rng = np.random.default_rng(6)
    base = synthetic_run(tmp_path, "base", rng, {32: 1000.0, 64: 2000.0, 128: 4000.0}, noise=0.01)
    head = synthetic_run(tmp_path, "head", rng, {32: 1000.0, 64: 4000.0, 128: 4000.0}, noise=0.01)
    (change,) = compare_paths(base.path, head.path).recommendations
    assert (change.base, change.head, change.changed) == (128, 64, True)
    main(["compare", str(base.path), str(head.path)])
    assert "recommended batch: tutorial_cnn on synthetic: 128 (decided) -> 64 (decided): changed" in capsys.readouterr().out


# -- the CLI -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    rng = np.random.default_rng(7)
    root = tmp_path_factory.mktemp("two")
    base = synthetic_run(root, "base", rng, TRUTH)
    head = synthetic_run(root, "head", rng, slowed(TRUTH))
    return base.path, head.path


def test_compare_exit_codes_in_a_real_process(two_runs):
    base, head = two_runs
    same = cli("compare", base, base)
    assert same.returncode == 0, same.stderr
    assert same.stdout.splitlines()[-1] == "result: no regression past 5% in 3 matched point(s) (exit 0)"
    worse = cli("compare", base, head)
    assert worse.returncode == 1, worse.stderr
    assert worse.stdout.splitlines()[-1].startswith("result: regression in 1 of 3 matched point(s) past 5% "
                                                    "(exit 1): batch_size=64 (throughput x0.")


def test_bad_input_is_one_line_and_exit_2(two_runs, tmp_path, capsys):
    base, _ = two_runs
    assert main(["compare", str(base), str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"{tmp_path}: not a run directory (no run.json)"
    empty = write_run(tmp_path, "empty", [], run_info("empty"))
    assert main(["compare", str(base), str(empty.path)]) == 2
    assert capsys.readouterr().err.strip() == f"{empty.path / 'trials.jsonl'}: no trial records yet; nothing to compare"
    with pytest.raises(SystemExit) as flag:  # argparse's error, one line
        main(["compare", str(base), str(base), "--threshold", "1.5"])
    assert flag.value.code == 2
    assert capsys.readouterr().err.strip() == ("benchharness: argument --threshold: must be a number in [0, 1), "
                                               "got '1.5' (see --help)")


def test_markdown_is_a_pull_request_comment(two_runs, capsys):
    base, head = two_runs
    assert main(["compare", str(base), str(head), "--format", "md"]) == 1
    md = capsys.readouterr().out
    assert md.startswith("### benchharness compare: ❌ regression\n\n**base** base-")
    assert "| batch_size=64 | throughput (samples/s) |" in md and "**WORSE** |" in md
    assert "<details><summary>Every point and metric (6 rows)</summary>" in md
    changes = md.split("<details>")[0]
    assert "batch_size=32" not in changes  # the changes table holds the changed rows only


def test_html_is_the_report_of_both_runs_with_the_comparison_first(two_runs, tmp_path, capsys):
    base, head = two_runs
    out = tmp_path / "c.html"
    assert main(["compare", str(base), str(head), "--format", "html", "-o", str(out)]) == 1
    assert capsys.readouterr().out.splitlines()[0] == f"report: {out}"
    html = out.read_text()
    assert html.index('id="comparison"') < html.index("When does a larger batch pay off?")
    assert '<tr class="verdict-worse"><td class="text">batch_size=64</td>' in html
    assert "http://" not in html and "https://" not in html
    two = render([base, head], tmp_path / "r.html").read_text()  # report of exactly two runs: the same section
    assert 'id="comparison"' in two and 'id="comparison"' not in render([base], tmp_path / "one.html").read_text()


def test_text_from_results_files_is_escaped_in_html_and_markdown(tmp_path, capsys):
    rng = np.random.default_rng(8)
    evil = "<script>alert(1)</script>"
    records = [trial_record(point_params(b, model=evil), r, window_seconds(rng, s, 8, 0.05))
               for r in range(2) for b, s in TRUTH.items()]
    base, head = (write_run(tmp_path, n, records, run_info(n)) for n in ("a", "b"))
    assert main(["compare", str(base.path), str(head.path), "--format", "html", "-o", str(tmp_path / "c.html")]) == 0
    html = (tmp_path / "c.html").read_text()
    assert evil not in html and "&lt;script&gt;" in html
    main(["compare", str(base.path), str(head.path), "--format", "md"])
    assert "<script>" not in capsys.readouterr().out


def test_run_refuses_a_bad_baseline_before_any_trial(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["run", "scenarios/batch_sweep.yaml", "--out", str(out), "--baseline", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip() == f"{tmp_path / 'nope'}: not a run directory (no run.json)"
    assert not out.exists()
    assert main(["run", "scenarios/batch_sweep.yaml", "--dry-run", "--threshold", "0.1"]) == 2
    assert capsys.readouterr().err.strip() == "benchharness: --threshold applies to --baseline RUN_DIR only (see --help)"


@pytest.mark.slow
def test_a_run_with_a_heavier_model_against_its_baseline_exits_1_and_names_the_point(tmp_path):
    """Real processes: a tiny model's run, then a much wider one's with --baseline. One trial a point,
    so the within-trial intervals decide: six windows each, so that a loaded machine (the tiny
    model's windows last 0.3 s) widens them by less than the several-fold change."""
    def scenario(name: str, model_name: str) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(f'name: {name}\ndefaults:\n  model: "{model(model_name)}"\n  epochs: 7\n'
                        "  samples_per_epoch: 8192\n  batch_size: 64\nruntime:\n  sample_interval_ms: 0\n")
        return path

    base = cli("run", scenario("base", "tiny_mlp"), "--out", tmp_path / "base", "--no-report")
    assert base.returncode == 0, base.stderr[-2000:]
    baseline = only_run_dir(tmp_path / "base")
    head = cli("run", scenario("head", "wide_mlp"), "--out", tmp_path / "head", "--no-report",
               "--baseline", baseline, "--ignore-param", "model")
    assert head.returncode == 1, head.stdout[-3000:] + head.stderr[-2000:]
    lines = head.stdout.splitlines()
    assert f"compare: base {baseline.name} (1 trials) -> head " in head.stdout
    assert re.fullmatch(r"result: regression in 1 of 1 matched point\(s\) past 5% \(exit 1\): batch_size=64 "
                        r"\(throughput x0\.\d+, steady epoch time x\d+\.\d+\)", lines[-1]), lines[-1]


def test_probes_and_time_to_accuracy_trials_are_not_throughput_points():
    from benchharness.compare import comparable

    trial = {"trial_id": "t", "role": "trial", "tta": None}
    probe = {"trial_id": "p", "role": "probe", "tta": None}
    to_target = {"trial_id": "a", "role": "trial", "tta": {"converged": True}}
    assert comparable([trial, probe, to_target]) == [trial]


def test_a_version_4_record_matches_the_same_point_of_a_version_5_run():
    from benchharness.compare import point_key
    from benchharness.upgrade import upgrade_records

    old = {"schema_version": 4, "trial_id": "x", "params": {"batch_size": 32, "model": "m"}}
    (upgraded,) = upgrade_records([old])
    new = {"params": {"batch_size": 32, "model": "m", "lr_scaling": "none", "lr_warmup_epochs": 0.0,
                      "lr_base_batch": 32}}
    assert upgraded["role"] == "trial" and point_key(upgraded) == point_key(new)
