"""Benchmark: is the answer stable on a machine that is busy in bursts?

A bundled load generator keeps one core busy 5 s on, 5 s off (a child process spinning in
Python), while ``benchharness run SCENARIO`` runs twice back to back. Each run's answer comes from
``benchharness report RUN_DIR --format json``. The two answers must agree (both decided, the same
batch) or nest (a decided batch inside the other's undecided range, or one undecided range inside
the other); the script prints both, the verdict, and how many trials each run flagged as measured
on a busy machine.

Usage: python benchmarks/busy_answer.py [--scenario scenarios/batch_sweep.yaml] [--on-s 5 --off-s 5]
(or with pytest-benchmark: pytest benchmarks/test_busy_answer.py --benchmark-only)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def burst_load(on_s: float, off_s: float) -> None:
    """Spin one core for ``on_s`` seconds, rest ``off_s``, forever (the parent terminates it)."""
    while True:
        until = time.monotonic() + on_s
        while time.monotonic() < until:
            pass
        time.sleep(off_s)


def run_once(scenario: Path, out: Path) -> Path:
    """One ``benchharness run``; returns its run directory (the line it prints last but one)."""
    result = subprocess.run([sys.executable, "-m", "benchharness", "run", str(scenario), "--out", str(out),
                             "--no-report"], capture_output=True, text=True, cwd=REPO)
    if result.returncode not in (0, 1):
        raise SystemExit(f"benchharness run failed ({result.returncode}): {result.stderr[-2000:]}")
    line = next(l for l in result.stdout.splitlines() if l.startswith("run directory: "))
    return Path(line.removeprefix("run directory: "))


def answers(run_dir: Path) -> list[dict]:
    """Each curve's batch answer (``report --format json``'s ``batch_size``)."""
    out = subprocess.run([sys.executable, "-m", "benchharness", "report", str(run_dir), "--format", "json"],
                         capture_output=True, text=True, check=True, cwd=REPO).stdout
    return json.loads(out)["batch_size"]


def busy_trials(run_dir: Path) -> int:
    lines = (run_dir / "trials.jsonl").read_text().splitlines()
    return sum(bool((json.loads(line).get("telemetry") or {}).get("busy")) for line in lines)


def span(answer: dict) -> set[int]:
    """The batch sizes an answer allows: the decided one, or the undecided range."""
    return {answer["recommended_batch"]} if answer["decided"] else set(answer["indistinguishable"])


def consistent(a: dict, b: dict) -> bool:
    """Agree (same decided batch) or nest (one answer's batches contain the other's)."""
    return span(a) <= span(b) or span(b) <= span(a)


def describe(answer: dict) -> str:
    if answer["decided"]:
        return f"decided: batch {answer['recommended_batch']}"
    return f"undecided: batches {answer['indistinguishable']} (medians alone: {answer['recommended_batch']})"


def measure(scenario: Path, on_s: float, off_s: float) -> list[tuple[list[dict], int]]:
    """Two back-to-back runs under the burst load: each run's answers and its busy-flagged trial count."""
    load = multiprocessing.Process(target=burst_load, args=(on_s, off_s), daemon=True)
    load.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runs = [run_once(scenario, Path(tmp)) for _ in range(2)]
            return [(answers(run), busy_trials(run)) for run in runs]
    finally:
        load.terminate()


def summarize(results: list[tuple[list[dict], int]]) -> dict:
    """Each run's answer per curve in words, its busy trials, and the verdict (JSON-ready)."""
    ok = all(consistent(a, b) for a, b in zip(results[0][0], results[1][0]))
    return {"runs": [{"answers": {answer["curve"]: describe(answer) for answer in curves}, "busy_trials": busy}
                     for curves, busy in results],
            "verdict": "consistent" if ok else "CONTRADICTORY", "meets_target": ok}


def report_lines(results: list[tuple[list[dict], int]]) -> list[str]:
    lines = []
    for i, (curves, busy) in enumerate(results, start=1):
        for answer in curves:
            lines.append(f"run {i}: {answer['curve']}: {describe(answer)} ({busy} trial(s) flagged busy)")
    verdict = summarize(results)["verdict"]
    lines.append(f"verdict: {verdict} (agree, or one answer's batches contain the other's)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", type=Path, default=REPO / "scenarios" / "batch_sweep.yaml")
    parser.add_argument("--on-s", type=float, default=5.0)
    parser.add_argument("--off-s", type=float, default=5.0)
    args = parser.parse_args()
    results = measure(args.scenario, args.on_s, args.off_s)
    print(f"load: one core busy {args.on_s:g} s on, {args.off_s:g} s off; scenario {args.scenario.name}")
    print("\n".join(report_lines(results)))


if __name__ == "__main__":
    main()
