"""Hardware check of the NVML sampler, importing no TensorFlow.

Samples the GPU through benchharness's own NVML sampler while idle, then while a PyTorch matmul load
runs, and prints utilization under load against idle and the device memory delta against the bytes
the load allocated. Then the step-9 checks: which GPU the sampler resolved (PCI bus id) against the
one PyTorch runs on, the averaging period NVML's sample buffer gives, the record's summary of the
load (time-weighted, coverage, throttling, memory sources), the cost of one sampler reading, and
matmul throughput with the sampler polling every 100 ms against no sampler, interleaved.
Run it wherever an NVIDIA GPU and PyTorch are available:

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

from benchharness.telemetry.summary import energy_j, summarize  # noqa: E402


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
    parser.add_argument("--rounds", type=int, default=4, help="rounds of the sample-cost and overhead checks")
    parser.add_argument("--round-seconds", type=float, default=3.0, help="seconds per overhead round")
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
    print_step9(sampler, load, load_start, load_end, args.fake)
    print_sample_cost(sampler, args.rounds)
    print_call_costs(sampler)
    print_sampling_overhead(sampler, step, args.rounds, args.round_seconds)
    return 0


def print_step9(sampler, load, start: float, end: float, fake: bool) -> None:
    """Attribution, averaging period and the record's summary of the load phase."""
    resolved = [d["pci_bus_id"] for d in sampler.devices]
    torch_bus = None if fake else torch_pci_bus_id()
    print(f"resolved GPUs (PCI bus id): {resolved}; CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}, "
          f"CUDA_DEVICE_ORDER={os.environ.get('CUDA_DEVICE_ORDER')}; PyTorch's cuda:0 is {torch_bus}")
    print(f"averaging period: {sampler.period_s:.4f} s ({sampler.period_source})")
    third = (end - start) / 3
    epochs = [{"epoch": i, "samples": 1, "t_start_monotonic": start + i * third, "t_end_monotonic": start + (i + 1) * third}
              for i in range(3)]
    t = summarize(load, epochs, None)
    keys = ("util_mean_pct", "util_p90_pct", "power_mean_w", "energy_j", "coverage", "energy_coverage", "withheld",
            "gpu_other_processes_max", "gpu_other_processes", "throttle", "lost")
    for key in keys:
        print(f"  summary.{key}: {t[key]}")
    for device in t["devices"] or []:
        print(f"  device {device['index']} {device['pci_bus_id']}: util {device['util_mean_pct']}, "
              f"own memory peak {device['proc_mem_peak_mb']} MiB, coverage {device['coverage']}")
    if not fake:
        import torch

        print(f"  PyTorch allocator peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB, reserved "
              f"{torch.cuda.max_memory_reserved() / 2**20:.0f} MiB (the analogue of TensorFlow's allocator peak)")


def torch_pci_bus_id() -> str:
    import torch

    props = torch.cuda.get_device_properties(0)
    return (f"{getattr(props, 'pci_domain_id', 0):08X}:{getattr(props, 'pci_bus_id', 0):02X}:"
            f"{getattr(props, 'pci_device_id', 0):02X}.0")


def print_sample_cost(sampler, rounds: int) -> None:
    """Microseconds per ``read`` (one reading of every trial GPU), in batches of 50."""
    sampler._reset(os.getpid())
    per_read = []
    for _ in range(rounds * 5):
        begin = time.perf_counter()
        for _ in range(50):
            sampler.read(time.monotonic())
        per_read.append((time.perf_counter() - begin) / 50 * 1e6)
    print(f"one sampler reading: median {statistics.median(per_read):.0f} us, min {min(per_read):.0f}, "
          f"max {max(per_read):.0f} over {len(per_read)} batches of 50")


def print_call_costs(sampler, calls: int = 100) -> None:
    """Microseconds per NVML call of one reading, each called ``calls`` times: where a reading's time goes."""
    nvml, handle = sampler.nvml, sampler.devices[0]["handle"]
    functions = [("nvmlDeviceGetComputeRunningProcesses", ()), ("nvmlDeviceGetUtilizationRates", ()),
                 ("nvmlDeviceGetMemoryInfo", ()), ("nvmlDeviceGetPowerUsage", ()),
                 ("nvmlDeviceGetTotalEnergyConsumption", ()), ("nvmlDeviceGetTemperature", (0,)),
                 ("nvmlDeviceGetClockInfo", (1,)), ("nvmlDeviceGetCurrentClocksEventReasons", ())]
    costs = []
    for name, args in functions:
        begin = time.perf_counter()
        for _ in range(calls):
            getattr(nvml, name)(handle, *args)
        costs.append(f"{name[len('nvmlDeviceGet'):]} {(time.perf_counter() - begin) / calls * 1e6:.0f}")
    tree = sampler.tree
    begin = time.perf_counter()
    for _ in range(calls):
        tree._list(os.getpid())
    costs.append(f"process tree listing {(time.perf_counter() - begin) / calls * 1e6:.0f}")
    print("us per call: " + ", ".join(costs))


def print_sampling_overhead(sampler, step, rounds: int, seconds: float) -> None:
    """Load steps per second with the sampler polling every 100 ms against none, ABAB."""
    rates = {"on": [], "off": []}
    for _ in range(rounds):
        for mode in ("off", "on"):
            if mode == "on":
                sampler.start(os.getpid(), {"batch_size": 512})
            begin, steps = time.perf_counter(), 0
            while time.perf_counter() - begin < seconds:
                step()
                steps += 1
            rates[mode].append(steps / (time.perf_counter() - begin))
            if mode == "on":
                sampler.stop()
    ratios = [off / on for off, on in zip(rates["off"], rates["on"])]
    print(f"step rate, sampling off / on (100 ms): median ratio {statistics.median(ratios):.4f}, "
          f"min {min(ratios):.4f}, max {max(ratios):.4f} over {rounds} interleaved pairs of {seconds:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
