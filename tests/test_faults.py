"""The harness under faults, in real processes (step 10): nothing lost, nothing doubled, nothing left
running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers.cli import REPO, default_signals, model, tagged_env, workers_left

pytestmark = pytest.mark.slow


# A worker past this resident size has imported TensorFlow (about 500 MiB here): mid-trial, hanging in
# its model build, not still starting up.
TENSORFLOW_IMPORTED_RSS = 300 * 2**20


def start_hanging_run(tmp_path, tag: str) -> subprocess.Popen:
    """A run whose one trial hangs (timeout 120 s), started and waited for until its worker is mid-trial."""
    scenario = tmp_path / "hang.yaml"
    scenario.write_text(f'name: hang\ndefaults:\n  model: "{model("hanging_model")}"\n  timeout_s: 120\n')
    proc = subprocess.Popen([sys.executable, "-m", "benchharness", "run", str(scenario), "--out", str(tmp_path / "out"),
                             "--no-report"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=tagged_env(tag), preexec_fn=default_signals)
    deadline = time.monotonic() + 120
    while not any(w.memory_info().rss > TENSORFLOW_IMPORTED_RSS for w in workers_left(tag)):
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() else "no worker"
        time.sleep(0.2)
    return proc


def wait_for_no_workers(tag: str, seconds: float) -> list:
    deadline = time.monotonic() + seconds
    while workers_left(tag) and time.monotonic() < deadline:
        time.sleep(0.1)
    return workers_left(tag)


def test_a_sigkilled_harness_leaves_no_worker(tmp_path):
    tag = f"{tmp_path}-kill"
    proc = start_hanging_run(tmp_path, tag)
    proc.kill()  # SIGKILL: the harness runs no cleanup at all
    proc.communicate(timeout=30)
    assert wait_for_no_workers(tag, 2.0) == []


def test_a_hangup_stops_the_run_like_ctrl_c(tmp_path):
    tag = f"{tmp_path}-hup"
    proc = start_hanging_run(tmp_path, tag)
    proc.send_signal(signal.SIGHUP)  # a closed terminal
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Resume with: benchharness run" in stderr
    assert wait_for_no_workers(tag, 2.0) == []


def tiny_scenario(tmp_path, batches=(16, 32, 64), name="tiny"):
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(f'name: {name}\ndefaults:\n  model: "{model("tiny_mlp")}"\n  epochs: 2\n'
                        f"  samples_per_epoch: 256\nsweep:\n  batch_size: {list(batches)}\n")
    return scenario


@pytest.fixture
def in_process():
    """``benchharness.cli.main`` in this process (its signal handlers restored afterwards)."""
    from benchharness.cli import main

    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    yield main
    for s, handler in saved.items():
        signal.signal(s, handler)


def run_dir_of(out):
    (run_dir,) = list(out.iterdir())
    return run_dir


def test_two_resumes_at_once_one_is_refused_and_every_trial_is_recorded_once(tmp_path):
    from helpers.cli import records

    scenario, out, tag = tiny_scenario(tmp_path), tmp_path / "out", f"{tmp_path}-two"
    first = harness(["run", str(scenario), "--out", str(out)], tag)
    deadline = time.monotonic() + 120
    while not (out.exists() and any(out.iterdir()) and records(run_dir_of(out))):
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.1)
    first.kill()  # a preempted job: one trial recorded, the rest to resume
    first.wait()
    run_dir = run_dir_of(out)
    resumes = [harness(["run", str(scenario), "--resume", str(run_dir)], tag) for _ in range(2)]
    codes = sorted(proc.wait(timeout=300) for proc in resumes)
    refused = next(proc for proc in resumes if proc.returncode == 2)
    assert codes == [0, 2], [proc.stderr.read() for proc in resumes]
    assert refused.stderr.read().strip().startswith(f"{run_dir}: run.lock: this run directory is being written by "
                                                    "benchharness pid ")
    ids = [r["trial_id"] for r in records(run_dir)]
    assert len(ids) == 3 and len(set(ids)) == 3


def harness(args: list[str], tag: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "benchharness", *args, "--no-report"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=tagged_env(tag),
                            preexec_fn=default_signals)


def test_a_full_disk_loses_no_trial_and_resume_completes(tmp_path, in_process, monkeypatch, capsys):
    import errno

    from benchharness.store import RunDir
    from benchharness.telemetry import summary
    from helpers.cli import records

    scenario, out = tiny_scenario(tmp_path), tmp_path / "out"
    real_append, real_csv, calls = RunDir.append_record, summary.write_csv, {"append": 0, "csv": 0}

    def append(self, record):
        calls["append"] += 1
        if calls["append"] == 2:  # the second trial's record
            raise OSError(errno.ENOSPC, "No space left on device", str(self.trials_path))
        return real_append(self, record)

    def write_csv(samples, path):
        calls["csv"] += 1
        if calls["csv"] == 1:  # the first trial's samples
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_csv(samples, path)

    monkeypatch.setattr(RunDir, "append_record", append)
    monkeypatch.setattr(summary, "write_csv", write_csv)
    assert in_process(["run", str(scenario), "--out", str(out), "--no-report"]) == 2
    stderr = capsys.readouterr().err
    run_dir = run_dir_of(out)
    assert "samples could not be written (No space left on device); the trial's record is kept" in stderr
    assert f"{run_dir / 'trials.jsonl'}: No space left on device" in stderr
    assert "No space left on device; free some space" in stderr
    assert "Stopped: fix that, then resume: 1 of 3 trial(s) recorded" in stderr
    assert f"Resume with: benchharness run {scenario} --resume {run_dir}" in stderr
    assert len(records(run_dir)) == 1
    info = json.loads((run_dir / "run.json").read_text())
    assert info["complete"] is False and info["finished_utc"] is None and info["recorded"] == 1

    monkeypatch.setattr(RunDir, "append_record", real_append)
    monkeypatch.setattr(summary, "write_csv", real_csv)
    assert in_process(["run", str(scenario), "--resume", str(run_dir), "--no-report"]) == 0
    ids = [r["trial_id"] for r in records(run_dir)]
    assert len(ids) == 3 and len(set(ids)) == 3
    info = json.loads((run_dir / "run.json").read_text())
    assert info["complete"] is True and info["finished_utc"] and info["recorded"] == 3


def test_an_internal_error_is_one_line_exit_3_and_a_crash_log(tmp_path, in_process, monkeypatch, capsys):
    from benchharness import execute

    def broken(*args, **kwargs):
        raise RuntimeError("a bug [/batch, 28, 28]")

    monkeypatch.setattr(execute, "run_sweep", broken)
    assert in_process(["run", str(tiny_scenario(tmp_path)), "--out", str(tmp_path / "out"), "--no-report"]) == 3
    (line,) = capsys.readouterr().err.strip().splitlines()[-1:]
    assert line.startswith("benchharness: internal error: RuntimeError: a bug [/batch, 28, 28] (traceback: ")
    log = run_dir_of(tmp_path / "out") / line.split("(traceback: ")[1].split(")")[0].rsplit("/", 1)[1]
    assert "Traceback" in log.read_text() and "a bug" in log.read_text()


def test_the_soak_benchmark_runs_small(tmp_path):
    """benchmarks/soak.py at a tiny size: the README's soak figure stays reproducible."""
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "soak.py"), "--trials", "5", "--kills", "2",
                             "--max-delay-s", "5"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: every trial recorded exactly once, no worker left" in result.stdout


def test_sigterm_while_the_report_renders_exits_130_and_leaves_no_half_report(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    from report_scale import build_run

    run_dir, output = build_run(tmp_path, 200, 3), tmp_path / "r.html"
    proc = subprocess.Popen([sys.executable, "-m", "benchharness", "report", str(run_dir), "-o", str(output)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_signals)
    assert proc.stderr.readline().startswith("rendering the html report of 600 trial(s) in 1 run directory")
    time.sleep(0.5)  # inside render: loading the records, drawing the charts
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Interrupted." in stderr and "Traceback" not in stderr
    assert not output.exists() and not list(tmp_path.glob(".r.html.*"))  # no half-written report


def test_a_closed_pipe_is_not_an_internal_error(tmp_path):
    """`true` reads nothing and exits: the harness's first write meets a closed pipe."""
    result = subprocess.run(f"{sys.executable} -m benchharness schema trial-record | true", shell=True,
                            cwd=REPO, capture_output=True, text=True, timeout=60, env=os.environ | {"TMPDIR": str(tmp_path)})
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.glob("benchharness-crash-*.log"))


def test_resume_flags_without_resume_are_one_line_exit_2(tmp_path, in_process, capsys):
    scenario = tiny_scenario(tmp_path)
    assert in_process(["run", str(scenario), "--retry-failed", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == "benchharness: --retry-failed applies to --resume RUN_DIR only (see --help)"
    assert not (tmp_path / "out").exists()


def test_an_interrupt_inside_an_import_is_still_an_interrupt(tmp_path, in_process, monkeypatch, capsys):
    """A signal that lands while a module is imported can surface as another error (matplotlib's
    class set-up wrapped it in a RuntimeError during a report): still exit 130, not 'internal error'."""
    from benchharness import report

    def render(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise RuntimeError("Error calling __set_name__ on '_axis_method_wrapper'") from exc

    monkeypatch.setattr(report, "render", render)
    golden = REPO / "tests" / "golden" / "cpu_run"
    assert in_process(["report", str(golden), "-o", str(tmp_path / "r.html")]) == 130
    assert "internal error" not in capsys.readouterr().err
