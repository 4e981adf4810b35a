"""Device set-up inside the worker, and what device ran the trial.

Order matters: ``TF_USE_LEGACY_KERAS`` before TensorFlow is imported (tfmot needs ``tf_keras``), and
memory growth (or a memory-limited virtual device) on every GPU before any op touches one: without
growth TensorFlow maps nearly all GPU memory and cuDNN on RTX 20-series cards then fails with
CUDNN_STATUS_INTERNAL_ERROR.
"""

from __future__ import annotations

import contextlib
import os
import sys

from benchharness.environment import cpu_model_name


@contextlib.contextmanager
def pandas_hidden():
    """Make ``import pandas`` fail while TensorFlow and tf_keras import. tf_keras' data adapter
    imports pandas (1.1 s of a 6 s import here) only to accept DataFrames in ``fit``, which the worker
    never passes, and falls back to ``pd = None`` when the import fails. Afterwards pandas imports
    normally again (a user's model module may want it)."""
    if "pandas" in sys.modules:
        yield
        return
    sys.modules["pandas"] = None  # the import system's "not importable" marker
    try:
        yield
    finally:
        if sys.modules.get("pandas", 0) is None:
            del sys.modules["pandas"]


def import_tensorflow():
    """Import TensorFlow with Keras 2 selected (tfmot needs ``tf_keras``)."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    with pandas_hidden():
        import tensorflow as tf
    return tf


def import_keras():
    with pandas_hidden():
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
    split_cpu(tf_config, runtime.get("logical_cpu_devices"), bool(gpus))
    return gpus


def split_cpu(tf_config, count: int | None, has_gpu: bool) -> None:
    """``runtime.logical_cpu_devices``: the CPU as ``count`` logical devices (CPU:0 .. CPU:count-1), so
    a multi-replica trial runs on a machine without a GPU. Refused where there is a GPU: the replicas
    are the GPUs there, and a CPU split would only measure something else."""
    if count is None:
        return
    if has_gpu:
        raise RuntimeError("runtime.logical_cpu_devices is for machines without a GPU; this one has a GPU "
                           "(set logical_cpu_devices: null to use the GPUs as replicas)")
    cpu = tf_config.list_physical_devices("CPU")[0]
    tf_config.set_logical_device_configuration(cpu, [tf_config.LogicalDeviceConfiguration() for _ in range(count)])


def configure_keras(keras, runtime: dict, seed: int) -> None:
    keras.utils.set_random_seed(seed)
    if runtime.get("mixed_precision"):
        keras.mixed_precision.set_global_policy("mixed_float16")


def describe_device(tf) -> dict:
    """The record's ``device``: kind, name and (GPU) how many are visible."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return {"kind": "gpu", "name": details.get("device_name", gpus[0].name), "count": len(gpus)}
    return {"kind": "cpu", "name": cpu_model_name(), "count": None}


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


def _gpu_names(tf) -> list[str]:
    return [f"GPU:{i}" for i in range(len(tf.config.list_logical_devices("GPU")))]


def reset_tensorflow_peak(tf) -> None:
    """Start TensorFlow's peak-allocation count afresh on every GPU, so the peak read after the fit
    is the timed epochs' own (not the model build's or the cost count's)."""
    for name in _gpu_names(tf):
        tf.config.experimental.reset_memory_stats(name)


def tensorflow_peak_mb(tf) -> float | None:
    """TensorFlow's own peak allocation since ``reset_tensorflow_peak`` (MiB), the largest of the
    trial's GPUs; None on the CPU, where TensorFlow does not track it."""
    names = _gpu_names(tf)
    if not names:
        return None
    return max(tf.config.experimental.get_memory_info(name)["peak"] for name in names) / 2**20


def device_sync(tf):
    """``sync(logs)``, which returns once the devices have run every op enqueued so far, for the
    boundaries of windows of steps (``worker.timing.StepWindows``; once a window, never per step):
    ``tf.test.experimental.sync_devices`` where it exists (TensorFlow 2.13 and later: a SyncDevice op
    on every logical device, then the eager executor's own queue), else converting the last step's
    loss in ``logs`` to a float (the timer takes logs as tensors), which waits for that step's
    result; with no logs (an epoch's start) the fallback waits for nothing: the epoch's end already
    read its loss."""
    sync_devices = getattr(getattr(tf.test, "experimental", None), "sync_devices", None)
    if sync_devices is not None:
        return lambda logs: sync_devices()
    from benchharness.worker.model import as_float

    return lambda logs: as_float((logs or {}).get("loss"))


def own_rss_mb() -> float:
    """This process's resident memory, MiB."""
    import psutil

    return psutil.Process().memory_info().rss / 2**20
