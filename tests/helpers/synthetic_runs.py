"""Synthetic run directories with known truth, for the comparison's calibration: no TensorFlow.

Every record goes through the real record builder (``assemble.build_record``) and the real run
directory (``store.RunDir``), so compare reads what a run writes. The noise model: each steady
window's throughput is the point's truth times a lognormal factor with ``noise`` as its sigma (the
record's ``throughput_cv``), independently; a trial's figure is the median of its ``windows``
windows, as in a real record. ``process_noise`` adds one more lognormal factor per trial (one
process's own speed: placement, memory layout) that its windows cannot see.
"""

from __future__ import annotations

import numpy as np

from benchharness.assemble import RunContext, WorkerRun
from benchharness.assemble import build_record
from benchharness.plan import Trial, trial_id
from benchharness.record import TrialRecord
from benchharness.store import RunDir

from .records import worker_events

SAMPLES = 8000  # samples per epoch
CPU = {"model": "AMD EPYC", "logical_cores": 2, "physical_cores": 2}


def environment(device_name: str = "AMD EPYC", tensorflow: str = "2.21.0") -> dict:
    """run.json's environment as a real run on this machine writes it (a GPU name adds a GPU)."""
    gpus = None if device_name == CPU["model"] else [{"name": device_name, "driver": "570.1", "index": 0}]
    return {"host": "vm", "python": "3.11.7", "packages": {"tensorflow": tensorflow, "tf-keras": tensorflow,
            "tensorflow-model-optimization": "0.8.1", "numpy": "2.4.6"}, "cpu": CPU, "ram_mb": 24106, "gpus": gpus,
            "tensorflow": {"tensorflow": tensorflow, "tf_keras": tensorflow, "gpus_visible_to_tensorflow": [],
                           "cuda_build": {"is_cuda_build": True, "cuda_version": "12.5.1", "cudnn_version": "9"}}}


def run_info(name: str = "calibration", device_name: str = "AMD EPYC", tensorflow: str = "2.21.0",
             runtime: dict | None = None) -> dict:
    return {"scenario": {"source": f"{name}.yaml", "sha256": "0" * 64,
                         "resolved": {"name": name, "runtime": runtime or {"xla": False}}},
            "environment": environment(device_name, tensorflow)}


def trial_record(params: dict, repeat: int, epoch_seconds: list[float], status: str = "ok",
                 device_name: str = "AMD EPYC", **result):
    """A record built from a worker's events: ``epoch_seconds[0]`` is the warm-up epoch."""
    kind = "cpu" if device_name == CPU["model"] else "gpu"
    events = worker_events(tuple(epoch_seconds), samples=SAMPLES, status=status,
                           device={"kind": kind, "name": device_name, "count": None if kind == "cpu" else 1},
                           **result)
    worker = WorkerRun(events, 0 if status == "ok" else 1, False, 99.0, events[-1]["t_monotonic"] + 0.25)
    trial = Trial(trial_id(params, repeat), repeat, params)
    return build_record(trial, worker, None, RunContext(), 1)


def point_params(batch: int, **extra) -> dict:
    return {"model": "tutorial_cnn", "dataset": "synthetic", "batch_size": batch, "timeout_s": 60.0, **extra}


def window_seconds(rng: np.random.Generator, truth_sps: float, windows: int, noise: float,
                   process_noise: float = 0.0) -> list[float]:
    """A warm-up epoch and ``windows`` steady epochs' seconds of one trial (see the module docstring)."""
    speed = truth_sps * np.exp(rng.normal(0.0, process_noise))
    rates = speed * np.exp(rng.normal(0.0, noise, windows))
    return [SAMPLES / speed * 1.5, *(SAMPLES / rates).tolist()]


def write_run(parent, name: str, records: list, info: dict | None = None) -> RunDir:
    """A run directory holding ``records`` (``TrialRecord``s, or dicts as a run directory gives them)."""
    run = RunDir.create(parent, name, info or run_info(name))
    for record in records:
        run.append_record(record if isinstance(record, TrialRecord) else TrialRecord.model_validate(record))
    return run


def synthetic_run(parent, name: str, rng: np.random.Generator, truth: dict[int, float], repeats: int = 3,
                  windows: int = 8, noise: float = 0.05, process_noise: float = 0.0,
                  device_name: str = "AMD EPYC", tensorflow: str = "2.21.0") -> RunDir:
    """A run of ``truth`` (batch size -> samples/s) on ``device_name``, its repeats in rounds as
    ``order: interleaved`` runs them, each trial's windows drawn as the module docstring says."""
    records = [trial_record(point_params(batch), repeat, window_seconds(rng, sps, windows, noise, process_noise),
                            device_name=device_name)
               for repeat in range(repeats) for batch, sps in truth.items()]
    return write_run(parent, name, records, run_info(name, device_name, tensorflow))
