"""The report: one self-contained HTML file (or a Markdown summary) rendered from run directories
only, so a reviewer renders it on a laptop with no GPU and no TensorFlow.

Jinja2 with autoescape: every string that comes from a scenario or a results file is escaped, and
the embedded JSON holds no NaN (records are refused on read if they have one, ``store``).

The results files are checked as they are read (``store``): a record or run.json that is not valid
ends the report with one line per problem (file:line: key), exit 2. A sample file
(``samples/<trial_id>.csv``: the telemetry time series beside a valid record) that is empty, not a
CSV or without its columns costs only its timeline: the report says which file and why.

It scales to hundreds of curves: the per-curve charts (time per epoch, throughput, memory, the
roofline) draw the first ``MAX_CURVE_CHARTS`` curves and say so; every curve's answer and every
trial are still in the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from benchharness import __version__
from benchharness.analyze import MEMORY_LABELS, curve_groups, max_batch_of, overlapping_trials, recommend, scaling_curves
from benchharness.atomic import write_text_atomically
from benchharness.errors import UserError
from benchharness.questions import ACCURACY_TOLERANCE, TITLES, ask, digest, questions_json
from benchharness.report.comparison import comparison_context
from benchharness.store import RunDir

MAX_TIMELINES = 12  # more panels make the page slow to read and to render; the table has them all
MAX_CURVE_CHARTS = 12  # curves drawn in the per-curve charts; each panel, line and label costs render time


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
        overlaps = overlapping_trials(run.records)
        for records in curve_groups(run.records):
            rec = recommend(records, tolerance, overlaps)
            rec.max_batch = max_batch_of(records, run.info.get("max_batch"))
            if len(runs) > 1:
                rec.label = f"{run.name}: {rec.label}"
            out.append(rec)
    return out


def tta_curves(runs: list[LoadedRun], tolerance: float) -> list:
    """One time-to-accuracy answer per curve that trained to a target, per run."""
    from benchharness.analyze_tta import tta_curve, tta_groups

    out = []
    for run in runs:
        for records in tta_groups(run.records):
            curve = tta_curve(records, tolerance)
            if len(runs) > 1:
                curve.label = f"{run.name}: {curve.label}"
            out.append(curve)
    return out


def max_batch_sections(runs: list[LoadedRun]) -> list[dict]:
    """Each searched curve's answer (run.json's ``max_batch``) with its probes in the order they ran."""
    from benchharness.analyze import describe_group

    sections = []
    for run in runs:
        by_id = {r["trial_id"]: r for r in run.records}
        for entry in run.info.get("max_batch") or []:
            probes = [by_id[t] for t in entry["probes"] if t in by_id]
            label = describe_group([{"params": entry["curve"]}])
            sections.append({"label": f"{run.name}: {label}" if len(runs) > 1 else label, "entry": entry,
                             "probes": [_probe_row(r) for r in probes]})
    return sections


def _probe_row(record: dict) -> dict:
    telemetry = record.get("telemetry") or {}
    return {"trial_id": record["trial_id"], "batch_size": record["params"]["batch_size"], "repeat": record["repeat"],
            "status": record["status"], "mem_mb": telemetry.get("mem_primary_mb"),
            "mem_source": MEMORY_LABELS.get(telemetry.get("mem_primary_source"), ""), "error": record.get("error"),
            "wall_s": record.get("wall_s")}


def trial_rows(runs: list[LoadedRun]) -> list[dict]:
    rows = []
    for run in runs:
        for r in run.records:
            t, e, p = r.get("telemetry") or {}, r.get("eval") or {}, r.get("pruning") or {}
            rows.append({"run": run.name, "trial_id": r["trial_id"], "repeat": r["repeat"], "status": r["status"],
                         "role": r.get("role", "trial"),
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


def timelines(runs: list[LoadedRun]) -> tuple[list[dict], int, dict[tuple[str, str], str]]:
    """Sample series of up to MAX_TIMELINES trials, how many trials had samples, and why a sample
    file read on the way could not be drawn ((run name, trial_id) -> reason)."""
    from benchharness.telemetry.summary import METRICS

    found = []
    for run in runs:
        for r in run.records:
            path = run.run.samples_path(r["trial_id"])
            if r.get("telemetry") and path.is_file():
                found.append((run, r, path))
    items, problems = [], {}
    for run, r, path in found:
        if len(items) == MAX_TIMELINES:
            break
        column = METRICS[r["telemetry"]["source"]]["util"]
        frame, problem = read_samples(path, column)
        if problem is not None:
            problems[(run.name, r["trial_id"])] = f"samples/{path.name}: {problem}"
            continue
        title = " ".join(f"{k}={r['params'][k]}" for k in ("batch_size", "sparsity") if k in r["params"])
        items.append({"samples": frame, "t0": frame["t_monotonic"].min(), "column": column, "epochs": r["epochs"],
                      "title": f"{r['trial_id']} {title} ({r['status']})"})
    return items, len(found), problems


def read_samples(path: Path, column: str) -> tuple[pd.DataFrame | None, str | None]:
    """A trial's samples with ``t_monotonic`` and ``column`` as numbers (a value that is not one is
    left out), or None and why not, in words."""
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return None, "empty, so no timeline"
    except (ValueError, UnicodeDecodeError, OSError) as exc:  # pandas' ParserError is a ValueError
        return None, f"not a readable CSV ({type(exc).__name__}), so no timeline"
    missing = [c for c in ("t_monotonic", column) if c not in frame.columns]
    if missing:
        return None, f"no {' or '.join(missing)} column, so no timeline"
    numbers = {c: pd.to_numeric(frame[c], errors="coerce").replace([np.inf, -np.inf], np.nan)
               for c in ("t_monotonic", column)}
    frame = frame.assign(**numbers).dropna(subset=["t_monotonic"])
    if frame.empty or frame[column].isna().all():
        return None, f"no numeric {column} readings, so no timeline"
    return frame, None


def roofline_points(runs: list[LoadedRun], drawn: set[int] | None = None) -> tuple[list[dict], dict | None]:
    """Trials with a measured cost and throughput, placed at their training-step arithmetic
    intensity (``cost.step_arithmetic_intensity``, at the trial's batch size), and the first run's
    probed ceilings. Where the stored figure is null it is computed from the record's cost and
    params; a record without the weight/activation split (written before it was counted) cannot be
    placed: it is kept with ``intensity`` None, and the chart says how many there were. ``drawn``:
    the ``id()`` of the records of the curves the charts draw (None: every record)."""
    from benchharness.cost import step_intensity_of

    peak = next((run.info["peak"] for run in runs if run.info.get("peak")), None)
    points = []
    for run in runs:
        for r in run.records:
            cost = r.get("cost") or {}
            if r.get("role") == "probe":
                continue  # a probe's one short window places no steady figure
            if not cost.get("achieved_flops_per_s") or (drawn is not None and id(r) not in drawn):
                continue
            intensity = cost.get("step_arithmetic_intensity") or step_intensity_of(cost, r["params"])
            points.append({"intensity": intensity or None, "achieved": cost["achieved_flops_per_s"],
                           "label": r["params"]["model"], "batch_size": r["params"].get("batch_size")})
    return points, peak


def _environment(runs: list[LoadedRun]) -> list[dict]:
    return [{"name": run.name, "environment": run.info.get("environment", {}), "scenario": run.info.get("scenario", {}),
             "started": run.info.get("started_utc"), "finished": run.info.get("finished_utc")} for run in runs]


def concurrency_notes(runs: list[LoadedRun]) -> list[str]:
    """One line per run whose trials shared a host at the same time (the Ray executor)."""
    notes = []
    for run in runs:
        overlaps = overlapping_trials(run.records)
        if overlaps:
            rule = (run.info.get("executor") or {}).get("concurrency") or "several at once"
            notes.append(f"{run.name}: {len(overlaps)} of {len(run.records)} trials ran at the same time on one host "
                         f"as another trial ({rule}): they shared its CPUs, PCIe and memory, so their figures are "
                         "not those of a trial alone on the machine; each is flagged \"shared host\" below")
    return notes


def build_context(runs: list[LoadedRun], tolerance: float, charts: bool,
                  accuracy_tolerance: float = ACCURACY_TOLERANCE) -> dict:
    """Everything the templates render. The questions come first (``questions.ask``): only the
    curves with two or more batch sizes answer the batch question and are charted against batch."""
    from benchharness.analyze_tta import tta_rows

    rows = trial_rows(runs)
    found = sources(runs)
    title = ", ".join(str(run.info.get("scenario", {}).get("resolved", {}).get("name", run.name)) for run in runs)
    questions, ttas = asked(runs, tolerance, accuracy_tolerance)
    context = {"version": __version__, "runs": _environment(runs), "recommendations": questions.batch, "rows": rows,
               "questions": questions, "keys": varying_params(rows), "banner": source_banner(found),
               "tolerance": tolerance, "sources": sorted(found), "title": title, "scaling": scaling_rows(runs),
               "concurrency_notes": concurrency_notes(runs), "max_batch": max_batch_sections(runs),
               "tta": [{"curve": c, "rows": tta_rows(c)} for c in ttas], "varied": varied_keys(runs), "titles": TITLES,
               "digest": digest(questions)}
    if charts:
        context |= _charts(runs, questions.batch)
        context["charts"] |= _answer_charts(context["max_batch"], ttas)
        for row in rows:
            row["samples_problem"] = context["sample_problems"].get((row["run"], row["trial_id"]))
    return context


def scaling_rows(runs: list[LoadedRun]) -> list[dict]:
    """One row per replica count of every scaling curve: global throughput and E(N) with intervals."""
    rows = []
    for curve in scaling_curves([r for run in runs for r in run.records]):
        for p in curve.points:
            value, low, high = curve.efficiency(p)
            interval = p.point.interval
            rows.append({"curve": curve.label, "mode": curve.batch_scaling, "replicas": p.replicas,
                         "throughput_sps": p.throughput, "ci": [interval.low, interval.high] if interval else None,
                         "efficiency": value, "efficiency_ci": [low, high] if low is not None else None})
    return rows


def _charts(runs: list[LoadedRun], recs: list) -> dict:
    """The charts (inline SVG) and what they leave out: the per-curve charts draw the first
    ``MAX_CURVE_CHARTS`` curves with a measurement, the timelines the first ``MAX_TIMELINES`` trials."""
    from benchharness.report import charts as chart

    measured = [r for r in recs if any(p.throughput for p in r.points)]
    batch_curves = measured[:MAX_CURVE_CHARTS]
    pruning, layers = pruning_frames(runs)
    items, total, sample_problems = timelines(runs)
    util_label = next((r.util_metric for r in recs if r.util_metric), "utilization %")
    drawn = {id(record) for rec in batch_curves for p in rec.points for record in p.records}
    points, peak = roofline_points(runs, drawn if len(measured) > len(batch_curves) else None)
    scaling = scaling_curves([r for run in runs for r in run.records])[:MAX_CURVE_CHARTS]
    return {"charts": {
        "scaling": chart.scaling(scaling),
        "central": chart.epoch_time_vs_utilization(batch_curves) if batch_curves else None,
        "throughput": chart.throughput_vs_batch(batch_curves) if batch_curves else None,
        "memory": chart.memory_vs_batch(batch_curves),
        "timelines": chart.utilization_timelines(items, util_label),
        "pruning": chart.pruning_tradeoff(pruning),
        "layers": chart.per_layer_sparsity(layers),
        "roofline": chart.roofline(points, peak["peak_flops_per_s"], peak["memory_bandwidth_bytes_per_s"])
        if peak else None,
    }, "peak": peak, "timeline_count": len(items), "timeline_total": total, "pruning_table": pruning.to_dict("records"),
        "curves_charted": len(batch_curves), "curves_measured": len(measured), "sample_problems": sample_problems}


def _answer_charts(sections: list[dict], ttas: list) -> dict:
    """The largest-batch search's probes (memory against batch, the fit and the limit) and the time
    to accuracy against batch size."""
    from benchharness.report import charts as chart

    return {"max_batch": chart.max_batch_probes(sections[:MAX_CURVE_CHARTS]) if sections else None,
            "tta": chart.time_to_accuracy(ttas[:MAX_CURVE_CHARTS]) if ttas else None}


def answers(paths: list[Path], tolerance: float = 0.05, accuracy_tolerance: float = ACCURACY_TOLERANCE) -> dict:
    """The run's questions answered as plain data (``report --format json``: ``questions.questions_json``),
    with what it varied. Raises UserError like ``render``."""
    runs = load_runs(paths)
    if not any(run.records for run in runs):
        raise UserError(f"{paths[0]}: no trial records yet (trials.jsonl is empty)")
    questions, ttas = asked(runs, tolerance, accuracy_tolerance)
    return {"varied": varied_keys(runs), **questions_json(questions),
            "max_batch": [section["entry"] | {"curve_label": section["label"]} for section in max_batch_sections(runs)],
            "time_to_accuracy": [{"curve": c.label, "headline": c.headline, "target": c.target,
                                  "fastest_batch": c.fastest.recommended_batch if c.fastest else None,
                                  "decided": bool(c.fastest and c.fastest.decided)} for c in ttas]}


def asked(runs: list[LoadedRun], tolerance: float, accuracy_tolerance: float) -> tuple:
    """The runs' questions (``questions.ask``) and their time-to-accuracy curves, which answer the
    batch question their own way."""
    ttas = tta_curves(runs, tolerance)
    return ask(runs, curves(runs, tolerance), accuracy_tolerance, has_tta=bool(ttas)), ttas


def varied_keys(runs: list[LoadedRun]) -> list[str]:
    """The params the planned trials varied (probes and timeouts aside), in the params' order."""
    params = [r["params"] for run in runs for r in run.records if r.get("role", "trial") == "trial"]
    keys = list(params[0]) if params else []
    return [k for k in keys if k != "timeout_s" and len({json.dumps(p.get(k)) for p in params}) > 1]


def flag_kinds(flags: list[str]) -> str:
    """"busy machine (4), no steady state (1)": how many flags of each kind (the text before ":")."""
    counts: dict[str, int] = {}
    for flag in flags:
        kind = flag.split(":", 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{kind} ({n})" for kind, n in counts.items())


def _environment_jinja() -> Environment:
    env = Environment(loader=PackageLoader("benchharness", "report/templates"),
                      autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda v, spec=",.0f": "–" if v is None else format(v, spec)
    env.filters["pct"] = lambda v: "–" if v is None else f"{v:.0f} %"
    env.filters["ci"] = lambda v, spec=",.0f": "–" if not v else f"{format(v[0], spec)}–{format(v[1], spec)}"
    env.filters["flag_kinds"] = flag_kinds
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, default=str, allow_nan=False)
    # Markdown: a "|" or a line break in a model name or an error must not end a table cell or a row.
    env.filters["md_line"] = lambda v: " ".join(str(v).split())
    env.filters["md_cell"] = lambda v: " ".join(str(v).split()).replace("|", "\\|")
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "allow_nan": False}  # the embedded data stays JSON
    return env


def render(paths: list[Path], out: Path, fmt: str = "html", tolerance: float = 0.05,
           on_loaded=lambda runs: None, accuracy_tolerance: float = ACCURACY_TOLERANCE) -> Path:
    """Render the report of ``paths`` (run directories) into ``out``; returns ``out``.
    ``on_loaded(runs)`` is called once every run has been read and validated (progress). The HTML
    report of exactly two runs begins with their comparison (the first is the base), with
    ``compare``'s default options.

    Raises UserError for a path that is not a run directory or an unwritable output.
    """
    runs = load_runs(paths)
    on_loaded(runs)
    if not any(run.records for run in runs):
        raise UserError(f"{paths[0]}: no trial records yet (trials.jsonl is empty)")
    context = build_context(runs, tolerance, charts=fmt == "html", accuracy_tolerance=accuracy_tolerance)
    if fmt == "html" and len(runs) == 2 and all(run.records for run in runs):
        context["comparison"] = comparison_context(compare_loaded(runs))
    return _write(out, "report.html.j2" if fmt == "html" else "report.md.j2", context)


def compare_loaded(runs: list[LoadedRun], options=None):
    """``compare.compare_runs`` of two loaded runs (the first is the base)."""
    from benchharness.compare import CompareOptions, RunData, compare_runs

    base, head = (RunData(run.run.path, run.info, run.records) for run in runs)
    return compare_runs(base, head, options or CompareOptions())


def render_comparison(base: Path, head: Path, out: Path, options) -> tuple[Path, object]:
    """The HTML report of both runs with their comparison (``compare --format html``); returns the
    path and the ``compare.Comparison``. Raises UserError like ``render``, or for a run with no records."""
    runs = load_runs([base, head])
    for run in runs:
        if not run.records:
            raise UserError(f"{run.run.trials_path}: no trial records yet; nothing to compare")
    comparison = compare_loaded(runs, options)
    context = build_context(runs, 0.05, charts=True) | {"comparison": comparison_context(comparison)}
    return _write(out, "report.html.j2", context), comparison


def markdown(comparison) -> str:
    """A comparison as a Markdown pull-request comment (``compare --format md``)."""
    return _environment_jinja().get_template("compare.md.j2").render(**comparison_context(comparison))


def _write(out: Path, template_name: str, context: dict) -> Path:
    text = _environment_jinja().get_template(template_name).render(**context)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(out, text)  # an interrupted render leaves the old report or none, never half
    except OSError as exc:
        raise UserError(f"{out}: cannot write the report ({exc.strerror})") from None
    return out
