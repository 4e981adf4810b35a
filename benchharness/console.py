"""What the CLI prints: the consoles, one-line messages, and the plan and summary tables (rich).

Text is data, never markup: every string from a user or TensorFlow (paths, parameters, error
messages) reaches rich as a ``Text`` or through ``say`` (``markup=False``), so ``[red]`` or
``[/batch, 28, 28]`` prints as written. Markup appears only in literals written here."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text


def _console(stderr: bool = False) -> Console:
    """A console; when not a terminal (CI logs, pipes) wide enough that tables do not wrap."""
    console = Console(stderr=stderr)
    return console if console.is_terminal else Console(stderr=stderr, width=160)


out = _console()
err = _console(stderr=True)


def say(console: Console, text: str) -> None:
    """Print plain text as one line, however narrow the terminal: paths and commands get copied."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def cell(value) -> Text:
    """A table cell (or title) that shows ``value`` as written: rich parses plain strings as markup."""
    return Text(str(value))


def print_warnings(plan) -> None:
    """A plan's warnings, one line each on stderr."""
    for warning in plan.warnings:
        say(err, f"warning: {warning}")


def print_plan(loaded, trials) -> None:
    from benchharness.plan import varying_keys

    keys = varying_keys(trials) or ["model", "batch_size"]
    table = Table(title=cell(f"{loaded.path}: {len(trials)} trial(s)"), title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("trial_id")
    table.add_column("repeat", justify="right")
    for key in keys:
        table.add_column(cell(key))
    for i, trial in enumerate(trials, start=1):
        table.add_row(str(i), cell(trial.trial_id), str(trial.repeat), *(cell(trial.params[k]) for k in keys))
    out.print(table)


def fmt(value, spec: str) -> str:
    """``value`` formatted with ``spec``; "-" for a figure that was not measured."""
    return "-" if value is None else format(value, spec)


SUMMARY_COLUMNS = ("1st epoch s", "epoch s", "samples/s", "95% interval", "n", "stop", "step p50 ms")
PRUNING_COLUMNS = ("sparsity measured", "test acc", "keras zip B", "tflite quant zip B", "vs dense (95%)")


def print_summary(records: list[dict], trials) -> None:
    """One row per stored record (dicts as ``store`` reads them), sorted by the swept keys."""
    from benchharness.plan import varying_keys

    keys = varying_keys(trials) or ["batch_size"]
    pruned = any(r["params"].get("sparsity") for r in records)
    show_errors = any(r["error"] for r in records)
    table = _summary_table(keys, pruned, show_errors)
    for r in sorted(records, key=lambda r: [_sort_key(r["params"].get(k)) for k in keys] + [r["repeat"]]):
        step = r.get("step_time_ms") or {}
        table.add_row(*(cell(r["params"].get(k)) for k in keys), str(r["repeat"]),
                      fmt(r["first_epoch_s"], ".2f"), fmt(r["epoch_time_s"], ".3f"),
                      fmt(r["throughput_sps"], ",.0f"), interval_text(r.get("throughput_ci_sps")),
                      fmt(r.get("steady_windows"), "d"), cell(r.get("stop_reason") or "-"), fmt(step.get("p50"), ".2f"),
                      cell(r["status"]), *(_pruning_cells(r) if pruned else []),
                      *([cell(r["error"] or "")] if show_errors else []))
    out.print(table)


def _summary_table(keys: list[str], pruned: bool, show_errors: bool) -> Table:
    table = Table(title="summary (steady epochs: all after the warm-up; n: steady windows)", title_justify="left")
    for key in keys:
        table.add_column(cell(key))
    table.add_column("repeat", justify="right")
    for column in SUMMARY_COLUMNS:
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("status")
    for column in PRUNING_COLUMNS if pruned else ():
        table.add_column(column, justify="right", no_wrap=True)
    if show_errors:
        table.add_column("error", overflow="fold", max_width=60)
    return table


def interval_text(interval: list[float] | None) -> str:
    return "-" if not interval else f"{interval[0]:,.0f}-{interval[1]:,.0f}"


def print_answers(records: list[dict], info: dict | None = None) -> None:
    """The run's questions answered in words, as the report leads with them (``questions.ask``):
    each curve with two or more batch sizes (decided, or the batches the data cannot separate),
    the pruning trade-off, the models side by side, runtime options; then what it cannot answer."""
    from types import SimpleNamespace

    from benchharness.analyze import curve_groups, overlapping_trials, recommend
    from benchharness.questions import ask

    overlaps = overlapping_trials(records)
    run = SimpleNamespace(name="run", info=info or {}, records=records)
    from benchharness.analyze_tta import tta_groups

    found = ask([run], [recommend(curve, overlaps=overlaps) for curve in curve_groups(records)],
                has_tta=bool(tta_groups(records)))
    for rec in found.batch:
        out.print(f"[bold]{'Decided' if rec.decided else 'Undecided'}:[/] ", end="")
        say(out, rec.headline)
        for flag in rec.flags:
            say(out, f"  flag: {flag}")
    for headline, flags in [(a.headline, a.flags) for a in found.pruning] + [(c.headline, c.flags) for c in found.models]:
        say(out, headline)
        for flag in flags:
            say(out, f"  flag: {flag}")
    for effect in found.options:
        say(out, f"{effect.label}: {effect.option} {effect.value} against {effect.base}: {effect.words}")
    if found.declined and records:
        say(out, "Not answered by this run: " + "; ".join(f"{d.title} ({d.why})" for d in found.declined))


def print_max_batch(entries: list[dict] | None) -> None:
    """Each curve's largest batch that fits: verified, the step up that ran out of memory, the
    prediction with its interval, and the probes it took (beside doubling and bisection's count)."""
    for entry in entries or []:
        curve = entry["curve"]
        label = f"{curve.get('model')} on {curve.get('dataset')}"
        interval = entry["predicted_interval"]
        say(out, f"Largest batch that fits, {label}: verified {fmt(entry['verified'], 'd')} (twice), "
                 f"out of memory at {fmt(entry['oom_at'], 'd')} (twice); predicted {fmt(entry['predicted'], 'd')}"
                 + (f" (95 % interval {interval[0]}-{interval[1]})" if interval else "")
                 + f"; {entry['probe_count']} probes (doubling and bisection: "
                   f"{fmt(entry['doubling_bisection_probes'], 'd')}); {entry['stop_reason']}")


def print_tta(records: list[dict]) -> None:
    """Each time-to-accuracy curve's answer in words (``analyze_tta``)."""
    from benchharness.analyze_tta import tta_curve, tta_groups

    for group in tta_groups(records):
        curve = tta_curve(group)
        out.print(f"[bold]Time to accuracy ({'decided' if curve.fastest and curve.fastest.decided else 'undecided'}):[/] ",
                  end="")
        say(out, curve.headline)


def _pruning_cells(record: dict) -> list[str]:
    pruning, sizes, evaluation = record.get("pruning") or {}, record.get("sizes") or {}, record.get("eval") or {}
    return [fmt(pruning.get("measured"), ".3f"), fmt(evaluation.get("accuracy"), ".4f"),
            fmt(sizes.get("keras_zip_bytes"), ","), fmt(sizes.get("tflite_quant_zip_bytes"), ","),
            vs_dense_text(pruning)]


def vs_dense_text(pruning: dict) -> str:
    """``throughput_vs_dense`` with its 95 % interval where it has one, "0.97 (0.91-1.04)" (two
    decimals: the table is already wider than most terminals), else "0.970"."""
    ratio, interval = pruning.get("throughput_vs_dense"), pruning.get("throughput_vs_dense_ci")
    if ratio is None or not interval:
        return fmt(ratio, ".3f")
    return f"{ratio:.2f} ({interval[0]:.2f}-{interval[1]:.2f})"


def _sort_key(value) -> tuple:
    """Numbers in numeric order, then everything else as text; never compares a str with an int."""
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))
