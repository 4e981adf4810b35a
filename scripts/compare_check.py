"""The real-run check of `benchharness compare` (docs/compare-check.md): three runs of
scenarios/compare_small.yaml on this machine, their trials interleaved, then compared.

- ``a1`` and ``a2``: the scenario as shipped (an A/A pair: the comparison must exit 0);
- ``b``: the same scenario with a heavier custom model (scripts/compare_models.py:build_heavy_cnn):
  compared with ``a1`` it must exit 1 and name the points.

Interleaved: ``benchharness run`` runs one scenario's trials, in rounds (``order: interleaved``),
and ``--resume`` runs every trial left, so three ``run`` commands one after the other would line
the runs up with the machine's drift (a run later in the afternoon, another job starting). This
script opens the three run directories as ``run`` does (``execute.open_run``) and runs their trials
in turn, a1's first trial, a2's, b's, then each one's second, and so on (``execute.run_sweep`` with
one trial at a time): each run directory is a complete, ordinary run when it ends.

    python scripts/compare_check.py --out /tmp/compare-check     # 18 trials: 9 minutes on 2 shared cores

Prints each comparison's command, its exit code and its text; writes each one's Markdown beside
the run directories.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "scenarios" / "compare_small.yaml"
HEAVY = f"{REPO / 'scripts' / 'compare_models.py'}:build_heavy_cnn"


def head_scenario(out: Path) -> Path:
    """The shipped scenario with the heavier model, written beside the runs."""
    text = SCENARIO.read_text().replace("name: compare_small", "name: compare_small_heavy")
    text = text.replace("  model: tutorial_cnn", f'  model: "{HEAVY}"')
    path = out / "compare_small_heavy.yaml"
    path.write_text(text)
    return path


def open_runs(out: Path, scenarios: dict[str, Path]):
    from benchharness.execute import open_run
    from benchharness.plan import load_plan

    runs = {}
    for name, path in scenarios.items():
        loaded, plan = load_plan(path)
        run, todo = open_run(loaded, plan.trials, out / name, None, warn)
        runs[name] = (run, loaded.scenario.runtime.model_dump(), todo)
    return runs


def warn(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr)


def run_interleaved(runs: dict) -> None:
    from benchharness.execute import run_sweep

    rounds = max(len(todo) for _, _, todo in runs.values())
    for i in range(rounds):
        for name, (run, runtime, todo) in runs.items():
            if i >= len(todo):
                continue
            started = time.monotonic()
            (record,) = [r for r in run_sweep(run, runtime, [todo[i]], lambda t, e: None, lambda t, r: None, warn)
                         if r["trial_id"] == todo[i].trial_id]
            print(f"{name} trial {i + 1}/{len(todo)} batch {todo[i].params['batch_size']} repeat {todo[i].repeat}: "
                  f"{record['status']}, {record['throughput_sps'] or 0:,.0f} samples/s "
                  f"({time.monotonic() - started:.0f} s)", flush=True)


def compare(base: Path, head: Path, out: Path, label: str, *extra: str) -> int:
    command = [sys.executable, "-m", "benchharness", "compare", str(base), str(head), *extra]
    print(f"\n$ benchharness compare {base} {head} {' '.join(extra)}".rstrip())
    result = subprocess.run(command, capture_output=True, text=True)
    print(result.stdout + result.stderr + f"exit code: {result.returncode}")
    md = subprocess.run([*command, "--format", "md"], capture_output=True, text=True)
    (out / f"{label}.md").write_text(md.stdout)
    return result.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("compare-check"), help="parent folder of the three runs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    runs = open_runs(args.out, {"a1": SCENARIO, "a2": SCENARIO, "b": head_scenario(args.out)})
    started = time.monotonic()
    run_interleaved(runs)
    print(f"\n{sum(len(todo) for _, _, todo in runs.values())} trials in {time.monotonic() - started:.0f} s")
    a1, a2, b = (runs[name][0].path for name in ("a1", "a2", "b"))
    same = compare(a1, a2, args.out, "a1-vs-a2")
    heavier = compare(a1, b, args.out, "a1-vs-b", "--ignore-param", "model")
    print(f"\nA/A: exit {same} (expected 0); heavier model: exit {heavier} (expected 1)")
    return 0 if (same, heavier) == (0, 1) else 1


if __name__ == "__main__":
    sys.exit(main())
