"""Multi-replica trials: the trial's devices and ``tf.distribute.MirroredStrategy`` over the first
``num_gpus`` of them (``benchharness.scaling`` has the batch arithmetic). The input pipeline batches
with the global batch and Keras splits each batch among the replicas, so a step's samples are the
global batch.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from benchharness.scaling import replicas_of


@dataclass(frozen=True)
class Placement:
    """What the trial runs on: the strategy (None: one device, no strategy), the replicas and the
    cross-device reduction that ran (None without a strategy)."""

    strategy: object | None
    replicas: int
    cross_device_ops: str | None

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()


def trial_devices(tf, count: int) -> list[str]:
    """The first ``count`` GPUs, or (no GPU) the first ``count`` logical CPU devices; a clear error
    when there are fewer."""
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    if len(devices) < count:
        kind = "GPUs" if gpus else "CPU devices (runtime.logical_cpu_devices splits the CPU)"
        raise RuntimeError(f"num_gpus is {count}, but this machine has {len(devices)} {kind}")
    return devices[:count]


def reduction(tf, requested: str, on_gpu: bool) -> tuple[object, str]:
    """The cross-device ops object and its name. NCCL and the hierarchical copy are GPU all-reduces:
    on CPU devices the reduction goes through one device (``one_device``), and the record says so."""
    ops = tf.distribute
    if not on_gpu:
        requested = "one_device"
    made = {"nccl": ops.NcclAllReduce, "hierarchical_copy": ops.HierarchicalCopyAllReduce,
            "one_device": ops.ReductionToOneDevice}[requested]()
    return made, requested


def place(tf, params: dict, runtime: dict) -> Placement:
    """The trial's placement (see ``Placement``); must run after the devices are configured."""
    if runtime.get("distribute") != "mirrored":
        return Placement(None, 1, None)
    replicas = replicas_of(params)
    devices = trial_devices(tf, replicas)
    on_gpu = bool(tf.config.list_logical_devices("GPU"))
    ops, name = reduction(tf, runtime.get("cross_device_ops") or "nccl", on_gpu)
    strategy = tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=ops)
    if on_gpu and name == "nccl" and replicas > 1 and not nccl_works(tf, strategy):
        # tensorflow#33656: builds without NCCL fail at the first all-reduce.
        ops, name = reduction(tf, "hierarchical_copy", on_gpu)
        strategy = tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=ops)
    return Placement(strategy, strategy.num_replicas_in_sync, name)


def nccl_works(tf, strategy) -> bool:
    """One tiny all-reduce through NCCL; False where the build has no NCCL."""
    try:
        value = strategy.run(lambda: tf.constant(1.0))
        strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None).numpy()
        return True
    except Exception:  # noqa: BLE001 -- any failure means: do not use NCCL here
        return False
