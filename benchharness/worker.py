"""The worker: runs one trial inside a fresh process and reports back through an events file.

Run as ``python -m benchharness.worker`` with the trial spec as JSON on stdin. Order matters:
``TF_USE_LEGACY_KERAS`` before TensorFlow is imported, and memory growth (or a memory-limited virtual
device) on every GPU before any op touches one: without growth TensorFlow maps nearly all GPU
memory and cuDNN on RTX 20-series cards then fails with CUDNN_STATUS_INTERNAL_ERROR.

Events (JSON lines, ``t_monotonic`` on ``time.monotonic()``, shared with the parent's sampler):
``started``, ``epoch_start``, ``epoch_end``, ``result``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path


class EventLog:
    """Appends one JSON object per line and flushes it, so the parent sees progress as it happens."""

    def __init__(self, path: str):
        self._file = open(path, "a", encoding="utf-8")

    def emit(self, event: str, **fields) -> None:
        fields = {"event": event, "t_monotonic": time.monotonic(), **fields}
        self._file.write(json.dumps(fields) + "\n")
        self._file.flush()


def import_tensorflow():
    """Import TensorFlow with Keras 2 selected (tfmot needs ``tf_keras``)."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf

    return tf


def import_keras():
    import tf_keras

    return tf_keras


def configure_devices(tf_config, runtime: dict) -> list:
    """Apply memory growth or a memory cap to every visible GPU; must run before any op.

    ``tf_config`` is ``tf.config`` (tests pass a fake). Returns the GPUs it configured.
    """
    gpus = tf_config.list_physical_devices("GPU")
    limit = runtime.get("memory_limit_mb")
    for gpu in gpus:
        if limit is not None:
            tf_config.set_logical_device_configuration(
                gpu, [tf_config.LogicalDeviceConfiguration(memory_limit=limit)])
        elif runtime.get("memory_growth", True):
            tf_config.experimental.set_memory_growth(gpu, True)
    return gpus


def configure_keras(keras, runtime: dict, seed: int) -> None:
    keras.utils.set_random_seed(seed)
    if runtime.get("mixed_precision"):
        keras.mixed_precision.set_global_policy("mixed_float16")


OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop", "adamw": "AdamW"}


def output_activation(model) -> str | None:
    """Name of the last layer's activation (``softmax``, ``sigmoid``, ``linear``), if it has one."""
    activation = getattr(model.layers[-1], "activation", None)
    return getattr(activation, "__name__", None)


def make_loss(keras, model):
    """Sparse categorical (or binary for one output unit) cross-entropy, from logits unless the
    model ends in softmax/sigmoid."""
    activation = output_activation(model)
    if model.output_shape[-1] == 1:
        return keras.losses.BinaryCrossentropy(from_logits=activation != "sigmoid")
    return keras.losses.SparseCategoricalCrossentropy(from_logits=activation != "softmax")


def compile_model(keras, model, params: dict, runtime: dict) -> None:
    optimizer = getattr(keras.optimizers, OPTIMIZERS[params["optimizer"]])(learning_rate=params["learning_rate"])
    model.compile(optimizer=optimizer, loss=make_loss(keras, model), metrics=["accuracy"],
                  jit_compile=bool(runtime.get("xla")))


def build_model(keras, params: dict):
    """Build the trial's model; a user reference must return a ``tf_keras`` model."""
    from benchharness.models import resolve_builder

    model = resolve_builder(params["model"])(params)
    if not isinstance(model, keras.Model):
        kind = f"{type(model).__module__}.{type(model).__name__}"
        hint = " (a Keras 3 model: tfmot needs tf_keras, import tf_keras as keras)" if kind.startswith("keras") else ""
        raise TypeError(f"model {params['model']!r} returned {kind}, not a tf_keras Model{hint}")
    return model


def input_spec(model) -> tuple[tuple[int, ...], str, int]:
    """(input shape without batch, "tokens" or "image", number of classes) derived from the model."""
    shape = tuple(model.input_shape[1:])
    first = model.layers[0]
    kind = "tokens" if type(first).__name__ == "Embedding" else "image"
    classes = model.output_shape[-1]
    return shape, kind, (2 if classes == 1 else classes)


def make_dataset(tf, x, y, batch_size: int, seed: int):
    """Seeded reshuffle every epoch, batch, ``prefetch(AUTOTUNE)``: the input pipeline must not starve
    the device. The arrays are held in memory as tensors (what ``cache()`` would give) and the
    shuffle moves indices, not rows, then gathers each batch in one op: an element-wise shuffle of
    the rows measured 4.5 % slower epochs than ``model.fit(x, y)`` here (tutorial_cnn, batch 128)."""
    features, labels = tf.constant(x), tf.constant(y)
    indices = tf.data.Dataset.range(len(x)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    batches = indices.batch(batch_size).map(lambda idx: (tf.gather(features, idx), tf.gather(labels, idx)),
                                            num_parallel_calls=tf.data.AUTOTUNE)
    return batches.prefetch(tf.data.AUTOTUNE)


def load_data(model, params: dict):
    """The trial's data shaped for ``model`` (see ``benchharness.datasets.loaders``)."""
    from benchharness.datasets.loaders import load_dataset

    shape, kind, classes = input_spec(model)
    vocab = getattr(model.layers[0], "input_dim", 20000)
    return load_dataset(params["dataset"], params, shape, kind, classes, vocab)


def evaluate(tf, model, data, batch_size: int) -> dict | None:
    """Test-split accuracy and loss; None where there is no meaningful test split (synthetic)."""
    if data.x_test is None:
        return None
    test = tf.data.Dataset.from_tensor_slices((data.x_test, data.y_test)).batch(batch_size).prefetch(tf.data.AUTOTUNE)
    result = model.evaluate(test, verbose=0, return_dict=True)
    return {"accuracy": _as_float(result.get("accuracy")), "loss": _as_float(result.get("loss")),
            "samples": int(len(data.x_test))}


def make_epoch_timer(keras, events: EventLog, samples_per_epoch: int):
    """A Keras callback that times every epoch (perf_counter) and every step, and reports them."""

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self._supports_tf_logs = True  # no per-step conversion of logs to numpy: no extra sync
            self.epochs: list[dict] = []

        def on_epoch_begin(self, epoch, logs=None):
            events.emit("epoch_start", epoch=epoch)
            self._step_ms: list[float] = []
            self._t0 = self._last = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            self._step_ms.append((now - self._last) * 1000.0)
            self._last = now

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self._t0
            logs = logs or {}
            entry = {
                "epoch": epoch,
                "seconds": seconds,
                "samples": samples_per_epoch,
                "steps": len(self._step_ms),
                "loss": _as_float(logs.get("loss")),
                "accuracy": _as_float(logs.get("accuracy")),
            }
            self.epochs.append(entry)
            events.emit("epoch_end", **entry, step_times_ms=self._step_ms)

    return EpochTimer()


def _as_float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def describe_device(tf) -> dict:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return {"kind": "gpu", "name": details.get("device_name", gpus[0].name), "count": len(gpus)}
    return {"kind": "cpu", "name": cpu_model_name()}


def cpu_model_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def tensorflow_environment(tf) -> dict:
    """TensorFlow's version and CUDA/cuDNN build info, for run.json."""
    import tf_keras

    build = dict(tf.sysconfig.get_build_info())
    return {
        "tensorflow": tf.__version__,
        "tf_keras": tf_keras.__version__,
        "cuda_build": {k: build.get(k) for k in ("is_cuda_build", "cuda_version", "cudnn_version")},
        "gpus_visible_to_tensorflow": [gpu.name for gpu in tf.config.list_physical_devices("GPU")],
    }


def run_trial(spec: dict, events: EventLog) -> dict:
    """Everything inside the child, in the order that keeps GPUs usable. Returns the result fields."""
    from benchharness.schedule import total_steps

    params, runtime = spec["params"], spec["runtime"]
    tf = import_tensorflow()
    configure_devices(tf.config, runtime)  # before anything touches a GPU
    keras = import_keras()
    configure_keras(keras, runtime, params["seed"])
    model = build_model(keras, params)
    cost = measure_cost(tf, model, runtime, spec.get("cost_cache_dir"))
    compile_model(keras, model, params, runtime)
    data = load_data(model, params)
    dataset = make_dataset(tf, data.x_train, data.y_train, params["batch_size"], params["seed"])
    events.emit("ready")
    pretrain = train_dense_first(model, dataset, params, events)
    steps = total_steps(len(data.x_train), params["batch_size"], params["epochs"])
    model, pruning_state = prepare_pruning(keras, model, params, runtime, steps)
    timer = make_epoch_timer(keras, events, len(data.x_train))
    events.emit("fit_start")
    callbacks = training_callbacks(keras, timer, spec.get("tensorboard_dir"), pruning_state is not None)
    model.fit(dataset, epochs=params["epochs"], verbose=0, callbacks=callbacks)
    events.emit("fit_end")
    write_summaries(tf, spec.get("tensorboard_dir"), callbacks, timer)
    result = {
        "epochs": timer.epochs,
        "dense_pretrain": pretrain,
        "eval": evaluate(tf, model, data, params["batch_size"]),
        "device": describe_device(tf),
        "environment": tensorflow_environment(tf),
        "tf_peak_mb": tensorflow_peak_mb(tf),
        "cost": cost,
        "flops_per_sample": (cost or {}).get("flops_per_sample"),
    }
    export_model, result["pruning"] = finish_pruning(model, pruning_state)
    if cost is not None:
        from benchharness.flops import flops_saved_by_sparsity

        per_layer_macs = cost.pop("per_layer_macs")
        cost["flops_saved_by_sparsity"] = flops_saved_by_sparsity(per_layer_macs, (result["pruning"] or {}).get("per_layer"))
    if params.get("measure_sizes"):
        from benchharness.export import measure_sizes

        events.emit("export_start")
        threshold = 0.5 if output_activation(model) == "sigmoid" else 0.0
        result["sizes"], result["tflite_accuracy"] = measure_sizes(tf, keras, export_model, data,
                                                                   params["batch_size"], threshold)
    return result


def measure_cost(tf, model, runtime: dict, cache_dir: str | None = None) -> dict | None:
    """Forward FLOPs, MACs and memory access cost of one sample (see ``benchharness.flops``).
    A model the profiler cannot freeze gets None (and the trial goes on): never a guessed figure.

    Counting takes about 3 s for a MobileNet here, and a batch sweep builds the same architecture
    in every trial: the count is kept in ``cache_dir`` under a hash of the model's full Keras config
    (layers, names, shapes, dtypes) and the bytes per element, so only an identical model reuses it.
    """
    from benchharness.flops import model_cost

    bytes_per_element = 2 if runtime.get("mixed_precision") else 4
    cached = cost_cache_path(model, bytes_per_element, cache_dir)
    if cached is not None and cached.is_file():
        return json.loads(cached.read_text(encoding="utf-8"))
    try:
        cost = model_cost(tf, model, tuple(model.input_shape[1:]), bytes_per_element)
    except Exception as exc:  # the count is a by-product; the training measurement must not be lost
        print(f"benchharness: FLOPs not counted: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    if cached is not None:
        from benchharness.store import write_json_atomically

        cached.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomically(cached, cost)  # a trial killed mid-write leaves no half-written count
    return cost


def cost_cache_path(model, bytes_per_element: int, cache_dir: str | None) -> Path | None:
    """Where this exact architecture's count is kept; None without a cache or for a model whose
    config cannot be serialised (a custom layer without ``get_config``): it is then counted afresh."""
    if not cache_dir:
        return None
    try:
        config = model.to_json()
    except Exception:
        return None
    digest = hashlib.sha256(f"{config}|{bytes_per_element}".encode()).hexdigest()  # the config holds the input shape
    return Path(cache_dir) / f"{digest[:24]}.json"


def train_dense_first(model, dataset, params: dict, events: EventLog) -> dict | None:
    """``prune_after_dense_epochs``: train the dense model first, as the pruning guide does
    (not part of the timed epochs; its total time is reported apart)."""
    epochs = params.get("prune_after_dense_epochs") or 0
    if not epochs:
        return None
    events.emit("pretrain_start", epochs=epochs)
    started = time.perf_counter()
    history = model.fit(dataset, epochs=epochs, verbose=0)
    return {"epochs": epochs, "seconds": time.perf_counter() - started,
            "accuracy": _as_float(history.history.get("accuracy", [None])[-1])}


def prepare_pruning(keras, model, params: dict, runtime: dict, steps: int):
    """For ``sparsity > 0``: wrap the prunable layers and recompile; returns (model, state or None)."""
    if not params.get("sparsity"):
        return model, None
    from benchharness.pruning import apply_pruning
    from benchharness.schedule import resolve_schedule

    schedule = resolve_schedule(params, steps)
    pruned, wrapped = apply_pruning(keras, model, schedule)
    compile_model(keras, pruned, params, runtime)
    return pruned, {"schedule": schedule, "wrapped": wrapped}


def finish_pruning(model, state):
    """(model to export, the record's ``pruning``): the stripped model and its measured sparsity."""
    if state is None:
        return model, None
    from benchharness.pruning import measure_sparsity, strip

    measured = measure_sparsity(model)
    return strip(model), {"target": state["schedule"].final_sparsity, **measured,
                          "schedule": state["schedule"].as_dict(), "wrapped_layers": state["wrapped"]}


def training_callbacks(keras, timer, log_dir: str | None, pruning: bool) -> list:
    """The epoch timer first, then (for pruning) tfmot's step update, then a recorder of what
    TensorBoard should show. Why not tf_keras' TensorBoard or tfmot's PruningSummaries (a TensorBoard
    subclass): attached to fit, either slowed every steady epoch by about 7 % here (timer alone vs
    timer + TensorBoard, interleaved), a cost the harness would then report as the model's, and as
    pruning's in throughput_vs_dense. The recorder reads values at epoch end, after the timer stopped,
    and ``write_summaries`` writes them once training is over."""
    callbacks = [timer]
    if pruning:
        from benchharness.pruning import import_tfmot

        callbacks.append(import_tfmot().sparsity.keras.UpdatePruningStep())
    if log_dir:
        callbacks.append(make_summary_recorder(keras))
    return callbacks


def make_summary_recorder(keras):
    """Collects per-epoch scalars in memory: Keras' logs and, for pruned layers, the mask sparsity
    and threshold (what PruningSummaries logs)."""
    import numpy as np

    from benchharness.pruning import pruning_wrappers

    class SummaryRecorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.scalars: list[tuple[str, int, float]] = []

        def on_epoch_end(self, epoch, logs=None):
            for name, value in (logs or {}).items():
                if _as_float(value) is not None:
                    self.scalars.append((f"epoch_{name}", epoch, _as_float(value)))
            for layer in pruning_wrappers(self.model):
                for weight, mask, threshold in layer.pruning_vars:
                    tag = weight.name.split(":")[0]
                    self.scalars.append((f"pruning/{tag}/sparsity", epoch, float(1 - np.mean(mask.numpy()))))
                    self.scalars.append((f"pruning/{tag}/threshold", epoch, float(threshold.numpy())))

    return SummaryRecorder()


def write_summaries(tf, log_dir: str | None, callbacks: list, timer) -> None:
    """Write the recorded scalars, and each epoch's time and throughput, under ``log_dir/train``."""
    recorder = next((c for c in callbacks if type(c).__name__ == "SummaryRecorder"), None)
    if not log_dir or recorder is None:
        return
    writer = tf.summary.create_file_writer(str(Path(log_dir) / "train"))
    with writer.as_default():
        for tag, step, value in recorder.scalars:
            tf.summary.scalar(tag, value, step=step)
        for epoch in timer.epochs:
            tf.summary.scalar("epoch_seconds", epoch["seconds"], step=epoch["epoch"])
            tf.summary.scalar("epoch_samples_per_second", epoch["samples"] / epoch["seconds"], step=epoch["epoch"])
    writer.close()


def tensorflow_peak_mb(tf) -> float | None:
    """TensorFlow's own peak allocation on the first GPU (MiB), beside NVML's device-wide figure;
    None on the CPU, where TensorFlow does not track it."""
    if not tf.config.list_physical_devices("GPU"):
        return None
    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


def error_line(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0] if message else ''}".strip()


def is_oom(exc: BaseException) -> bool:
    """TensorFlow's allocation failure, or the host running out of memory."""
    return type(exc).__name__ == "ResourceExhaustedError" or isinstance(exc, MemoryError)


def probe_main() -> int:
    """``python -m benchharness.worker --probe``: the device's measured matmul and memory ceilings,
    in a process of its own (once per run, before the trials), written as JSON to ``spec["output"]``."""
    from benchharness.flops import probe_peak

    spec = json.loads(sys.stdin.read())
    tf = import_tensorflow()
    configure_devices(tf.config, spec["runtime"])
    peak = probe_peak(tf, bool(tf.config.list_physical_devices("GPU")), bool(spec["runtime"].get("mixed_precision")))
    Path(spec["output"]).write_text(json.dumps(peak))
    return 0


def main() -> int:
    if sys.argv[1:] == ["--probe"]:
        return probe_main()
    spec = json.loads(sys.stdin.read())
    events = EventLog(spec["events_path"])
    events.emit("started", pid=os.getpid())
    try:
        result = run_trial(spec, events)
        events.emit("result", status="ok", error=None, **result)
        return 0
    except BaseException as exc:  # every outcome is data: report it, then exit non-zero
        traceback.print_exc()
        status = "oom" if is_oom(exc) else "failed"
        events.emit("result", status=status, error=error_line(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
