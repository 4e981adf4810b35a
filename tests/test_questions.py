"""Step 14: each report answers the questions its sweep can answer, declines the others with what to
sweep, and words a difference as one only when its interval says so. On the committed golden run
directories and on constructed records; no TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from benchharness import questions as q
from benchharness.report import curves, load_runs, render

GOLDEN = Path(__file__).parent / "golden"

# Which questions each golden run answers, and which it declines.
EXPECTED = {
    "cpu_run": (["batch_size"], ["sparsity", "model", "options"]),
    "fake_nvml_run": (["batch_size"], ["sparsity", "model", "options"]),  # two of its three models failed
    "models_run": (["batch_size", "model"], ["sparsity", "options"]),
    "pruning_run": (["sparsity"], ["batch_size", "model", "options"]),
}


def ask(name: str) -> q.Questions:
    runs = load_runs([GOLDEN / name])
    return q.ask(runs, curves(runs, 0.05))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_golden_run_answers_its_own_questions_and_declines_the_rest(name):
    answered, declined = EXPECTED[name]
    found = ask(name)
    assert found.answered == answered
    assert [d.key for d in found.declined] == declined
    assert all(d.why and d.to_answer.startswith("sweep ") for d in found.declined)


@pytest.fixture(scope="module")
def golden_reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("q")
    return {name: render([GOLDEN / name], out / f"{name}.html").read_text() for name in EXPECTED}


def test_the_pruning_report_has_no_batch_answer_and_opens_with_pruning(golden_reports):
    html = golden_reports["pruning_run"]
    first_h2 = html.split("<h2", 1)[1]
    assert first_h2.startswith(' id="q-sparsity">What does pruning cost and save?</h2>')
    assert 'id="q-batch_size"' not in html and "use batch" not in html and "device not saturated" not in html
    not_answered = html.split('id="not-answered"')[1]
    assert "every curve ran one batch size (128)" in not_answered
    assert "sweep batch_size, e.g. [32, 64, 128, 256]" in not_answered
    # The answer, as the guide measured it: 0.5 keeps accuracy within a point; 0.8 and 0.9 do not.
    assert "sparsity 0.5 is the largest that keeps test accuracy within 1.0 point of dense" in html
    assert "0.8 loses 1.8 points, 0.9 loses 7.2 points" in html


def test_the_models_report_compares_the_models_and_says_accuracy_is_not_answered(golden_reports):
    html = golden_reports["models_run"]
    digest = html.split('<div class="digest">')[1].split("</div>")[0]
    assert "Which model is fastest, smallest and most accurate?" in digest
    assert "Models on synthetic, at batch 64: fastest mobilenet_v3_small, 2.19x shufflenet_v2 (not decided)" in digest
    assert "Most accurate: not answered: synthetic data measures speed, not accuracy." in html
    assert html.index('id="q-batch_size"') < html.index('id="q-model"')  # the issue's order of questions


def test_the_batch_report_still_answers_the_batch_question_first(golden_reports):
    html = golden_reports["cpu_run"]
    assert html.split("<h2", 1)[1].startswith(' id="q-batch_size">When does a larger batch pay off?</h2>')
    assert "What does pruning cost and save?</strong> Not from this run: no throughput trial was pruned" in html


def test_report_json_carries_the_questions(tmp_path):
    result = subprocess.run([sys.executable, "-m", "benchharness", "report", str(GOLDEN / "pruning_run"),
                             "--format", "json", "--accuracy-tolerance", "0.02"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["varied"] == ["sparsity"] and answer["answered"] == ["sparsity"] and answer["batch_size"] == []
    (pruning,) = answer["sparsity"]
    assert pruning["accuracy_tolerance"] == 0.02
    assert pruning["largest_sparsity_within_tolerance"] == 0.8  # 0.8 loses 1.8 points: within 2
    assert [d["question"] for d in answer["not_answered"]] == ["batch_size", "model", "options"]


# -- wording follows the interval ----------------------------------------------------------------------


def test_ratio_words_claim_a_difference_only_when_the_interval_excludes_one():
    from benchharness.stats import ratio_words

    assert ratio_words(0.97, (0.91, 1.04)) == "no measurable difference in throughput (0.97x, 95 % interval 0.91-1.04)"
    assert ratio_words(0.81, (0.78, 0.84)) == "0.81x throughput, 19% lower (95 % interval 0.78-0.84)"
    assert ratio_words(1.12, (1.05, 1.19)) == "1.12x throughput, 12% higher (95 % interval 1.05-1.19)"
    assert "so no difference can be claimed" in ratio_words(0.9, None, missing="one window")


def windows(rng, centre: float, n: int = 12, noise: float = 0.02) -> list[float]:
    return (centre * rng.lognormal(0.0, noise, n)).tolist()


def pruning_record(tid: str, sparsity: float, sps: list[float], accuracy: float, dense: list[float] | None = None):
    """A record as the worker and assemble write it, with windows of steps and (pruned) the
    vs-dense ratio and its interval from both sides' windows."""
    from benchharness.stats import ratio_of_trials

    median = sorted(sps)[len(sps) // 2]
    pruning = None
    if sparsity:
        r = ratio_of_trials(dense, sps, confidence=0.95)
        pruning = {"target": sparsity, "throughput_vs_dense": r.ratio, "throughput_vs_dense_ci": [r.low, r.high]}
    return {"trial_id": tid, "status": "ok", "repeat": 0, "role": "trial", "tta": None,
            "params": {"model": "m", "dataset": "fashion_mnist", "batch_size": 128, "sparsity": sparsity},
            "throughput_sps": median, "throughput_ci_sps": None, "steady_windows": 1, "epoch_time_s": 60000 / median,
            "step_windows": {"steps_per_window": 40, "sps": sps, "median_sps": median, "ci_sps": None, "cv": None,
                             "n": len(sps)},
            "eval": {"accuracy": accuracy, "loss": 0.3, "samples": 10000}, "pruning": pruning,
            "sizes": {"keras_zip_bytes": int(80000 * (1 - sparsity) + 8000), "tflite_quant_zip_bytes": 20000}}


@pytest.mark.parametrize("pruned_speed, words", [
    (1.0, "no measurable difference in throughput"),  # same speed: the intervals overlap 1
    (0.8, "% lower in these processes (95 % interval 0.7"),  # the windows separate: about 0.8x
])
def test_the_pruning_answer_words_follow_the_intervals_of_synthetic_windows(pruned_speed, words):
    import numpy as np

    rng = np.random.default_rng(7)
    dense = windows(rng, 1000.0)
    records = [pruning_record("d", 0.0, dense, 0.88), pruning_record("p", 0.5, windows(rng, 1000.0 * pruned_speed),
                                                                      0.875, dense)]
    (answer,) = q.pruning_answers(records)
    assert answer.chosen.sparsity == 0.5 and words in answer.chosen.speed
    assert answer.chosen.vs_dense_ci is not None
    assert words in answer.headline


def test_a_pruned_trial_without_an_interval_claims_no_difference():
    dense = pruning_record("d", 0.0, [1000.0], 0.88)
    pruned = pruning_record("p", 0.8, [700.0, 701.0], 0.875, [1000.0, 1001.0])
    pruned["pruning"] = {"throughput_vs_dense": 0.7, "throughput_vs_dense_ci": None}
    (answer,) = q.pruning_answers([dense, pruned])
    assert answer.chosen.speed == ("0.70x throughput (no interval: fewer than two windows on a side, or recorded "
                                   "before windows of steps, so no difference can be claimed)")


def test_no_sparsity_within_tolerance_is_said_so():
    dense = pruning_record("d", 0.0, [1000.0, 1001.0], 0.90)
    pruned = pruning_record("p", 0.9, [1000.0, 1002.0], 0.80, [1000.0, 1001.0])
    (answer,) = q.pruning_answers([dense, pruned])
    assert answer.chosen is None
    assert "no sparsity tried keeps test accuracy within 1.0 point of dense (0.9000)" in answer.headline


def test_accuracy_interval_is_wilsons():
    low, high = q.accuracy_interval(0.5, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)


# -- models and runtime options ---------------------------------------------------------------------


def throughput_record(tid: str, model: str, batch: int, sps: float, repeat: int = 0, half: float = 0.02, **params):
    return {"trial_id": tid, "status": "ok", "repeat": repeat, "role": "trial", "tta": None,
            "params": {"model": model, "dataset": "synthetic", "batch_size": batch, **params},
            "throughput_sps": sps, "throughput_ci_sps": [sps * (1 - half), sps * (1 + half)], "steady_windows": 5,
            "epoch_time_s": 1000 / sps,
            "flops_per_sample": 1e6, "mfu": 0.01, "cost": {"weight_bytes": 4e6 if model == "a" else 1e6}}


def test_models_are_compared_at_the_largest_batch_every_model_ran():
    records = [throughput_record("a32", "a", 32, 100.0), throughput_record("a64", "a", 64, 150.0),
               throughput_record("a128", "a", 128, 400.0),  # b never ran 128: compared at 64
               throughput_record("b32", "b", 32, 90.0), throughput_record("b64", "b", 64, 120.0)]
    (comparison,) = q.model_comparisons(records)
    assert comparison.batch_size == 64 and comparison.fastest_decided
    assert comparison.headline.startswith("Models on synthetic, at batch 64: fastest is a (150 samples/s, 95 % interval "
                                          "147-153), 1.25x the throughput of b, the runner-up (decided")
    assert "Smallest: b (1.00 MB of weights)" in comparison.headline


def test_a_close_model_race_is_undecided():
    records = [throughput_record("a", "a", 32, 100.0, half=0.05), throughput_record("b", "b", 32, 98.0, half=0.05)]
    (comparison,) = q.model_comparisons(records)
    assert not comparison.fastest_decided and "undecided: its interval overlaps b's" in comparison.headline


@dataclass
class FakeRun:
    records: list[dict]
    info: dict = field(default_factory=lambda: {"scenario": {"resolved": {"runtime": {}}}})
    name: str = "run"


def test_steps_per_execution_is_answered_with_its_interval():
    records = [throughput_record(f"s{spe}-{rep}", "m", 32, sps, repeat=rep, steps_per_execution=spe)
               for spe, figures in ((1, (100.0, 102.0, 101.0)), (4, (130.0, 131.0, 133.0)))
               for rep, sps in enumerate(figures)]
    (effect,) = q.option_effects([FakeRun(records)])
    assert (effect.option, effect.base, effect.value) == ("steps_per_execution", 1, 4)
    assert effect.words.startswith("1.30x throughput, 30% higher (95 % interval ")


def test_mixed_precision_across_two_runs_is_compared():
    base = FakeRun([throughput_record("a", "m", 32, 100.0)])
    head = FakeRun([throughput_record("b", "m", 32, 101.0)],
                   {"scenario": {"resolved": {"runtime": {"mixed_precision": True}}}}, "head")
    (effect,) = q.option_effects([base, head])
    assert effect.option == "mixed_precision" and effect.words.startswith("no measurable difference")


def test_a_separation_is_not_claimed_when_one_side_ran_on_a_busy_machine():
    """Windows of one process cannot see a load that differed between the trials: the e2e run once
    read a pruned trial measured alone at 1.70x its busy dense peer."""
    import numpy as np

    rng = np.random.default_rng(3)
    dense = windows(rng, 1000.0)
    records = [pruning_record("d", 0.0, dense, 0.88), pruning_record("p", 0.5, windows(rng, 1700.0), 0.875, dense)]
    records[0]["telemetry"] = {"busy": True, "busy_reason": "other processes used 51 % of all CPU cores"}
    (answer,) = q.pruning_answers(records)
    speed = answer.chosen.speed
    assert speed.startswith("1.7") and "not claimed as a difference: the baseline ran on a busy machine (other " \
        "processes used 51 % of all CPU cores)" in speed and "higher" not in speed
    assert any(flag.startswith("busy machine: batch 128 (trial d)") for flag in answer.flags)


# -- a real pruning sweep with windows of steps (schema 6) ------------------------------------------

V6 = Path(__file__).parent / "golden_v6" / "pruning_run"


def test_every_pruned_record_of_the_shipped_sweep_carries_an_interval_and_the_report_words_it(tmp_path):
    """scenarios/pruning_sweep.yaml as run on this 2-core CPU: one steady epoch a trial, 29-33
    windows of 14-16 steps each. Then the same run with one record's interval made to hold 1."""
    import shutil

    records = [json.loads(line) for line in (V6 / "trials.jsonl").read_text().splitlines()]
    pruned = [r for r in records if r["params"]["sparsity"]]
    assert len(pruned) == 3 and all(r["pruning"]["throughput_vs_dense_ci"] for r in pruned)
    assert all(min(r["pruning"]["throughput_vs_dense_windows"]) >= 8 for r in pruned)
    html = render([V6], tmp_path / "v6.html").read_text()
    table = html.split('<table class="pruning-answer">')[1].split("</table>")[0]
    assert table.count("lower in these processes") == 3  # each interval lies below 1 here
    run = tmp_path / "overlapping"
    shutil.copytree(V6, run)
    records[1]["pruning"] |= {"throughput_vs_dense": 0.99, "throughput_vs_dense_ci": [0.95, 1.03]}
    (run / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    table = render([run], tmp_path / "o.html").read_text().split('<table class="pruning-answer">')[1]
    assert "no measurable difference in throughput (0.99x, 95 % interval 0.95-1.03)" in table.split("</table>")[0]


# -- edge cases an independent review found ----------------------------------------------------------


def test_a_ratio_whose_interval_reaches_zero_has_none_and_the_json_stays_strict(tmp_path):
    """Two repeats 17 % apart: t(1) = 12.7 puts the low end below 0; the ratio keeps no interval."""
    from helpers.synthetic_runs import write_run

    from benchharness.report import answers

    def record(tid, spe, sps, repeat=0):
        return throughput_record(tid, "m", 32, sps, repeat=repeat, steps_per_execution=spe) | {"schema_version": 6}

    records = [record("a0", 1, 7000.0), record("a1", 1, 8300.0, 1), record("b0", 4, 7900.0)]
    ratio, interval, why = q.ratio_between(records[:2], records[2:])
    assert interval is None and "reaches 0" in why
    run = write_run(tmp_path, "spe", [make_full(r) for r in records])
    json.dumps(answers([run.path]), allow_nan=False)  # no inf, no NaN


def make_full(record: dict):
    """A constructed record as a valid schema-6 record (the run directory validates on write)."""
    from helpers.records import make_record

    sps = record["throughput_sps"]
    return make_record(record["trial_id"], record["params"]["batch_size"], repeat=record["repeat"],
                       epoch_seconds=(2.0, 1000 / sps, 1000 / sps * 1.01, 1000 / sps * 0.99),
                       params={k: v for k, v in record["params"].items() if k != "batch_size"})


def test_several_runs_are_answered_run_by_run_with_their_names():
    runs = [FakeRun([pruning_record("d", 0.0, [1000.0, 1001.0], 0.88),
                     pruning_record("p", 0.5, [990.0, 995.0], 0.875, [1000.0, 1001.0])], name=name)
            for name in ("fp32", "fp16")]
    runs[1].records[1]["eval"]["accuracy"] = 0.80  # fp16 loses accuracy at 0.5; fp32 does not
    found = q.ask(runs, [])
    assert [a.label for a in found.pruning] == ["fp32: m on fashion_mnist, batch 128",
                                                "fp16: m on fashion_mnist, batch 128"]
    assert [a.chosen.sparsity if a.chosen else None for a in found.pruning] == [0.5, None]


def test_a_dense_peer_measured_with_epochs_auto_still_answers_the_pruning_question():
    """The plan gives pruned trials fixed epochs and leaves the dense one on auto."""
    dense = pruning_record("d", 0.0, [1000.0, 1001.0], 0.88)
    dense["params"]["epochs"] = "auto"
    pruned = pruning_record("p", 0.5, [990.0, 995.0], 0.875, [1000.0, 1001.0])
    pruned["params"]["epochs"] = 2
    (answer,) = q.pruning_answers([dense, pruned])
    assert answer.chosen.sparsity == 0.5


def test_pruning_without_accuracy_or_with_a_failed_sparsity_says_so():
    dense = pruning_record("d", 0.0, [1000.0, 1001.0], 0.88)
    pruned = pruning_record("p", 0.5, [990.0, 995.0], 0.875, [1000.0, 1001.0])
    failed = pruning_record("f", 0.8, [1.0, 1.0], 0.0, [1000.0, 1001.0]) | {"status": "oom"}
    (answer,) = q.pruning_answers([dense, pruned, failed])
    assert answer.headline.endswith("; sparsity 0.8 did not complete (oom).")
    for r in (dense, pruned):
        r["eval"] = None
    (answer,) = q.pruning_answers([dense, pruned])
    assert q._pruning_line(answer).endswith("test accuracy was not measured on both sides, so no sparsity can be said "
                                            "to keep it")


def test_keeping_accuracy_is_decided_only_when_the_loss_interval_lies_within_the_tolerance():
    dense = pruning_record("d", 0.0, [1000.0, 1001.0], 0.90)
    close = pruning_record("p", 0.5, [990.0, 995.0], 0.897, [1000.0, 1001.0])  # loses 0.3 +- 0.8 points
    far = pruning_record("x", 0.9, [990.0, 995.0], 0.70, [1000.0, 1001.0])  # loses 20 points
    (answer,) = q.pruning_answers([dense, close, far])
    assert answer.chosen.sparsity == 0.5 and not answer.decided
    assert "by the point estimates, not decided: the loss is 0.3 points, 95 % -0.5 to +1.1" in answer.headline
    for r in (dense, close, far):
        r["eval"]["samples"] = 200_000  # a test set large enough to settle it
    (answer,) = q.pruning_answers([dense, close, far])
    assert answer.decided and "decided over the test samples: the loss, 0.3 points, 95 % +0.1 to +0.5, lies within " \
        "1.0 point; one seed each, so run-to-run spread is not in it" in answer.headline


def test_a_runtime_option_missing_from_older_records_counts_as_its_default():
    old = throughput_record("o", "m", 32, 100.0)  # no steps_per_execution: written before it existed
    new = throughput_record("n", "m", 32, 140.0, steps_per_execution=4)
    (effect,) = q.option_effects([FakeRun([old, new])])
    assert (effect.base, effect.value) == (1, 4) and effect.decided


# -- the second review's cases ------------------------------------------------------------------------


def test_the_digest_gives_the_loss_and_its_interval_in_one_sign_and_the_box_follows_decided(tmp_path):
    html = render([V6], tmp_path / "v6.html").read_text()
    digest = html.split('<div class="digest">')[1].split("</div>")[0]
    assert "by the point estimates (loses 0.3 points, 95 % -0.6 to +1.3)" in digest
    assert '<div class="answer pruning undecided">' in html


def test_two_runs_of_one_name_are_told_apart_in_every_headline():
    found = q.ask(load_runs([GOLDEN / "pruning_run", V6]), [])
    assert [a.headline.split(":")[0] for a in found.pruning] == ["pruning_run (1)", "pruning_run (2)"]


def test_a_larger_sparsity_that_did_not_complete_leaves_the_answer_open():
    big = 200_000
    records = [pruning_record("d", 0.0, [1000.0, 1001.0], 0.90), pruning_record("p", 0.5, [990.0, 995.0], 0.897,
                                                                                [1000.0, 1001.0])]
    failed = pruning_record("f", 0.9, [1.0, 1.0], 0.0, [1000.0, 1001.0]) | {"status": "oom"}
    for r in records:
        r["eval"]["samples"] = big
    (answer,) = q.pruning_answers(records)
    assert answer.decided
    (answer,) = q.pruning_answers(records + [failed])
    assert not answer.decided and answer.headline.endswith("; sparsity 0.9 did not complete (oom).")


def test_pruned_epochs_are_groups_of_their_own_and_a_dense_trial_on_auto_is_noted():
    def record(tid, sparsity, epochs, accuracy=0.88):
        r = pruning_record(tid, sparsity, [1000.0, 1001.0], accuracy, [1000.0, 1001.0] if sparsity else None)
        r["params"]["epochs"] = epochs
        return r

    two = q.pruning_answers([record("d2", 0.0, 2), record("d4", 0.0, 4), record("p2", 0.5, 2), record("p4", 0.5, 4)])
    assert [len(a.dense.records) for a in two] == [1, 1]
    (auto,) = q.pruning_answers([record("d", 0.0, "auto"), record("p", 0.5, 3)])
    assert auto.note.startswith("the dense trial measured with epochs: auto") and not auto.decided


def test_runtime_options_compare_runs_only_on_the_same_host_and_settings():
    quiet = FakeRun([throughput_record("a", "m", 32, 100.0)],
                    {"scenario": {"resolved": {"runtime": {}}}, "environment": {"host": "a"}})
    other = FakeRun([throughput_record("b", "m", 32, 180.0)],
                    {"scenario": {"resolved": {"runtime": {"xla": True}}}, "environment": {"host": "b"}}, "other")
    assert q.option_effects([quiet, other]) == []
    found = q.ask([quiet, other], [])
    assert "xla varied, but no two ok trials alike in everything else differ in it alone" in \
        next(d.why for d in found.declined if d.key == "options")


def test_an_explicit_null_option_is_its_default():
    old = throughput_record("o", "m", 32, 100.0, steps_per_execution=None)
    new = throughput_record("n", "m", 32, 140.0, steps_per_execution=4)
    (effect,) = q.option_effects([FakeRun([old, new])])
    assert (effect.base, effect.value) == (1, 4)
