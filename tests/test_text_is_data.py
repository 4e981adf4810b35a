"""Text is data, never markup (step 10): a TensorFlow error holding ``[/batch, 28, 28]`` or a path
holding ``[red]`` or ``[/x]`` is printed as written by rich, and a ``$`` in a model name is drawn as
written by matplotlib (mathtext off): nothing crashes, aborts a sweep or vanishes."""

from __future__ import annotations

import io
import shutil

import pytest
from helpers.cli import HELPERS, cli, only_run_dir, records
from rich.console import Console

from benchharness.cli import main
from benchharness.plan import Trial

ERROR_TEXT = "expected shape=[/batch, 28, 28], found [red]shape=(None, 784)[/red] [/x] [bold]"
BRACKETS = ("lab [red] [", "x] run")  # folders whose path reads ".../lab [red] [/x] run/": broken rich markup


@pytest.fixture
def bracket_scenario(tmp_path):
    """A scenario in a directory whose name holds markup, whose model file's path holds it too,
    sweeping two batch sizes of a model that fails with a markup-like error."""
    folder = tmp_path.joinpath(*BRACKETS)
    folder.mkdir(parents=True)
    assert "[red] [/x] run" in str(folder)
    model_file = folder / "models [bold].py"
    shutil.copy(HELPERS, model_file)
    scenario = folder / "sweep [red].yaml"
    scenario.write_text(f'name: brackets\ndefaults:\n  model: "{model_file}:bracket_error_model"\n  timeout_s: 300\n'
                        "sweep:\n  batch_size: [16, 32]\n")
    return scenario, model_file


def test_dry_run_prints_bracketed_paths_and_params_as_written(bracket_scenario, tmp_path, capsys):
    scenario, model_file = bracket_scenario
    swept = scenario.with_name("two models [blue].yaml")
    swept.write_text(f'name: brackets\nsweep:\n  model: ["{model_file}:bracket_error_model", "{model_file}:tiny_mlp"]\n')
    assert main(["run", str(swept), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert f"{swept}: 2 trial(s)" in printed  # the table's title
    cells = "".join(line.strip("│ ") for line in printed.splitlines())  # a long path wraps in its cell
    assert f"{model_file}:bracket_error_model".replace(" ", "") in cells.replace(" ", "")


@pytest.mark.slow
def test_a_sweep_with_markup_in_an_error_and_a_path_completes_and_prints_them(bracket_scenario, tmp_path):
    scenario, model_file = bracket_scenario
    result = cli("run", scenario, "--out", tmp_path / "out", "--no-report")
    assert result.returncode == 1, result.stderr[-3000:]  # the trials failed; the harness did not
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    stored = records(only_run_dir(tmp_path / "out"))
    assert [r["status"] for r in stored] == ["failed", "failed"]  # both trials ran: no abort after the first
    assert all(ERROR_TEXT in r["error"] for r in stored)
    assert result.stderr.count(ERROR_TEXT) == 2  # each trial's progress line, as written
    flat = " ".join(result.stdout.split())  # the summary table folds the error over lines
    assert "[/batch, 28, 28]" in flat and "[red]shape=(None," in flat and "[/x] [bold]" in flat
    assert f"Undecided: {model_file}:bracket_error_model on synthetic" in result.stdout


def test_summary_and_answers_print_markup_like_text_as_written(capsys):
    from benchharness.console import print_answers, print_summary

    model = "m [red] $x$ [/x]"
    record = {"trial_id": "t1", "repeat": 0, "status": "failed", "error": ERROR_TEXT, "first_epoch_s": None,
              "epoch_time_s": None, "throughput_sps": None, "params": {"model": model, "dataset": "synthetic",
                                                                       "batch_size": 32}}
    trials = [Trial("t1", 0, record["params"]), Trial("t2", 0, record["params"] | {"model": "[/y]"})]
    print_summary([record], trials)
    print_answers([record])
    flat = " ".join(capsys.readouterr().out.split())
    assert model in flat and "[/batch, 28, 28]" in flat and "[red]shape=(None, 784)[/red]" in flat


def test_progress_prints_markup_like_text_as_written():
    from types import SimpleNamespace

    from benchharness.progress import SweepProgress

    stream = io.StringIO()
    console = Console(file=stream, width=400, color_system=None)
    trial = Trial("t1", 0, {"model": "a [/x] b", "batch_size": 32, "epochs": 3})
    with SweepProgress(console, [trial, Trial("t2", 0, trial.params | {"batch_size": 64})], [trial]) as progress:
        progress.on_event(trial, {"event": "started"})
        progress.on_record(trial, SimpleNamespace(status="failed", throughput_sps=None, epoch_time_s=None,
                                                  error=ERROR_TEXT))
    assert f"failed batch_size=32 — {ERROR_TEXT}" in stream.getvalue()
