"""Command line: wires the stages together and nothing else.

Exit codes: 0 every trial ok or oom; 1 a trial failed or timed out; 2 invalid input;
130 interrupted (finished records kept, resumable).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import sys
import tempfile
import traceback
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchharness import __version__
from benchharness.errors import UserError

EXIT_OK, EXIT_TRIAL_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

def _console(stderr: bool = False) -> Console:
    """A console; when not a terminal (CI logs, pipes) wide enough that tables do not wrap."""
    console = Console(stderr=stderr)
    return console if console.is_terminal else Console(stderr=stderr, width=160)


out = _console()
err = _console(stderr=True)


def say(console: Console, text: str) -> None:
    """Print plain text as one line, however narrow the terminal: paths and commands get copied."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad flags as one line with exit code 2 (its default), no usage dump."""

    def error(self, message: str):
        say(err, f"benchharness: {message} (see --help)")
        raise SystemExit(EXIT_USAGE)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="benchharness", description=(
        "Measure training throughput, memory and the cost of pruning for TensorFlow/Keras models. "
        "Every trial runs in a fresh process; results go to a run directory."))
    parser.add_argument("--version", action="version", version=f"benchharness {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser, metavar="VERB")

    run = verbs.add_parser("run", help="run a scenario's sweep", description=(
        "Run every trial of SCENARIO, each in its own process, and store the results. "
        "Ctrl-C stops the running trial, keeps the finished ones and prints the resume command."))
    run.add_argument("scenario", metavar="SCENARIO.yaml", help="scenario file (see scenarios/)")
    run.add_argument("--out", metavar="DIR", type=Path, default=Path("results"),
                     help="parent folder for the run directory (default: results/)")
    run.add_argument("--resume", metavar="RUN_DIR", type=Path,
                     help="continue an interrupted run: run only the trials with no record in RUN_DIR")
    run.add_argument("--dry-run", action="store_true", help="print the plan and exit; imports no TensorFlow")
    run.add_argument("--no-report", action="store_true", help="do not render the HTML report at the end")

    validate = verbs.add_parser("validate", help="check scenario files and print their plan size",
                                description="Check scenario files; imports no TensorFlow.")
    validate.add_argument("scenarios", metavar="SCENARIO.yaml", nargs="+")

    report = verbs.add_parser("report", help="render the report of run directories (HTML or Markdown)",
                              description=("Render a self-contained report from run directories only: no GPU, "
                                           "no TensorFlow needed. Several run directories are compared."))
    report.add_argument("run_dirs", metavar="RUN_DIR", nargs="+", type=Path)
    report.add_argument("-o", "--output", metavar="FILE", type=Path,
                        help="output file (default: reports/<first run dir name>.html or .md)")
    report.add_argument("--format", choices=("html", "md"), default="html",
                        help="html: one self-contained file with charts; md: a summary to paste into a pull request")
    report.add_argument("--tolerance", type=_fraction, default=0.05, metavar="FRACTION",
                        help="the recommended batch is the smallest within this fraction of the best throughput "
                             "(default 0.05)")

    verbs.add_parser("models", help="list registered models with parameters and input shape",
                     description="List registered models (builds each one, so TensorFlow is imported).")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # SIGTERM (a CI runner stopping us, `kill`) takes the same path as Ctrl-C: keep what is measured.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return {"run": cmd_run, "validate": cmd_validate, "report": cmd_report, "models": cmd_models}[args.verb](args)
    except UserError as exc:
        for line in exc.lines:
            say(err, line)
        return EXIT_USAGE


# -- validate / dry run -----------------------------------------------------------------------


def print_plan(loaded, trials) -> None:
    from benchharness.plan import varying_keys

    keys = varying_keys(trials) or ["model", "batch_size"]
    table = Table(title=f"{loaded.path}: {len(trials)} trial(s)", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("trial_id")
    table.add_column("repeat", justify="right")
    for key in keys:
        table.add_column(key)
    for i, trial in enumerate(trials, start=1):
        table.add_row(str(i), trial.trial_id, str(trial.repeat), *(str(trial.params[k]) for k in keys))
    out.print(table)


def print_warnings(loaded) -> None:
    for warning in loaded.warnings:
        say(err, f"warning: {warning}")


def cmd_validate(args) -> int:
    from benchharness.plan import expand
    from benchharness.scenario import load_scenario

    problems = []
    for path in args.scenarios:
        try:
            loaded = load_scenario(path)
        except UserError as exc:
            problems += exc.lines
            continue
        print_warnings(loaded)
        say(out, f"{path}: ok, {len(expand(loaded.scenario))} trial(s)")
    if problems:
        raise UserError(problems)
    return EXIT_OK


# -- run ---------------------------------------------------------------------------------------


def cmd_run(args) -> int:
    from benchharness.plan import expand
    from benchharness.scenario import load_scenario

    loaded = load_scenario(args.scenario)
    print_warnings(loaded)
    trials = expand(loaded.scenario)
    if args.dry_run:
        print_plan(loaded, trials)
        return EXIT_OK
    from benchharness.execute import open_run, run_sweep
    from benchharness.progress import SweepProgress

    run, todo = open_run(loaded, trials, args.out, args.resume, warn=lambda line: say(err, f"warning: {line}"))
    resume_cmd = f"benchharness run {shlex.quote(str(args.scenario))} --resume {shlex.quote(str(run.path))}"
    say(err, f"{len(todo)} of {len(trials)} trial(s) to run; results in {run.path}")
    try:
        with SweepProgress(err, trials, todo) as progress:
            records = run_sweep(run, loaded.scenario.runtime.model_dump(), todo,
                                on_event=progress.on_event, on_record=progress.on_record,
                                warn=lambda line: say(err, f"warning: {line}"))
    except KeyboardInterrupt:
        done = len(run.read_trials().records)
        say(err, f"\nInterrupted: {done} of {len(trials)} trial(s) recorded in {run.path}")
        say(err, f"Resume with: {resume_cmd}")
        return EXIT_INTERRUPTED
    print_summary(records, trials)
    report_path = None if args.no_report else _report_after_run(run.path)
    say(out, f"run directory: {run.path}")
    if report_path:
        say(out, f"report: {report_path}")
    bad = [r for r in records if r["status"] in ("failed", "timeout")]
    return EXIT_TRIAL_FAILED if bad else EXIT_OK


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_summary(records: list[dict], trials) -> None:
    from benchharness.plan import varying_keys

    keys = varying_keys(trials) or ["batch_size"]
    table = Table(title="summary (steady epochs: all but the first)", title_justify="left")
    for key in keys:
        table.add_column(key)
    table.add_column("repeat", justify="right")
    for column in ("1st epoch s", "epoch s", "samples/s", "step p50 ms"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("status")
    pruned = any(r["params"].get("sparsity") for r in records)
    if pruned:
        for column in ("sparsity measured", "test acc", "keras zip B", "tflite quant zip B", "vs dense"):
            table.add_column(column, justify="right", no_wrap=True)
    show_errors = any(r["error"] for r in records)
    if show_errors:
        table.add_column("error", overflow="fold", max_width=60)
    for r in sorted(records, key=lambda r: [_sort_key(r["params"].get(k)) for k in keys] + [r["repeat"]]):
        step = r.get("step_time_ms") or {}
        table.add_row(*(str(r["params"].get(k)) for k in keys), str(r["repeat"]),
                      _fmt(r["first_epoch_s"], ".2f"), _fmt(r["epoch_time_s"], ".3f"),
                      _fmt(r["throughput_sps"], ",.0f"), _fmt(step.get("p50"), ".2f"), r["status"],
                      *(_pruning_cells(r, records) if pruned else []),
                      *([r["error"] or ""] if show_errors else []))
    out.print(table)


def _pruning_cells(record: dict, records: list[dict]) -> list[str]:
    from benchharness.analyze import throughput_vs_dense

    pruning, sizes, evaluation = record.get("pruning") or {}, record.get("sizes") or {}, record.get("eval") or {}
    return [_fmt(pruning.get("measured"), ".3f"), _fmt(evaluation.get("accuracy"), ".4f"),
            _fmt(sizes.get("keras_zip_bytes"), ","), _fmt(sizes.get("tflite_quant_zip_bytes"), ","),
            _fmt(throughput_vs_dense(record, records), ".3f")]


def _sort_key(value) -> tuple:
    """Numbers in numeric order, then everything else as text; never compares a str with an int."""
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))


def default_report_path(run_dir: Path, fmt: str) -> Path:
    return Path("reports") / f"{Path(run_dir).name}.{fmt}"


def _report_after_run(run_dir: Path) -> Path | None:
    """Render the HTML report; a failure here must not lose the run, so it is a warning."""
    from benchharness.report import render

    try:
        return render([run_dir], default_report_path(run_dir, "html"))
    except Exception as exc:  # the measurements are safe on disk; say why there is no report
        say(err, f"warning: the report could not be rendered ({type(exc).__name__}: {exc}); "
                 f"retry with: benchharness report {run_dir}")
        return None


def cmd_report(args) -> int:
    from benchharness.report import render

    output = args.output or default_report_path(args.run_dirs[0], args.format)
    say(out, f"report: {render(args.run_dirs, output, args.format, args.tolerance)}")
    return EXIT_OK


# -- models --------------------------------------------------------------------------------------


MODELS_LOG = Path(tempfile.gettempdir()) / "benchharness-models.log"


@contextlib.contextmanager
def native_stderr_to(log_path: Path):
    """Send what is written to file descriptor 2 (TensorFlow's C++ logging, which bypasses Python)
    to ``log_path``, while ``sys.stderr`` (rich's status line, our messages) stays on the terminal."""
    sys.stderr.flush()
    terminal = os.dup(2)
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 2)
    python_stderr = sys.stderr
    sys.stderr = os.fdopen(os.dup(terminal), "w", buffering=1)
    try:
        yield
    finally:
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(terminal, 2)
        os.close(terminal)


def cmd_models(args) -> int:
    table = Table(title="registered models at their default input (forward pass, one sample): FLOPs counted by "
                        "TensorFlow's profiler, MACs = FLOPs / 2; conv/FC MACs are what the papers count",
                  title_justify="left")
    for column in ("name", "params", "input shape", "classes", "FLOPs", "MACs", "conv/FC MACs", "description"):
        table.add_column(column, justify="right" if column in ("params", "FLOPs", "MACs", "conv/FC MACs") else "left")
    MODELS_LOG.unlink(missing_ok=True)
    try:
        with native_stderr_to(MODELS_LOG), err.status("building each model and counting its FLOPs..."):
            for row in _model_rows():
                table.add_row(*row)
    except Exception as exc:  # one line here; the traceback goes beside TensorFlow's log
        with open(MODELS_LOG, "a", encoding="utf-8") as log:
            traceback.print_exc(file=log)
        say(err, f"benchharness models: {type(exc).__name__}: {exc} (details: {MODELS_LOG})")
        return EXIT_TRIAL_FAILED
    out.print(table)
    return EXIT_OK


def _model_rows():
    """One table row per registered model, built at its defaults (imports TensorFlow)."""
    from benchharness.flops import model_cost
    from benchharness.models import MODELS, resolve_builder
    from benchharness.worker import import_keras, import_tensorflow

    tf = import_tensorflow()
    tf.get_logger().setLevel("ERROR")  # the profiler's deprecation warnings
    keras = import_keras()
    for name, spec in MODELS.items():
        model = resolve_builder(name)({})
        cost = model_cost(tf, model, tuple(model.input_shape[1:]))
        yield (name, f"{model.count_params():,}", str(tuple(model.input_shape[1:])), str(spec.num_classes),
               _si(cost["flops_per_sample"]), _si(cost["macs_per_sample"]), _si(cost["conv_dense_macs_per_sample"]),
               spec.description)
        keras.backend.clear_session()


def _si(value: float | None) -> str:
    """1234567 -> '1.23 M'."""
    if value is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.0f}"
