"""The fake device's memory, enforced inside the worker (``BENCHHARNESS_FAKE_NVML`` with a profile
that has a ``memory_model``; see ``telemetry/fake_nvml``): CI runs the largest-batch search and the
out-of-memory path without a GPU, through TensorFlow's own ``ResourceExhaustedError``.
"""

from __future__ import annotations

import os


def fake_memory(runtime: dict) -> tuple[object, float] | None:
    """(the profile's memory model, the limit in MiB) when the fake NVML's profile has a memory
    model; the limit is ``runtime.memory_limit_mb``, else the fake device's total. None otherwise."""
    from benchharness.telemetry import FAKE_ENV

    fake = os.environ.get(FAKE_ENV, "").strip()
    if not fake or fake == "0":
        return None
    from benchharness.telemetry.fake_nvml import load_profile

    profile = load_profile(None if fake == "1" else fake)
    if profile.memory_model is None:
        return None
    return profile.memory_model, float(runtime.get("memory_limit_mb") or profile.memory_total_mb)


def make_memory_guard(tf, keras, model, limit_mb: float, batch: int):
    """A callback that raises ``ResourceExhaustedError`` at the first training step when ``batch``
    needs more than ``limit_mb`` on the fake device, as a real allocation would fail there."""
    needed = model.mb(batch)

    class FakeMemoryGuard(keras.callbacks.Callback):
        def on_train_batch_begin(self, step, logs=None):
            if needed > limit_mb:
                raise tf.errors.ResourceExhaustedError(
                    None, None, f"OOM when allocating tensors for batch {batch}: the fake device's memory model "
                                f"needs {needed:.0f} MiB, its limit is {limit_mb:.0f} MiB")

    return FakeMemoryGuard()
