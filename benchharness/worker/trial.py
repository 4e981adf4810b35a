"""The order of one trial inside the worker: set-up, build, count, data, compile, (pruning), timed
fit (or, with a target, training to it: ``worker/tta``), and only what the record needs after the
last epoch.

Every phase ends with an event, so the parent can say where a trial's time outside its timed epochs
went (the record's ``phases_s``).
"""

from __future__ import annotations

from dataclasses import dataclass

from benchharness.scaling import batches_of
from benchharness.worker.cost_cache import measure_cost
from benchharness.worker.data import load_data, make_dataset
from benchharness.worker.device import (configure_devices, configure_keras, describe_device, device_sync,
                                        import_keras, import_tensorflow, own_rss_mb, reset_tensorflow_peak,
                                        tensorflow_environment, tensorflow_peak_mb)
from benchharness.worker.distribute import place
from benchharness.worker.events import EventLog
from benchharness.worker.measure import (AUTO_WARMUP_STEPS, MIN_STEP_WINDOWS, MIN_STEPS_PER_WINDOW, make_adaptive_stop,
                                         make_stop_rule, steps_per_step_window, window_steps)
from benchharness.worker.model import build_model, compile_model, evaluate, output_activation
from benchharness.worker.pruning import finish_pruning, prepare_pruning, train_dense_first, update_step_callback
from benchharness.worker.summaries import make_summary_recorder, write_summaries
from benchharness.worker.timing import NO_WINDOWS, StepWindows, make_epoch_timer
from benchharness.worker.tta import learning_rate, make_evaluator, make_target_stop, tta_result


def set_up(runtime: dict, seed: int, events: EventLog):
    """Import TensorFlow and tf_keras, and configure every GPU before anything touches one."""
    tf = import_tensorflow()
    configure_devices(tf.config, runtime)
    keras = import_keras()
    configure_keras(keras, runtime, seed)
    # The CPU's memory figure is RSS growth from here: what the model, data and training add.
    events.emit("imported", rss_mb=own_rss_mb())
    return tf, keras


def run_trial(spec: dict, events: EventLog) -> dict:
    """Everything inside the child, in the order that keeps GPUs usable. Returns the result fields."""
    params, runtime, target = spec["params"], spec["runtime"], spec.get("target")
    # Repeats of a time-to-accuracy trial are seeds: each trains from its own initialisation and order.
    seed = params["seed"] + (spec.get("repeat") or 0) if target else params["seed"]
    tf, keras = set_up(runtime, seed, events)
    placement = place(tf, params, runtime)
    per_replica, batch = batches_of(params, placement.replicas)
    with placement.scope():  # variables and the optimizer's slots are mirrored on every replica
        model = build_model(keras, params)
        events.emit("built")
        cost = measure_cost(tf, model, runtime, spec.get("cost_cache_dir"))
        events.emit("costed")
    data = load_data(model, params)
    rate = learning_rate(keras, params, batch, len(data.x_train))  # lr_scaling, lr_warmup_epochs
    with placement.scope():
        compile_model(keras, model, params, runtime, rate)
    whole_batches = params.get("samples_per_epoch") == "auto" or target is not None
    batches = make_dataset(tf, data.x_train, data.y_train, batch, seed, whole_batches)
    result = {"device": describe_device(tf), "distribution": {"replicas": placement.replicas,
              "per_replica_batch": per_replica, "global_batch": batch, "cross_device_ops": placement.cross_device_ops},
              "environment": tensorflow_environment(tf) if spec.get("describe_environment") else None}
    guard = memory_guard(tf, keras, runtime, batch, result)
    events.emit("ready")
    fit = tta_fit if target else throughput_fit
    result.update(fit(tf, keras, model, data, batches, spec, events, Fitting(batch, seed, cost, guard, rate)))
    return result


@dataclass(frozen=True)
class Fitting:
    """What a fit needs besides the model and data: the global batch, the trial's seed, the FLOP
    count, the fake device's memory guard (a callback, or None) and the learning rate (or schedule)."""

    batch: int
    seed: int
    cost: dict | None
    guard: object | None
    rate: object


def memory_guard(tf, keras, runtime: dict, batch: int, result: dict):
    """The fake device's memory guard (``worker/fake_memory``), or None without a memory model; the
    model's figure goes into ``result`` (the record's memory where the guard lets the batch through)."""
    from benchharness.worker.fake_memory import fake_memory, make_memory_guard

    found = fake_memory(runtime)
    if found is None:
        return None
    model, limit_mb = found
    result["fake_memory_mb"] = model.mb(batch)
    return make_memory_guard(tf, keras, model, limit_mb, batch)


def throughput_fit(tf, keras, model, data, batches, spec: dict, events: EventLog, fitting: Fitting) -> dict:
    """The throughput trial after its data is ready: (dense pre-training, pruning), the timed fit,
    the memory peak, the evaluation and (``measure_sizes``) the exported sizes."""
    params, batch = spec["params"], fitting.batch
    result = {"dense_pretrain": train_dense_first(model, batches, params, events)}
    model, pruning_state = prepare_pruning(keras, model, params, spec["runtime"], batches.steps_per_epoch, fitting.rate)
    auto_windows = params.get("samples_per_epoch") == "auto"
    samples_of = (lambda steps: steps * batch) if auto_windows else (lambda steps: len(data.x_train))
    windows = step_windows_of(tf, params, len(data.x_train) // batch, batch)
    result["measurement"] = timed_fit(tf, keras, model, batches, spec, events, samples_of, pruning_state is not None,
                                      [fitting.guard] if fitting.guard else [], windows)
    result["tf_peak_mb"] = tensorflow_peak_mb(tf)
    export_model, result["pruning"] = finish_pruning(model, pruning_state)
    result["cost"] = cost_with_pruning(fitting.cost, result["pruning"])
    result["eval"] = evaluate(tf, model, data, batch)
    events.emit("evaluated")
    if params.get("measure_sizes"):
        result.update(export_sizes(tf, keras, export_model, data, params["batch_size"], events))
    return result


def step_windows_of(tf, params: dict, full_steps: int, batch: int) -> StepWindows:
    """For fixed epochs: the epoch timer's windows of steps inside every epoch after the warm-up
    (``measure.steps_per_step_window`` steps each; an epoch holds ``full_steps`` whole batches of
    ``batch`` samples). ``NO_WINDOWS`` with ``epochs: auto`` or ``samples_per_epoch: auto``,
    whose epochs are already windows sized to the step time."""
    if params["epochs"] == "auto" or params.get("samples_per_epoch") == "auto":
        return NO_WINDOWS
    if full_steps < MIN_STEP_WINDOWS * MIN_STEPS_PER_WINDOW:
        return NO_WINDOWS  # too short for 8 windows of 2 steps: a sync every step or two would be the measurement
    per_execution = params.get("steps_per_execution") or 1
    return StepWindows(lambda warmup_step_ms: steps_per_step_window(warmup_step_ms, full_steps, per_execution),
                       full_steps, batch, device_sync(tf))


def tta_fit(tf, keras, model, data, batches, spec: dict, events: EventLog, fitting: Fitting) -> dict:
    """The time-to-accuracy trial after its data is ready: train until the target or ``max_epochs``
    (``worker/tta``); the last evaluation is the record's ``eval``."""
    params, target, batch = spec["params"], spec["target"], fitting.batch
    stop = make_target_stop(keras, events, make_evaluator(tf, model, data.x_test, data.y_test), target, batch)
    timer = make_epoch_timer(keras, events, lambda steps: steps * batch, lambda: stop.paused_s)
    warmup = make_adaptive_stop(keras, timer, None)
    callbacks = [timer, warmup, stop] + ([fitting.guard] if fitting.guard else [])
    reset_tensorflow_peak(tf)
    events.emit("fit_start")
    model.fit(batches.dataset, epochs=params["max_epochs"], steps_per_epoch=batches.steps_per_epoch, verbose=0,
              callbacks=callbacks)
    events.emit("fit_end")
    events.emit("summaries_written")
    metrics = stop.metrics
    result = {"measurement": {"warmup_epochs": warmup.warmup_epochs, "stop_reason": "target" if stop.converged
                              else "max_epochs"},
              "tf_peak_mb": tensorflow_peak_mb(tf), "cost": cost_with_pruning(fitting.cost, None),
              "tta": tta_result(stop, timer.epochs, params, target, batch, len(data.x_train), fitting.seed),
              "eval": None if metrics is None else metrics | {"samples": int(len(data.x_test))}}
    events.emit("evaluated")
    return result


def timed_fit(tf, keras, model, batches, spec: dict, events: EventLog, samples_of, pruning: bool,
              extra_callbacks: list = (), windows: StepWindows = NO_WINDOWS) -> dict:
    """``fit`` with the epoch timer first (and its ``windows`` of steps inside the epochs after the
    warm-up), the adaptive stop right after it, tfmot's step update (pruning), the summary
    recorder (when the run keeps TensorBoard summaries, written after the last epoch) and
    ``extra_callbacks`` (the fake device's memory guard). Returns the record's measurement facts:
    warm-up epochs and why measuring stopped."""
    params = spec["params"]
    rule = make_stop_rule(params, spec.get("t_quantiles"))
    timer = make_epoch_timer(keras, events, samples_of, windows=windows)
    stop = make_adaptive_stop(keras, timer, rule)
    log_dir = spec.get("tensorboard_dir")
    recorder = make_summary_recorder(keras, pruning) if log_dir else None
    callbacks = ([timer, stop] + ([update_step_callback()] if pruning else []) + ([recorder] if recorder else [])
                 + list(extra_callbacks))
    reset_tensorflow_peak(tf)
    events.emit("fit_start")
    fit_windows(model, batches, params, callbacks, timer, params["max_epochs"] if rule else params["epochs"])
    events.emit("fit_end")
    write_summaries(tf, log_dir, recorder, timer.epochs)
    events.emit("summaries_written")
    # fit ran out of epochs before the rule said stop (the last ones were still warm-up): the cap.
    return {"warmup_epochs": stop.warmup_epochs, "stop_reason": stop.stop_reason or "max_epochs"}


def fit_windows(model, batches, params: dict, callbacks: list, timer, epochs: int) -> None:
    """One epoch per window. With ``samples_per_epoch: auto`` a short warm-up epoch
    (``AUTO_WARMUP_STEPS``) comes first, in a fit call of its own; its step time sizes the windows
    of the second call to last at least ``window_s``."""
    if params.get("samples_per_epoch") != "auto":
        model.fit(batches.dataset, epochs=epochs, steps_per_epoch=batches.steps_per_epoch, verbose=0,
                  callbacks=callbacks)
        return
    model.fit(batches.dataset, epochs=1, steps_per_epoch=AUTO_WARMUP_STEPS, verbose=0, callbacks=callbacks)
    steps = window_steps(timer.last_step_ms, params["window_s"])
    model.fit(batches.dataset, initial_epoch=1, epochs=epochs, steps_per_epoch=steps, verbose=0, callbacks=callbacks)


def cost_with_pruning(cost: dict | None, pruning: dict | None) -> dict | None:
    """The record's ``cost``: the count without its per-layer MACs, plus the FLOPs that the measured
    per-layer sparsity would save with a sparse kernel."""
    if cost is None:
        return None
    from benchharness.cost import flops_saved_by_sparsity

    per_layer_macs = cost.pop("per_layer_macs")
    return cost | {"flops_saved_by_sparsity": flops_saved_by_sparsity(per_layer_macs, (pruning or {}).get("per_layer"))}


def export_sizes(tf, keras, model, data, batch_size: int, events: EventLog) -> dict:
    """Compressed Keras and TFLite sizes and TFLite accuracy (``benchharness.export``)."""
    from benchharness.export import measure_sizes

    events.emit("export_start")
    threshold = 0.5 if output_activation(model) == "sigmoid" else 0.0
    sizes, accuracy = measure_sizes(tf, keras, model, data, batch_size, threshold)
    return {"sizes": sizes, "tflite_accuracy": accuracy}
