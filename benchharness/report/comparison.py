"""A comparison of two runs (``benchharness.compare``) as text, Markdown (a pull-request comment)
or a section of the HTML report. Every figure is formatted once here (``comparison_context``); the
templates and the text lines only lay it out. Text from results files is data: the templates
escape it (HTML autoescape, Markdown cells), the text lines print it as written."""

from __future__ import annotations

import math

from benchharness import stats
from benchharness.compare import EXIT_REGRESSION, Comparison, MetricRow, PointComparison

VERDICT_WORDS = {stats.WORSE: "WORSE", stats.BETTER: "better", stats.NOISE: "noise", stats.SAME: "same",
                 "new": "new", "gone": "gone"}


def figure(value: float | None) -> str:
    """A figure in a width that suits its size: 12,345 / 3.217 / 0.01234."""
    if value is None:
        return "–"
    return format(value, ",.0f") if abs(value) >= 1000 else format(value, ".4g")


def _bound(value: float | None) -> str:
    return "∞" if value is not None and math.isinf(value) else f"{value:.3f}"


def interval_text(row: MetricRow) -> str:
    return "–" if row.low is None else f"{_bound(row.low)}–{_bound(row.high)}"


def test_text(row: MetricRow) -> str:
    """How the interval was made, in words."""
    sides = f"{row.n_base} v {row.n_head}"
    return {"trials": f"{sides} trials, Welch {stats.COMPARE_CONFIDENCE:.0%}",
            "intervals": f"{sides}, 95 % intervals", "exact": f"{sides}, exact"}.get(row.method, f"{sides}, no interval")


def metric_text(row: MetricRow) -> str:
    return f"{row.metric.label} ({row.metric.unit})" if row.metric.unit else row.metric.label


def row_context(point: PointComparison, row: MetricRow) -> dict:
    return {"point": point.label, "metric": metric_text(row), "base": figure(row.base), "head": figure(row.head),
            "ratio": f"{row.ratio:.3f}", "interval": interval_text(row), "test": test_text(row),
            "verdict": row.verdict, "word": VERDICT_WORDS[row.verdict]}


def point_rows(point: PointComparison) -> list[dict]:
    """The point's rows: its status change first, then one per metric; a new or gone point, one row."""
    if point.verdict in ("new", "gone"):
        side = point.head or point.base
        return [{"point": point.label, "metric": "trials", "base": "–" if point.verdict == "new" else str(len(side)),
                 "head": str(len(side)) if point.verdict == "new" else "–", "ratio": "–", "interval": "–",
                 "test": f"only in the {'head' if point.verdict == 'new' else 'base'} run", "verdict": point.verdict,
                 "word": point.verdict}]
    rows = [row_context(point, row) for row in point.rows]
    if point.status_change:
        rows.insert(0, {"point": point.label, "metric": "status", "base": "", "head": "", "ratio": "–",
                        "interval": "–", "test": point.status_change, "verdict": point.status_verdict,
                        "word": VERDICT_WORDS[point.status_verdict]})
    return rows


def regression_text(point: PointComparison) -> str:
    """``batch_size=64 (throughput x0.586, steady epoch time x1.707)``."""
    parts = [f"status {point.status_change}"] if point.status_verdict == stats.WORSE else []
    parts += [f"{row.metric.label} x{row.ratio:.3f}" for row in point.worse_rows]
    return f"{point.label} ({', '.join(parts)})"


def headline(cmp: Comparison) -> str:
    if cmp.incomparable:
        return "incomparable: no verdict (exit 2)"
    if cmp.regressions:
        return (f"regression in {len(cmp.regressions)} of {cmp.matched} matched point(s) past {cmp.threshold:.0%} "
                f"(exit {EXIT_REGRESSION}): " + "; ".join(regression_text(p) for p in cmp.regressions))
    return f"no regression past {cmp.threshold:.0%} in {cmp.matched} matched point(s) (exit 0)"


def comparison_context(cmp: Comparison) -> dict:
    """Everything the templates and the text lines show, formatted."""
    rows = [row for point in cmp.points for row in point_rows(point)]
    counts = {v: sum(p.verdict == v for p in cmp.points) for v in ("new", "gone")}
    return {"base": cmp.base.name, "head": cmp.head.name, "base_trials": len(cmp.base.records),
            "head_trials": len(cmp.head.records), "threshold": cmp.threshold, "headline": headline(cmp),
            "exit_code": cmp.exit_code, "incomparable": cmp.incomparable,
            "differences": [r for r in cmp.environment if r.differs],
            "device": next(r.base for r in cmp.environment if r.field == "device"),
            "ignored": [r for r in cmp.ignored_values], "rows": rows,
            "changes": [r for r in rows if r["verdict"] != stats.SAME], "matched": cmp.matched, **counts,
            "notes": [f"{p.label}: {note}" for p in cmp.points for note in p.notes],
            "recommendations": cmp.recommendations, "confidence": stats.COMPARE_CONFIDENCE}


COLUMNS = (("point", "point"), ("metric", "metric"), ("base", "base"), ("head", "head"), ("ratio", "ratio"),
           ("interval", "interval"), ("test", "test"), ("word", "verdict"))


def text_table(rows: list[dict]) -> list[str]:
    """Plain aligned columns (CI logs keep them): a point's name on its first row only."""
    shown, last = [], None
    for row in rows:
        one_line = {key: " ".join(str(value).split()) for key, value in row.items()}  # a name holding a newline
        shown.append({**one_line, "point": one_line["point"] if row["point"] != last else ""})
        last = row["point"]
    widths = {key: max([len(title), *(len(str(r[key])) for r in shown)]) for key, title in COLUMNS}
    line = lambda r: "  ".join(str(r[k]).ljust(widths[k]) for k, _ in COLUMNS).rstrip()  # noqa: E731
    return [line({k: title for k, title in COLUMNS}), *(line(r) for r in shown)]


def text_lines(cmp: Comparison) -> list[str]:
    """The comparison as plain text lines (``compare --format text``)."""
    c = comparison_context(cmp)
    lines = [f"compare: base {c['base']} ({c['base_trials']} trials) -> head {c['head']} ({c['head_trials']} trials), "
             f"threshold {c['threshold']:.0%}"]
    lines += environment_lines(c)
    lines += [f"matched without {r.field}: base {r.base}, head {r.head}" for r in c["ignored"]]
    if not c["incomparable"]:
        lines += ["", *text_table(c["rows"])]
        lines += [f"note: {note}" for note in c["notes"]]
        lines += [recommendation_text(r) for r in c["recommendations"]]
    return [*lines, "", f"result: {c['incomparable'] or c['headline']}"]


def environment_lines(c: dict) -> list[str]:
    if not c["differences"]:
        return [f"environment: no differences (device {c['device']})"]
    width = max(len(r.field) for r in c["differences"])
    return [f"environment: {len(c['differences'])} difference(s)",
            *(f"  {r.field.ljust(width)}  {_shown(r.base)}  ->  {_shown(r.head)}" for r in c["differences"])]


def _shown(value: str | None) -> str:
    return "–" if value is None else value


def recommendation_text(change) -> str:
    side = lambda batch, decided: f"{batch} ({'decided' if decided else 'undecided'})"  # noqa: E731
    verb = "changed" if change.changed else "unchanged"
    return (f"recommended batch: {change.curve}: {side(change.base, change.base_decided)} -> "
            f"{side(change.head, change.head_decided)}: {verb}")
