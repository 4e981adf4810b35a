"""The run directory: run.json, trials.jsonl (appended whole, fsynced), logs/, samples/, tensorboard/.

A run directory is never overwritten. A record torn by a crash mid-write (a last line with no
newline or invalid JSON) is moved aside on resume and that trial runs again.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from benchharness import SCHEMA_VERSION, __version__
from benchharness.errors import UserError

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
        records.append(record)
    return TrialsFile(records, tail or None)


def write_json_atomically(path: Path, data) -> None:
    """Replace ``path`` whole or not at all (write a temporary file, then rename): a process killed
    mid-write leaves the old file, or none, never half a document."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class RunDir:
    """One run's directory. Create with :meth:`create`, reopen with :meth:`open`."""

    def __init__(self, path: Path):
        self.path = Path(path)

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
        run.write_run_json({"schema_version": SCHEMA_VERSION, "benchharness": __version__,
                            "started_utc": utc_now(), "finished_utc": None, **run_info})
        return run

    @classmethod
    def open(cls, path: Path) -> "RunDir":
        """Reopen an existing run directory. Raises ``UserError`` if it is not one."""
        path = Path(path)
        if not (path / RUN_JSON).is_file():
            raise UserError(f"{path}: not a run directory (no {RUN_JSON})")
        run = cls(path)
        version = run.run_json().get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise UserError(f"{path / RUN_JSON}:1: schema_version: {version!r} is newer than this "
                            f"benchharness understands ({SCHEMA_VERSION}); upgrade benchharness")
        return run

    # -- run.json -------------------------------------------------------------------------------

    def run_json(self) -> dict:
        try:
            return json.loads((self.path / RUN_JSON).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UserError(f"{self.path / RUN_JSON}:{exc.lineno}: not valid JSON ({exc.msg})") from None

    def write_run_json(self, data: dict) -> None:
        write_json_atomically(self.path / RUN_JSON, data)

    def update_run_json(self, **fields) -> None:
        self.write_run_json(self.run_json() | fields)

    # -- trials -------------------------------------------------------------------------------

    @property
    def trials_path(self) -> Path:
        return self.path / TRIALS

    def append_record(self, record: dict) -> None:
        """Append one record as one line, flushed and fsynced before returning."""
        line = json.dumps(record, separators=(",", ":")) + "\n"
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
        """FLOP counts per model architecture, shared by the run's trials (see ``worker.measure_cost``)."""
        return self.path / "cost"


def load_frame(run_dir: str | Path):
    """Load a run directory's trial records into a pandas DataFrame, nested fields flattened
    with dots (``params.batch_size``, ``telemetry.util_mean_pct``); the per-epoch list stays a column."""
    import pandas as pd

    records = RunDir.open(Path(run_dir)).read_trials().records
    return pd.json_normalize(records, sep=".")
