"""pytest-benchmark setup for the project's own benchmarks.

``pytest benchmarks/ --benchmark-only`` runs them at full size (minutes; not part of the default
``pytest``, whose testpaths is ``tests``). ``--bench-size tiny`` (or ``BENCHHARNESS_BENCH_SIZE=tiny``)
runs each at a tiny size, which ``tests/test_benchmarks.py`` does so that every figure in the README
stays reproducible; ``--bench-rounds N`` overrides the interleaved rounds of the side-by-side ones.

A side-by-side benchmark times one interleaved round per pytest-benchmark round (both sides, so
``--benchmark-compare`` sees either side slow down) and keeps its real figure, the ratio of the two
sides' medians with its spread, in ``extra_info`` (saved with ``--benchmark-autosave`` /
``--benchmark-json``); the ratios are also printed after the run, under "benchmark figures".
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for path in (str(HERE.parent), str(HERE)):  # the harness, and the benchmark scripts as modules
    if path not in sys.path:
        sys.path.insert(0, path)

SIZES = ("full", "tiny")
_HEADLINES: list[str] = []


def pytest_addoption(parser):
    group = parser.getgroup("benchharness benchmarks")
    group.addoption("--bench-size", choices=SIZES, default=os.environ.get("BENCHHARNESS_BENCH_SIZE", "full"),
                    help="full (default; the README's figures) or tiny (seconds: checks that they run)")
    group.addoption("--bench-rounds", type=int, default=None,
                    help="interleaved rounds of the side-by-side benchmarks (default: each one's own)")


@pytest.fixture(scope="session")
def bench_size(request) -> str:
    return request.config.getoption("--bench-size")


@pytest.fixture
def sized(request, bench_size):
    """``sized(FULL, TINY)``: the sizes for this run, ``rounds`` overridden by ``--bench-rounds``."""

    def pick(full: dict, tiny: dict) -> dict:
        size = dict(full if bench_size == "full" else tiny)
        rounds = request.config.getoption("--bench-rounds")
        if rounds is not None and "rounds" in size:
            size["rounds"] = rounds
        return size

    return pick


@pytest.fixture
def headline(request):
    """``headline(text)``: a line printed after the run (the side-by-side figure of this benchmark)."""
    return lambda text: _HEADLINES.append(f"{request.node.name}: {text}")


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's table
def pytest_terminal_summary(terminalreporter):
    if _HEADLINES:
        terminalreporter.section("benchmark figures (ratios of medians and targets; all in extra_info)")
        for line in _HEADLINES:
            terminalreporter.write_line(line)
