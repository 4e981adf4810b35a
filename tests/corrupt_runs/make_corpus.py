"""Builds the corrupt run directories beside this file from one small valid run (the golden
``cpu_run``: five version-1 records, upgraded on read), one fault each, and writes README.md.

Each case directory holds an ``expect`` file: its first line is ``exit 2`` or ``exit 0``; with
``exit 2`` each further line is the start of one line ``benchharness report`` must print on stderr
(``{run}`` is the case directory): file, line and field; with ``exit 0`` each further line is a text
the HTML report must show (the damage marked). ``tests/test_corrupt_runs.py`` runs the report on each.

Run from the repository root after changing a case: python tests/corrupt_runs/make_corpus.py
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = HERE.parent / "golden" / "cpu_run"
FIRST_ID = "ee71a4cb7075"  # line 1 of the base trials.jsonl (batch 32)
SECOND_ID = "6a27347449ff"  # line 2: the record most cases damage


def records() -> list[dict]:
    return [json.loads(line) for line in (BASE / "trials.jsonl").read_text().splitlines()]


def write_records(run: Path, lines: list) -> None:
    """``lines``: records (dicts, written as JSON) or raw lines (bytes, written as they are)."""
    data = b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines)
    (run / "trials.jsonl").write_bytes(data)


def change_record(run: Path, change, line: int = 2) -> None:
    """Apply ``change`` to the record on ``line`` (1-based); it returns a new record (dict) or raw bytes."""
    lines: list = records()
    lines[line - 1] = change(lines[line - 1]) or lines[line - 1]
    write_records(run, lines)


def replace_text(run: Path, name: str, old: bytes, new: bytes, line: int | None = None) -> None:
    """Replace ``old`` with ``new`` once, in the whole file or in one line of it (NaN, bytes that are not UTF-8)."""
    data = (run / name).read_bytes()
    if line is None:
        assert data.count(old) >= 1, (name, old)
        data = data.replace(old, new, 1)
    else:
        parts = data.split(b"\n")
        assert old in parts[line - 1], (name, line, old)
        parts[line - 1] = parts[line - 1].replace(old, new, 1)
        data = b"\n".join(parts)
    (run / name).write_bytes(data)


def set_in(record: dict, dotted: str, value) -> dict:
    *parents, last = dotted.split(".")
    target = record
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return record


def drop(record: dict, key: str) -> dict:
    del record[key]
    return record


def run_json(run: Path, change) -> None:
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps(change(info) or info, indent=2) + "\n")


BINARY = bytes(range(256)) * 4  # every byte value, not UTF-8 from byte 0x80 on

# name -> (what is wrong, build(run), expected lines after the exit line, exit code)
CASES = {
    "record_missing_status": ("a record without status", lambda r: change_record(r, lambda x: drop(x, "status")),
                              ["{run}/trials.jsonl:2: status: "], 2),
    "record_missing_params": ("a record without params", lambda r: change_record(r, lambda x: drop(x, "params")),
                              ["{run}/trials.jsonl:2: params: missing"], 2),
    "number_as_string": ("throughput_sps given as a string", lambda r: change_record(
        r, lambda x: set_in(x, "throughput_sps", "6837.8")), ["{run}/trials.jsonl:2: throughput_sps: "], 2),
    "list_for_scalar": ("epoch_time_s given as a list", lambda r: change_record(
        r, lambda x: set_in(x, "epoch_time_s", [1.7])), ["{run}/trials.jsonl:2: epoch_time_s: "], 2),
    "mapping_for_scalar": ("status given as a mapping", lambda r: change_record(
        r, lambda x: set_in(x, "status", {"ok": True})), ["{run}/trials.jsonl:2: status: "], 2),
    "batch_size_as_string": ("params.batch_size given as a string", lambda r: change_record(
        r, lambda x: set_in(x, "params.batch_size", "64")), ["{run}/trials.jsonl:2: params.batch_size: "], 2),
    "batch_size_zero": ("params.batch_size 0", lambda r: change_record(
        r, lambda x: set_in(x, "params.batch_size", 0)), ["{run}/trials.jsonl:2: params.batch_size: "], 2),
    "param_is_a_list": ("params.batch_size given as a list", lambda r: change_record(
        r, lambda x: set_in(x, "params.batch_size", [64])), ["{run}/trials.jsonl:2: params.batch_size: "], 2),
    "param_is_a_mapping": ("params.model given as a mapping", lambda r: change_record(
        r, lambda x: set_in(x, "params.model", {"name": "tutorial_cnn"})), ["{run}/trials.jsonl:2: params.model: "], 2),
    "negative_throughput": ("throughput_sps negative", lambda r: change_record(
        r, lambda x: set_in(x, "throughput_sps", -6837.8)), ["{run}/trials.jsonl:2: throughput_sps: must not be negative"],
        2),
    "unknown_telemetry_source": ("telemetry.source 'tpu'", lambda r: change_record(
        r, lambda x: set_in(x, "telemetry.source", "tpu")), ["{run}/trials.jsonl:2: telemetry.source: "], 2),
    "nan_throughput": ("throughput_sps NaN (Python's json reads it)", lambda r: change_record(
        r, lambda x: json.dumps(set_in(x, "throughput_sps", float("nan"))).encode()),
        ["{run}/trials.jsonl:2: throughput_sps: NaN is not a finite number"], 2),
    "infinity_epoch_seconds": ("epochs.1.seconds Infinity", lambda r: change_record(
        r, lambda x: json.dumps(set_in(x, "epochs.1.seconds", float("inf"))).encode()),
        ["{run}/trials.jsonl:2: epochs.1.seconds: Infinity is not a finite number"], 2),
    "negative_infinity_nested": ("telemetry.util_mean_pct -Infinity", lambda r: change_record(
        r, lambda x: json.dumps(set_in(x, "telemetry.util_mean_pct", float("-inf"))).encode()),
        ["{run}/trials.jsonl:2: telemetry.util_mean_pct: -Infinity is not a finite number"], 2),
    "number_overflows_float": ("throughput_sps 1e999 (json reads it as infinity)", lambda r: change_record(
        r, lambda x: json.dumps(set_in(x, "throughput_sps", 12345.5)).replace("12345.5", "1e999").encode()),
        ["{run}/trials.jsonl:2: throughput_sps: 1e999 is not a finite number"], 2),
    "trial_id_traversal": ("trial_id '../../../../../../tmp/x' (samples are looked up by it)", lambda r: change_record(
        r, lambda x: set_in(x, "trial_id", "../../../../../../tmp/x")), ["{run}/trials.jsonl:2: trial_id: "], 2),
    "trial_id_absolute": ("trial_id '/etc/passwd'", lambda r: change_record(
        r, lambda x: set_in(x, "trial_id", "/etc/passwd")), ["{run}/trials.jsonl:2: trial_id: "], 2),
    "trial_id_hidden": ("trial_id '..'", lambda r: change_record(
        r, lambda x: set_in(x, "trial_id", "..")), ["{run}/trials.jsonl:2: trial_id: "], 2),
    "trials_is_a_directory": ("trials.jsonl is a directory", lambda r: (
        (r / "trials.jsonl").unlink(), (r / "trials.jsonl").mkdir(), (r / "trials.jsonl" / "keep").write_text("")),
        ["{run}/trials.jsonl: is a directory, not a file"], 2),
    "record_not_utf8": ("a byte that is not UTF-8 in record 3's params.model", lambda r: replace_text(
        r, "trials.jsonl", b"tutorial_cnn", b"tutorial\xffcnn", line=3),
        ["{run}/trials.jsonl:3: params.model: not UTF-8 text (byte 0xff"], 2),
    "trials_binary": ("trials.jsonl is binary garbage", lambda r: (r / "trials.jsonl").write_bytes(BINARY + b"\n"),
                      ["{run}/trials.jsonl:1: "], 2),
    "record_is_a_list": ("line 2 is a JSON list", lambda r: change_record(r, lambda x: b"[1, 2]"),
                         ["{run}/trials.jsonl:2: trial_id: missing"], 2),
    "invalid_json_line": ("line 2 is cut short mid-file", lambda r: change_record(r, lambda x: b'{"trial_id": '),
                          ["{run}/trials.jsonl:2: not a valid trial record"], 2),
    "device_is_text": ("an old record's device given as text (its upgrade reads a mapping)", lambda r: change_record(
        r, lambda x: set_in(x, "device", "cpu")), ["{run}/trials.jsonl:2: device: "], 2),
    "epochs_is_text": ("an old record's epochs given as text", lambda r: change_record(
        r, lambda x: set_in(x, "epochs", "3")), ["{run}/trials.jsonl:2: epochs: "], 2),
    "epoch_seconds_text": ("an old record's epochs.1.seconds given as text", lambda r: change_record(
        r, lambda x: set_in(x, "epochs.1.seconds", "1.7")), ["{run}/trials.jsonl:2: epochs.1.seconds: "], 2),
    "telemetry_is_a_list": ("an old record's telemetry given as a list", lambda r: change_record(
        r, lambda x: set_in(x, "telemetry", [1, 2])), ["{run}/trials.jsonl:2: telemetry: "], 2),
    "schema_version_zero": ("a record of schema_version 0", lambda r: change_record(
        r, lambda x: set_in(x, "schema_version", 0)), ["{run}/trials.jsonl:2: schema_version: "], 2),
    "nesting_too_deep": ("line 2 nests 20,000 lists", lambda r: change_record(
        r, lambda x: b"[" * 20_000 + b"]" * 20_000), ["{run}/trials.jsonl:2: (top level): not a valid trial record"], 2),
    "integer_of_5000_digits": ("repeat with 5,000 digits (past Python's int parsing limit)", lambda r: change_record(
        r, lambda x: json.dumps(set_in(x, "repeat", 7)).replace('"repeat": 7', '"repeat": ' + "9" * 5000).encode()),
        ["{run}/trials.jsonl:2: (top level): not a valid trial record"], 2),
    "several_bad_records": ("records 2 and 4 bad: one line each", lambda r: (
        change_record(r, lambda x: set_in(x, "status", "crashed")),
        replace_text(r, "trials.jsonl", b'"repeat": 0', b'"repeat": -1', line=4)),
        ["{run}/trials.jsonl:2: status: ", "{run}/trials.jsonl:4: repeat: "], 2),
    "run_json_is_a_list": ("run.json holds a list", lambda r: (r / "run.json").write_text("[1, 2]\n"),
                           ["{run}/run.json:1: (top level): must be a JSON object"], 2),
    "run_json_not_utf8": ("a byte that is not UTF-8 in run.json's scenario.source", lambda r: replace_text(
        r, "run.json", b"scenarios/batch_sweep", b"scenarios/batch\xe9sweep"),
        ["{run}/run.json:7: scenario.source: not UTF-8 text (byte 0xe9"], 2),
    "run_json_binary": ("run.json is binary garbage", lambda r: (r / "run.json").write_bytes(BINARY),
                        ["{run}/run.json:2: (top level): not UTF-8 text (byte 0x80"], 2),
    "run_json_part_wrong_type": ("run.json's scenario given as text", lambda r: run_json(
        r, lambda i: set_in(i, "scenario", "scenarios/batch_sweep.yaml")), ["{run}/run.json:6: scenario: "], 2),
    "run_json_peak_is_a_list": ("an old run.json's peak given as a list (its upgrade reads a mapping)",
                                lambda r: run_json(r, lambda i: set_in(i, "peak", [1, 2])),
                                ["{run}/run.json:", "peak: must be a mapping"], 2),
    "run_json_nan": ("run.json's environment.load NaN", lambda r: replace_text(
        r, "run.json", b'"environment": {', b'"environment": {"load": NaN,'),
        ["{run}/run.json:72: environment.load: NaN is not a finite number"], 2),
    "run_json_missing_schema_version": ("run.json without schema_version", lambda r: run_json(
        r, lambda i: drop(i, "schema_version")), ["{run}/run.json:1: schema_version: missing"], 2),
    "run_json_invalid": ("run.json cut short", lambda r: (r / "run.json").write_text('{\n  "schema_version": 1,\n'),
                         ["{run}/run.json:3: not valid JSON"], 2),
    "samples_empty": ("an empty samples CSV", lambda r: (r / "samples" / f"{SECOND_ID}.csv").write_bytes(b""),
                      [f"samples/{SECOND_ID}.csv: empty"], 0),
    "samples_binary": ("a binary samples CSV", lambda r: (r / "samples" / f"{SECOND_ID}.csv").write_bytes(BINARY),
                       [f"samples/{SECOND_ID}.csv: "], 0),
    "samples_other_columns": ("a samples CSV without the expected columns", lambda r: (
        r / "samples" / f"{SECOND_ID}.csv").write_text("a,b\n1,2\n"),
        [f"samples/{SECOND_ID}.csv: no t_monotonic or cpu_proc_pct column"], 0),
    "samples_text_values": ("a samples CSV whose readings are text", lambda r: (
        r / "samples" / f"{SECOND_ID}.csv").write_text("t_monotonic,device,cpu_proc_pct\n1.0,cpu,high\n2.0,cpu,low\n"),
        [f"samples/{SECOND_ID}.csv: no numeric cpu_proc_pct readings"], 0),
    "hostile_text": ("valid, with markup and mathtext in a model name and an error", lambda r: change_record(
        r, lambda x: set_in(set_in(x, "params.model", "m$\\frac{a}{$[/x]<b>"), "error", "[red]x[/batch, 28, 28]")),
        ["m$\\frac{a}{$[/x]<b>", "[red]x[/batch, 28, 28]"], 0),
}


def build(name: str) -> Path:
    what, make, expected, code = CASES[name]
    run = HERE / name
    if run.exists():
        shutil.rmtree(run)
    run.mkdir()
    shutil.copy(BASE / "run.json", run / "run.json")
    shutil.copy(BASE / "trials.jsonl", run / "trials.jsonl")
    if name.startswith("samples_") or code == 0:
        shutil.copytree(BASE / "samples", run / "samples")
    make(run)
    (run / "expect").write_text("\n".join([f"exit {code}", *expected]) + "\n")
    return run


def readme() -> str:
    lines = ["# Corrupt run directories", "",
             "Each directory is the golden `cpu_run` (five version-1 records) with one fault; `expect` says what "
             "`benchharness report` must do (built by `make_corpus.py`, run by `tests/test_corrupt_runs.py`).",
             "A fault in `run.json` or `trials.jsonl` refuses the whole report: exit 2, one line per problem naming "
             "file, line and field (a record left out would change the answer). A damaged sample file "
             "(`samples/<trial_id>.csv`) costs only its timeline: the report renders and names the file and why.", "",
             "| case | fault | expected |", "| --- | --- | --- |"]
    for name, (what, _, expected, code) in CASES.items():
        shown = "; ".join(e.replace("{run}/", "") for e in expected).replace("|", "\\|")
        outcome = f"exit 2: `{shown}`" if code == 2 else f"report renders, shows `{shown}`"
        lines.append(f"| `{name}` | {what} | {outcome} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    for name in CASES:
        build(name)
    (HERE / "README.md").write_text(readme())
    print(f"{len(CASES)} cases in {HERE}")


if __name__ == "__main__":
    main()
