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
    out |= _windows_of_version_1(out["epochs"]) if record.get("status") == "ok" else {}
    if out["device"] is not None:
        out["device"] = {"count": None} | out["device"]
    if out["pruning"] is not None:
        out["pruning"] = out["pruning"] | {"throughput_vs_dense": throughput_vs_dense(record, records)}
    if out["telemetry"] is not None:
        out["telemetry"] = _telemetry_1_to_2(out["telemetry"])
    return out


def _windows_of_version_1(epochs: list[dict]) -> dict:
    """Version 1 always ran fixed epochs, the first one warm-up, and stored every epoch: its steady
    epochs are the measurement windows (timed from each epoch's own start, not the previous end)."""
    from benchharness.epochs import summarize_epochs

    summary = summarize_epochs(epochs, 1)
    keys = ("warmup_epochs", "steady_windows", "windows_sps", "throughput_ci_sps", "throughput_cv", "no_steady_state")
    return {key: summary[key] for key in keys} | {"stop_reason": "fixed_epochs"}


def _telemetry_1_to_2(telemetry: dict) -> dict:
    """Version 1 did not measure other load on the host or the GPU: those figures are null."""
    unmeasured = {"host_other_cpu_pct": None, "host_other_cpu_p90_pct": None, "gpu_other_processes_max": None,
                  "busy": None, "busy_reason": None}
    per_epoch = [{"host_other_cpu_pct": None} | row for row in telemetry.get("per_epoch") or []]
    return unmeasured | telemetry | {"per_epoch": per_epoch}


def _record_2_to_3(record: dict, records: list[dict]) -> dict:
    """Version 2 sampled every visible GPU with plain means and kept no per-GPU, coverage, throttle
    or weight/activation figures: those are null. It trained on one replica (no strategy), its batch
    the batch size; scaling efficiency is null (one replica has no scaling to speak of). Its memory figure is relabelled for what it was:
    NVML's device-wide used memory on a GPU (labelled ``device_used``); on the CPU it was the peak
    RSS, not the growth version 3 reports, so the primary figure is null there."""
    batch = (record.get("params") or {}).get("batch_size") if isinstance(record.get("params"), dict) else None
    batch = batch if isinstance(batch, int) and not isinstance(batch, bool) else None  # a bad one: the params' check says so
    out = record | {"schema_version": 3, "attempt": 1, "replicas": 1, "per_replica_batch": batch,
                    "global_batch": batch, "cross_device_ops": None, "scaling_efficiency": None}
    if out.get("telemetry") is not None:
        out["telemetry"] = _telemetry_2_to_3(out["telemetry"])
    if out.get("cost") is not None:
        out["cost"] = {"weight_bytes": None, "activation_bytes_per_sample": None,
                       "step_arithmetic_intensity": None} | out["cost"]
    return out


def _telemetry_2_to_3(telemetry: dict) -> dict:
    on_gpu = telemetry["source"] != "cpu"
    memory = telemetry.get("mem_peak_mb") if on_gpu else None
    unmeasured = {"coverage": None, "energy_coverage": None, "withheld": {}, "averaging_period_s": None,
                  "mem_primary_mb": memory, "mem_primary_source": "device_used" if memory is not None else None,
                  "mem_limit_mb": telemetry.get("mem_total_mb") if on_gpu else None,
                  "devices": None, "throttle": None, "gpu_other_processes": None}
    per_epoch = [{"coverage": None, "withheld": {}} | row for row in telemetry.get("per_epoch") or []]
    return unmeasured | telemetry | {"per_epoch": per_epoch}


def _run_info_1_to_2(info: dict) -> dict:
    out = {"peak": None, "complete": None} | info | {"schema_version": 2}
    if out["peak"] is not None:
        out["peak"] = {"tf32": None} | out["peak"]
    return out


def _record_3_to_4(record: dict, records: list[dict]) -> dict:
    """Version 3 did not keep where and when a trial ran (one at a time, on the run's host)."""
    return record | {"schema_version": 4, "execution": None}


# The learning-rate params version 5 added to every trial, at the values version 4 trained with.
LR_PARAMS_OF_VERSION_4 = {"lr_scaling": "none", "lr_warmup_epochs": 0.0, "lr_base_batch": 32}


def _record_4_to_5(record: dict, records: list[dict]) -> dict:
    """Version 4 had no probes and no time to accuracy: every record was a planned trial, trained
    at the scenario's learning rate whatever the batch (the params say so, so that a version-4
    point matches the same point of a version-5 run in ``compare``)."""
    params = record.get("params")
    if isinstance(params, dict):  # anything else: the params' own check says so
        record = record | {"params": LR_PARAMS_OF_VERSION_4 | params}
    return record | {"schema_version": 5, "role": "trial", "tta": None}


def _record_5_to_6(record: dict, records: list[dict]) -> dict:
    """Version 5 timed whole epochs only: no windows of steps, and its ``throughput_vs_dense`` is
    kept as it was stored, without an interval (its windows were not stored to compute one)."""
    out = record | {"schema_version": 6, "step_windows": None}
    if isinstance(out.get("pruning"), dict):  # anything else: the pruning part's own check says so
        out["pruning"] = {"throughput_vs_dense_ci": None, "throughput_vs_dense_windows": None} | out["pruning"]
    return out


RECORD_STEPS = {1: _record_1_to_2, 2: _record_2_to_3, 3: _record_3_to_4, 4: _record_4_to_5, 5: _record_5_to_6}


def _run_info_2_to_3(info: dict) -> dict:
    """Version 2's ``complete`` counted the records; whether the plan was finished was not kept."""
    return info | {"schema_version": 3, "planned_trials": None, "recorded": info.get("complete"), "complete": None}


def _run_info_3_to_4(info: dict) -> dict:
    return info | {"schema_version": 4, "executor": None}


def _run_info_4_to_5(info: dict) -> dict:
    return info | {"schema_version": 5, "max_batch": None}


def _run_info_5_to_6(info: dict) -> dict:
    return info | {"schema_version": 6}


RUN_INFO_STEPS = {1: _run_info_1_to_2, 2: _run_info_2_to_3, 3: _run_info_3_to_4, 4: _run_info_4_to_5,
                  5: _run_info_5_to_6}


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
