"""Benchmark: rendering the HTML report of a run of 500 curves (target: under 30 s here).

A curve is the trials that differ only in batch size. Builds one run directory of ``--curves``
curves of ``--batches`` batch sizes each (default 500 x 3 = 1,500 trials) from the golden
``models_run`` (its records have cost figures and run.json a probed peak, so every chart is drawn,
the roofline too), each trial with its own sample file; then times ``benchharness.report.render``
once, as ``benchharness report`` runs it. The report draws the per-curve charts for the first
``benchharness.report.MAX_CURVE_CHARTS`` curves and says so; every curve's answer and every trial
are still in it.

Usage: python benchmarks/report_scale.py [--curves 500] [--batches 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden" / "models_run"
TARGET_S = 30.0


def build_run(root: Path, curves: int, batches: int) -> Path:
    """A run directory of ``curves`` curves (model ``<golden model>_<i>``) of ``batches`` batch sizes."""
    run = root / "many-curves"
    (run / "samples").mkdir(parents=True)
    shutil.copy(GOLDEN / "run.json", run / "run.json")
    templates = [json.loads(line) for line in (GOLDEN / "trials.jsonl").read_text().splitlines()]
    by_model: dict[str, list[dict]] = {}
    for record in templates:
        by_model.setdefault(record["params"]["model"], []).append(record)
    models = sorted(by_model)
    with open(run / "trials.jsonl", "w") as out:
        for curve in range(curves):
            model = models[curve % len(models)]
            for b in range(batches):
                source = by_model[model][b % len(by_model[model])]
                record = json.loads(json.dumps(source))
                record["trial_id"] = f"c{curve:04d}b{b}"
                record["params"]["model"] = f"{model}_{curve}"
                record["params"]["batch_size"] = 16 * 2 ** b
                record["throughput_sps"] *= 1 + 0.01 * (curve % 7) + 0.2 * b
                shutil.copy(GOLDEN / "samples" / f"{source['trial_id']}.csv",
                            run / "samples" / f"{record['trial_id']}.csv")
                out.write(json.dumps(record) + "\n")
    return run


def render_once(run: Path, out: Path) -> float:
    from benchharness.report import render

    started = time.perf_counter()
    render([run], out)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--curves", type=int, default=500)
    parser.add_argument("--batches", type=int, default=3, help="batch sizes per curve (16, 32, 64, ...)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = build_run(Path(tmp), args.curves, args.batches)
        import benchharness.report.charts  # noqa: F401  (import matplotlib/seaborn before timing, as the CLI does)

        out = Path(tmp) / "report.html"
        seconds = render_once(run, out)
        size = out.stat().st_size
    print(f"rendered {args.curves} curves ({args.curves * args.batches} trials) in {seconds:.2f} s "
          f"({size / 1024:.0f} KiB HTML; target < {TARGET_S:g} s)")


if __name__ == "__main__":
    main()
