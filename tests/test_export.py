"""Export (step 12): flat tables that round-trip through pandas (CSV, Parquet), and MLflow runs that
``mlflow.search_runs()`` reads back with the records' figures. From the golden run directories."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from benchharness.cli import main
from benchharness.exports.tables import epochs_frame, trials_frame
from benchharness.store import RunDir

GOLDEN = Path(__file__).parent / "golden"


def golden(name: str) -> list[dict]:
    return RunDir.open(GOLDEN / name).read_trials().records


@pytest.mark.parametrize("name", ["fake_nvml_run", "pruning_run"])
def test_csv_round_trips_through_pandas(name, tmp_path, capsys):
    assert main(["export", str(GOLDEN / name), "--to", "csv", "-o", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == ["csv:", str(tmp_path / "trials.csv"), "csv:", str(tmp_path / "epochs.csv")]
    records = golden(name)
    trials = pd.read_csv(tmp_path / "trials.csv")
    assert list(trials["trial_id"]) == [r["trial_id"] for r in records]
    assert list(trials.columns) == list(trials_frame(records).columns)
    pd.testing.assert_series_equal(trials["throughput_sps"], pd.Series([r["throughput_sps"] for r in records],
                                                                       dtype=float, name="throughput_sps"))
    assert list(trials["params.batch_size"]) == [r["params"]["batch_size"] for r in records]
    epochs = pd.read_csv(tmp_path / "epochs.csv")
    assert len(epochs) == sum(len(r["epochs"]) for r in records)
    assert epochs["steady"].sum() == sum(r["steady_windows"] or 0 for r in records)
    steady = epochs[epochs["steady"]].groupby("trial_id")["throughput_sps"].apply(list)
    for r in (r for r in records if r["windows_sps"]):
        assert steady[r["trial_id"]] == pytest.approx(r["windows_sps"])  # each steady epoch is a window


def test_parquet_round_trips_exactly(tmp_path):
    assert main(["export", str(GOLDEN / "fake_nvml_run"), "--to", "parquet", "-o", str(tmp_path)]) == 0
    records = golden("fake_nvml_run")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "trials.parquet"), trials_frame(records))
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "epochs.parquet"), epochs_frame(records))
    assert "telemetry.util_mean_pct" in epochs_frame(records).columns  # each epoch's telemetry beside its timing


def test_default_folder_and_bad_flags(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(GOLDEN / "cpu_run"), "--to", "csv"]) == 0
    assert (tmp_path / "exports" / "cpu_run" / "trials.csv").is_file()
    assert main(["export", str(GOLDEN / "cpu_run"), "--to", "csv", "--tracking-uri", "x"]) == 2
    assert main(["export", str(tmp_path), "--to", "csv"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["benchharness: --tracking-uri and --experiment apply to --to mlflow only (see --help)",
                   f"{tmp_path}: not a run directory (no run.json)"]


def test_a_missing_optional_package_is_one_line_with_the_pip_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    assert main(["export", str(GOLDEN / "cpu_run"), "--to", "mlflow", "--tracking-uri", str(tmp_path / "m")]) == 2
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    assert main(["export", str(GOLDEN / "cpu_run"), "--to", "parquet", "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "export --to mlflow needs MLflow: pip install 'benchharness[mlflow]' (or pip install mlflow-skinny)",
        "export --to parquet needs pyarrow: pip install pyarrow"]
    assert not list(tmp_path.iterdir()) and not list((GOLDEN / "cpu_run").glob("benchharness-crash-*"))


def test_mlflow_runs_read_back_with_the_same_throughput(tmp_path, monkeypatch, capsys):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)  # the export sets it; restored afterwards
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(GOLDEN / "fake_nvml_run"), "--to", "mlflow"]) == 0
    uri = (tmp_path / "mlruns").as_uri()
    assert capsys.readouterr().out.strip().endswith(f"in experiment 'fake_gpu_sweep' at {uri}")
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["fake_gpu_sweep"])
    trials = runs[runs["tags.benchharness.trial_id"].notna()].set_index("tags.benchharness.trial_id")
    records = golden("fake_nvml_run")
    assert sorted(trials.index) == sorted(r["trial_id"] for r in records)
    for r in records:
        row = trials.loc[r["trial_id"]]
        assert row["tags.benchharness.status"] == r["status"] and row["params.batch_size"] == str(r["params"]["batch_size"])
        if r["throughput_sps"] is None:
            assert pd.isna(row["metrics.throughput_sps"])
        else:
            assert row["metrics.throughput_sps"] == r["throughput_sps"]
    (parent,) = runs[runs["tags.benchharness.trial_id"].isna()]["run_id"]
    assert set(trials["tags.mlflow.parentRunId"]) == {parent}
    client = mlflow.tracking.MlflowClient(uri)
    assert sorted(a.path for a in client.list_artifacts(parent)) == ["fake_nvml_run.html", "run.json"]
    ok = next(r for r in records if r["status"] == "ok")
    history = client.get_metric_history(trials.loc[ok["trial_id"], "run_id"], "epoch_seconds")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
        (e["epoch"], e["seconds"]) for e in ok["epochs"]]
    assert main(["export", str(GOLDEN / "fake_nvml_run"), "--to", "mlflow"]) == 2  # not exported twice
    assert capsys.readouterr().err.startswith("MLflow experiment 'fake_gpu_sweep' already holds this run directory")
