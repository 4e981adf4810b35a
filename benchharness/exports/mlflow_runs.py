"""A run directory as MLflow runs: one parent run for the run directory (the scenario, the
environment, run.json and the HTML report as artifacts) and one nested run per trial (its
parameters as params; throughput, epoch time, memory, energy, accuracy as metrics; each epoch's
figures as metrics with ``step`` = the epoch). MLflow is an optional extra (``mlflow-skinny``
suffices); this module imports it only when called.

The default store is ``./mlruns``, MLflow's file store. MLflow 3 refuses a file store unless
``MLFLOW_ALLOW_FILE_STORE`` is true (the store is in maintenance mode; a database backend needs the
full ``mlflow`` with SQLAlchemy), so an export to a file store sets it for this process; a reader
sets it too. A run directory is exported once per experiment: its parent run carries the tag
``benchharness.run`` (the run directory's name and start), and a second export is refused.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from benchharness.errors import UserError

RUN_TAG = "benchharness.run"
MAX_PARAMS, MAX_METRICS = 100, 1000  # MLflow's log_batch limits per call
PARAM_TEXT = 6000  # MLflow's longest param value

TRIAL_METRICS = {  # metric name -> where in the record (dotted)
    "throughput_sps": "throughput_sps", "epoch_time_s": "epoch_time_s", "first_epoch_s": "first_epoch_s",
    "throughput_cv": "throughput_cv", "steady_windows": "steady_windows", "mfu": "mfu",
    "flops_per_sample": "flops_per_sample", "mem_primary_mb": "telemetry.mem_primary_mb",
    "util_mean_pct": "telemetry.util_mean_pct", "energy_j": "telemetry.energy_j",
    "samples_per_joule": "telemetry.samples_per_joule", "test_accuracy": "eval.accuracy", "test_loss": "eval.loss",
    "tflite_accuracy": "tflite_accuracy.float", "tflite_quant_accuracy": "tflite_accuracy.quant",
    "sparsity_measured": "pruning.measured", "throughput_vs_dense": "pruning.throughput_vs_dense",
    "keras_zip_bytes": "sizes.keras_zip_bytes", "tflite_zip_bytes": "sizes.tflite_zip_bytes",
    "tflite_quant_zip_bytes": "sizes.tflite_quant_zip_bytes", "startup_s": "startup_s", "wall_s": "wall_s",
}
EPOCH_METRICS = {"epoch_seconds": "seconds", "epoch_loss": "loss", "epoch_accuracy": "accuracy"}
EPOCH_TELEMETRY = ("util_mean_pct", "mem_peak_mb", "power_mean_w", "energy_j")


@dataclass(frozen=True)
class Exported:
    tracking_uri: str
    experiment: str
    parent_run_id: str
    trial_runs: int


def default_tracking_uri() -> str:
    return (Path.cwd() / "mlruns").as_uri()


def require_mlflow() -> None:
    """Raises ``UserError`` with the pip command when MLflow is not installed."""
    try:
        import mlflow.tracking  # noqa: F401
    except ImportError:
        raise UserError("export --to mlflow needs MLflow: pip install 'benchharness[mlflow]' "
                        "(or pip install mlflow-skinny)") from None


def _client(tracking_uri: str):
    """MLflow's client for ``tracking_uri``. Raises ``UserError`` without MLflow."""
    require_mlflow()
    from mlflow.tracking import MlflowClient

    if tracking_uri.startswith("file:") or "://" not in tracking_uri:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # see the module docstring
    return MlflowClient(tracking_uri=tracking_uri)


def dotted_value(record: dict, path: str):
    value = record
    for part in path.split("."):
        value = (value or {}).get(part) if isinstance(value, dict) else None
    return value


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def trial_metrics(record: dict, stamp_ms: int) -> list:
    """The trial's figures (step 0) and each epoch's (step = epoch), as MLflow ``Metric``s."""
    from mlflow.entities import Metric

    out = [Metric(name, v, stamp_ms, 0) for name, path in TRIAL_METRICS.items()
           if (v := _number(dotted_value(record, path))) is not None]
    per_epoch = {row["epoch"]: row for row in (record.get("telemetry") or {}).get("per_epoch") or []}
    for epoch in record["epochs"]:
        figures = {name: epoch.get(key) for name, key in EPOCH_METRICS.items()}
        figures["epoch_throughput_sps"] = epoch["samples"] / epoch["seconds"] if epoch["seconds"] > 0 else None
        figures |= {f"epoch_{k}": per_epoch.get(epoch["epoch"], {}).get(k) for k in EPOCH_TELEMETRY}
        out += [Metric(name, v, stamp_ms, epoch["epoch"]) for name, value in figures.items()
                if (v := _number(value)) is not None]
    return out


def _param_text(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:PARAM_TEXT]


def trial_params(record: dict) -> list:
    from mlflow.entities import Param

    values = {**record["params"], "repeat": record["repeat"], "attempt": record["attempt"]}
    return [Param(key, _param_text(value)) for key, value in values.items()]


def _log(client, run_id: str, metrics=(), params=(), tags=()) -> None:
    """``log_batch`` in chunks MLflow accepts (100 params, 1000 metrics a call)."""
    metrics, params = list(metrics), list(params)
    client.log_batch(run_id, params=params[:MAX_PARAMS], tags=list(tags))
    for start in range(MAX_PARAMS, len(params), MAX_PARAMS):
        client.log_batch(run_id, params=params[start:start + MAX_PARAMS])
    for start in range(0, len(metrics), MAX_METRICS):
        client.log_batch(run_id, metrics=metrics[start:start + MAX_METRICS])


def _experiment_id(client, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    return experiment.experiment_id if experiment is not None else client.create_experiment(name)


def _refuse_second_export(client, experiment_id: str, key: str, experiment: str) -> None:
    found = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_TAG}` = '{key}'", max_results=1)
    if found:
        raise UserError(f"MLflow experiment {experiment!r} already holds this run directory ({key}) as run "
                        f"{found[0].info.run_id}; delete that run or export to another --experiment")


def run_key(path: Path, info: dict) -> str:
    """What names a run directory in MLflow: its name and start (quotes dropped for the filter)."""
    return f"{path.name}@{info.get('started_utc')}".replace("'", "")


def parent_params(info: dict, records: list[dict]) -> list:
    """The run directory's scenario and environment, as the parent run's params."""
    from mlflow.entities import Param

    from benchharness.compare import fingerprint

    scenario = info.get("scenario") or {}
    values = {"scenario": (scenario.get("resolved") or {}).get("name"), "scenario_source": scenario.get("source"),
              "scenario_sha256": scenario.get("sha256"), **fingerprint(info, records)}
    return [Param(re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("_"), _param_text(value))
            for key, value in values.items() if value is not None]


def _trial_run(client, experiment_id: str, parent_id: str, record: dict, stamp_ms: int) -> None:
    status = record["status"]
    tags = {"mlflow.parentRunId": parent_id, "benchharness.trial_id": record["trial_id"],
            "benchharness.status": status}
    if record.get("error"):
        tags["benchharness.error"] = record["error"][:PARAM_TEXT]
    model = str(record["params"].get("model")).rsplit("/", 1)[-1]  # a user model's file, not its whole path
    label = f"{model} batch {record['params'].get('batch_size')} repeat {record['repeat']}"
    run = client.create_run(experiment_id, run_name=f"{record['trial_id']} {label}", tags=tags)
    _log(client, run.info.run_id, trial_metrics(record, stamp_ms), trial_params(record))
    client.set_terminated(run.info.run_id, "FAILED" if status in ("failed", "timeout") else "FINISHED")


def export_mlflow(path: Path, info: dict, records: list[dict], report: Path | None,
                  tracking_uri: str | None = None, experiment: str | None = None) -> Exported:
    """Log the run directory at ``path`` (its run.json ``info`` and ``records``) to MLflow: a parent
    run with ``report`` (an HTML file, if given) and run.json as artifacts, and a nested run per trial.
    Raises ``UserError`` without MLflow, or when this experiment already holds this run directory."""
    uri = tracking_uri or default_tracking_uri()
    client = _client(uri)
    name = experiment or str((info.get("scenario") or {}).get("resolved", {}).get("name") or path.name)
    experiment_id = _experiment_id(client, name)
    key = run_key(path, info)
    _refuse_second_export(client, experiment_id, key, name)
    parent_id = client.create_run(experiment_id, run_name=path.name).info.run_id
    try:
        _log(client, parent_id, params=parent_params(info, records))
        stamp_ms = int(time.time() * 1000)
        for record in records:
            _trial_run(client, experiment_id, parent_id, record, stamp_ms)
        for artifact in (path / "run.json", report):
            if artifact is not None:
                client.log_artifact(parent_id, str(artifact))
    except BaseException:  # an export cut short is not tagged, so exporting again is not refused
        client.set_terminated(parent_id, "KILLED")
        raise
    client.set_tag(parent_id, RUN_TAG, key)
    client.set_terminated(parent_id, "FINISHED")
    return Exported(uri, name, parent_id, len(records))
