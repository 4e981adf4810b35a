"""Command line: wires the stages together and nothing else.

Exit codes: 0 every trial ok or oom; 1 a trial failed or timed out (``compare``, ``run --baseline``:
or a regression past the threshold that the statistics support); 2 invalid input, two runs that
cannot be compared (another device model), or an output location that cannot be written (a full
disk): one line; 3 internal error (a bug: one line, the traceback in a crash log); 130 interrupted
by Ctrl-C, SIGTERM or SIGHUP (finished records kept, resumable).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import shlex
import signal
import sys
import traceback
from pathlib import Path

from benchharness import __version__
from benchharness.console import (err, out, print_answers, print_max_batch, print_plan, print_summary, print_tta,
                                  print_warnings, say)
from benchharness.errors import UserError

EXIT_OK, EXIT_TRIAL_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
# A location we cannot write: the user's to fix (exit 2), not a bug.
UNUSABLE_OUTPUT = DISK_FULL | {errno.EACCES, errno.EPERM, errno.EROFS}


def unusable_output_line(exc: OSError) -> str:
    advice = "free some space" if exc.errno in DISK_FULL else "choose a location you can write"
    return f"{exc.filename or 'output'}: {exc.strerror}; {advice}"


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


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="benchharness", description=(
        "Measure training throughput, memory and the cost of pruning for TensorFlow/Keras models. "
        "Every trial runs in a fresh process; results go to a run directory."))
    parser.add_argument("--version", action="version", version=f"benchharness {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser, metavar="VERB")
    _add_run(verbs)
    validate = verbs.add_parser("validate", help="check scenario files and print their plan size",
                                description="Check scenario files; imports no TensorFlow.")
    validate.add_argument("scenarios", metavar="SCENARIO.yaml", nargs="+")
    _add_allow_large_plan(validate)
    _add_report(verbs)
    _add_compare(verbs)
    _add_export(verbs)
    _add_maxbatch(verbs)
    schema = verbs.add_parser("schema", help="print the JSON Schema of a trial record or of run.json",
                              description=("Print the JSON Schema (draft 2020-12) of one line of trials.jsonl "
                                           "(trial-record) or of run.json (run); docs/schema/ holds the same files."))
    schema.add_argument("name", nargs="?", choices=("trial-record", "run"), default="trial-record",
                        help="which schema (default: trial-record)")
    verbs.add_parser("models", help="list registered models with parameters and input shape",
                     description="List registered models (builds each one, so TensorFlow is imported).")
    return parser


def _add_allow_large_plan(parser) -> None:
    # The figures are plan.PLAN_LIMIT and plan.HARD_LIMIT (a test holds them equal): importing plan
    # here would load pydantic and the registries for every verb.
    parser.add_argument("--allow-large-plan", action="store_true",
                        help="accept a plan of more than 10,000 trials (counted before it is built; without "
                             "this flag it is refused with its count); never more than 100,000")


def _add_run(verbs) -> None:
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
    _add_allow_large_plan(run)
    run.add_argument("--retry-failed", action="store_true",
                     help="with --resume: run failed and timed-out trials again (their old records are kept, "
                          "marked superseded by the new attempt)")
    run.add_argument("--allow-different-host", action="store_true",
                     help="with --resume: accept a run started on another host or GPU model (the device is "
                          "probed again; the run then mixes two machines' measurements)")
    run.add_argument("--executor", choices=("local", "ray"), default="local",
                     help="local (default): one trial at a time on this machine; ray: each trial a Ray task, as "
                          "many at once as there are GPUs (one per node without GPUs), this process writing the "
                          "run directory (needs: pip install 'benchharness[ray]')")
    run.add_argument("--ray-address", metavar="ADDRESS",
                     help="with --executor ray: join the cluster at ADDRESS (host:port of `ray start --head`, or "
                          "'auto'); without it a local Ray instance is started for this run")
    run.add_argument("--max-node-losses", metavar="N", type=_count,
                     help="with --executor ray: run a trial again at most N times when its node is lost "
                          "(default 3); an OOM or a failed trial is never run again")
    run.add_argument("--baseline", metavar="RUN_DIR", type=Path,
                     help="after the run, compare it with this run directory (checked before any trial runs); "
                          "the exit code is compare's: 1 on a regression, 2 if incomparable")
    _add_compare_options(run, "with --baseline: ")


def _add_compare_options(parser, prefix: str = "") -> None:
    parser.add_argument("--threshold", type=_fraction, metavar="FRACTION",
                        help=f"{prefix}a change counts past this fraction (default 0.05): worse when the throughput "
                             "falls below 1 - FRACTION of the base (or a lower-is-better figure rises past "
                             "1 / (1 - FRACTION)) and the statistics support it")
    parser.add_argument("--allow-different-device", action="store_true",
                        help=f"{prefix}compare runs that trained on different device models (otherwise exit 2)")
    parser.add_argument("--ignore-param", metavar="KEY", action="append", default=[],
                        help=f"{prefix}match points without this parameter (e.g. model, to compare two models "
                             "batch size by batch size); repeatable")


def _add_compare(verbs) -> None:
    compare = verbs.add_parser("compare", help="compare two runs point by point; exit 1 on a regression", description=(
        "Match the trials of two run directories by their parameters and give, per point and metric, base, head, "
        "their ratio and a verdict (better, worse, same, noise, new, gone). Exit 0: no regression; 1: a regression "
        "past the threshold that the statistics support; 2: incomparable (another device model) or invalid input."))
    compare.add_argument("base", metavar="BASE_RUN", type=Path, help="the run directory to compare against")
    compare.add_argument("head", metavar="HEAD_RUN", type=Path, help="the run directory of the change")
    compare.add_argument("--format", choices=("text", "md", "html"), default="text",
                         help="text: for a terminal or CI log (default); md: a pull-request comment; html: the report "
                              "of both runs with the comparison first")
    compare.add_argument("-o", "--output", metavar="FILE", type=Path,
                         help="write to FILE (text and md print to stdout without it; html defaults to "
                              "reports/<head>-vs-<base>.html)")
    _add_compare_options(compare)


def _add_export(verbs) -> None:
    export = verbs.add_parser("export", help="export a run directory as flat tables (CSV, Parquet) or MLflow runs",
                              description=("csv/parquet: trials.<ext> (one row per trial) and epochs.<ext> (one row "
                                           "per epoch) in a folder; mlflow: one MLflow run per trial under a parent "
                                           "run that holds the HTML report (needs the mlflow extra)."))
    # not ``run_dir``: that attribute is where a crash log goes, and a run directory holds only its run's files
    export.add_argument("source", metavar="RUN_DIR", type=Path, help="the run directory to export")
    export.add_argument("--to", choices=("csv", "parquet", "mlflow"), required=True, help="what to export to")
    export.add_argument("-o", "--output", metavar="DIR", type=Path,
                        help="csv/parquet: the folder for the tables (default: exports/<run dir name>/)")
    export.add_argument("--tracking-uri", metavar="URI",
                        help="mlflow: the tracking URI (default: the file store ./mlruns)")
    export.add_argument("--experiment", metavar="NAME",
                        help="mlflow: the experiment (default: the scenario's name)")


def _add_maxbatch(verbs) -> None:
    maxbatch = verbs.add_parser("maxbatch", help="find each curve's largest batch that fits (short probes)", description=(
        "Find the largest batch that fits for every curve of SCENARIO (its trials without batch_size): short "
        "probes, each in a fresh process, predicted from a memory fit and confirmed twice; the answer goes to "
        "run.json's max_batch. The scenario's sweep trials are not run (search: max_batch in a scenario runs "
        "both)."))
    maxbatch.add_argument("scenario", metavar="SCENARIO.yaml", help="scenario file (its max_batch settings apply)")
    maxbatch.add_argument("--out", metavar="DIR", type=Path, default=Path("results"),
                          help="parent folder for the run directory (default: results/)")
    maxbatch.add_argument("--resume", metavar="RUN_DIR", type=Path,
                          help="continue an interrupted search: probes with a record are not run again")
    maxbatch.add_argument("--retry-failed", action="store_true", help="with --resume: run failed probes again")
    maxbatch.add_argument("--allow-different-host", action="store_true",
                          help="with --resume: accept a run started on another host or GPU model")
    maxbatch.add_argument("--no-report", action="store_true", help="do not render the HTML report at the end")
    maxbatch.set_defaults(executor="local", ray_address=None, max_node_losses=None, dry_run=False, allow_large_plan=False,
                          search_only=True, baseline=None, threshold=None, ignore_param=[], allow_different_device=False)


def _add_report(verbs) -> None:
    report = verbs.add_parser("report", help="render the report of run directories (HTML or Markdown)",
                              description=("Render a self-contained report from run directories only: no GPU, "
                                           "no TensorFlow needed. Several run directories are compared."))
    report.add_argument("run_dirs", metavar="RUN_DIR", nargs="+", type=Path)
    report.add_argument("-o", "--output", metavar="FILE", type=Path,
                        help="output file (default: reports/<first run dir name>.html or .md)")
    report.add_argument("--format", choices=("html", "md", "json"), default="html",
                        help="html: one self-contained file with charts; md: a summary to paste into a pull request; "
                             "json: the run's questions answered (batch size per curve, the pruning trade-off, models "
                             "side by side, runtime options, largest batch, time to accuracy) with their intervals, "
                             "and the questions it cannot answer; printed for scripts and CI unless -o is given")
    report.add_argument("--tolerance", type=_fraction, default=0.05, metavar="FRACTION",
                        help="the recommended batch is the smallest within this fraction of the best throughput "
                             "(default 0.05)")
    report.add_argument("--accuracy-tolerance", type=_fraction, default=0.01, metavar="FRACTION",
                        help="pruning: a sparsity keeps accuracy while its test accuracy is at most this far below "
                             "dense, absolute (default 0.01: one percentage point)")


def main(argv: list[str] | None = None) -> int:
    _stop_on_signals()
    args = None
    try:
        args = build_parser().parse_args(argv)
        return {"run": cmd_run, "validate": cmd_validate, "report": cmd_report, "compare": cmd_compare,
                "export": cmd_export, "schema": cmd_schema, "models": cmd_models, "maxbatch": cmd_run}[args.verb](args)
    except UserError as exc:
        for line in exc.lines:
            say(err, line)
        return EXIT_USAGE
    except KeyboardInterrupt:
        say(err, "\nInterrupted.")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of our output went away (`| head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_INTERRUPTED
    except OSError as exc:
        if exc.errno not in UNUSABLE_OUTPUT:
            return _internal_error(args, exc)
        say(err, unusable_output_line(exc))
        return EXIT_USAGE
    except Exception as exc:  # a bug: one line here, the whole story in the crash log
        if _interrupted(exc):
            say(err, "\nInterrupted.")
            return EXIT_INTERRUPTED
        return _internal_error(args, exc)


def _interrupted(exc: BaseException) -> bool:
    """Whether a KeyboardInterrupt (Ctrl-C, SIGTERM, SIGHUP) lies behind ``exc``: arriving inside an
    import it can surface as another error (e.g. a RuntimeError from a class's ``__set_name__``)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _stop_on_signals() -> None:
    """SIGTERM (a CI runner stopping us, `kill`) and SIGHUP (a closed terminal) take Ctrl-C's path:
    keep what is measured, kill the worker, exit 130; never a silent death that orphans a worker.
    A signal the caller ignores stays ignored (`nohup benchharness run ...` outlives its terminal)."""
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) != signal.SIG_IGN:
            signal.signal(number, signal.default_int_handler)


def _internal_error(args, exc: BaseException) -> int:
    """Exit 3: one line naming the crash log, which holds the traceback (in the run directory when
    there is one, else in the temporary directory)."""
    import tempfile
    from datetime import datetime, timezone

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = getattr(args, "run_dir", None) or Path(tempfile.gettempdir())
    log = Path(folder) / f"benchharness-crash-{stamp}.log"
    try:
        log.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    except OSError:
        log = None
    say(err, f"benchharness: internal error: {type(exc).__name__}: {exc}"
             + (f" (traceback: {log})" if log else "") + "; please report it")
    return EXIT_INTERNAL


# -- validate / dry run -----------------------------------------------------------------------


def cmd_validate(args) -> int:
    from benchharness.plan import load_plan

    problems = []
    for path in args.scenarios:
        try:
            _, plan = load_plan(path, args.allow_large_plan)
        except UserError as exc:
            problems += exc.lines
            continue
        print_warnings(plan)
        say(out, f"{path}: ok, {len(plan.trials)} trial(s)")
    if problems:
        raise UserError(problems)
    return EXIT_OK


# -- run ---------------------------------------------------------------------------------------


def cmd_run(args) -> int:
    from benchharness.plan import load_plan

    loaded, plan = load_plan(args.scenario, args.allow_large_plan)
    print_warnings(plan)
    trials = plan.trials
    baseline = _baseline(args)  # a bad baseline is refused before any trial runs
    if args.dry_run:
        print_plan(loaded, trials)
        return EXIT_OK
    if (args.retry_failed or args.allow_different_host) and args.resume is None:
        flag = "--retry-failed" if args.retry_failed else "--allow-different-host"
        raise UserError(f"benchharness: {flag} applies to --resume RUN_DIR only (see --help)")
    warn = lambda line: say(err, f"warning: {line}")  # noqa: E731
    searching = _check_search(args, loaded)  # before Ray: a search it cannot run is one line, no cluster
    with _ray_session(args, warn) as ray_options:  # Ray up (or joined) before a run directory is made
        return _sweep(args, loaded, trials, warn, ray_options, baseline, searching)


def _sweep(args, loaded, trials, warn, ray_options, baseline, searching: bool) -> int:
    from benchharness.execute import ResumeOptions, open_run, run_sweep
    from benchharness.progress import SweepProgress

    options = ResumeOptions(args.allow_different_host, args.retry_failed)
    planned = [] if getattr(args, "search_only", False) else trials
    run, todo = open_run(loaded, planned, args.out, args.resume, warn, options)
    args.run_dir = run.path  # a crash log goes here
    resume_cmd = _resume_command(args, run.path)
    say(err, f"{len(todo)} of {len(planned)} trial(s) to run{' after the largest-batch search' if searching else ''}; "
             f"results in {run.path}")
    try:
        with SweepProgress(err, planned, todo) as progress:
            search = _search_hook(args, loaded, trials, run, progress) if searching else None
            records = run_sweep(run, loaded.scenario.runtime.model_dump(), todo, on_event=progress.on_event,
                                on_record=progress.on_record, warn=warn, options=options, ray_options=ray_options,
                                search=search)
    except KeyboardInterrupt:
        return _stopped(run, planned, resume_cmd, "Interrupted", EXIT_INTERRUPTED)
    except OSError as exc:
        if exc.errno not in UNUSABLE_OUTPUT:
            raise
        say(err, unusable_output_line(exc))
        return _stopped(run, planned, resume_cmd, "Stopped: fix that, then resume", EXIT_USAGE)
    return _finished(args, run.path, run.info, records, trials, baseline)


def _finished(args, run_dir: Path, info: dict, records: list[dict], trials, baseline) -> int:
    """A sweep that ended by itself: the summary, the answers, the report, the comparison with the
    baseline."""
    trial_records = [r for r in records if r["role"] == "trial"]
    if trial_records:
        print_summary(trial_records, trials)
        print_answers(trial_records, info)
        print_tta(trial_records)
    print_max_batch(info.get("max_batch"))
    report_path = None if args.no_report else _report_after_run(run_dir)
    say(out, f"run directory: {run_dir}")
    if report_path:
        say(out, f"report: {report_path}")
    bad = [r for r in records if r["status"] in ("failed", "timeout")]
    code = EXIT_TRIAL_FAILED if bad else EXIT_OK
    return code if baseline is None else _compare_with_baseline(args, baseline, run_dir, code)


def _compare_options(args):
    from benchharness.compare import DEFAULT_THRESHOLD, CompareOptions

    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    return CompareOptions(threshold, tuple(args.ignore_param), args.allow_different_device)


def _baseline(args):
    """The ``--baseline`` run, read and validated now (exit 2 before any trial runs), or None."""
    if args.baseline is None:
        given = [flag for flag, value in (("--threshold", args.threshold is not None), ("--ignore-param", args.ignore_param),
                                          ("--allow-different-device", args.allow_different_device)) if value]
        if given:
            raise UserError(f"benchharness: {given[0]} applies to --baseline RUN_DIR only (see --help)")
        return None
    from benchharness.compare import load_run

    return load_run(args.baseline)


def _compare_with_baseline(args, baseline, run_dir: Path, trials_code: int) -> int:
    """Compare the finished run with its baseline; compare's code decides, but a failed trial's 1
    stays 1, and an incomparable pair (or a run without records) is 2."""
    from benchharness.compare import compare_runs, load_run
    from benchharness.report.comparison import text_lines

    say(out, "")
    comparison = compare_runs(baseline, load_run(run_dir), _compare_options(args))
    for line in text_lines(comparison):
        say(out, line)
    if comparison.incomparable:
        return EXIT_USAGE
    return max(trials_code, comparison.exit_code)


def _check_search(args, loaded) -> bool:
    """Whether this invocation searches for the largest batch; raises ``UserError`` where it cannot."""
    scenario = loaded.scenario
    if not getattr(args, "search_only", False) and scenario.search != "max_batch":
        return False
    if args.executor == "ray":
        raise UserError(f"{loaded.path}: search: the largest-batch search runs with the local executor (its probes "
                        "run one after another, each decided from the last); drop --executor ray or the search")
    if scenario.runtime.sample_interval_ms == 0:
        raise UserError(f"{loaded.path}: runtime.sample_interval_ms: the largest-batch search reads each probe's "
                        "memory from the sampled telemetry: must not be 0")
    return True


def _search_hook(args, loaded, trials, run, progress):
    from benchharness.search import config_of, curves_of, search_hook

    return search_hook(run, config_of(loaded.scenario.max_batch), curves_of(trials), args.retry_failed,
                       progress.on_probe)


def _resume_command(args, run_dir: Path) -> str:
    """The command that completes this run as it was asked for: same verb, executor and baseline gate."""
    verb = "maxbatch" if getattr(args, "search_only", False) else "run"
    words = ["benchharness", verb, str(args.scenario), "--resume", str(run_dir)]
    if args.executor == "ray":
        words += ["--executor", "ray"] + (["--ray-address", args.ray_address] if args.ray_address else [])
    if args.baseline is not None:
        words += ["--baseline", str(args.baseline)] + (["--threshold", str(args.threshold)] if args.threshold is not None else [])
        words += [w for key in args.ignore_param for w in ("--ignore-param", key)]
        words += ["--allow-different-device"] if args.allow_different_device else []
    return " ".join(shlex.quote(w) for w in words)


@contextlib.contextmanager
def _ray_session(args, warn):
    """Yields the Ray executor's options, or None for the local executor. Ray is imported and
    started (or its cluster joined) before any run directory is made, so a missing extra or a
    wrong address is one line and no empty run; a local instance is shut down afterwards."""
    if args.executor != "ray":
        given = [f for f, v in (("--ray-address", args.ray_address), ("--max-node-losses", args.max_node_losses)) if v is not None]
        if given:
            raise UserError(f"benchharness: {given[0]} applies to --executor ray only (see --help)")
        yield None
        return
    from benchharness.ray_executor import DEFAULT_MAX_NODE_LOSSES, RayOptions, connect, import_ray

    ray = import_ray()
    losses = DEFAULT_MAX_NODE_LOSSES if args.max_node_losses is None else args.max_node_losses
    options = RayOptions(address=args.ray_address, max_node_losses=losses)
    connect(ray, options, warn)
    try:
        yield options
    finally:
        ray.shutdown()


def _stopped(run, trials, resume_cmd: str, why: str, code: int) -> int:
    """A sweep that did not end by itself: what is kept, and how to go on."""
    records = run.read_trials().records
    done = sum(r["role"] == "trial" for r in records)
    probes = "" if done == len(records) else f" (and {len(records) - done} largest-batch probe(s))"
    say(err, f"\n{why}: {done} of {len(trials)} trial(s){probes} recorded in {run.path}")
    say(err, f"Resume with: {resume_cmd}")
    return code


def default_report_path(run_dir: Path, fmt: str, others: list[Path] = (), stem: str | None = None) -> Path:
    """``reports/<run dir name>.<fmt>`` (or ``<stem>.<fmt>``) under the current directory; where that
    lands inside a run directory (``report .`` from inside one), ``reports/`` beside the outermost
    such run directory instead: a run directory holds only what its run wrote."""
    run_dir = Path(run_dir).resolve()
    name = f"{stem or run_dir.name or 'report'}.{fmt}"
    path = Path("reports") / name
    inside = [d for d in (run_dir, *(Path(o).resolve() for o in others)) if path.resolve().is_relative_to(d)]
    return min(inside, key=lambda d: len(d.parts)).parent / "reports" / name if inside else path


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

    if args.format == "json":
        return _report_json(args)
    output = args.output or default_report_path(args.run_dirs[0], args.format, args.run_dirs[1:])
    def loaded(runs) -> None:  # after the input is known good: a bad results file stays one line
        trials = sum(len(run.records) for run in runs)
        say(err, f"rendering the {args.format} report of {trials} trial(s) in {len(runs)} run director"
                 f"{'y' if len(runs) == 1 else 'ies'}...")

    path = render(args.run_dirs, output, args.format, args.tolerance, loaded, args.accuracy_tolerance)
    say(out, f"report: {path}")
    return EXIT_OK


# -- models --------------------------------------------------------------------------------------


def _report_json(args) -> int:
    import json

    from benchharness.report import answers

    text = json.dumps(answers(args.run_dirs, args.tolerance, args.accuracy_tolerance), indent=2, allow_nan=False)
    if args.output is None:
        print(text)
        return EXIT_OK
    try:
        args.output.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{args.output}: cannot write the answers ({exc.strerror})") from None
    say(out, f"answers: {args.output}")
    return EXIT_OK


# -- compare / export ---------------------------------------------------------------------------


def cmd_compare(args) -> int:
    from benchharness.compare import compare_paths
    from benchharness.report import markdown
    from benchharness.report.comparison import text_lines

    options = _compare_options(args)
    if args.format == "html":
        return _compare_html(args, options)
    comparison = compare_paths(args.base, args.head, options)
    lines = text_lines(comparison)
    text = markdown(comparison) if args.format == "md" else "\n".join(lines) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        _write_output(args.output, text, "the comparison")
        say(out, f"comparison: {args.output}")
        say(out, lines[-1])
    if comparison.incomparable and (args.output is not None or args.format != "text"):
        say(err, comparison.incomparable)  # the text on stdout says it already
    return comparison.exit_code


def _compare_html(args, options) -> int:
    """The report of both runs with the comparison first; prints its path and the result line."""
    from benchharness.report import render_comparison
    from benchharness.report.comparison import text_lines

    output = args.output or default_report_path(args.head, "html", [args.base],
                                                stem=f"{Path(args.head).resolve().name}-vs-{Path(args.base).resolve().name}")
    path, comparison = render_comparison(args.base, args.head, output, options)
    say(out, f"report: {path}")
    say(out, text_lines(comparison)[-1])
    if comparison.incomparable:
        say(err, comparison.incomparable)
    return comparison.exit_code


def _write_output(path: Path, text: str, what: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot write {what} ({exc.strerror})") from None


def cmd_export(args) -> int:
    from benchharness.compare import load_run

    run = load_run(args.source)
    if args.to == "mlflow":
        return _export_mlflow(args, run)
    if args.tracking_uri or args.experiment:
        raise UserError("benchharness: --tracking-uri and --experiment apply to --to mlflow only (see --help)")
    from benchharness.exports.tables import write_tables

    folder = args.output or Path("exports") / run.name
    try:
        paths = write_tables(run.records, folder, args.to)
    except OSError as exc:
        raise UserError(f"{folder}: cannot write the tables ({exc.strerror})") from None
    for path in paths:
        say(out, f"{args.to}: {path}")
    return EXIT_OK


def _export_mlflow(args, run) -> int:
    """MLflow runs, with the run's HTML report (rendered to a temporary file) on the parent run."""
    import tempfile

    from benchharness.exports.mlflow_runs import export_mlflow, require_mlflow
    from benchharness.report import render

    if args.output is not None:
        raise UserError("benchharness: -o applies to --to csv|parquet; MLflow takes --tracking-uri (see --help)")
    require_mlflow()  # before rendering the report
    with tempfile.TemporaryDirectory(prefix="benchharness-export-") as tmp:
        report = render([run.path], Path(tmp) / f"{run.name}.html")
        done = export_mlflow(run.path, run.info, run.records, report, args.tracking_uri, args.experiment)
    say(out, f"mlflow: {done.trial_runs} trial run(s) under run {done.parent_run_id} in experiment "
             f"{done.experiment!r} at {done.tracking_uri}")
    return EXIT_OK


def cmd_schema(args) -> int:
    import json

    from benchharness.record import json_schema

    print(json.dumps(json_schema(args.name), indent=2))
    return EXIT_OK


def cmd_models(args) -> int:
    from benchharness.models.table import MODELS_LOG, models_table, native_stderr_to

    MODELS_LOG.unlink(missing_ok=True)
    try:
        with native_stderr_to(MODELS_LOG), err.status("building each model and counting its FLOPs..."):
            table = models_table()
    except Exception as exc:  # one line here; the traceback goes beside TensorFlow's log
        with open(MODELS_LOG, "a", encoding="utf-8") as log:
            traceback.print_exc(file=log)
        say(err, f"benchharness models: {type(exc).__name__}: {exc} (details: {MODELS_LOG})")
        return EXIT_TRIAL_FAILED
    out.print(table)
    return EXIT_OK
