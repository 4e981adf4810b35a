"""pytest-benchmark: what telemetry sampling costs.

1. ``test_sampler_read_cost``: one ``read(t)`` of the fake NVML sampler (default profile) and of the
   CPU sampler, each started on a live child process tree (``sh`` and a ``sleep`` it spawned), timed
   by pytest-benchmark (mean, stddev, rounds), with ``t`` 100 ms later at every read, as the polling
   thread would pass it. ``extra_info`` adds the host's process count: both samplers list the
   trial's process tree now and then (at most once a second of ``t``), and psutil finds children by
   reading every process's ``/proc/<pid>/stat``, so that listing costs more on a busier host.

2. ``test_sampling_on_vs_off``: steady epoch time of a ``tutorial_cnn`` training through the worker's
   own path (``switched_fit.py``, as ``overhead.py`` runs it: the harness's ``tf.data`` pipeline,
   epoch timer and summary recorder) with a real sampler thread polling every 100 ms against no
   sampler at all (what ``runtime.sample_interval_ms: 0`` gives). The sampler is switched per epoch
   inside one ``fit`` (ABAB; odd rounds start with the other side, so neither side always gets the
   first steady epoch), started before and stopped inside the epoch it samples, so its start and
   stop count against sampling. ``extra_info`` holds the ratio of medians (sampling on / off), its
   bootstrap 95 % interval, each side's quartiles and count, the per-round ratios, the ratio of
   each sampled epoch to its unsampled neighbours (drift between epochs cancels) with its bootstrap
   interval, and the reads per second. Two setups:

   - ``in-process``, the conservative one: the training runs in this process and the sampler
     thread samples this process, so beside the CPU it takes it also competes with Keras' training
     loop for the GIL, which a real run's sampler never does;
   - ``child-process``, as a real run: the training runs in a spawned child (a fresh interpreter,
     like a trial's worker) and the sampler in this process samples the child's tree, so the two
     share only the CPU cores, as a run's parent and worker do.
"""

from __future__ import annotations

import itertools
import os
import signal
import statistics
import subprocess
import time

import psutil
import pytest

import overhead
import switched_fit
from sidebyside import compare, describe, median_interval, spread_text

from benchharness.telemetry.cpu import CpuSampler
from benchharness.telemetry.fake_nvml import FakeNvmlSampler, load_profile

SAMPLERS = {
    "fake-nvml": lambda interval_s: FakeNvmlSampler(load_profile(None), interval_s),
    "cpu": lambda interval_s: CpuSampler(interval_s),
}
TARGET = 1.01
GRID_S = 0.1  # the default sample_interval_ms, 100

ON_OFF_FULL = {"batch_size": 128, "samples": 4096, "epochs": 41, "rounds": 8, "interval_ms": 100}
ON_OFF_TINY = {"batch_size": 128, "samples": 512, "epochs": 3, "rounds": 2, "interval_ms": 100}


# -- 1. one read ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def child_tree():
    """A live two-process tree to sample (``sh`` and a ``sleep`` it spawned); its root's PID."""
    proc = subprocess.Popen(["sh", "-c", "sleep 3600 & exec sleep 3600"], start_new_session=True)
    deadline = time.monotonic() + 5
    while not psutil.Process(proc.pid).children() and time.monotonic() < deadline:
        time.sleep(0.01)
    yield proc.pid
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_sampler_read_cost(benchmark, name, child_tree, headline):
    # A polling interval of an hour: the sampler's own thread reads once at start, then waits, and
    # the reads timed here are the benchmark's.
    sampler = SAMPLERS[name](3600.0)
    sampler.start(child_tree, {"batch_size": 128})
    clock = time.monotonic
    try:
        # Until a read returns its rows: the thread's first read has finished listing the tree (a
        # read racing it may see none), and the counters are primed, so every timed read is whole.
        deadline = clock() + 10
        while not sampler.read(clock()) and clock() < deadline:
            time.sleep(0.05)
        # t on the sampling grid: 100 ms later at every read, the times the polling thread would
        # pass, so what a sampler does once per so many seconds of t (the samplers list the process
        # tree again at most once a second) is counted at its share of the reads.
        ticks, t0 = itertools.count(1), clock()
        benchmark.group = "sampler: one read(t)"
        rows = benchmark(lambda: sampler.read(t0 + next(ticks) * GRID_S))
    finally:
        sampler.stop()
    assert rows, f"{name}: read(t) returned no rows: the timing is of an empty reading"
    tree = 1 + len(psutil.Process(child_tree).children(recursive=True))
    benchmark.extra_info.update({"source": sampler.source, "t_step_s": GRID_S, "rows_per_read": len(rows),
                                 "columns_per_row": len(rows[0]) if rows else 0,
                                 "tree_processes": tree, "host_processes": len(psutil.pids()),
                                 "cpu_count": psutil.cpu_count()})
    if benchmark.stats:
        stats = benchmark.stats.stats
        headline(f"{sampler.source}: one read {stats.mean * 1e6:,.0f} us mean (stddev {stats.stddev * 1e6:,.0f} us, "
                 f"median {stats.median * 1e6:,.0f} us, {stats.rounds} rounds), a {tree}-process tree on a host "
                 f"of {len(psutil.pids())} processes; every {GRID_S * 1000:g} ms: {stats.mean / GRID_S:.2%} of one core")


# -- 2. steady epochs, sampling on and off ---------------------------------------------------------


def neighbour_ratios(fit: list[dict]) -> list[float]:
    """Each sampled epoch over the mean of its unsampled neighbours in the same fit."""
    out = []
    for i, e in enumerate(fit):
        if e["on"]:
            near = [fit[j]["seconds"] for j in (i - 1, i + 1) if 0 <= j < len(fit) and not fit[j]["on"]]
            if near:
                out.append(e["seconds"] / statistics.mean(near))
    return out


def summarize(fits: list[list[dict]], interval_ms: int) -> dict:
    on = [e["seconds"] for fit in fits for e in fit if e["on"]]
    off = [e["seconds"] for fit in fits for e in fit if not e["on"]]
    round_ratios = [statistics.median([e["seconds"] for e in fit if e["on"]]) /
                    statistics.median([e["seconds"] for e in fit if not e["on"]]) for fit in fits]
    result = compare(on, off, round_ratios)
    paired = [r for fit in fits for r in neighbour_ratios(fit)]
    rows = [e["rows"] for fit in fits for e in fit if e["on"]]
    return {"sampling_on": result.pop("a"), "sampling_off": result.pop("b"), **result,
            "neighbour_ratio": ({k: round(v, 4) for k, v in describe(paired).items()}
                                | {"ci95": [round(v, 4) for v in median_interval(paired)]}) if paired else None,
            "reads_per_sampled_epoch": {k: round(v, 2) for k, v in describe(rows).items()},
            "reads_per_s": round(sum(rows) / sum(on), 2),
            "interval_ms": interval_ms, "target": f"ratio <= {TARGET}", "meets_target": result["ratio"] <= TARGET}


def headline_of(source: str, summary: dict) -> str:
    paired = summary["neighbour_ratio"]
    paired_text = (f"; each sampled epoch over its unsampled neighbours: median {paired['median']:.4f} "
                   f"(95% CI {paired['ci95'][0]:.4f}-{paired['ci95'][1]:.4f}, IQR {paired['q1']:.4f}-{paired['q3']:.4f}, "
                   f"n={paired['n']})") if paired else ""
    return (f"{source} every {summary['interval_ms']} ms: on {spread_text(summary['sampling_on'])} vs off "
            f"{spread_text(summary['sampling_off'])} -> ratio {summary['ratio']:.4f} "
            f"(95% CI {summary['ratio_ci95'][0]:.4f}-{summary['ratio_ci95'][1]:.4f}; per-round "
            f"{min(summary['round_ratios']):.3f}-{max(summary['round_ratios']):.3f}{paired_text}; "
            f"{summary['reads_per_s']:.1f} reads/s) (target <= {TARGET})")


@pytest.fixture(scope="module")
def children():
    """``children(batch_size, samples)``: a training child process, one per size, shared by the
    samplers' benchmarks (each start imports TensorFlow)."""
    made: dict[tuple[int, int], switched_fit.Child] = {}

    def get(batch_size: int, samples: int) -> switched_fit.Child:
        if (batch_size, samples) not in made:
            made[batch_size, samples] = switched_fit.Child(batch_size, samples)
        return made[batch_size, samples]

    yield get
    for child in made.values():
        child.close()


@pytest.mark.parametrize("where", ["in-process", "child-process"])
@pytest.mark.parametrize("name", list(SAMPLERS))
def test_sampling_on_vs_off(benchmark, name, where, sized, headline, children):
    size = sized(ON_OFF_FULL, ON_OFF_TINY)
    sampler = SAMPLERS[name](size["interval_ms"] / 1000.0)
    fits: list[list[dict]] = []
    if where == "in-process":
        setup = overhead.prepare(size["batch_size"], size["samples"])
        fit = lambda: switched_fit.in_process_fit(setup, sampler, size["epochs"], first_on=len(fits) % 2 == 0)  # noqa: E731
    else:
        child = children(size["batch_size"], size["samples"])
        fit = lambda: child.fit(sampler, size["epochs"], first_on=len(fits) % 2 == 0)  # noqa: E731
    benchmark.group = "sampling on vs off: steady epochs"
    benchmark.pedantic(lambda: fits.append(fit()), rounds=size["rounds"], iterations=1, warmup_rounds=0)
    summary = summarize(fits, size["interval_ms"])
    benchmark.extra_info.update(size | {"source": sampler.source, "training": where} | summary)
    headline(headline_of(f"{sampler.source}, {where}", summary))
