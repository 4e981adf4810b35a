"""The harness under faults, in real processes (step 10): nothing lost, nothing doubled, nothing left
running."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from helpers.cli import REPO, model, tagged_env, workers_left

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
                            env=tagged_env(tag))
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
