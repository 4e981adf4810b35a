"""The report: one self-contained HTML file (or a Markdown summary) rendered from run directories
only, so a reviewer renders it on a laptop with no GPU and no TensorFlow.

Jinja2 with autoescape: every string that comes from a scenario or a results file is escaped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from benchharness import __version__
from benchharness.analyze import MEMORY_LABELS, curve_groups, recommend
from benchharness.errors import UserError
from benchharness.store import RunDir

MAX_TIMELINES = 12  # more panels make the page slow to read and to render; the table has them all


@dataclass
class LoadedRun:
    run: RunDir
    info: dict
    records: list[dict]

    @property
    def name(self) -> str:
        return self.run.path.name


def load_runs(paths: list[Path]) -> list[LoadedRun]:
    """Read run directories (run.json, trials.jsonl). Raises UserError naming a bad path or file."""
    runs = []
    for path in paths:
        run = RunDir.open(Path(path))
        contents = run.read_trials()
        runs.append(LoadedRun(run, run.info, contents.records))
    return runs


def sources(runs: list[LoadedRun]) -> set[str]:
    return {r["telemetry"]["source"] for run in runs for r in run.records if r.get("telemetry")}


def source_banner(found: set[str]) -> str | None:
    """The header line that says where utilization and memory figures come from, if not real NVML."""
    if "fake-nvml" in found:
        return ("GPU figures come from the FAKE NVML (BENCHHARNESS_FAKE_NVML): they exercise the code path "
                "and describe no real device.")
    if found == {"cpu"}:
        return ("No GPU: utilization and memory are the CPU fallback (trial process tree CPU % of all cores, "
                "RSS), not GPU figures.")
    return None


def curves(runs: list[LoadedRun], tolerance: float):
    """One recommendation per curve (trials differing only in batch size), per run."""
    out = []
    for run in runs:
        for records in curve_groups(run.records):
            rec = recommend(records, tolerance)
            if len(runs) > 1:
                rec.label = f"{run.name}: {rec.label}"
            out.append(rec)
    return out


def trial_rows(runs: list[LoadedRun]) -> list[dict]:
    rows = []
    for run in runs:
        for r in run.records:
            t, e, p = r.get("telemetry") or {}, r.get("eval") or {}, r.get("pruning") or {}
            rows.append({"run": run.name, "trial_id": r["trial_id"], "repeat": r["repeat"], "status": r["status"],
                         "error": r.get("error"), "params": r["params"], "epoch_time_s": r.get("epoch_time_s"),
                         "first_epoch_s": r.get("first_epoch_s"), "throughput_sps": r.get("throughput_sps"),
                         "ci": r.get("throughput_ci_sps"), "windows": r.get("steady_windows"),
                         "stop_reason": r.get("stop_reason"), "no_steady_state": r.get("no_steady_state"),
                         "busy_reason": t.get("busy_reason") if t.get("busy") else None,
                         "util": t.get("util_mean_pct"), "mem_mb": t.get("mem_primary_mb"),
                         "mem_source": MEMORY_LABELS.get(t.get("mem_primary_source"), ""),
                         "energy_j": t.get("energy_j"), "accuracy": e.get("accuracy"),
                         "sparsity_measured": p.get("measured"), "vs_dense": p.get("throughput_vs_dense"),
                         "flops_per_sample": r.get("flops_per_sample"), "mfu": r.get("mfu"),
                         "gaps": t.get("gaps") or {}, "lost": t.get("lost") or []})
    return rows


def varying_params(rows: list[dict]) -> list[str]:
    keys = list(rows[0]["params"]) if rows else []
    return [k for k in keys if len({json.dumps(r["params"].get(k)) for r in rows}) > 1] or ["batch_size"]


def pruning_frames(runs: list[LoadedRun]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per trial with sizes and accuracies, one row per pruned layer) for pruning runs."""
    trials, layers = [], []
    for run in runs:
        for r in run.records:
            if r["status"] != "ok" or (not r.get("sizes") and not r.get("pruning")):
                continue
            sizes, tfl = r.get("sizes") or {}, r.get("tflite_accuracy") or {}
            trials.append({"sparsity": r["params"].get("sparsity", 0.0), "accuracy": (r.get("eval") or {}).get("accuracy"),
                           "tflite_quant_accuracy": tfl.get("quant"), **{k: sizes.get(k) for k in (
                               "keras_zip_bytes", "tflite_zip_bytes", "tflite_quant_zip_bytes")}})
            for layer, value in ((r.get("pruning") or {}).get("per_layer") or {}).items():
                layers.append({"layer": layer, "measured": value, "target": r["params"]["sparsity"]})
    frame = pd.DataFrame(trials, columns=["sparsity", "accuracy", "tflite_quant_accuracy", "keras_zip_bytes",
                                          "tflite_zip_bytes", "tflite_quant_zip_bytes"])
    return frame.sort_values("sparsity"), pd.DataFrame(layers, columns=["layer", "measured", "target"])


def timelines(runs: list[LoadedRun]) -> tuple[list[dict], int]:
    """Sample series of up to MAX_TIMELINES trials (and how many trials had samples)."""
    from benchharness.telemetry.summary import METRICS

    found = []
    for run in runs:
        for r in run.records:
            path = run.run.samples_path(r["trial_id"])
            if r.get("telemetry") and path.is_file():
                found.append((run, r, path))
    items = []
    for run, r, path in found[:MAX_TIMELINES]:
        column = METRICS[r["telemetry"]["source"]]["util"]
        frame = pd.read_csv(path)
        if column not in frame or frame.empty:
            continue
        t0 = frame["t_monotonic"].min()
        title = " ".join(f"{k}={r['params'][k]}" for k in ("batch_size", "sparsity") if k in r["params"])
        items.append({"samples": frame, "t0": t0, "column": column, "epochs": r["epochs"],
                      "title": f"{r['trial_id']} {title} ({r['status']})"})
    return items, len(found)


def roofline_points(runs: list[LoadedRun]) -> tuple[list[dict], dict | None]:
    """Trials with a measured cost and throughput, placed at their training-step arithmetic
    intensity (``cost.step_arithmetic_intensity``, at the trial's batch size), and the first run's
    probed ceilings. Where the stored figure is null it is computed from the record's cost and
    params; a record without the weight/activation split (written before it was counted) cannot be
    placed: it is kept with ``intensity`` None, and the chart says how many there were."""
    from benchharness.cost import step_intensity_of

    peak = next((run.info["peak"] for run in runs if run.info.get("peak")), None)
    points = []
    for run in runs:
        for r in run.records:
            cost = r.get("cost") or {}
            if not cost.get("achieved_flops_per_s"):
                continue
            intensity = cost.get("step_arithmetic_intensity") or step_intensity_of(cost, r["params"])
            points.append({"intensity": intensity or None, "achieved": cost["achieved_flops_per_s"],
                           "label": r["params"]["model"], "batch_size": r["params"].get("batch_size")})
    return points, peak


def _environment(runs: list[LoadedRun]) -> list[dict]:
    return [{"name": run.name, "environment": run.info.get("environment", {}), "scenario": run.info.get("scenario", {}),
             "started": run.info.get("started_utc"), "finished": run.info.get("finished_utc")} for run in runs]


def build_context(runs: list[LoadedRun], tolerance: float, charts: bool) -> dict:
    from benchharness.report import charts as chart

    recs = curves(runs, tolerance)
    rows = trial_rows(runs)
    found = sources(runs)
    context = {"version": __version__, "runs": _environment(runs), "recommendations": recs, "rows": rows,
               "keys": varying_params(rows), "banner": source_banner(found), "tolerance": tolerance,
               "sources": sorted(found), "title": ", ".join(run.info.get("scenario", {}).get("resolved", {}).get("name", run.name)
                                                             for run in runs)}
    if charts:
        batch_curves = [r for r in recs if len([p for p in r.points if p.throughput]) >= 1]
        pruning, layers = pruning_frames(runs)
        items, total = timelines(runs)
        util_label = next((r.util_metric for r in recs if r.util_metric), "utilization %")
        context["charts"] = {
            "central": chart.epoch_time_vs_utilization(batch_curves) if batch_curves else None,
            "throughput": chart.throughput_vs_batch(batch_curves) if batch_curves else None,
            "memory": chart.memory_vs_batch(batch_curves),
            "timelines": chart.utilization_timelines(items, util_label),
            "pruning": chart.pruning_tradeoff(pruning),
            "layers": chart.per_layer_sparsity(layers),
        }
        points, peak = roofline_points(runs)
        context["peak"] = peak
        context["charts"]["roofline"] = (chart.roofline(points, peak["peak_flops_per_s"], peak["memory_bandwidth_bytes_per_s"])
                                         if peak else None)
        context["timeline_count"], context["timeline_total"] = len(items), total
        context["pruning_table"] = pruning.to_dict("records")
    return context


def answers(paths: list[Path], tolerance: float = 0.05) -> list[dict]:
    """Every curve's answer as plain data (``report --format json``). Raises UserError like ``render``."""
    from benchharness.analyze import answer_json

    runs = load_runs(paths)
    if not any(run.records for run in runs):
        raise UserError(f"{paths[0]}: no trial records yet (trials.jsonl is empty)")
    return [answer_json(rec) for rec in curves(runs, tolerance)]


def _environment_jinja() -> Environment:
    env = Environment(loader=PackageLoader("benchharness", "report/templates"),
                      autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda v, spec=",.0f": "–" if v is None else format(v, spec)
    env.filters["pct"] = lambda v: "–" if v is None else f"{v:.0f} %"
    env.filters["ci"] = lambda v: "–" if not v else f"{v[0]:,.0f}–{v[1]:,.0f}"
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, default=str)
    return env


def render(paths: list[Path], out: Path, fmt: str = "html", tolerance: float = 0.05) -> Path:
    """Render the report of ``paths`` (run directories) into ``out``; returns ``out``.

    Raises UserError for a path that is not a run directory or an unwritable output.
    """
    runs = load_runs(paths)
    if not any(run.records for run in runs):
        raise UserError(f"{paths[0]}: no trial records yet (trials.jsonl is empty)")
    context = build_context(runs, tolerance, charts=fmt == "html")
    template = _environment_jinja().get_template("report.html.j2" if fmt == "html" else "report.md.j2")
    text = template.render(**context)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{out}: cannot write the report ({exc.strerror})") from None
    return out
