"""The run directory: run.json, trials.jsonl (appended whole, fsynced), logs/, samples/, tensorboard/.

A run directory is never overwritten. A record torn by a crash mid-write (a last line with no
newline or invalid JSON) is moved aside on resume and that trial runs again. Reading validates
every record and run.json against ``benchharness.record`` after upgrading older schema versions
(``benchharness.upgrade``); a record that does not validate is bad input, named by file, line and key.
What the schema leaves open is checked on read too, and is bad input the same way (exit 2, one line
per problem, file:line: key): bytes that are not UTF-8, NaN and infinities (Python's json accepts
them; no measurement is NaN), an older record whose parts its upgrade cannot read, a trial_id that is
no plain file name (samples/ and logs/ are found by it), a parameter that is not a single value, a
batch size that is not a positive integer. A whole file is refused, never a record silently left out:
the answer would change with it.
``RunDir.update_info`` is the one writer of run.json.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from benchharness import SCHEMA_VERSION, __version__
from benchharness.atomic import fsync_directory, write_json_atomically
from benchharness.errors import UserError
from benchharness.upgrade import upgrade_records, upgrade_run_info

RUN_JSON = "run.json"
TRIALS = "trials.jsonl"
LOCK = "run.lock"
_HELD_LOCKS: dict[Path, int] = {}  # run directories this process holds the lock of -> the lock's fd


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def slug(name: str) -> str:
    """A directory-safe form of a scenario name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "run"


@dataclass
class TrialsFile:
    """What ``trials.jsonl`` holds: whole records and, if the last write was torn, its bytes."""

    records: list[dict]
    torn_tail: str | None
    superseded: list[dict] = field(default_factory=list)  # earlier attempts of trials run again


def current_attempts(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """(the latest attempt of each trial_id in file order, the earlier attempts): ``--retry-failed``
    appends a new attempt and never rewrites the old record."""
    latest: dict[str, dict] = {}
    for record in records:
        if record["trial_id"] not in latest or record["attempt"] >= latest[record["trial_id"]]["attempt"]:
            latest[record["trial_id"]] = record
    current = [r for r in records if latest[r["trial_id"]] is r]
    return current, [r for r in records if latest[r["trial_id"]] is not r]


def read_trials(path: Path) -> TrialsFile:
    """Read a trials.jsonl. Raises ``UserError`` (file:line) for a corrupt line before the last."""
    if not path.exists():
        return TrialsFile([], None)
    lines = read_bytes(path).split(b"\n")
    # A file ending in "\n" splits into [..., ""]: anything else in the last slot was never finished.
    complete, tail = lines[:-1], lines[-1].decode("utf-8", "replace")
    records = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            record = _parse_record_line(path, number, line)
        except json.JSONDecodeError as exc:
            if number == len(complete) and not tail:
                tail = line.decode("utf-8", "replace")  # a torn last record whose newline made it out
                break
            raise UserError(f"{path}:{number}: not a valid trial record ({exc.msg}); the file is damaged") from None
        if not isinstance(record, dict) or "trial_id" not in record:
            raise UserError(f"{path}:{number}: trial_id: missing; not a benchharness trial record")
        records.append((number, record))
    current, superseded = current_attempts(_validated_records(path, records))
    return TrialsFile(current, tail or None, superseded)


def _validated_records(path: Path, numbered: list[tuple[int, dict]]) -> list[dict]:
    """The records upgraded to the current schema, checked against ``TrialRecord`` and for what the
    report relies on beyond it (:func:`usable_problem`), as plain dicts. Raises ``UserError`` with one
    line per bad record (file:line: key: message)."""
    from benchharness.record import TrialRecord

    problems: list[str] = []
    out = []
    for (number, _), record in zip(numbered, _upgraded(path, numbered, problems)):
        if record is None:
            continue
        try:
            checked = validated(TrialRecord, record, f"{path}:{number}")
        except UserError as exc:
            problems += exc.lines
            continue
        problem = usable_problem(checked)
        if problem is not None:
            problems.append(f"{path}:{number}: {problem}; not a usable trial record")
        else:
            out.append(checked)
    if problems:
        raise UserError(_capped(problems, path))
    return out


def _upgraded(path: Path, numbered: list[tuple[int, dict]], problems: list[str]) -> list[dict | None]:
    """The records at the current schema version; all None, with a line per bad record added to
    ``problems``, where one is too malformed for its upgrade step."""
    for number, record in numbered:
        problem = upgrade_shape_problem(record)
        if problem is not None:
            problems.append(f"{path}:{number}: {problem}; cannot be upgraded, the file is damaged")
    if not problems:
        try:
            return upgrade_records([record for _, record in numbered])
        except Exception:  # a malformation the shape check does not know: name the record it breaks on
            for number, record in numbered:
                try:
                    upgrade_records([record])
                except Exception as exc:
                    problems.append(f"{path}:{number}: (schema_version {record.get('schema_version')!r}): cannot be "
                                    f"upgraded ({type(exc).__name__}: {_short(str(exc))}); the file is damaged")
            problems += [] if problems else [f"{path}: its records cannot be upgraded together; the file is damaged"]
    return [None] * len(numbered)


def validated(model, data: dict, where: str, line_of=None) -> dict:
    """``data`` checked against the pydantic ``model`` and dumped back to JSON-ready values.
    Raises ``UserError`` naming ``where`` (file:line, or file and ``line_of(key path)``) and the first bad key."""
    try:
        return model.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        key = dotted(tuple(first["loc"]))
        where = where if line_of is None else f"{where}:{line_of(tuple(first['loc']))}"
        raise UserError(f"{where}: {key}: {first['msg'].lower()}; not a valid {model.__name__} "
                        f"(schema_version {data.get('schema_version')!r})") from None


def read_run_json(path: Path) -> tuple[dict, str]:
    """run.json's contents (NaN and infinities still marked, see :func:`loads_finite`) and text.
    Raises ``UserError`` (file:line) for bytes that are not UTF-8, invalid JSON, or not an object."""
    raw = read_bytes(path)
    text, problem, offset = _decoded(raw)
    if problem is not None:
        line = raw.count(b"\n", 0, offset) + 1
        raise UserError(f"{path}:{line}: {problem}; the file is damaged")
    try:
        data = loads_finite(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:
        raise UserError(f"{path}:1: not valid JSON ({type(exc).__name__}: {_short(str(exc))})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}:1: (top level): must be a JSON object, got {_kind(data)}; not a benchharness run.json")
    found = find_path(data, lambda v: isinstance(v, _NotFinite))
    if found is not None:
        raise UserError(f"{path}:{line_of_key(text, found)}: {_not_finite_problem(data)}; the file is damaged")
    return data, text


def _run_info_version(path: Path, data: dict, text: str) -> int:
    """run.json's schema_version, checked: an integer this benchharness can read (upgrade) or wrote."""
    version = data.get("schema_version")
    where = f"{path}:{line_of_key(text, ('schema_version',))}: schema_version"
    if version is None:
        raise UserError(f"{where}: missing; not a benchharness run.json")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UserError(f"{where}: must be an integer, got {_short(version)}")
    if version > SCHEMA_VERSION:
        raise UserError(f"{where}: {version!r} is newer than this benchharness understands ({SCHEMA_VERSION}); "
                        "upgrade benchharness")
    if version < 1:
        raise UserError(f"{where}: {version} is not a version benchharness ever wrote")
    if version < SCHEMA_VERSION and data.get("peak") is not None and not isinstance(data["peak"], dict):
        raise UserError(f"{path}:{line_of_key(text, ('peak',))}: peak: must be a mapping or null, got "
                        f"{_kind(data['peak'])}; cannot be upgraded")
    return version


# -- reading results files: every value a number JSON allows, every byte UTF-8 ---------------------

SAFE_TRIAL_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")  # a file name under samples/ and logs/
MAX_PROBLEM_LINES = 20


class _NotFinite:
    """Where a results file holds NaN, Infinity or a number too large for a float (Python's json
    accepts them all; JSON does not): a marker, so the reader can name the field."""

    def __init__(self, text: str):
        self.text = text


def _finite_float(text: str):
    value = float(text)
    return value if math.isfinite(value) else _NotFinite(text)


def loads_finite(text: str):
    """``json.loads`` with NaN, Infinity, -Infinity and overflowing numbers read as :class:`_NotFinite`
    markers (see :func:`find_path`). Raises ``json.JSONDecodeError``, ``ValueError`` (an integer of
    thousands of digits) or ``RecursionError`` (nesting too deep) like ``json.loads``."""
    return json.loads(text, parse_constant=_NotFinite, parse_float=_finite_float)


def find_path(data, test, path: tuple = ()) -> tuple | None:
    """The key path of the first value (or mapping key) in ``data`` for which ``test`` holds."""
    if test(data):
        return path
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        if isinstance(key, str) and test(key):
            return path + (key,)
        found = find_path(value, test, path + (key,))
        if found is not None:
            return found
    return None


def dotted(path: tuple) -> str:
    return ".".join(_key(part) for part in path) or "(top level)"


def _value_at(data, path: tuple):
    for part in path:
        data = data[part]
    return data


def _not_finite_problem(data) -> str | None:
    """``key: message`` for the first NaN or infinity in ``data``, or None."""
    path = find_path(data, lambda v: isinstance(v, _NotFinite))
    if path is None:
        return None
    return (f"{dotted(path)}: {_value_at(data, path).text} is not a finite number (NaN and infinities are refused: "
            "they are no measurement)")


def _decoded(raw: bytes) -> tuple[str | None, str | None, int]:
    """(the text, None, 0), or (None, ``key: message``, offset of the bad byte) for bytes that are not
    UTF-8: the key is the field whose text holds the first bad byte, where that can be told."""
    try:
        return raw.decode("utf-8"), None, 0
    except UnicodeDecodeError as exc:
        offset, where = exc.start, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
    try:
        path = find_path(json.loads(raw.decode("utf-8", "replace")), lambda v: isinstance(v, str) and "\ufffd" in v)
    except (ValueError, RecursionError):
        path = None
    return None, f"{dotted(path) if path is not None else '(top level)'}: {where}", offset


def read_bytes(path: Path) -> bytes:
    """A results file's bytes. Raises ``UserError`` naming ``path`` for a directory or an unreadable file."""
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a file; not a benchharness results file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror})") from None


def _parse_record_line(path: Path, number: int, raw: bytes):
    """One line of trials.jsonl parsed. Raises ``UserError`` (file:line: key) for bytes that are not
    UTF-8, a number JSON does not allow (NaN, Infinity) or JSON Python cannot hold; lets
    ``json.JSONDecodeError`` through for the caller (a torn last line is no error)."""
    text, problem, _ = _decoded(raw)
    if problem is None:
        try:
            data = loads_finite(text)
        except json.JSONDecodeError:
            raise
        except (ValueError, RecursionError) as exc:
            problem = f"(top level): not a valid trial record ({type(exc).__name__}: {_short(str(exc), 100)})"
        else:
            problem = _not_finite_problem(data)
    if problem is not None:
        raise UserError(f"{path}:{number}: {problem}; the file is damaged")
    return data


def _capped(problems: list[str], path: Path) -> list[str]:
    """At most ``MAX_PROBLEM_LINES`` lines, and one that counts the rest."""
    if len(problems) <= MAX_PROBLEM_LINES:
        return problems
    return problems[:MAX_PROBLEM_LINES] + [f"{path}: {len(problems) - MAX_PROBLEM_LINES} more problems like these"]


def _kind(value) -> str:
    """What a JSON value is, in words, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "text", list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


UPGRADED_PARTS = ("device", "telemetry", "pruning", "cost", "step_time_ms", "eval", "sizes")


def upgrade_shape_problem(record: dict) -> str | None:
    """``key: message`` for an older record too malformed for its upgrade steps (``upgrade.py``
    reads its parts as mappings and its epochs' seconds and samples as numbers), or None. A record
    at the current version goes straight to validation, which names every bad field."""
    version = record.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version >= SCHEMA_VERSION:
        return None
    if version < 1:
        return f"schema_version: {version} is not a version benchharness ever wrote"
    if not isinstance(record.get("params"), dict):
        return "params: " + ("missing" if "params" not in record else f"must be a mapping, got {_kind(record['params'])}")
    kinds = {"epochs": list} | {part: dict for part in UPGRADED_PARTS}
    for key, kind in kinds.items():
        if record.get(key) is not None and not isinstance(record[key], kind):
            return f"{key}: must be {'a list' if kind is list else 'a mapping'} or null, got {_kind(record[key])}"
    for i, epoch in enumerate(record.get("epochs") or []):
        if not isinstance(epoch, dict):
            return f"epochs.{i}: must be a mapping, got {_kind(epoch)}"
        for key in ("seconds", "samples"):
            if not _is_number(epoch.get(key)):
                return f"epochs.{i}.{key}: must be a number, got {_kind(epoch.get(key))}"
    telemetry = record.get("telemetry")
    if telemetry is not None and not isinstance(telemetry.get("source"), str):
        return f"telemetry.source: must be text, got {_kind(telemetry.get('source'))}"
    per_epoch = (telemetry or {}).get("per_epoch") or []
    if not isinstance(per_epoch, list) or not all(isinstance(row, dict) for row in per_epoch):
        return "telemetry.per_epoch: must be a list of mappings"
    return None


def usable_problem(record: dict) -> str | None:
    """``key: message`` for a record that validates against ``TrialRecord`` but that no report can
    use, or None: a ``trial_id`` that is no plain file name (``samples/<id>.csv`` and
    ``logs/<id>.log`` are found by it: a ``../`` must not leave the run directory), a parameter
    that is not a single value (the curves are grouped by them), or a batch size that is not a
    positive integer, a negative time or throughput, an interval whose ends are swapped."""
    trial_id = record["trial_id"]
    if not SAFE_TRIAL_ID.fullmatch(trial_id):
        return (f"trial_id: {_short(trial_id)} is not a trial id (letters, digits, '_', '-' and '.', not first; at "
                "most 128): samples/ and logs/ are looked up by it")
    params = record["params"]
    for key, value in params.items():
        if not (value is None or isinstance(value, (str, int, float, bool))):
            return f"params.{_key(key)}: must be a single value (text, number, true/false or null), got {_kind(value)}"
    batch = params.get("batch_size")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        return "params.batch_size: " + ("missing" if "batch_size" not in params else
                                         f"must be a positive integer, got {_short(batch)}")
    for key in ("model", "dataset"):
        if key in params and not isinstance(params[key], str):
            return f"params.{key}: must be text, got {_kind(params[key])}"
    for key in ("throughput_sps", "epoch_time_s", "first_epoch_s"):  # a negative figure is no measurement
        if record.get(key) is not None and record[key] < 0:
            return f"{key}: must not be negative, got {record[key]!r}"
    interval = record.get("throughput_ci_sps")
    if interval is not None and interval[0] > interval[1]:
        return f"throughput_ci_sps: its low end {interval[0]!r} is above its high end {interval[1]!r}"
    return None


def _short(value, limit: int = 60) -> str:
    """``repr(value)`` on one line and at most ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _key(part) -> str:
    """A key as it goes into a one-line message: as is when plain, else quoted (no newline, no markup)."""
    text = str(part)
    return text if re.fullmatch(r"[\w.-]{1,80}", text) else _short(text)


def line_of_key(text: str, path: tuple) -> int:
    """The line of the last key of ``path`` in ``text`` (a JSON document), found key after key; the
    line of the deepest key found when one is missing. Exact for files benchharness writes (one key
    a line); the first line of a one-line document."""
    pos = 0
    for part in path:
        if not isinstance(part, str):
            continue
        match = re.compile(re.escape(json.dumps(part)) + r"\s*:").search(text, pos)
        if match is None:
            break
        pos = match.start()
    return text.count("\n", 0, pos) + 1


class RunDir:
    """One run's directory. Create with :meth:`create`, reopen with :meth:`open`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._info: dict | None = None
        self.stored_schema_version: int | None = None  # run.json's as on disk, before any upgrade

    # -- creation and reopening ---------------------------------------------------------------

    @classmethod
    def create(cls, parent: Path, name: str, run_info: dict) -> "RunDir":
        """Make ``parent/<name>-<UTC stamp>/`` (never an existing one) and write run.json."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(100):
            path = parent / (f"{slug(name)}-{stamp}" + (f"-{attempt}" if attempt else ""))
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        else:
            raise UserError(f"{parent}: could not create a new run directory")
        run = cls(path)
        run.lock()
        for sub in ("logs", "samples", "tensorboard"):
            (path / sub).mkdir()
        fsync_directory(parent)
        run._info = {"schema_version": SCHEMA_VERSION, "benchharness": __version__, "started_utc": utc_now(),
                     "finished_utc": None, "peak": None, "planned_trials": None, "recorded": 0, "complete": False, "executor": None,
                     "max_batch": None,
                     **run_info}
        run.update_info()
        return run

    @classmethod
    def open(cls, path: Path) -> "RunDir":
        """Reopen an existing run directory. Raises ``UserError`` if it is not one."""
        path = Path(path)
        if not (path / RUN_JSON).is_file():
            raise UserError(f"{path}: not a run directory (no {RUN_JSON})")
        run = cls(path)
        run._info = run._read_info()  # checked now: a bad run.json is the caller's input error
        return run

    # -- run.json -------------------------------------------------------------------------------

    @property
    def info(self) -> dict:
        """run.json's contents at the current schema version (read once; upgraded in memory).
        Raises ``UserError`` naming the file for invalid JSON, a newer schema or a bad field."""
        if self._info is None:
            self._info = self._read_info()
        return self._info

    def _read_info(self) -> dict:
        from benchharness.record import RunInfo

        path = self.path / RUN_JSON
        data, text = read_run_json(path)
        version = _run_info_version(path, data, text)
        self.stored_schema_version = version
        try:
            upgraded = upgrade_run_info(data)
        except Exception as exc:  # a part of the wrong type that the upgrade steps read
            raise UserError(f"{path}:1: (schema_version {version}): cannot be upgraded ({type(exc).__name__}: "
                            f"{_short(str(exc))}); the file is damaged") from None
        return validated(RunInfo, upgraded, str(path), lambda loc: line_of_key(text, loc))

    def reload_info(self) -> None:
        """Read run.json again (after taking the lock: another writer may have changed it since)."""
        self._info = self._read_info()

    def update_info(self, **fields) -> None:
        """The one writer of run.json: merge ``fields``, validate the whole, replace the file atomically."""
        from benchharness.record import RunInfo

        info = validated(RunInfo, self.info | fields, str(self.path / RUN_JSON))
        write_json_atomically(self.path / RUN_JSON, info)
        self._info = info

    # -- trials -------------------------------------------------------------------------------

    @property
    def trials_path(self) -> Path:
        return self.path / TRIALS

    def append_record(self, record) -> None:
        """Append one ``TrialRecord`` as one line, flushed and fsynced before returning (and the
        directory, when this created the file)."""
        line = record.model_dump_json() + "\n"
        new = not self.trials_path.exists()
        with open(self.trials_path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        if new:
            fsync_directory(self.path)

    def read_trials(self) -> TrialsFile:
        return read_trials(self.trials_path)

    def set_aside_torn_tail(self, tail: str) -> Path:
        """Keep a torn last record in a side file and cut it from trials.jsonl; returns the side file."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        fd, name = tempfile.mkstemp(prefix=f"{TRIALS}.torn-{stamp}-", dir=self.path)  # never overwrites one
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(tail)
        side = Path(name)
        data = self.trials_path.read_bytes()
        cut = data.rstrip(b"\n").rfind(b"\n") + 1 if tail else len(data)
        with open(self.trials_path, "r+b") as f:
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())
        return side

    def log_path(self, trial_id: str) -> Path:
        """The first attempt's log; see :meth:`new_log_path`."""
        return self.path / "logs" / f"{trial_id}.log"

    def new_log_path(self, trial_id: str) -> Path:
        """A log of its own for this attempt at a trial: ``<id>.log``, then ``<id>.attempt-2.log``, ..."""
        path, attempt = self.log_path(trial_id), 1
        while path.exists():
            attempt += 1
            path = self.path / "logs" / f"{trial_id}.attempt-{attempt}.log"
        return path

    # -- one writer ---------------------------------------------------------------------------

    def lock(self) -> None:
        """Hold the run directory's advisory lock (``run.lock``, ``fcntl.flock``) for the life of this
        process: one writer per run directory. Raises ``UserError`` naming the holder if another
        process has it. Where ``fcntl`` does not exist (Windows) there is no lock."""
        try:
            import fcntl
        except ImportError:
            return
        key = self.path.resolve()
        if key in _HELD_LOCKS:
            return  # this process already is the writer (flock would refuse a second open file)
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 300).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise UserError(f"{self.path}: {LOCK}: this run directory is being written by {holder}; wait for "
                            "it to end (or stop it), then resume") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"benchharness pid {os.getpid()} on {socket.gethostname()} since {utc_now()}\n".encode())
        _HELD_LOCKS[key] = fd  # released when the process ends, however it ends

    def samples_path(self, trial_id: str) -> Path:
        if not SAFE_TRIAL_ID.fullmatch(trial_id):  # records are checked on read; this guards every other caller
            raise UserError(f"{self.path}: trial_id: {_short(trial_id)} is not a trial id; no file is looked up by it")
        return self.path / "samples" / f"{trial_id}.csv"

    def tensorboard_dir(self, trial_id: str) -> Path:
        return self.path / "tensorboard" / trial_id

    def cost_cache_dir(self) -> Path:
        """FLOP counts per model architecture, shared by the run's trials (see ``worker.cost_cache``)."""
        return self.path / "cost"


def load_frame(run_dir: str | Path):
    """Load a run directory's trial records into a pandas DataFrame, nested fields flattened
    with dots (``params.batch_size``, ``telemetry.util_mean_pct``); the per-epoch list stays a column."""
    import pandas as pd

    records = RunDir.open(Path(run_dir)).read_trials().records
    return pd.json_normalize(records, sep=".")
