"""A run's records as two flat tables: ``trials`` (one row per trial, nested fields as dotted
columns: ``params.batch_size``, ``telemetry.mem_primary_mb``) and ``epochs`` (one row per epoch of
every trial, with the trial's parameters and that epoch's telemetry). Lists (``windows_sps``, the
throughput interval, reasons) are JSON text, so a table has one value per cell in CSV as in Parquet.
A column whose values are of several kinds (``params.epochs``: ``auto`` or a number) holds them as
text."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from benchharness.errors import UserError

# Lists of per-epoch or per-GPU entries: the epochs table holds the first; the second is JSON text.
APART = ("epochs", "telemetry.per_epoch")
FORMATS = {"csv": ".csv", "parquet": ".parquet"}


def flatten(data: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}, "c": [1, 2]}`` -> ``{"a.b": 1, "c": "[1, 2]"}``; the ``APART`` lists left out."""
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if name in APART:
            continue
        if isinstance(value, dict) and value:
            flat |= flatten(value, f"{name}.")
        elif isinstance(value, (dict, list)):
            flat[name] = json.dumps(value)
        else:
            flat[name] = value
    return flat


def uniform(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns holding values of several kinds (text and numbers) as text: Parquet wants one type."""
    for column in frame.columns:
        kinds = {type(v) for v in frame[column] if v is not None and not (isinstance(v, float) and pd.isna(v))}
        if len(kinds) > 1 and str in kinds:
            frame[column] = [None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
                             for v in frame[column]]
    return frame


def trials_frame(records: list[dict]) -> pd.DataFrame:
    """One row per trial (the current attempt of each), every field a column."""
    return uniform(pd.DataFrame([flatten(r) for r in records]))


def _epoch_row(record: dict, epoch: dict, telemetry: dict) -> dict:
    steady = epoch["epoch"] >= (record.get("warmup_epochs") or 1)
    return {"trial_id": record["trial_id"], "repeat": record["repeat"], "status": record["status"],
            **flatten(record["params"], "params."), **flatten(epoch), "steady": steady,
            "throughput_sps": epoch["samples"] / epoch["seconds"] if epoch["seconds"] > 0 else None,
            **flatten({k: v for k, v in telemetry.items() if k != "epoch"}, "telemetry.")}


def epochs_frame(records: list[dict]) -> pd.DataFrame:
    """One row per epoch of every trial: the trial's id, repeat, status and parameters, the epoch's
    timing, ``steady`` (a measurement window, not warm-up), its throughput, and its telemetry."""
    rows = []
    for record in records:
        per_epoch = {row["epoch"]: row for row in (record.get("telemetry") or {}).get("per_epoch") or []}
        rows += [_epoch_row(record, e, per_epoch.get(e["epoch"], {})) for e in record["epochs"]]
    return uniform(pd.DataFrame(rows))


def write_tables(records: list[dict], folder: Path, fmt: str) -> list[Path]:
    """``folder/trials.<ext>`` and ``folder/epochs.<ext>``; returns their paths. Raises ``UserError``
    for a folder that cannot be written, or Parquet without pyarrow."""
    if fmt == "parquet":
        _need_pyarrow()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in (("trials", trials_frame(records)), ("epochs", epochs_frame(records))):
        path = folder / f"{name}{FORMATS[fmt]}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        paths.append(path)
    return paths


def _need_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise UserError("export --to parquet needs pyarrow: pip install pyarrow") from None
