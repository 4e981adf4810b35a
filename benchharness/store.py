"""The run directory: run.json, trials.jsonl (appended whole, fsynced), logs/, samples/, tensorboard/.

A run directory is never overwritten. A record torn by a crash mid-write (a last line with no
newline or invalid JSON) is moved aside on resume and that trial runs again. Reading validates
every record and run.json against ``benchharness.record`` after upgrading older schema versions
(``benchharness.upgrade``); a record that does not validate is bad input, named by file, line and key.
``RunDir.update_info`` is the one writer of run.json.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from benchharness import SCHEMA_VERSION, __version__
from benchharness.atomic import write_json_atomically
from benchharness.errors import UserError
from benchharness.upgrade import upgrade_records, upgrade_run_info

RUN_JSON = "run.json"
TRIALS = "trials.jsonl"


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


def read_trials(path: Path) -> TrialsFile:
    """Read a trials.jsonl. Raises ``UserError`` (file:line) for a corrupt line before the last."""
    if not path.exists():
        return TrialsFile([], None)
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    # A file ending in "\n" splits into [..., ""]: anything else in the last slot was never finished.
    complete, tail = lines[:-1], lines[-1]
    records = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(complete) and not tail:
                return TrialsFile(records, line)  # torn last record whose newline made it out
            raise UserError(f"{path}:{number}: not a valid trial record ({exc.msg}); the file is damaged") from None
        if not isinstance(record, dict) or "trial_id" not in record:
            raise UserError(f"{path}:{number}: trial_id: missing; not a benchharness trial record")
        records.append((number, record))
    return TrialsFile(_validated_records(path, records), tail or None)


def _validated_records(path: Path, numbered: list[tuple[int, dict]]) -> list[dict]:
    """The records upgraded to the current schema and checked against ``TrialRecord``, as plain dicts."""
    from benchharness.record import TrialRecord

    upgraded = upgrade_records([record for _, record in numbered])
    out = []
    for (number, _), record in zip(numbered, upgraded):
        out.append(validated(TrialRecord, record, f"{path}:{number}"))
    return out


def validated(model, data: dict, where: str) -> dict:
    """``data`` checked against the pydantic ``model`` and dumped back to JSON-ready values.
    Raises ``UserError`` naming ``where`` (file:line) and the first bad key."""
    try:
        return model.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise UserError(f"{where}: {key}: {first['msg'].lower()}; not a valid {model.__name__} "
                        f"(schema_version {data.get('schema_version')!r})") from None


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
        for sub in ("logs", "samples", "tensorboard"):
            (path / sub).mkdir()
        run._info = {"schema_version": SCHEMA_VERSION, "benchharness": __version__, "started_utc": utc_now(),
                     "finished_utc": None, "peak": None, "complete": None, **run_info}
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
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        version = data.get("schema_version") if isinstance(data, dict) else None
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise UserError(f"{path}:1: schema_version: {version!r} is newer than this "
                            f"benchharness understands ({SCHEMA_VERSION}); upgrade benchharness")
        self.stored_schema_version = version
        return validated(RunInfo, upgrade_run_info(data), str(path))

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
        """Append one ``TrialRecord`` as one line, flushed and fsynced before returning."""
        line = record.model_dump_json() + "\n"
        with open(self.trials_path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def read_trials(self) -> TrialsFile:
        return read_trials(self.trials_path)

    def set_aside_torn_tail(self, tail: str) -> Path:
        """Keep a torn last record in a side file and cut it from trials.jsonl; returns the side file."""
        side = self.path / f"{TRIALS}.torn-{int(time.time())}"
        side.write_text(tail, encoding="utf-8")
        data = self.trials_path.read_bytes()
        cut = data.rstrip(b"\n").rfind(b"\n") + 1 if tail else len(data)
        with open(self.trials_path, "r+b") as f:
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())
        return side

    def log_path(self, trial_id: str) -> Path:
        return self.path / "logs" / f"{trial_id}.log"

    def samples_path(self, trial_id: str) -> Path:
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
