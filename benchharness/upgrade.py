"""Older run directories read as the current schema (asv's ``update_to_N``): each step upgrades one
version to the next, in memory; the files on disk are never rewritten.

Version 1 grew over several releases without a bump, so its upgrade fills every field a version-1
writer may have left out with ``null`` (never a figure), and computes the one derived figure that
version 1 left to the report (``pruning.throughput_vs_dense``).
"""

from __future__ import annotations

from benchharness import SCHEMA_VERSION


def _record_1_to_2(record: dict, records: list[dict]) -> dict:
    from benchharness.assemble import throughput_vs_dense
    from benchharness.record import TrialRecord

    out = {name: record.get(name) for name in TrialRecord.model_fields} | {"schema_version": 2}
    out["epochs"] = record.get("epochs") or []
    if out["device"] is not None:
        out["device"] = {"count": None} | out["device"]
    if out["pruning"] is not None:
        out["pruning"] = out["pruning"] | {"throughput_vs_dense": throughput_vs_dense(record, records)}
    return out


def _run_info_1_to_2(info: dict) -> dict:
    out = {"peak": None, "complete": None} | info | {"schema_version": 2}
    if out["peak"] is not None:
        out["peak"] = {"tf32": None} | out["peak"]
    return out


RECORD_STEPS = {1: _record_1_to_2}
RUN_INFO_STEPS = {1: _run_info_1_to_2}


def upgrade_records(records: list[dict]) -> list[dict]:
    """Every record at the current ``schema_version``; ``records`` (one run's, any versions) is the
    context a step may need (dense peers)."""
    upgraded = []
    for record in records:
        version = record.get("schema_version")
        while isinstance(version, int) and version < SCHEMA_VERSION:
            record = RECORD_STEPS[version](record, records)
            version = record["schema_version"]
        upgraded.append(record)
    return upgraded


def upgrade_run_info(info: dict) -> dict:
    """run.json's contents at the current ``schema_version``."""
    version = info.get("schema_version")
    while isinstance(version, int) and version < SCHEMA_VERSION:
        info = RUN_INFO_STEPS[version](info)
        version = info["schema_version"]
    return info
