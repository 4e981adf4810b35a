"""Benchmark: a trial's fixed cost, measured side by side with a bare process.

A fresh process per trial costs time outside the timed epochs: process start, imports, model build,
FLOP count, data, and after the last epoch the summaries, evaluation and exit. This script runs, in
interleaved rounds (bare, trial, trial, bare, ...: drift hits both sides alike):

- a bare process that only imports tensorflow and tf_keras (``TF_USE_LEGACY_KERAS=1``): its
  spawn-to-import time, on the parent's ``time.monotonic()`` clock;
- a real trial through the harness's executor: ``tutorial_cnn`` on synthetic data, its record's
  ``wall_s`` minus its timed epochs, and the record's ``phases_s`` breakdown.

Target: outside-the-epochs <= bare spawn-to-import + 1.5 s (medians). It also prints what each
optional import (tfmot, tensorboard, pandas) costs a worker and which of them a dense trial's code loads.

Usage: python benchmarks/fixed_cost.py [--rounds 4] [--samples 2048] [--skip-imports]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_MARGIN_S = 1.5
BARE = ("import os, time; os.environ['TF_USE_LEGACY_KERAS'] = '1'; import tensorflow, tf_keras; "
        "print(time.monotonic())")
OPTIONAL = ("tensorflow_model_optimization", "tensorboard", "pandas")
# A dense trial's own code run in-process: which optional packages had it loaded?
LOADED = """
import json, sys
from benchharness.worker.events import EventLog
from benchharness.worker.trial import run_trial
spec = json.loads(sys.argv[1])
run_trial(spec, EventLog(spec["events_path"]))
print(json.dumps([name for name in {optional!r} if name in sys.modules]))
"""
# What one optional package costs to import in a worker that has imported TensorFlow already.
IMPORT_COST = """
import sys, time
from benchharness.worker.device import import_keras, import_tensorflow
import_tensorflow(), import_keras()
started = time.monotonic()
__import__(sys.argv[1])
print(time.monotonic() - started)
"""


def bare_import_s(python: str) -> float:
    """Spawn to ``import tensorflow, tf_keras`` done, seconds."""
    spawned = time.monotonic()
    out = subprocess.run([python, "-c", BARE], capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1]) - spawned


def trial_params(samples: int, seed: int) -> dict:
    from benchharness.scenario import Params

    return Params(samples_per_epoch=samples, epochs=3, batch_size=128, seed=seed, timeout_s=300).model_dump()


def run_trial(executor, samples: int, seed: int):
    from benchharness.plan import Trial, trial_id

    params = {k: v for k, v in trial_params(samples, seed).items() if k != "repeats"}
    return executor.run_trial(Trial(trial_id(params, 0), 0, params))


def measure(rounds: int, samples: int) -> tuple[list[float], list]:
    """(bare spawn-to-import times, trial records), ABBA-interleaved over ``rounds`` rounds."""
    from benchharness.execute import Executor
    from benchharness.store import RunDir
    from benchharness.telemetry import make_sampler

    bare, records = [], []
    with tempfile.TemporaryDirectory() as tmp:
        info = {"scenario": {"source": "fixed_cost", "sha256": "-", "resolved": {}}, "environment": {}}
        # As in a real run: the parent's sampler thread runs beside every trial.
        executor = Executor(RunDir.create(Path(tmp), "fixed-cost", info), {"memory_growth": True},
                            sampler=make_sampler(100, warn=lambda line: None))
        for round_ in range(rounds):
            order = ("bare", "trial") if round_ % 2 == 0 else ("trial", "bare")
            for side in order:
                if side == "bare":
                    bare.append(bare_import_s(sys.executable))
                else:
                    records.append(run_trial(executor, samples, round_))
            print(f"round {round_ + 1}: bare {bare[-1]:.2f} s, trial outside epochs {outside_s(records[-1]):.2f} s",
                  flush=True)
    return bare, records


def outside_s(record) -> float:
    return record.wall_s - sum(e.seconds for e in record.epochs)


def python_output(code: str, *args: str) -> str:
    """The last line a fresh interpreter running ``code`` prints."""
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True,
                          env=env).stdout.strip().splitlines()[-1]


def optional_imports(samples: int) -> tuple[dict, list[str]]:
    """(import cost of each optional package after TensorFlow, s; those a dense trial's code loads)."""
    costs = {name: float(python_output(IMPORT_COST, name)) for name in OPTIONAL}
    with tempfile.TemporaryDirectory() as tmp:
        params = {k: v for k, v in trial_params(samples, 0).items() if k != "repeats"} | {"epochs": 2}
        spec = {"params": params, "runtime": {}, "events_path": str(Path(tmp) / "events.jsonl"),
                "tensorboard_dir": str(Path(tmp) / "tb")}
        loaded = json.loads(python_output(LOADED.format(optional=OPTIONAL), json.dumps(spec)))
    return costs, loaded


def print_breakdown(bare: list[float], records: list) -> None:
    phases = {name: statistics.median(r.phases_s.get(name, 0.0) for r in records) for name in records[0].phases_s}
    print(f"\nwhere a trial's time outside its timed epochs goes (median of {len(records)} trials, s):")
    for name, seconds in phases.items():
        print(f"  {name:<20} {seconds:6.2f}")
    outside = statistics.median(outside_s(r) for r in records)
    reference = statistics.median(bare)
    print(f"  {'total':<20} {outside:6.2f}   (startup_s {statistics.median(r.startup_s for r in records):.2f}, "
          f"after_fit_s {statistics.median(r.after_fit_s for r in records):.2f})")
    print(f"\nbare spawn-to-import of tensorflow + tf_keras: median {reference:.2f} s "
          f"(n={len(bare)}, {min(bare):.2f}-{max(bare):.2f})")
    print(f"trial outside its timed epochs:               median {outside:.2f} s "
          f"(n={len(records)}, {min(map(outside_s, records)):.2f}-{max(map(outside_s, records)):.2f})")
    verdict = "meets" if outside <= reference + TARGET_MARGIN_S else "MISSES"
    print(f"difference: {outside - reference:+.2f} s -> {verdict} the target (<= +{TARGET_MARGIN_S} s)")
    first = records[0]
    print(f"the run's first trial alone (counts the FLOPs; later ones read cost/): outside its epochs "
          f"{outside_s(first):.2f} s, of which count_flops {first.phases_s.get('count_flops', 0.0):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (one bare + one trial each)")
    parser.add_argument("--samples", type=int, default=2048, help="samples per epoch of the trial")
    parser.add_argument("--skip-imports", action="store_true", help="skip the optional-import check")
    args = parser.parse_args()
    bare, records = measure(args.rounds, args.samples)
    print_breakdown(bare, records)
    if not args.skip_imports:
        costs, loaded = optional_imports(args.samples)
        print("\nimport cost after tensorflow + tf_keras, one fresh process each (s): " +
              ", ".join(f"{name} {seconds:.2f}" for name, seconds in costs.items()))
        print(f"loaded by a dense trial's worker code (summaries on): {', '.join(loaded) or 'none of them'}")


if __name__ == "__main__":
    main()
