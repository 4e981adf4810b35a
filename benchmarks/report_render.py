"""Benchmark: rendering the HTML report of a 100-trial run (target: at most 10 s here).

Builds a run directory of 100 trials from the golden fake-NVML run's records and samples (4 models
x 5 batch sizes x 5 repeats, each with its own sample file), then times ``benchharness.report.render``.

Usage: python benchmarks/report_render.py [--trials 100]
(or with pytest-benchmark: pytest benchmarks/test_report_render.py --benchmark-only)
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

from benchharness.report import render  # noqa: E402

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden" / "fake_nvml_run"


def build_run(root: Path, trials: int) -> Path:
    run = root / "big-run"
    (run / "samples").mkdir(parents=True)
    shutil.copy(GOLDEN / "run.json", run / "run.json")
    templates = [json.loads(line) for line in (GOLDEN / "trials.jsonl").read_text().splitlines()]
    templates = [r for r in templates if r["status"] == "ok"]
    with open(run / "trials.jsonl", "w") as out:
        for i in range(trials):
            record = json.loads(json.dumps(templates[i % len(templates)]))
            record["trial_id"] = f"t{i:05d}"
            record["repeat"] = (i // 20) % 5
            record["params"]["model"] = f"model_{(i // 5) % 4}"
            record["params"]["batch_size"] = 32 * 2 ** (i % 5)
            record["throughput_sps"] *= 1 + 0.01 * (i % 7)
            shutil.copy(GOLDEN / "samples" / f"{templates[i % len(templates)]['trial_id']}.csv",
                        run / "samples" / f"{record['trial_id']}.csv")
            out.write(json.dumps(record) + "\n")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = build_run(Path(tmp), args.trials)
        import benchharness.report.charts  # noqa: F401  (import matplotlib/seaborn before timing, as the CLI does)

        started = time.perf_counter()
        out = render([run], Path(tmp) / "report.html")
        seconds = time.perf_counter() - started
        size = out.stat().st_size
    print(f"rendered a {args.trials}-trial run in {seconds:.2f} s ({size / 1024:.0f} KiB HTML; target <= 10 s)")


if __name__ == "__main__":
    main()
