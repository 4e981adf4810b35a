"""pytest-benchmark: rendering the HTML report of a 100-trial run (``report_render.py``; target <= 10 s).
Every round renders the same run directory, built once from the golden fake-NVML run, to a new file."""

from __future__ import annotations

import report_render

FULL = {"trials": 100, "rounds": 3}
TINY = {"trials": 10, "rounds": 1}
TARGET_S = 10.0


def test_report_render(benchmark, sized, headline, tmp_path):
    size = sized(FULL, TINY)
    run = report_render.build_run(tmp_path, size["trials"])
    import benchharness.report.charts  # noqa: F401  (import matplotlib/seaborn before timing, as the CLI does)
    from benchharness.report import render

    outputs = []

    def next_output():
        outputs.append(tmp_path / f"report-{len(outputs)}.html")
        return (([run], outputs[-1]), {})

    benchmark.group = "report"
    benchmark.pedantic(render, setup=next_output, rounds=size["rounds"], iterations=1, warmup_rounds=0)
    seconds = benchmark.stats.stats.median if benchmark.stats else None
    kib = outputs[-1].stat().st_size / 1024
    benchmark.extra_info.update(size | {"html_kib": round(kib), "target": f"median <= {TARGET_S} s",
                                        "meets_target": seconds is None or seconds <= TARGET_S})
    if seconds is not None:
        headline(f"rendered a {size['trials']}-trial run in {seconds:.2f} s (median of {len(outputs)}; "
                 f"{kib:.0f} KiB HTML; target <= {TARGET_S:g} s)")
