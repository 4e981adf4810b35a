"""Soak: a sweep of tiny trials, its harness SIGKILLed at random moments and resumed each time, ends
with every trial recorded exactly once and no worker left running (step 10).

Each round starts ``benchharness run`` (the first) or ``--resume`` (the rest), kills the harness with
SIGKILL after a random delay, checks 2 s later that no worker of this soak is alive, and goes on;
after the last kill one resume runs to the end. Prints the counts.

Usage: python benchmarks/soak.py [--trials 30] [--kills 10] [--seed 1] [--max-delay-s 12]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TAG = "BENCHHARNESS_SOAK_TAG"


def scenario_text(trials: int) -> str:
    """``trials`` tiny_mlp trials: batch sizes 8..128, repeated as needed."""
    batches = [8, 16, 32, 64, 128]
    repeats = -(-trials // len(batches))
    return (f'name: soak\ndefaults:\n  model: "{REPO / "tests" / "helpers" / "models.py"}:tiny_mlp"\n  epochs: 2\n'
            f"  samples_per_epoch: 256\n  repeats: {repeats}\nsweep:\n  batch_size: {batches}\n")


def workers_alive(tag: str) -> int:
    import psutil

    alive = 0
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "benchharness.worker" in " ".join(proc.info["cmdline"] or []) and proc.environ().get(TAG) == tag:
                alive += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return alive


def harness(scenario: Path, out: Path, tag: str) -> subprocess.Popen:
    # A harness killed between creating its run directory and writing run.json leaves an empty one:
    # nothing to resume there (and nothing recorded), so it goes.
    for empty in (d for d in (out.iterdir() if out.exists() else []) if not (d / "run.json").exists()):
        shutil.rmtree(empty)
    run_dirs = list(out.iterdir()) if out.exists() else []
    resume = ["--resume", str(run_dirs[0])] if run_dirs else ["--out", str(out)]
    return subprocess.Popen([sys.executable, "-m", "benchharness", "run", str(scenario), *resume, "--no-report"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=os.environ | {TAG: tag}, start_new_session=True)


def soak(trials: int, kills: int, seed: int, max_delay_s: float, workdir: Path) -> dict:
    """Run the soak in ``workdir``; returns the counts (see ``main``)."""
    rng, tag = random.Random(seed), f"soak-{os.getpid()}-{seed}"
    scenario, out = workdir / "soak.yaml", workdir / "out"
    scenario.write_text(scenario_text(trials))
    counts = Counter()
    for _ in range(kills):
        proc = harness(scenario, out, tag)
        time.sleep(rng.uniform(0.5, max_delay_s))
        proc.send_signal(signal.SIGKILL) if proc.poll() is None else counts.update(["ended before its kill"])
        proc.wait()
        time.sleep(2.0)
        counts["workers alive 2 s after a kill"] += workers_alive(tag)
    final = harness(scenario, out, tag)
    counts["final resume exit code"] = final.wait(timeout=3600)
    if final.returncode:
        raise SystemExit(f"the final resume failed (exit {final.returncode}): {final.stderr.read()[-2000:]}")
    return counts | _recorded(out, trials) | {"workers alive at the end": workers_alive(tag)}


def _recorded(out: Path, planned: int) -> dict:
    (run_dir,) = list(out.iterdir())
    ids = [json.loads(line)["trial_id"] for line in (run_dir / "trials.jsonl").read_text().splitlines() if line]
    per_id = Counter(ids)
    return {"planned trials": -(-planned // 5) * 5, "records": len(ids), "distinct trials": len(per_id),
            "trials recorded twice or more": sum(1 for n in per_id.values() if n > 1),
            "torn tails set aside": len(list(run_dir.glob("trials.jsonl.torn-*"))),
            "complete": json.loads((run_dir / "run.json").read_text())["complete"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-delay-s", type=float, default=12.0, help="longest wait before a kill")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="benchharness-soak-") as tmp:
        counts = soak(args.trials, args.kills, args.seed, args.max_delay_s, Path(tmp))
    for key, value in counts.items():
        print(f"{key}: {value}")
    print(f"soak took {time.monotonic() - started:.0f} s")
    ok = (counts["records"] == counts["distinct trials"] == counts["planned trials"]
          and counts["workers alive 2 s after a kill"] == 0 and counts["workers alive at the end"] == 0)
    print("verdict: every trial recorded exactly once, no worker left" if ok else "verdict: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
