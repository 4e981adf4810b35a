"""Per-trial scheduling cost of the Ray executor against the local one, on the same tiny trials.

A trial's cost outside its own worker is the gap between one record and the next minus the next
worker's ``wall_s`` (spawn to exit): for the local executor, storing the record and spawning the next
worker; for Ray, also the task's round trip (submit, schedule, the sampler made in the task, the
result shipped back and stored). On a host without GPUs each Ray trial reserves every CPU, so the
trials run one at a time on both executors and their gaps compare like for like. Ray's start-up
(``ray.init`` of a local instance) is paid once per run and reported apart.

Rounds alternate the order (local then Ray, Ray then local) because this machine's speed drifts;
the figure is the median over every gap, with the spread, and the difference of the medians with a
bootstrap 95 % interval.

Usage: python benchmarks/ray_overhead.py [--trials 6] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGET_S = 2.0


def scenario_text(trials: int) -> str:
    batches = [8, 16, 32, 64, 128, 256][:trials]
    repeats = -(-trials // len(batches))
    return (f'name: ray-overhead\ndefaults:\n  model: "{REPO / "tests" / "helpers" / "models.py"}:tiny_mlp"\n'
            f"  epochs: 2\n  samples_per_epoch: 256\n  repeats: {repeats}\nruntime:\n  sample_interval_ms: 100\n"
            f"sweep:\n  batch_size: {batches}\n")


def new_run(folder: Path, loaded):
    from benchharness.environment import capture_host
    from benchharness.store import RunDir

    info = {"scenario": {"source": str(loaded.path), "sha256": loaded.sha256, "resolved": loaded.resolved()},
            "environment": capture_host()}
    return RunDir.create(folder, "overhead", info)


def gaps(stamps: list[float], records: list) -> list[float]:
    """Time between consecutive records minus the later trial's worker wall time, s."""
    return [later - earlier - record.wall_s for earlier, later, record in zip(stamps, stamps[1:], records[1:])]


def local_round(folder: Path, loaded, trials) -> list[float]:
    from benchharness.execute import Executor
    from benchharness.telemetry import make_sampler

    runtime = loaded.scenario.runtime.model_dump()
    executor = Executor(new_run(folder, loaded), runtime, sampler=make_sampler(runtime["sample_interval_ms"], print))
    stamps, records = [], []
    for trial in trials:
        records.append(executor.run_trial(trial))
        stamps.append(time.monotonic())
    return gaps(stamps, records)


def ray_round(folder: Path, loaded, trials) -> tuple[list[float], float]:
    from benchharness.execute import Executor
    from benchharness.ray_executor import RayExecutor, RayOptions, connect, import_ray

    ray = import_ray()
    runtime = loaded.scenario.runtime.model_dump()
    started = time.monotonic()
    connect(ray, RayOptions(), print)
    startup_s = time.monotonic() - started
    stamps, records = [], []

    def on_record(trial, record):
        stamps.append(time.monotonic())
        records.append(record)

    try:
        executor = Executor(new_run(folder, loaded), runtime)
        RayExecutor(executor, ray, RayOptions(), runtime["sample_interval_ms"], on_record, print).run_all(trials)
    finally:
        ray.shutdown()
    return gaps(stamps, records), startup_s


def bootstrap_difference(a: list[float], b: list[float], draws: int = 4000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    diffs = [np.median(rng.choice(b, len(b))) - np.median(rng.choice(a, len(a))) for _ in range(draws)]
    return float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from benchharness.plan import load_plan

    with tempfile.TemporaryDirectory(prefix="ray-overhead-") as tmp:
        scenario = Path(tmp) / "s.yaml"
        scenario.write_text(scenario_text(args.trials))
        loaded, plan = load_plan(scenario)
        trials = plan.trials[: args.trials]
        local, on_ray, startups = [], [], []
        for round_ in range(args.rounds):
            for kind in (("local", "ray") if round_ % 2 == 0 else ("ray", "local")):
                folder = Path(tmp) / f"{kind}-{round_}"
                if kind == "local":
                    local += local_round(folder, loaded, trials)
                else:
                    round_gaps, startup = ray_round(folder, loaded, trials)
                    on_ray += round_gaps
                    startups.append(startup)
                print(f"round {round_ + 1}/{args.rounds} {kind}: done", flush=True)
    low, high = bootstrap_difference(local, on_ray)
    extra = statistics.median(on_ray) - statistics.median(local)
    print(f"per-trial cost outside the worker, s (n = gaps between consecutive records, {args.rounds} rounds "
          f"of {len(trials)} trials, order alternated):")
    for name, values in (("local", local), ("ray", on_ray)):
        print(f"  {name:5}: median {statistics.median(values):.3f}  min {min(values):.3f}  max {max(values):.3f}  "
              f"n {len(values)}")
    print(f"  ray - local: {extra:+.3f} s per trial (bootstrap 95% interval {low:+.3f} to {high:+.3f}); "
          f"target <= {TARGET_S:.1f} s: {'met' if high <= TARGET_S else 'NOT met'}")
    print(f"  Ray start-up (local instance, once per run): median {statistics.median(startups):.1f} s "
          f"(min {min(startups):.1f}, max {max(startups):.1f}, n {len(startups)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
