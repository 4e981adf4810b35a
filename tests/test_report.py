"""The report: rendered from committed golden run directories; the pays-off rule on constructed data."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchharness.analyze import recommend
from benchharness.report import render
from benchharness.store import RunDir

GOLDEN = Path(__file__).parent / "golden"
RUNS = ("cpu_run", "fake_nvml_run", "pruning_run", "models_run")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    return {name: render([GOLDEN / name], out / f"{name}.html").read_text() for name in RUNS}


def test_every_golden_run_renders_with_its_sections(reports):
    for name, html in reports.items():
        assert "Every trial" in html, name
        assert "Environment and scenario" in html and html.count("<svg") >= 2, name
    assert "Pruning: accuracy and size against sparsity" in reports["pruning_run"]
    assert "Pruning: accuracy and size against sparsity" not in reports["cpu_run"]
    assert "How far from the device's limit?" in reports["models_run"]
    assert "MFU (model FLOPs utilization) = 3 × forward FLOPs" in reports["models_run"]


def test_sources_are_labelled_in_the_header(reports):
    assert "FAKE NVML" in reports["fake_nvml_run"]
    assert "CPU fallback" in reports["cpu_run"] and "FAKE NVML" not in reports["cpu_run"]


def test_failures_are_shown_with_their_reasons(reports):
    html = reports["fake_nvml_run"]
    assert '<tr class="oom">' in html and "ResourceExhaustedError: OOM when allocating" in html
    assert '<tr class="failed">' in html and "RuntimeError: this model is broken on purpose" in html


def test_report_is_self_contained(reports):
    for name, html in reports.items():
        assert "http://" not in html and "https://" not in html, name
        assert not re.search(r"""(src|href)\s*=\s*["'](?!#)""", html), name  # nothing loaded from elsewhere


def test_headline_answers_in_words(reports):
    html = reports["fake_nvml_run"]
    records = [json.loads(line) for line in (GOLDEN / "fake_nvml_run" / "trials.jsonl").read_text().splitlines()]
    rec = recommend([r for r in RunDir.open(GOLDEN / "fake_nvml_run").read_trials().records
                     if r["params"]["model"] == "tutorial_cnn"])
    assert rec.headline in html.replace("&#39;", "'")
    # version 1 ran 3 epochs: two windows per trial cannot separate the batch sizes
    assert rec.headline.startswith("tutorial_cnn on synthetic: undecided between batch ")
    assert '<div class="answer undecided"><strong>Undecided.</strong>' in html


def test_strings_from_files_are_escaped(tmp_path):
    run = tmp_path / "evil"
    shutil.copytree(GOLDEN / "cpu_run", run)
    info = json.loads((run / "run.json").read_text())
    info["scenario"]["resolved"]["name"] = "<script>alert(1)</script>"
    (run / "run.json").write_text(json.dumps(info))
    lines = (run / "trials.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first.update(status="failed", error="<img src=x onerror=alert(2)>")
    (run / "trials.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    html = render([run], tmp_path / "r.html").read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    md = render([run], tmp_path / "r.md", "md").read_text()
    assert "<script>" not in md and "<img" not in md


def test_markdown_summary(tmp_path):
    md = render([GOLDEN / "fake_nvml_run"], tmp_path / "r.md", "md").read_text()
    assert md.startswith("## benchharness: fake_gpu_sweep")
    assert "**tutorial_cnn on synthetic: undecided between batch" in md and "| `" in md and "FAKE NVML" in md


def test_comparing_two_runs(tmp_path):
    html = render([GOLDEN / "cpu_run", GOLDEN / "fake_nvml_run"], tmp_path / "both.html").read_text()
    assert html.count('class="answer ') >= 3  # one curve in the CPU run, three in the fake-NVML run


def test_report_cli_and_bad_input(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "benchharness", "report", str(GOLDEN / "pruning_run"), "--format", "md",
                         "-o", str(tmp_path / "p.md")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"report: {tmp_path / 'p.md'}"
    bad = subprocess.run([sys.executable, "-m", "benchharness", "report", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip() == f"{tmp_path}: not a run directory (no run.json)"
    broken = tmp_path / "broken"
    shutil.copytree(GOLDEN / "cpu_run", broken)
    with open(broken / "trials.jsonl", "a") as f:
        f.write("{not json}\n" + (GOLDEN / "cpu_run" / "trials.jsonl").read_text().splitlines()[0] + "\n")
    bad = subprocess.run([sys.executable, "-m", "benchharness", "report", str(broken)], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().startswith(f"{broken / 'trials.jsonl'}:6: not a valid trial record")


# -- the pays-off rule on constructed data -------------------------------------------------------


def records_for(curve: dict, repeats: int = 1, util=None, mem=None, total=None, statuses=None, half_width=0.01,
                mem_source="tf_allocator_peak"):
    """Records of a curve; each single trial has 5 windows and a +-``half_width`` interval."""
    out = []
    for batch, sps in curve.items():
        values = sps if isinstance(sps, (list, tuple)) else [sps] * repeats
        for repeat, value in enumerate(values):
            status = (statuses or {}).get(batch, "ok")
            ok = status == "ok"
            out.append({"trial_id": f"t{batch}-{repeat}", "status": status, "repeat": repeat,
                        "params": {"model": "m", "dataset": "synthetic", "batch_size": batch, "sparsity": 0.0},
                        "throughput_sps": value if ok else None, "steady_windows": 5 if ok else 0,
                        "throughput_ci_sps": [value * (1 - half_width), value * (1 + half_width)] if ok else None,
                        "epoch_time_s": 1000 / value if status == "ok" else None,
                        "telemetry": {"source": "nvml", "util_mean_pct": (util or {}).get(batch),
                                      "mem_primary_mb": (mem or {}).get(batch), "mem_primary_source": mem_source,
                                      "mem_limit_mb": total, "util_metric": "GPU kernel-busy %"}})
    return out


KNEE = {32: 1000, 64: 1900, 128: 3000, 256: 3100, 512: 3120}


def test_clear_knee():
    rec = recommend(records_for(KNEE, util={512: 97}, half_width=0.005))
    # 3000 samples/s at 128 is within 5 % of the best (3120 at 512): 128 is the answer, and with
    # +-0.5 % intervals even 128's low end (2985) is within 5 % of 512's high end (3135.6).
    assert rec.decided and rec.recommended.batch_size == 128 and rec.best.batch_size == 512
    assert [round(d.gain, 3) for d in rec.doublings] == [0.9, 0.579, 0.033, 0.006]
    assert rec.flags == ["noise: batch 256 -> 512 (+0.6%): their intervals overlap"]
    assert "use batch 128 (decided" in rec.headline and "from batch 32 to 128 throughput rises 3.0x" in rec.headline
    assert "beyond it each step up gains at most +3.3%" in rec.headline
    assert "95 % interval 3,104-3,136, n=5" in rec.headline


def test_the_same_knee_with_wide_intervals_is_undecided_and_names_the_range():
    rec = recommend(records_for(KNEE, half_width=0.03))
    # 5 % below the best's high end (3214) is 3053: no interval from 128 up lies clearly above it,
    # and 64's (1843-1957) lies clearly below 5 % under the best's low end: 128, 256 or 512.
    assert not rec.decided and rec.answer.indistinguishable == (128, 256, 512)
    assert rec.recommended.batch_size == 128  # what the medians alone say
    assert rec.headline.startswith("m on synthetic: undecided between batch 128 and 512: ")
    assert "more repeats" in rec.headline


def test_answer_json_for_scripts():
    from benchharness.analyze import answer_json

    data = answer_json(recommend(records_for(KNEE, half_width=0.005)))
    assert data["curve"] == "m on synthetic" and data["decided"] is True and data["recommended_batch"] == 128
    assert data["indistinguishable"] == [128]
    assert data["best_batch"] == 512 and data["flags"] == ["noise: batch 256 -> 512 (+0.6%): their intervals overlap"]
    assert data["points"][2] == {"batch_size": 128, "throughput_sps": 3000,
                                 "throughput_ci_sps": pytest.approx([2985.0, 3015.0]), "n": 5,
                                 "interval_over": "windows", "statuses": ["ok"], "stop_reasons": [None]}


def test_flat_curve_recommends_the_smallest():
    rec = recommend(records_for({32: 1000, 64: 1010, 128: 1020, 256: 1005}, util={64: 40, 128: 41}))
    assert rec.recommended.batch_size == 32
    assert any(f.startswith("device not saturated: GPU kernel-busy % is 41.0 % at batch 128") for f in rec.flags)


def test_noisy_repeats_are_reported_as_noise_not_gains():
    rec = recommend(records_for({64: [1000, 1100, 1200], 128: [1050, 1150, 1250], 256: [2000, 2050, 2100]}))
    noise = [d for d in rec.doublings if d.noise]
    assert [(d.from_batch, d.to_batch) for d in noise] == [(64, 128)]
    assert any(f.startswith("noise: batch 64 -> 128") for f in rec.flags)
    assert not rec.doublings[1].noise


def test_oom_edge_is_memory_bound():
    rec = recommend(records_for({64: 1000, 128: 1800, 256: 3000, 512: 0}, statuses={512: "oom"},
                                mem={64: 1200, 128: 2200, 256: 4200}, total=8192))
    assert rec.best.batch_size == 256
    assert "memory-bound: batch 512 ran out of memory, so the next doubling does not fit" in rec.flags
    fit = rec.memory_fit
    assert fit["mb_per_sample"] == pytest.approx(298666.67 / 19114.67, rel=1e-5)  # least squares by hand
    assert fit["estimated_oom_batch"] == pytest.approx((8192 - fit["intercept_mb"]) / fit["mb_per_sample"])


def test_memory_fit_predicts_the_next_doubling_will_not_fit():
    rec = recommend(records_for({64: 1000, 128: 1800, 256: 3000}, mem={64: 2000, 128: 4000, 256: 8000}, total=10000))
    assert any(f.startswith("memory-bound: the next doubling (batch 512) would not fit") for f in rec.flags)


def test_nothing_completed():
    rec = recommend(records_for({64: 0}, statuses={64: "oom"}))
    assert rec.recommended is None and "no batch size completed" in rec.headline


@pytest.mark.skipif(CHROMIUM is None, reason="apt-get install chromium (.ci/run installs it)")
def test_report_opens_in_headless_chromium_without_errors_or_network(reports, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    path = tmp_path / "fake.html"
    path.write_text(reports["fake_nvml_run"])
    errors, requests = [], []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(path.as_uri(), wait_until="load")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        heading = page.inner_text("h1")
        svgs = page.locator("svg").count()
        browser.close()
    assert errors == []
    assert requests == [path.as_uri()]  # the page itself, nothing else
    assert heading == "fake_gpu_sweep" and svgs >= 4
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_a_busy_machine_and_a_drifting_trial_are_named():
    records = records_for({64: 1000, 128: 2000})
    records[0]["telemetry"] |= {"busy": True, "busy_reason": "other processes used 48 % of all CPU cores"}
    records[1]["no_steady_state"] = True
    flags = recommend(records).flags
    assert "busy machine: batch 64 (trial t64-0): other processes used 48 % of all CPU cores" in flags
    assert any(f.startswith("no steady state: batch 128 (trial t128-0)") for f in flags)
    assert not any("busy" in f for f in recommend(records_for({64: 1000, 128: 2000})).flags)


def test_no_out_of_memory_batch_is_estimated_from_host_ram():
    cpu = records_for({64: 1000, 128: 1800, 256: 3000}, mem={64: 2000, 128: 4000, 256: 8000}, total=10000,
                      mem_source="rss_growth")
    for r in cpu:
        r["telemetry"]["source"] = "cpu"
    rec = recommend(cpu)
    assert rec.memory_fit is None and [p.mems for p in rec.points] == [[2000], [4000], [8000]]
    assert not any(f.startswith("memory-bound") for f in rec.flags)


def test_only_tensorflows_allocator_peak_is_fitted_for_an_out_of_memory_batch():
    mem = {64: 2000, 128: 4000, 256: 8000}
    for source in ("process_nvml", "device_used"):  # NVML's figures hold the CUDA context and a growing pool
        rec = recommend(records_for({64: 1000, 128: 1800, 256: 3000}, mem=mem, total=10000, mem_source=source))
        assert rec.memory_fit is None and not any(f.startswith("memory-bound") for f in rec.flags)
    fitted = recommend(records_for({64: 1000, 128: 1800, 256: 3000}, mem=mem, total=10000))
    assert fitted.memory_fit["estimated_oom_batch"] == pytest.approx(320.0)  # 31.25 MiB/sample, 0 MiB at batch 0


def test_throttling_and_a_withheld_utilization_are_named():
    records = records_for({64: 1000, 128: 2000})
    records[0]["telemetry"] |= {"throttle": {"reasons": ["sw_thermal_slowdown"], "thermal": True, "power": False,
                                             "throttled_share": 0.5, "throttled_epochs": [2, 3],
                                             "sm_clock_min_mhz": 900.0}}
    records[1]["telemetry"] |= {"withheld": {"util_mean_pct": "the samples cover 60 % of the window (under 90%); ..."}}
    flags = recommend(records).flags
    assert ("throttled: batch 64 (trial t64-0): thermal clock limits (sw_thermal_slowdown) in steady windows [2, 3], "
            "50% of the time; SM clock down to 900 MHz: this figure holds for this card at this temperature and "
            "power limit") in flags
    assert "utilization not shown: batch 128 (trial t128-0): the samples cover 60 % of the window (under 90%); ..." in flags


# -- step 10: the default path, many curves, the embedded data -----------------------------------


def test_the_default_report_path_never_lands_inside_a_run_directory(tmp_path, monkeypatch, capsys):
    from benchharness.cli import main

    run = tmp_path / "results" / "sweep-1"
    shutil.copytree(GOLDEN / "cpu_run", run)
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    for where, argument in ((run, "."), (run / "samples", "..")):  # `report .` from inside it, or below it
        monkeypatch.chdir(where)
        assert main(["report", argument, "--format", "md"]) == 0
        assert capsys.readouterr().out.strip() == f"report: {tmp_path.resolve() / 'results' / 'reports' / 'sweep-1.md'}"
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before  # nothing written inside, hidden or not
    monkeypatch.chdir(tmp_path)
    assert main(["report", "results/sweep-1", "--format", "md"]) == 0  # from outside: reports/ here, as before
    assert capsys.readouterr().out.strip() == "report: reports/sweep-1.md"


def test_many_curves_chart_the_first_ones_and_say_so(tmp_path, monkeypatch):
    import benchharness.report as report

    monkeypatch.setattr(report, "MAX_CURVE_CHARTS", 2)
    html = render([GOLDEN / "models_run"], tmp_path / "r.html").read_text()  # three curves, one per model
    assert html.count("This chart draws the first 2 of 3 measured curves") == 3  # time per epoch, throughput, roofline
    central = html.split("<h2>Time per epoch and utilization</h2>")[1].split("<h2>")[0]
    assert central.count(" on synthetic</text>") == 2  # one panel title per charted curve
    assert html.count('<div class="answer decided') + html.count('<div class="answer undecided') == 3  # every curve's answer is still there
    assert html.count("<tr class=\"ok\">") == 9
    monkeypatch.setattr(report, "MAX_CURVE_CHARTS", 12)
    assert "This chart draws the first" not in render([GOLDEN / "models_run"], tmp_path / "all.html").read_text()


def test_the_embedded_data_is_strict_json(reports):
    def refuse(constant):
        raise AssertionError(f"{constant} in the embedded data")

    for name, html in reports.items():
        data = html.split('<script id="benchharness-data" type="application/json">')[1].split("</script>")[0]
        assert isinstance(json.loads(data, parse_constant=refuse), list), name


@pytest.mark.slow
def test_the_report_scale_benchmark_runs():
    script = Path(__file__).parent.parent / "benchmarks" / "report_scale.py"
    result = subprocess.run([sys.executable, str(script), "--curves", "14", "--batches", "2"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("rendered 14 curves (28 trials) in ")


def test_markdown_cells_hold_pipes_and_line_breaks(tmp_path):
    run = tmp_path / "pipes"
    shutil.copytree(GOLDEN / "cpu_run", run)
    lines = [json.loads(line) for line in (run / "trials.jsonl").read_text().splitlines()]
    lines[0]["params"]["batch_size"] = 16
    lines[0] |= {"status": "failed", "error": "Traceback:\n  a | b\n[/batch, 28, 28]"}
    for record in lines:
        record["params"]["model"] = "my|model\nv2"
    lines[-1]["params"]["model"] = "plain"  # the model varies: it gets a column
    (run / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    md = render([run], tmp_path / "r.md", "md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| `")]
    header = next(line for line in md.splitlines() if line.startswith("| trial |"))
    assert len(rows) == 5 and all(row.replace("\\|", "").count("|") == header.count("|") for row in rows)
    assert "Traceback: a \\| b [/batch, 28, 28]" in md and "| my\\|model v2 |" in md
    assert "**my|model v2 on synthetic: " in md
