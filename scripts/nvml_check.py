"""Hardware check of the NVML sampler, importing no TensorFlow.

Samples the GPU through benchharness's own NVML sampler while idle, then while a PyTorch matmul load
runs, and prints utilization under load against idle and the device memory delta against the bytes
the load allocated. Run it wherever an NVIDIA GPU and PyTorch are available:

    python scripts/nvml_check.py [--seconds 10] [--size 8192]

``--fake`` runs the same code against the fake NVML with a NumPy load on the CPU (to test the script
itself; its figures describe the fake, not hardware).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchharness.telemetry.summary import energy_j  # noqa: E402


def open_sampler(fake: bool, interval_s: float):
    if fake:
        from benchharness.telemetry.fake_nvml import FakeNvmlSampler, FakeProfile

        return FakeNvmlSampler(FakeProfile(), interval_s)
    from benchharness.telemetry.nvml import NvmlSampler

    return NvmlSampler.open(interval_s)


def torch_load(size: int):
    """Allocate three size x size float32 matrices on the GPU; return (step function, bytes allocated)."""
    import torch

    a = torch.randn(size, size, device="cuda")
    b = torch.randn(size, size, device="cuda")
    c = torch.empty(size, size, device="cuda")
    torch.cuda.synchronize()

    def step():
        torch.matmul(a, b, out=c)
        torch.cuda.synchronize()

    return step, torch.cuda.memory_allocated()


def numpy_load(size: int):
    import numpy as np

    a = np.random.rand(size, size).astype(np.float32)
    b = np.random.rand(size, size).astype(np.float32)
    c = np.empty_like(a)
    return (lambda: np.matmul(a, b, out=c)), a.nbytes + b.nbytes + c.nbytes


def phase(sampler, pid, batch_hint: int, seconds: float, work=None):
    """Sample for ``seconds`` while ``work`` runs in a loop (or nothing runs); returns the rows."""
    sampler.start(pid, {"batch_size": batch_hint})
    end = time.monotonic() + seconds
    steps = 0
    while time.monotonic() < end:
        if work is None:
            time.sleep(0.05)
        else:
            work()
            steps += 1
    samples = sampler.stop()
    return samples, steps


def median_of(rows, column) -> str:
    """The median of a column as text (``n/a`` when every reading failed)."""
    values = [r[column] for r in rows if r.get(column) is not None]
    return f"{statistics.median(values):.4g}" if values else "n/a"


def median_value(rows, column) -> float | None:
    values = [r[column] for r in rows if r.get(column) is not None]
    return statistics.median(values) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the load phase (default 10)")
    parser.add_argument("--idle-seconds", type=float, default=3.0)
    parser.add_argument("--size", type=int, default=8192, help="matrix size of the matmul load")
    parser.add_argument("--interval-ms", type=int, default=100)
    parser.add_argument("--fake", action="store_true", help="fake NVML and a NumPy CPU load (tests the script)")
    args = parser.parse_args()

    sampler = open_sampler(args.fake, args.interval_ms / 1000)
    for gpu in sampler.describe():
        print(f"device {gpu['index']}: {gpu['name']}, driver {gpu['driver']}, {gpu['memory_total_mb']} MiB ({gpu['source']})")
    idle, _ = phase(sampler, None, 0, args.idle_seconds)
    step, allocated = (numpy_load if args.fake else torch_load)(args.size)
    step()  # warm-up: cuBLAS handle and workspace
    load_start = time.monotonic()
    load, steps = phase(sampler, os.getpid(), 512, args.seconds, step)
    load_end = time.monotonic()
    flops = 2 * args.size**3 * steps / (load_end - load_start)

    util_idle, util_load = median_of(idle.rows, "util_gpu_pct"), median_of(load.rows, "util_gpu_pct")
    mem_idle, mem_load = median_value(idle.rows, "mem_used_mb") or 0.0, median_value(load.rows, "mem_used_mb") or 0.0
    energy, method, _ = energy_j(load.rows, load_start, load_end)
    print(f"samples: idle {len(idle.rows)}, load {len(load.rows)}; NVML gaps idle {dict(idle.gaps)}, load {dict(load.gaps)}")
    print(f"utilization.gpu (kernel-busy %): idle median {util_idle}, load median {util_load}")
    print(f"memory used: idle {mem_idle:.0f} MiB, load {mem_load:.0f} MiB, delta {mem_load - mem_idle:.0f} MiB; "
          f"the load allocated {allocated / 2**20:.0f} MiB "
          f"(delta / allocated = {(mem_load - mem_idle) / (allocated / 2**20):.2f}; the rest is the CUDA context)")
    print(f"process's own GPU memory (NVML): median {median_of(load.rows, 'proc_mem_mb')} MiB")
    print(f"power: idle median {median_of(idle.rows, 'power_w')} W, load median {median_of(load.rows, 'power_w')} W; "
          f"energy over the load {energy if energy is None else round(energy, 1)} J ({method})")
    print(f"matmul throughput: {flops / 1e12:.1f} TFLOP/s fp32 over {steps} steps")
    print(f"SM clock under load: {median_of(load.rows, 'sm_clock_mhz')} MHz; temperature {median_of(load.rows, 'temp_c')} C")
    return 0


if __name__ == "__main__":
    sys.exit(main())
