"""`benchharness models`: TensorFlow's C++ log lines go to a file, not the user's terminal."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import os, sys
from pathlib import Path
from benchharness.models.table import native_stderr_to
log = Path(sys.argv[1])
with native_stderr_to(log):
    os.write(2, b"I0000 devices.cc:67] native noise\\n")
    print("ours, on the terminal", file=sys.stderr)
print("after: back on fd 2", file=sys.stderr)
os.write(2, b"native after\\n")
"""


def test_native_stderr_goes_to_the_log_and_ours_stays(tmp_path):
    log = tmp_path / "tf.log"
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(log)], capture_output=True, text=True, check=True)
    assert result.stderr.splitlines() == ["ours, on the terminal", "after: back on fd 2", "native after"]
    assert log.read_text() == "I0000 devices.cc:67] native noise\n"


def test_models_failure_is_one_line_and_the_traceback_goes_to_the_log(tmp_path, monkeypatch, capsys):
    from benchharness import cli

    def broken_rows():
        raise ImportError("No module named 'tensorflow'")
        yield  # a generator, like the real one

    from benchharness.models import table

    monkeypatch.setattr(table, "MODELS_LOG", tmp_path / "models.log")
    monkeypatch.setattr(table, "model_rows", broken_rows)
    assert cli.main(["models"]) == cli.EXIT_TRIAL_FAILED
    assert f"benchharness models: ImportError: No module named 'tensorflow' (details: {tmp_path / 'models.log'})" \
        in capsys.readouterr().err
    assert "Traceback" in (tmp_path / "models.log").read_text()
