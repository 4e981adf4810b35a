"""Running the CLI in real processes, for the end-to-end and fault tests: its workers are tagged
so a test can tell them from any other benchharness worker on a shared machine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
HELPERS = REPO / "tests" / "helpers" / "models.py"


def model(name: str) -> str:
    return f"{HELPERS}:{name}"


def cli(*args, cwd=REPO, **kwargs):
    return subprocess.run([sys.executable, "-m", "benchharness", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600, **kwargs)


TAG = "BENCHHARNESS_E2E_TAG"


def default_signals() -> None:
    """``preexec_fn`` for a harness a test will signal: SIGINT and SIGHUP back to their defaults,
    since a test run started in the background (``cmd &``, ``nohup``) passes them on ignored, and the
    harness rightly keeps an ignored signal ignored."""
    for number in (signal.SIGINT, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)


def tagged_env(tag: str) -> dict:
    """The environment for a CLI run whose workers :func:`workers_left` can tell apart from any other
    benchharness worker on a shared machine (they inherit the tag)."""
    return os.environ | {TAG: tag}


def workers_left(tag: str) -> list:
    """Worker processes still alive from the runs tagged ``tag``."""
    left = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "benchharness.worker" in " ".join(proc.info["cmdline"] or []) and proc.environ().get(TAG) == tag:
                left.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return left


def only_run_dir(parent: Path) -> Path:
    (run_dir,) = list(parent.iterdir())
    return run_dir


def records(run_dir: Path) -> list[dict]:
    path = run_dir / "trials.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
