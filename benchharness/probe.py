"""The device's measured ceilings (matmul FLOP/s, memory bandwidth), probed once per run.

``probe_peak`` runs inside a worker process (``python -m benchharness.worker --probe``);
``probe_device`` is the parent's side: it runs that process before the trials, so no trial's time or
timeout includes it, and stores the result in run.json as ``peak``. The figures are the denominators
of MFU and the roofline (``benchharness.cost``).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

from benchharness.process import kill_group, spawn_worker

PROBE_TIMEOUT_S = 300


def probe_device(run, runtime: dict, warn: Callable[[str], None], python: str | None = None) -> None:
    """Probe the device once per run and store ``peak`` in run.json (``run`` is a ``store.RunDir``).
    A probe that fails leaves ``peak`` null (and every ``mfu`` with it) and says why; the sweep goes on."""
    if run.info.get("peak"):
        return
    with tempfile.TemporaryDirectory(prefix="benchharness-probe-") as tmp:
        output = Path(tmp) / "peak.json"
        log_path = run.path / "logs" / "probe.log"
        proc = spawn_worker(log_path, "--probe", python=python)
        try:
            proc.communicate(json.dumps({"runtime": runtime, "output": str(output)}).encode(),
                             timeout=PROBE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            kill_group(proc)
        except BaseException:
            kill_group(proc)
            raise
        if proc.returncode == 0 and output.is_file():
            run.update_info(peak=json.loads(output.read_text()))
        else:
            warn(f"the device probe failed (exit {proc.returncode}; see {log_path}): mfu stays null")


def _time_repeated(fn, min_seconds: float) -> tuple[float, int]:
    fn()  # warm-up: kernel selection, allocation
    count, started = 0, time.perf_counter()
    while True:
        fn()
        count += 1
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return elapsed, count


def probe_peak(tf, on_gpu: bool, mixed_precision: bool, min_seconds: float = 1.0) -> dict:
    """Measured ceilings of the trial's device: dense matmul FLOP/s (float32; float16 on a GPU or
    bfloat16 on a CPU with mixed precision) and memory bandwidth (bytes read + written per second
    by an elementwise op over a large tensor: a device copy)."""
    dtype = (tf.float16 if on_gpu else tf.bfloat16) if mixed_precision else tf.float32
    n = 8192 if on_gpu else 1024
    device = "/GPU:0" if on_gpu else "/CPU:0"
    with tf.device(device):
        a = tf.random.uniform((n, n), dtype=tf.float32)
        a = tf.cast(a, dtype)
        b = tf.cast(tf.random.uniform((n, n), dtype=tf.float32), dtype)
        # Fetching one element syncs with the device without copying the result to the host.
        matmul_s, matmuls = _time_repeated(lambda: tf.linalg.matmul(a, b)[0, 0].numpy(), min_seconds)
        elements = 2**28 if on_gpu else 2**24  # 1 GiB / 64 MiB of float32
        big = tf.random.uniform((elements,), dtype=tf.float32)
        copy_s, copies = _time_repeated(lambda: (big + 1.0)[0].numpy(), min_seconds)
    return {
        "device": device,
        "dtype": dtype.name,
        "matmul_n": n,
        # On Ampere and later TensorFlow runs float32 matmuls as TF32 unless told not to; the trials
        # run with the same setting, so MFU stays like for like, but the peak is a TF32 peak then.
        "tf32": bool(tf.config.experimental.tensor_float_32_execution_enabled()) if on_gpu and dtype == tf.float32 else None,
        "peak_flops_per_s": 2 * n**3 * matmuls / matmul_s,
        # big + 1 reads every float32 once and writes a new one: 8 bytes an element, a device copy.
        "memory_bandwidth_bytes_per_s": 8 * elements * copies / copy_s,
        "method": "timed dense matmul, and big + 1 over a large float32 tensor (read + write), after a warm-up",
    }
