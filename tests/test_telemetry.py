"""Telemetry: the NVML sampler's own code against the fake NVML, the CPU fallback, and the figures."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from benchharness.errors import UserError
from benchharness.telemetry import PollingThread, TrialSamples, make_sampler
from benchharness.telemetry.cpu import CpuSampler
from benchharness.telemetry.fake_nvml import NVMLError, FakeNvml, FakeNvmlSampler, FakeProfile, load_profile
from benchharness.telemetry.host import HostLoad, host_busy_s, other_cpu_pct
from benchharness.telemetry.nvml import FOREIGN_PIDS, NvmlSampler, NvmlUnavailable, bus_key, cuda_visible
from benchharness.telemetry.summary import BUSY_HOST_CPU_PCT, busy_verdict, energy_j, summarize


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, t=100.0):
        self.t = t

    def __call__(self):
        return self.t


def sampler_at(clock, **profile):
    sampler = FakeNvmlSampler(FakeProfile(**profile), interval_s=0.1, clock=clock)
    sampler.nvml.set_workload(os.getpid(), 128, [d["pci_bus_id"] for d in sampler.devices])
    sampler._reset(os.getpid())
    return sampler


def test_nvml_sampler_reads_every_metric_through_the_fake():
    clock = FakeClock()
    sampler = sampler_at(clock)
    first = sampler.read(clock())
    clock.t += 2.0
    (row,) = sampler.read(clock())
    assert row["util_gpu_pct"] == 63 and row["util_mem_pct"] == 31  # 100 * (1 - exp(-128/128))
    assert row["mem_used_mb"] == 300 + 4 * 128 and row["mem_total_mb"] == 8192
    assert row["proc_mem_mb"] == 812  # this process is the "trial": its own GPU memory is found
    assert row["power_w"] == pytest.approx(30 + 220 * 0.63)
    assert row["energy_mj"] - first[0]["energy_mj"] == pytest.approx(2.0 * 168.6 * 1000, abs=2)
    assert row["temp_c"] == 55 and row["sm_clock_mhz"] == 1410 and row["clocks_event_reasons"] == 0
    assert row["gpu_other_processes"] == 0  # the trial (this process) is listed, and is not "other"
    assert first[0]["host_other_cpu_pct"] is None  # the first reading only primes the counters
    assert 0 <= row["host_other_cpu_pct"] <= 100
    assert sum(sampler.samples.gaps.values()) == 0


def test_utilization_and_memory_rise_with_batch_and_saturate():
    fake = FakeNvml(FakeProfile())
    utils, mems = [], []
    for batch in (32, 64, 128, 256, 512, 1024):
        fake.set_workload(1, batch, ["00000000:01:00.0"])
        utils.append(fake.utilization_pct(0))
        mems.append(fake.used_mb(0))
    assert utils == sorted(utils) and utils[-1] <= 100 and utils[-1] - utils[-2] < utils[1] - utils[0]
    assert mems == sorted(mems)
    fake.set_workload(None, 0, [])
    assert fake.utilization_pct(0) == 0 and fake.used_mb(0) == 0


def test_failing_nvml_calls_become_counted_gaps():
    clock = FakeClock()
    sampler = sampler_at(clock, fail_from_s=1.0)
    assert sampler.read(clock())[0]["util_gpu_pct"] == 63
    clock.t += 1.5
    (row,) = sampler.read(clock())  # no exception: a row of gaps
    assert row["util_gpu_pct"] is None and row["mem_used_mb"] is None and row["power_w"] is None
    assert sampler.samples.gaps["util"] == 1 and sampler.samples.gaps["power"] == 1
    assert sampler.samples.gaps["mem"] == 1  # both memory calls failed, counted once


def test_lost_gpu_stops_its_rows_and_says_so():
    clock = FakeClock()
    sampler = sampler_at(clock, lost_at_s=1.0)
    assert len(sampler.read(clock())) == 1
    clock.t += 1.0
    assert sampler.read(clock()) == []
    clock.t += 1.0
    assert sampler.read(clock()) == []
    assert len(sampler.samples.lost) == 1 and "GPU 00000000:01:00.0 lost" in sampler.samples.lost[0]


def test_sampler_thread_that_dies_is_reported_not_raised():
    calls = []

    def read(t):
        calls.append(t)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return [{"t_monotonic": t}]

    thread = PollingThread(read, 0.01)
    thread.start()
    time.sleep(0.3)
    thread.stop()
    assert len(thread.rows) == 2 and thread.died == "sampler thread died: RuntimeError: boom"


class BrokenNvml:
    class NVMLError(Exception):
        pass

    def nvmlInit(self):
        raise self.NVMLError("NVML Shared Library Not Found")


def test_cpu_fallback_when_nvml_fails_to_initialize(monkeypatch):
    monkeypatch.delenv("BENCHHARNESS_FAKE_NVML", raising=False)
    monkeypatch.setattr(NvmlSampler, "open", classmethod(lambda cls, interval: cls(BrokenNvml(), interval)))
    warnings = []
    sampler = make_sampler(100, warnings.append)
    assert isinstance(sampler, CpuSampler) and sampler.source == "cpu"
    assert warnings == ["NVML unavailable (NVML Shared Library Not Found); sampling CPU utilization and RSS instead"]


def test_fake_selected_by_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BENCHHARNESS_FAKE_NVML", "1")
    assert make_sampler(100, print).source == "fake-nvml"
    profile = tmp_path / "gpu.yaml"
    profile.write_text("name: Tiny Fake\nmemory_total_mb: 1024\n")
    monkeypatch.setenv("BENCHHARNESS_FAKE_NVML", str(profile))
    assert make_sampler(100, print).describe()[0] == {
        "index": 0, "pci_bus_id": "00000000:01:00.0", "uuid": "GPU-fake-0", "name": "Tiny Fake", "driver": "fake-0.0",
        "memory_total_mb": 1024, "source": "fake-nvml", "averaging_period_s": pytest.approx(1 / 6, abs=1e-5)}


def test_bad_fake_profile_names_file_line_and_key(tmp_path):
    profile = tmp_path / "gpu.yaml"
    profile.write_text("name: x\nmemory_total_mb: -1\n")
    with pytest.raises(UserError) as caught:
        load_profile(str(profile))
    assert caught.value.lines == [f"{profile}:2: memory_total_mb: Input should be greater than 0, got -1"]


GPUS = [{"pci_bus_id": "00000000:81:00.0", "uuid": "GPU-81aa"}, {"pci_bus_id": "00000000:01:00.0", "uuid": "GPU-01bb"},
        {"pci_bus_id": "00000000:C1:00.0", "uuid": "GPU-c1cc"}, {"pci_bus_id": "00000000:41:00.0", "uuid": "GPU-41dd"}]


def test_cuda_numbers_gpus_by_pci_bus_id_not_by_nvml_index():
    buses = lambda devices: [d["pci_bus_id"][9:11] for d in devices]  # noqa: E731
    assert buses(cuda_visible(GPUS, None)) == ["01", "41", "81", "C1"]
    assert buses(cuda_visible(GPUS, "3")) == ["C1"]  # NVML index 2
    assert buses(cuda_visible(GPUS, "2,0")) == ["81", "01"]
    assert cuda_visible(GPUS, "") == []
    assert buses(cuda_visible(GPUS, "GPU-c1,1")) == ["C1", "41"]  # a unique UUID prefix, as CUDA takes
    assert buses(cuda_visible(GPUS, "1,7,0")) == ["41"]  # CUDA stops at the first invalid entry
    assert buses(cuda_visible(GPUS, "1,1")) == ["41"]  # and at a repeated one
    assert cuda_visible(GPUS, "GPU-") == []  # a prefix that names several GPUs names none
    assert bus_key("0000:0a:00.1") < bus_key("00000000:81:00.0") < bus_key("00000001:01:00.0")


def test_all_gpus_hidden_is_unavailable(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(NvmlUnavailable, match="no GPU visible"):
        FakeNvmlSampler(FakeProfile(), 0.1)


# -- figures -------------------------------------------------------------------------------------


def rows_every(dt, until, **columns):
    """Rows at t = 0, dt, 2dt, ... <= until; column values are functions of t."""
    n = int(round(until / dt))
    return [{"t_monotonic": i * dt, "device": 0, **{k: f(i * dt) for k, f in columns.items()}} for i in range(n + 1)]


def test_energy_from_the_counter_interpolated_at_the_window():
    rows = rows_every(0.1, 10, energy_mj=lambda t: 200_000 * t, power_w=lambda t: 999)
    energy, method, coverage = energy_j(rows, 2.05, 4.05)
    assert method == "energy counter" and energy == pytest.approx(400.0) and coverage == 1.0  # 200 W for 2 s
    energy, _, coverage = energy_j(rows, 9.0, 11.0)  # the readings end at 10 s: half the window is not covered
    assert coverage == pytest.approx(0.5) and energy == pytest.approx(200.0)


def test_energy_from_power_when_there_is_no_counter():
    rows = rows_every(0.5, 10, energy_mj=lambda t: None, power_w=lambda t: 100 + 10 * t)
    energy, method, _ = energy_j(rows, 0.0, 4.0)
    assert method == "power integral" and energy == pytest.approx(480.0)  # integral of 100 + 10t over [0, 4]


def test_no_power_no_energy():
    assert energy_j(rows_every(0.1, 1, util_gpu_pct=lambda t: 50), 0, 1) == (None, None, None)


def test_summary_aligns_samples_to_steady_epochs():
    # Warm-up epoch 0 in [0, 2) at 10 %, steady epochs in [2, 4) and [4, 6) at 80 % and 90 %.
    # A reading speaks for the time before it, so a reading at t = 2 is the warm-up's last.
    util = lambda t: 10 if t <= 2 else (80 if t <= 4 else 90)  # noqa: E731
    rows = rows_every(0.25, 6, util_gpu_pct=util, mem_used_mb=lambda t: 1000 + t, power_w=lambda t: 100,
                      energy_mj=lambda t: 100_000 * t)
    samples = TrialSamples("nvml", [], rows)
    epochs = [{"epoch": i, "samples": 1000, "t_start_monotonic": 2.0 * i, "t_end_monotonic": 2.0 * i + 2}
              for i in range(3)]
    t = summarize(samples, epochs, 8192)
    assert t["util_mean_pct"] == pytest.approx(85.0) and t["coverage"] == pytest.approx(1.0)
    assert t["util_p90_pct"] == 90
    assert t["mem_peak_mb"] == 1006 and t["mem_total_mb"] == 8192  # peak over the whole trial
    assert t["energy_j"] == pytest.approx(100 * 4.0) and t["energy_method"] == "energy counter"
    assert t["samples_per_joule"] == pytest.approx(2000 / 400)
    assert [e["util_mean_pct"] for e in t["per_epoch"]] == [10, 80, 90]
    assert t["source"] == "nvml" and t["util_metric"] == "GPU kernel-busy %"


def test_summary_without_samples_is_null_not_zero():
    t = summarize(TrialSamples("cpu", [], []), [{"epoch": 0, "samples": 10}], None)
    assert t["util_mean_pct"] is None and t["energy_j"] is None and t["samples_per_joule"] is None


def test_cpu_sampler_sees_a_busy_child():
    child = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 3\nwhile time.time() < end: pass"])
    try:
        sampler = CpuSampler(0.1)
        sampler.start(child.pid, {})
        time.sleep(1.0)
        samples = sampler.stop()
    finally:
        child.kill()
        child.wait()
    busy = [r["cpu_proc_pct"] for r in samples.rows if r["cpu_proc_pct"] is not None]
    assert len(samples.rows) >= 5 and samples.rows[0]["cpu_proc_pct"] is None
    # One spinning process on N cores is about 100/N % of the machine.
    assert sum(busy) / len(busy) > 0.5 * 100 / sampler.cores
    assert all(r["rss_mb"] > 1 for r in samples.rows)


def test_hardware_check_script_runs_against_the_fake():
    from pathlib import Path

    script = Path(__file__).parent.parent / "scripts" / "nvml_check.py"
    result = subprocess.run([sys.executable, str(script), "--fake", "--seconds", "1", "--idle-seconds", "0.5",
                             "--size", "64"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "utilization.gpu (kernel-busy %): idle median 0, load median 98" in result.stdout
    assert "tensorflow" not in result.stdout.lower()


# -- other load on the machine ("a busy machine is named") ----------------------------------------


def test_other_cpu_pct_is_host_busy_minus_the_excluded_over_all_cores():
    # Host busy +2.0 s on 2 cores over 1.0 s is 100 %; the trial used 0.5 s of it: 1.5 s of 2.0 are other.
    assert other_cpu_pct(2.0, 0.5, 1.0, 2) == pytest.approx(75.0)
    assert other_cpu_pct(1.0, 0.0, 1.0, 4) == pytest.approx(25.0)  # one busy core of four
    assert other_cpu_pct(1.0, 1.2, 1.0, 2) == 0.0  # counter jitter never makes load negative
    assert other_cpu_pct(2.2, 0.0, 1.0, 2) == 100.0  # nor more than every core
    assert other_cpu_pct(1.0, 0.0, 0.0, 2) is None  # no interval, no figure


def test_host_busy_time_leaves_out_idle_iowait_and_guest():
    times = SimpleNamespace(user=3.0, nice=1.0, system=2.0, idle=50.0, iowait=4.0, irq=0.5, softirq=0.5,
                            steal=1.0, guest=2.0, guest_nice=1.0)  # guest is inside user on Linux
    assert host_busy_s(times) == pytest.approx(8.0)
    assert host_busy_s(SimpleNamespace(user=1.0, system=2.0, idle=9.0)) == pytest.approx(3.0)  # macOS has fewer


def test_host_load_excludes_the_trial_tree_and_the_harness():
    host = iter([10.0, 12.0, 13.0, 13.5, 14.0])  # busy seconds, all cores summed
    harness = iter([5.0, 5.25, 5.25, 5.25, 5.25])
    load = HostLoad(cores=2, read_host=lambda: SimpleNamespace(user=next(host)),
                    read_cpu_s=lambda pids: {1: next(harness)} if pids == [1] else {}, own_pid=1)
    assert load.sample(100.0, {200: 1.0}) is None  # primes
    # +2.0 s host; trial +0.5 s, harness +0.25 s: 1.25 s other over 1 s on 2 cores.
    assert load.sample(101.0, {200: 1.5}) == pytest.approx(62.5)
    # A child born since the last sample counts all its 0.4 s: host +1.0, trial +0.4, other 0.6 s.
    assert load.sample(102.0, {200: 1.5, 201: 0.4}) == pytest.approx(30.0)
    # The child exited: its time is lost, so the host's +0.5 s is all "other" (the documented limit).
    assert load.sample(103.0, {200: 1.5}) == pytest.approx(25.0)
    load.reset()
    assert load.sample(104.0, {200: 1.5}) is None  # a new trial starts from fresh counters


def test_cpu_sampler_names_a_busy_process_outside_the_trial():
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # not in the trial's tree
    trial = subprocess.Popen(["sleep", "30"])
    try:
        sampler = CpuSampler(0.1)
        sampler.start(trial.pid, {})
        time.sleep(1.5)
        samples = sampler.stop()
    finally:
        for proc in (hog, trial):
            proc.kill()
            proc.wait()
    other = [r["host_other_cpu_pct"] for r in samples.rows if r["host_other_cpu_pct"] is not None]
    assert samples.rows[0]["host_other_cpu_pct"] is None and len(other) >= 5
    assert all(0 <= v <= 100 for v in other)
    # One spinning process is 100/N % of an N-core machine; lenient (shared machine, start-up time).
    assert sum(other) / len(other) > 0.5 * 100 / (os.cpu_count() or 1)
    assert all(r["gpu_other_processes"] is None for r in samples.rows)  # no GPU: not measured
    assert samples.columns[-2:] == ["host_other_cpu_pct", "gpu_other_processes"]


OTHERS = {"other_compute_pids": (5_000_001, 5_000_002), "other_graphics_pids": (5_000_002, 5_000_003)}


def test_fake_nvml_other_processes_are_counted_once_and_make_the_trial_busy():
    clock = FakeClock()
    sampler = sampler_at(clock, **OTHERS)
    for _ in range(7):
        (row,) = sampler.read(clock())
        sampler.samples.rows.append(row)  # what the polling thread does
        clock.t += 0.5
    assert row["gpu_other_processes"] == 2  # the compute list only: 5000003 (graphics: a display) is not load
    assert row["proc_mem_mb"] == 812 and sum(sampler.samples.gaps.values()) == 0
    epochs = [{"epoch": i, "samples": 100, "t_start_monotonic": 100.0 + i, "t_end_monotonic": 101.0 + i}
              for i in range(3)]
    t = summarize(sampler.samples, epochs, 8192)
    assert t["gpu_other_processes_max"] == 2 and t["busy"] is True
    assert "2 other processes ran on the GPU" in t["busy_reason"]
    assert t["host_other_cpu_pct"] is not None and t["host_other_cpu_p90_pct"] is not None


def test_gpu_process_list_unsupported_is_not_measured(monkeypatch):
    clock = FakeClock()
    sampler = sampler_at(clock, **OTHERS)
    assert sampler.read(clock())[0]["gpu_other_processes"] == 2
    monkeypatch.setattr(sampler.nvml, "nvmlDeviceGetComputeRunningProcesses",
                        lambda h: (_ for _ in ()).throw(NVMLError(3)))
    assert sampler.read(clock())[0]["gpu_other_processes"] is None  # no list: not measured


def test_gpu_pids_from_another_namespace_are_not_counted(monkeypatch):
    clock = FakeClock()
    sampler = sampler_at(clock, other_compute_pids=(5_000_001,))
    monkeypatch.setattr(sampler, "pid_visible", lambda pid: False)  # as in a container: host PIDs
    assert sampler.read(clock())[0]["gpu_other_processes"] == 1  # the trial is listed: same namespace
    sampler.nvml.set_workload(None, 0, [])  # the trial no longer listed: whose PIDs are these?
    assert sampler.read(clock())[0]["gpu_other_processes"] is None
    assert sampler.read(clock())[0]["gpu_other_processes"] is None
    assert sampler.samples.lost == [FOREIGN_PIDS]  # said once


def load_epochs():
    return [{"epoch": i, "samples": 1000, "t_start_monotonic": 2.0 * i, "t_end_monotonic": 2.0 * i + 2}
            for i in range(3)]


def test_summary_of_a_quiet_machine_is_not_busy():
    rows = rows_every(0.25, 6, util_gpu_pct=lambda t: 80, host_other_cpu_pct=lambda t: 60 if t <= 2 else 4,
                      gpu_other_processes=lambda t: 1 if t < 2 else 0)  # warm-up load does not count
    t = summarize(TrialSamples("nvml", [], rows), load_epochs(), 8192)
    assert t["busy"] is False and t["busy_reason"] is None
    assert t["host_other_cpu_pct"] == pytest.approx(4.0) and t["host_other_cpu_p90_pct"] == pytest.approx(4.0)
    assert t["gpu_other_processes_max"] == 0
    assert [e["host_other_cpu_pct"] for e in t["per_epoch"]] == [60, 4, 4]


def test_summary_names_a_busy_host():
    rows = rows_every(0.25, 6, cpu_proc_pct=lambda t: 40, host_other_cpu_pct=lambda t: 30 if t <= 4 else 60,
                      gpu_other_processes=lambda t: None)
    t = summarize(TrialSamples("cpu", [], rows), load_epochs(), None)
    assert t["busy"] is True and t["gpu_other_processes_max"] is None
    assert t["host_other_cpu_pct"] == pytest.approx(45.0) and t["host_other_cpu_p90_pct"] == pytest.approx(60.0)
    assert t["busy_reason"] == "other processes used 45 % of all CPU cores during the steady epochs"


def test_busy_threshold_and_unmeasured():
    assert busy_verdict(BUSY_HOST_CPU_PCT, None)[0] is True
    assert busy_verdict(BUSY_HOST_CPU_PCT - 0.1, 0) == (False, None)
    assert busy_verdict(None, 1) == (True, "1 other process ran on the GPU")
    assert busy_verdict(None, 2, gpus=2) == (True, "2 other processes ran on the GPUs")
    assert busy_verdict(None, None) == (None, None)


def test_summary_without_samples_does_not_guess_busy():
    t = summarize(TrialSamples("cpu", [], []), [{"epoch": 0, "samples": 10}, {"epoch": 1, "samples": 10}], None)
    assert t["busy"] is None and t["busy_reason"] is None
    assert t["host_other_cpu_pct"] is None and t["host_other_cpu_p90_pct"] is None
    assert t["gpu_other_processes_max"] is None and t["per_epoch"][1]["host_other_cpu_pct"] is None


def test_fake_profile_other_pids_from_yaml(tmp_path):
    profile = tmp_path / "gpu.yaml"
    profile.write_text("other_compute_pids: [5000001]\nother_graphics_pids: [5000001, 5000002]\n")
    assert load_profile(str(profile)).other_graphics_pids == (5000001, 5000002)
    profile.write_text("other_compute_pids: [0]\n")
    with pytest.raises(UserError, match="other_compute_pids"):
        load_profile(str(profile))


# -- windows that mean what they say; throttling -------------------------------------------------


def samples_of(rows, source="nvml", hold_s=0.1, period_s=0.1):
    return TrialSamples(source, [], rows, hold_s=hold_s, period_s=period_s, period_source="the test's period")


def test_a_sampler_stall_is_not_over_weighted():
    # 50 % every 0.1 s for 10 s, but the sampler stalled after 5.0 s and caught up at 5.5 s with ten
    # readings back to back, all at 100 %.
    at = lambda t, u: {"t_monotonic": t, "device": "g", "util_gpu_pct": u}  # noqa: E731
    rows = [at(0.1 * i, 50) for i in range(1, 51)] + [at(5.5 + 1e-5 * i, 100) for i in range(10)]
    rows += [at(0.1 * i, 50) for i in range(56, 101)]
    epochs = [{"epoch": 0, "samples": 1, "t_start_monotonic": 0.0, "t_end_monotonic": 1.0},
              {"epoch": 1, "samples": 1, "t_start_monotonic": 1.0, "t_end_monotonic": 10.0}]
    t = summarize(samples_of(rows, hold_s=0.1), epochs, None)
    steady = [r["util_gpu_pct"] for r in rows if r["t_monotonic"] >= 1.0]
    assert sum(steady) / len(steady) == pytest.approx((86 * 50 + 10 * 100) / 96)  # a plain mean: 55.2
    # Each reading speaks for at most 0.1 s before it: the ten catch-up readings for 0.1 s together,
    # not ten readings' worth; the stall's other 0.4 s is covered by nothing.
    assert t["util_mean_pct"] == pytest.approx((8.5 * 50 + 0.1 * 100) / 8.6, rel=1e-4)
    assert t["coverage"] == pytest.approx(8.6 / 9.0, rel=1e-4) and t["withheld"] == {}


def test_a_window_the_samples_do_not_cover_is_null_with_its_reason():
    rows = [{"t_monotonic": 0.1 * i, "device": "g", "util_gpu_pct": 80, "power_w": 200.0} for i in range(1, 61)
            if not 30 < i <= 50]  # the sampler missed 2 s of a 6 s run
    epochs = [{"epoch": 0, "samples": 1, "t_start_monotonic": 0.0, "t_end_monotonic": 1.0},
              {"epoch": 1, "samples": 1, "t_start_monotonic": 1.0, "t_end_monotonic": 6.0}]
    t = summarize(samples_of(rows), epochs, None)
    assert t["coverage"] == pytest.approx(0.6)
    assert t["util_mean_pct"] is None and t["util_p90_pct"] is None and t["power_mean_w"] is None
    assert t["withheld"]["util_mean_pct"].startswith("the samples cover 60 % of the window (under 90%)")
    assert "raise samples_per_epoch" in t["withheld"]["util_mean_pct"]
    assert t["per_epoch"][0]["util_mean_pct"] == pytest.approx(80) and t["per_epoch"][0]["withheld"] == {}


def test_a_window_shorter_than_twice_the_averaging_period_is_null():
    rows = [{"t_monotonic": 0.05 * i, "device": "g", "util_gpu_pct": 70} for i in range(1, 61)]
    epochs = [{"epoch": 0, "samples": 1, "t_start_monotonic": 0.0, "t_end_monotonic": 1.0},
              {"epoch": 1, "samples": 1, "t_start_monotonic": 1.0, "t_end_monotonic": 2.5}]
    t = summarize(samples_of(rows, hold_s=1.0, period_s=1.0), epochs, None)
    assert t["coverage"] == pytest.approx(1.0) and t["util_mean_pct"] is None
    assert t["withheld"]["util_mean_pct"].startswith("the window (1.50 s) is shorter than twice the test's period (1.00 s)")
    longer = summarize(samples_of(rows, hold_s=1.0, period_s=0.5), epochs, None)
    assert longer["util_mean_pct"] == pytest.approx(70) and longer["withheld"] == {}


def test_a_throttle_profile_is_flagged_in_its_windows():
    clock = FakeClock()
    sampler = sampler_at(clock, throttle={"from_s": 2.0, "reasons": 0x20 | 0x4, "sm_clock_mhz": 900, "temp_c": 91})
    for _ in range(41):
        sampler.samples.rows.extend(sampler.read(clock()))
        clock.t += 0.1
    epochs = [{"epoch": i, "samples": 100, "t_start_monotonic": 100.0 + i, "t_end_monotonic": 101.0 + i}
              for i in range(4)]
    throttle = summarize(sampler.samples, epochs, 8192)["throttle"]
    assert throttle["reasons"] == ["sw_power_cap", "sw_thermal_slowdown"]
    assert throttle["thermal"] is True and throttle["power"] is True
    assert throttle["throttled_epochs"] == [2, 3]  # from 2 s after the trial started
    assert throttle["throttled_share"] == pytest.approx(2 / 3, abs=0.05)
    assert throttle["sm_clock_min_mhz"] == 900 and throttle["temp_max_c"] == 91
    quiet = sampler_at(FakeClock())
    quiet.samples.rows.extend(quiet.read(100.5))
    quiet.samples.rows.extend(quiet.read(101.5))
    calm = summarize(quiet.samples, epochs, 8192)["throttle"]
    assert calm["reasons"] == [] and calm["thermal"] is False and calm["throttled_epochs"] == []


def test_four_gpus_the_sampler_reads_only_the_trials(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # CUDA's 3 by PCI bus id is NVML's index 2
    clock = FakeClock()
    gpus = [g | {"other_util_pct": u} for g, u in zip(GPUS, (100, 0, 0, 50))]
    sampler = sampler_at(clock, gpus=gpus, trial_pci_bus_ids=("00000000:C1:00.0",))
    rows = sampler.read(clock())
    assert [r["device"] for r in rows] == ["00000000:C1:00.0"] and rows[0]["util_gpu_pct"] == 63
    assert [d["index"] for d in sampler.describe()] == [2]


def test_the_energy_counter_is_read_every_half_second_not_every_reading():
    clock = FakeClock()
    sampler = sampler_at(clock)
    energies = []
    for _ in range(12):
        energies.append(sampler.read(clock())[0]["energy_mj"])
        clock.t += 0.125  # exact in binary: no rounding at the 0.5 s boundary
    assert [e is not None for e in energies] == [True, False, False, False] * 3
    assert sum(sampler.samples.gaps.values()) == 0  # skipped on purpose: not a failed reading
    sampler._reset(os.getpid())
    assert sampler.read(clock())[0]["energy_mj"] is not None  # a new trial reads it at once


def test_throttling_on_one_of_two_gpus_counts_its_share():
    rows = []
    for i in range(1, 51):
        t = 0.1 * i
        rows.append({"t_monotonic": t, "device": "a", "clocks_event_reasons": 0, "sm_clock_mhz": 1980})
        rows.append({"t_monotonic": t, "device": "b", "clocks_event_reasons": 0x40, "sm_clock_mhz": 990})  # HW thermal
    epochs = [{"epoch": 0, "samples": 1, "t_start_monotonic": 0.0, "t_end_monotonic": 1.0},
              {"epoch": 1, "samples": 1, "t_start_monotonic": 1.0, "t_end_monotonic": 5.0}]
    throttle = summarize(samples_of(rows), epochs, None)["throttle"]
    assert throttle["thermal"] is True and throttle["throttled_epochs"] == [1]
    assert throttle["throttled_share"] == pytest.approx(0.5)  # one GPU of two, all the time
    hw = [r | {"clocks_event_reasons": 0x8} for r in rows if r["device"] == "a"]
    assert summarize(samples_of(hw), epochs, None)["throttle"]["hardware"] is True


def test_stopping_reads_the_energy_counter_once_more():
    clock = FakeClock()
    sampler = FakeNvmlSampler(FakeProfile(), interval_s=10.0, clock=clock)  # the thread reads once, at start
    sampler.start(os.getpid(), {"batch_size": 128})
    time.sleep(0.2)
    clock.t += 0.3  # less than ENERGY_EVERY_S after the thread's reading
    samples = sampler.stop()
    energy_rows = [r for r in samples.rows if r.get("energy_mj") is not None]
    assert [r["t_monotonic"] for r in energy_rows] == [100.0, 100.3]
    assert energy_j(samples.rows, 100.0, 100.3)[2] == pytest.approx(1.0)  # the window's end is covered
