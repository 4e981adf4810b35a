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
(or with pytest-benchmark: pytest benchmarks/test_fixed_cost.py --benchmark-only)
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

from sidebyside import describe as _describe  # noqa: E402

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


def describe(values: list[float]) -> dict:
    return {k: round(v, 3) for k, v in _describe(values).items()}


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


class FixedCost:
    """Interleaved rounds, one bare process and one real trial each (bare first in even rounds),
    through one executor whose parent-side sampler runs beside every trial, as in a real run."""

    def __init__(self, directory: Path, samples: int):
        from benchharness.execute import Executor
        from benchharness.store import RunDir
        from benchharness.telemetry import make_sampler

        info = {"scenario": {"source": "fixed_cost", "sha256": "-", "resolved": {}}, "environment": {}}
        self.executor = Executor(RunDir.create(directory, "fixed-cost", info), {"memory_growth": True},
                                 sampler=make_sampler(100, warn=lambda line: None))
        self.samples = samples
        self.bare: list[float] = []
        self.records: list = []

    def round(self, round_: int) -> None:
        order = ("bare", "trial") if round_ % 2 == 0 else ("trial", "bare")
        for side in order:
            if side == "bare":
                self.bare.append(bare_import_s(sys.executable))
            else:
                self.records.append(run_trial(self.executor, self.samples, round_))
        print(f"round {round_ + 1}: bare {self.bare[-1]:.2f} s, trial outside epochs {outside_s(self.records[-1]):.2f} s",
              flush=True)


def measure(rounds: int, samples: int) -> tuple[list[float], list]:
    """(bare spawn-to-import times, trial records), ABBA-interleaved over ``rounds`` rounds."""
    with tempfile.TemporaryDirectory() as tmp:
        fixed = FixedCost(Path(tmp), samples)
        for round_ in range(rounds):
            fixed.round(round_)
    return fixed.bare, fixed.records


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


def summarize(bare: list[float], records: list) -> dict:
    """Medians, ranges and counts of both sides, the phase breakdown and the verdict (JSON-ready)."""
    outside = [outside_s(r) for r in records]
    reference, median_outside = statistics.median(bare), statistics.median(outside)
    first = records[0]
    return {
        "bare_import": describe(bare),
        "trial_outside_epochs": describe(outside),
        "difference_s": round(median_outside - reference, 3),
        "target": f"difference <= +{TARGET_MARGIN_S} s",
        "meets_target": median_outside <= reference + TARGET_MARGIN_S,
        "phases_s": {name: round(statistics.median(r.phases_s.get(name, 0.0) for r in records), 3)
                     for name in records[0].phases_s},
        "startup_s": round(statistics.median(r.startup_s for r in records), 3),
        "after_fit_s": round(statistics.median(r.after_fit_s for r in records), 3),
        "first_trial_outside_s": round(outside_s(first), 3),
        "first_trial_count_flops_s": round(first.phases_s.get("count_flops", 0.0), 3),
    }


def headline(summary: dict) -> str:
    bare, trial = summary["bare_import"], summary["trial_outside_epochs"]
    verdict = "meets" if summary["meets_target"] else "MISSES"
    return (f"trial outside its epochs {trial['median']:.2f} s (n={trial['n']}, {trial['min']:.2f}-{trial['max']:.2f}) "
            f"vs bare spawn-to-import {bare['median']:.2f} s (n={bare['n']}, {bare['min']:.2f}-{bare['max']:.2f}): "
            f"difference {summary['difference_s']:+.2f} s -> {verdict} the target (<= +{TARGET_MARGIN_S} s)")


def print_breakdown(bare: list[float], records: list) -> None:
    summary = summarize(bare, records)
    print(f"\nwhere a trial's time outside its timed epochs goes (median of {len(records)} trials, s):")
    for name, seconds in summary["phases_s"].items():
        print(f"  {name:<20} {seconds:6.2f}")
    outside = summary["trial_outside_epochs"]
    print(f"  {'total':<20} {outside['median']:6.2f}   (startup_s {summary['startup_s']:.2f}, "
          f"after_fit_s {summary['after_fit_s']:.2f})")
    reference = summary["bare_import"]
    print(f"\nbare spawn-to-import of tensorflow + tf_keras: median {reference['median']:.2f} s "
          f"(n={reference['n']}, {reference['min']:.2f}-{reference['max']:.2f})")
    print(f"trial outside its timed epochs:               median {outside['median']:.2f} s "
          f"(n={outside['n']}, {outside['min']:.2f}-{outside['max']:.2f})")
    verdict = "meets" if summary["meets_target"] else "MISSES"
    print(f"difference: {summary['difference_s']:+.2f} s -> {verdict} the target (<= +{TARGET_MARGIN_S} s)")
    print(f"the run's first trial alone (counts the FLOPs; later ones read cost/): outside its epochs "
          f"{summary['first_trial_outside_s']:.2f} s, of which count_flops {summary['first_trial_count_flops_s']:.2f} s")


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
