"""Pruning glue inside the worker: dense pre-training, wrapping before the timed fit, and what the
record's ``pruning`` holds afterwards. tfmot is imported only by a trial with ``sparsity > 0``."""

from __future__ import annotations

import time

from benchharness.worker.events import EventLog
from benchharness.worker.model import as_float, compile_model


def train_dense_first(model, batches, params: dict, events: EventLog) -> dict | None:
    """``prune_after_dense_epochs``: train the dense model first, as the pruning guide does
    (not part of the timed epochs; its total time is reported apart)."""
    epochs = params.get("prune_after_dense_epochs") or 0
    if not epochs:
        return None
    events.emit("pretrain_start", epochs=epochs)
    started = time.perf_counter()
    history = model.fit(batches.dataset, epochs=epochs, steps_per_epoch=batches.steps_per_epoch, verbose=0)
    return {"epochs": epochs, "seconds": time.perf_counter() - started,
            "accuracy": as_float(history.history.get("accuracy", [None])[-1])}


def prepare_pruning(keras, model, params: dict, runtime: dict, steps_per_epoch: int, learning_rate=None):
    """For ``sparsity > 0``: wrap the prunable layers and recompile; returns (model, state or None).
    A pruning trial has a fixed number of epochs (``plan.resolve_epochs``), hence a fixed step count."""
    if not params.get("sparsity"):
        return model, None
    steps = steps_per_epoch * params["epochs"]
    from benchharness.pruning.keras import apply_pruning
    from benchharness.pruning.schedule import resolve_schedule

    schedule = resolve_schedule(params, steps)
    pruned, wrapped = apply_pruning(keras, model, schedule)
    compile_model(keras, pruned, params, runtime, learning_rate)
    return pruned, {"schedule": schedule, "wrapped": wrapped}


def finish_pruning(model, state):
    """(model to export, the worker's ``pruning`` report): the stripped model and its measured sparsity."""
    if state is None:
        return model, None
    from benchharness.pruning.keras import measure_sparsity, strip

    measured = measure_sparsity(model)
    return strip(model), {"target": state["schedule"].final_sparsity, **measured,
                          "schedule": state["schedule"].as_dict(), "wrapped_layers": state["wrapped"]}


def update_step_callback():
    """tfmot's callback that advances the pruning step every batch."""
    from benchharness.pruning.keras import import_tfmot

    return import_tfmot().sparsity.keras.UpdatePruningStep()
