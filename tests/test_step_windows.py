"""Windows of steps inside fixed epochs, and pruning's speed against dense with its interval: the
sizing rule, the splitting (fake clock and sync), the record's summary, the ratio over windows and
its wording. Pure: no TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

from benchharness.epochs import summarize_step_windows
from benchharness.pruning.speed import ratio_over_windows, speed_vs_dense_words, window_figures
from benchharness.worker.measure import MIN_STEP_WINDOWS, steps_per_step_window
from benchharness.worker.timing import StepWindows

# -- the size of a window ---------------------------------------------------------------------------


def test_a_window_lasts_a_quarter_second_at_the_warmups_settled_step_time():
    warmup = [400.0] * 10 + [5.0] * 10  # tracing in the first half; settled steps take 5 ms
    assert steps_per_step_window(warmup, full_steps=10_000) == 50  # 0.25 s / 5 ms


def test_every_steady_epoch_holds_at_least_eight_windows():
    warmup = [5.0] * 20
    assert steps_per_step_window(warmup, full_steps=200) == 200 // MIN_STEP_WINDOWS == 25
    assert steps_per_step_window(warmup, full_steps=5) == 2  # never an empty window, never a sync per step


def test_a_window_is_whole_executions():
    assert steps_per_step_window([5.0] * 20, full_steps=200, steps_per_execution=4) == 28  # 25 rounded up


# -- splitting an epoch -----------------------------------------------------------------------------


class FakeClock:
    """A clock (s) that the test advances by hand."""

    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def drive(windows: StepWindows, clock: FakeClock, epoch: int, steps: int, step_s: float = 0.01) -> list[dict]:
    windows.start(epoch, [step_s * 1000] * 20)
    for done in range(1, steps + 1):
        clock.t += step_s
        windows.after(done, 0.0, {"loss": 1.0})
    return windows.event_fields().get("step_windows")


def test_an_epoch_splits_into_windows_with_a_sync_at_each_boundary_only():
    clock, syncs = FakeClock(), []
    windows = StepWindows(lambda warmup_ms: 10, full_steps=95, batch=32, sync=syncs.append, clock=clock)
    assert drive(windows, clock, 0, 96) is None  # epoch 0 is the warm-up: no windows, no sync
    assert syncs == []
    split = drive(windows, clock, 1, 96)  # 95 whole batches and a partial one
    assert len(split) == 9  # steps 91-96 fill no window (and the last one is partial)
    assert all(w["steps"] == 10 and w["samples"] == 320 and w["seconds"] == pytest.approx(0.1) for w in split)
    assert len(syncs) == 1 + 9  # the epoch's start, then each window's end: never per step
    assert syncs[0] is None and syncs[1] == {"loss": 1.0}  # the fallback sync reads the boundary step's loss


def test_a_window_never_holds_the_partial_last_batch():
    clock = FakeClock()
    windows = StepWindows(lambda warmup_ms: 10, full_steps=99, batch=32, sync=lambda logs: None, clock=clock)
    assert len(drive(windows, clock, 1, 100)) == 9  # the tenth window would end on step 100, a partial batch


def test_windows_are_sized_once_from_the_warmup_and_paused_seconds_come_off():
    clock, sized = FakeClock(), []
    windows = StepWindows(lambda warmup_ms: sized.append(warmup_ms) or 5, full_steps=50, batch=8,
                          sync=lambda logs: None, clock=clock)
    drive(windows, clock, 1, 50)
    windows.start(2, [99.0])
    clock.t += 0.05
    windows.after(5, paused_s=0.02)  # an evaluation of 20 ms fell in this window
    assert len(sized) == 1 and windows.windows[0]["seconds"] == pytest.approx(0.03)


def test_no_windows_is_never_active():
    from benchharness.worker.timing import NO_WINDOWS

    NO_WINDOWS.start(3, [1.0])
    NO_WINDOWS.after(10_000)
    assert NO_WINDOWS.event_fields() == {} and NO_WINDOWS.windows == []


# -- the record's summary ---------------------------------------------------------------------------


def epoch(i: int, window_seconds: list[float] | None, steps: int = 10, batch: int = 32) -> dict:
    entry = {"epoch": i, "seconds": 1.0, "samples": 1000, "steps": 100}
    if window_seconds is not None:
        entry["step_windows"] = [{"steps": steps, "samples": steps * batch, "seconds": s} for s in window_seconds]
    return entry


def test_the_summary_is_over_the_steady_epochs_windows_in_order():
    epochs = [epoch(0, None), epoch(1, [0.1, 0.2]), epoch(2, [0.4])]
    summary = summarize_step_windows(epochs, 1)
    assert summary["sps"] == pytest.approx([3200.0, 1600.0, 800.0]) and summary["n"] == 3
    assert summary["steps_per_window"] == 10 and summary["median_sps"] == pytest.approx(1600.0)
    low, high = summary["ci_sps"]
    assert low < 1600.0 < high and summary["cv"] > 0


def test_no_summary_below_two_windows_or_without_windows():
    assert summarize_step_windows([epoch(0, None), epoch(1, [0.1])], 1) is None
    assert summarize_step_windows([epoch(0, None), epoch(1, None), epoch(2, None)], 1) is None  # epochs: auto
    assert summarize_step_windows([], 1) is None


def test_the_record_carries_step_windows_and_its_epochs_do_not():
    from benchharness.assemble import RunContext, WorkerRun, build_record
    from benchharness.plan import Trial
    from helpers.records import make_record, worker_events

    events = worker_events((2.0, 1.0, 1.0))
    for e in (e for e in events if e["event"] == "epoch_end" and e["epoch"] >= 1):
        e["step_windows"] = [{"steps": 10, "samples": 320, "seconds": 0.1}] * 8

    worker = WorkerRun(events, 0, False, 99.0, events[-1]["t_monotonic"] + 0.25)
    record = build_record(Trial("t", 0, {"batch_size": 32, "timeout_s": 60.0}), worker, None, RunContext())
    assert record.step_windows.n == 16 and record.step_windows.median_sps == pytest.approx(3200.0)
    assert record.throughput_sps == 1000.0  # the epoch-based figures are as they were
    assert all("step_windows" not in e.model_dump() for e in record.epochs)
    assert make_record("auto").step_windows is None  # no windows in the events: null


# -- speed against dense, with its interval ---------------------------------------------------------


def windows_around(level: float, n: int = 16, noise: float = 0.03, seed: int = 0) -> list[float]:
    """Synthetic window figures: ``level`` samples/s times a lognormal factor of sigma ``noise``."""
    return list(level * np.exp(np.random.default_rng(seed).normal(0.0, noise, n)))


def test_windows_that_separate_read_slower_or_faster():
    dense = windows_around(1000.0, seed=1)
    slower = ratio_over_windows(windows_around(800.0, seed=2), dense)
    assert slower["throughput_vs_dense"] == pytest.approx(0.8, rel=0.03)
    assert slower["throughput_vs_dense_ci"][1] < 1.0 and slower["throughput_vs_dense_windows"] == [16, 16]
    assert speed_vs_dense_words(slower).startswith("0.8") and "% lower in these processes (95 % interval" in speed_vs_dense_words(slower)
    faster = ratio_over_windows(windows_around(1150.0, seed=3), dense)
    assert faster["throughput_vs_dense_ci"][0] > 1.0 and speed_vs_dense_words(faster).startswith("1.1")
    assert "% higher in these processes (95 % interval" in speed_vs_dense_words(faster)


def test_windows_that_do_not_separate_read_no_measurable_difference():
    dense = windows_around(1000.0, noise=0.08, seed=4)
    same = ratio_over_windows(windows_around(990.0, noise=0.08, seed=5), dense)
    low, high = same["throughput_vs_dense_ci"]
    assert low < 1.0 < high
    words = speed_vs_dense_words(same)
    assert words.startswith("no measurable difference in throughput (") and f"95 % interval {low:.2f}-{high:.2f}" in words


def test_the_ratio_is_of_geometric_means_and_its_interval_matches_welch():
    from scipy import stats as sps

    pruned, dense = [900.0, 1000.0, 950.0], [1000.0, 1100.0, 1050.0, 1020.0]
    found = ratio_over_windows(pruned, dense)
    x, y = np.log(dense), np.log(pruned)
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    dof = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
    half = sps.t.ppf(0.975, dof) * np.sqrt(vx + vy)
    d = y.mean() - x.mean()
    assert found["throughput_vs_dense"] == pytest.approx(np.exp(d))
    assert found["throughput_vs_dense_ci"] == pytest.approx([np.exp(d - half), np.exp(d + half)])


def test_no_interval_below_two_window_figures_a_side():
    assert ratio_over_windows([900.0], [1000.0, 1010.0]) is None
    assert ratio_over_windows([900.0, 910.0], []) is None
    words = speed_vs_dense_words({"throughput_vs_dense": 0.95, "throughput_vs_dense_ci": None})
    assert words.startswith("0.95x throughput (no interval: ") and words.endswith("so no difference can be claimed)")
    assert speed_vs_dense_words({"throughput_vs_dense": None}).startswith("no figure: ")


def test_an_interval_just_off_one_does_not_print_as_one():
    words = speed_vs_dense_words({"throughput_vs_dense": 0.99, "throughput_vs_dense_ci": [0.985, 0.998]})
    assert words.startswith("0.990x throughput, 1.0% lower in these processes (95 % interval 0.985-0.998; a side")


def test_window_figures_are_the_step_windows_else_the_epoch_windows():
    assert window_figures({"step_windows": {"sps": [1.0, 2.0]}, "windows_sps": [3.0, 4.0]}) == [1.0, 2.0]
    assert window_figures({"step_windows": None, "windows_sps": [3.0, 4.0]}) == [3.0, 4.0]  # a dense peer, epochs: auto
    assert window_figures({"step_windows": None, "windows_sps": None}) == []


def pruning_records(pruned_windows: list[float], dense_windows: list[float] | None, dense_epochs: list[float]):
    params = {"model": "m", "dataset": "d", "batch_size": 32, "samples_per_epoch": None}
    summary = {"sps": dense_windows} if dense_windows else None
    dense = {"status": "ok", "repeat": 0, "params": params | {"sparsity": 0.0}, "throughput_sps": 1000.0,
             "step_windows": summary, "windows_sps": dense_epochs}
    pruned = {"status": "ok", "repeat": 0, "params": params | {"sparsity": 0.8}, "throughput_sps": 900.0,
              "step_windows": {"sps": pruned_windows}, "windows_sps": [900.0]}
    return pruned, [dense, pruned]


def test_speed_vs_dense_uses_the_dense_peers_windows_or_falls_back_to_the_bare_ratio():
    from benchharness.assemble import speed_vs_dense

    pruned, records = pruning_records(windows_around(900.0, seed=6), windows_around(1000.0, seed=7), [1000.0])
    with_windows = speed_vs_dense(pruned, records)
    assert with_windows["throughput_vs_dense_windows"] == [16, 16] and with_windows["throughput_vs_dense_ci"][1] < 1
    pruned, records = pruning_records(windows_around(900.0, seed=6), None, [990.0, 1000.0, 1010.0])
    assert speed_vs_dense(pruned, records)["throughput_vs_dense_windows"] == [16, 3]  # epochs: auto peer
    pruned, records = pruning_records(windows_around(900.0, seed=6), None, [1000.0])  # one steady epoch
    assert speed_vs_dense(pruned, records) == {"throughput_vs_dense": pytest.approx(0.9),
                                               "throughput_vs_dense_ci": None, "throughput_vs_dense_windows": None}


def test_the_console_shows_the_interval_beside_the_ratio():
    from benchharness.console import vs_dense_text

    assert vs_dense_text({"throughput_vs_dense": 0.97, "throughput_vs_dense_ci": [0.912, 1.041]}) == "0.97 (0.91-1.04)"
    assert vs_dense_text({"throughput_vs_dense": 0.97, "throughput_vs_dense_ci": None}) == "0.970"
    assert vs_dense_text({}) == "-"


# -- older records ----------------------------------------------------------------------------------


def test_a_version_5_record_upgrades_with_null_windows_and_interval():
    from benchharness.record import TrialRecord
    from benchharness.upgrade import upgrade_records
    from helpers.records import make_record

    dense = make_record("d", params={"model": "m", "sparsity": 0.0}).model_dump(mode="json")
    pruning = {"target": 0.5, "measured": 0.5, "per_layer": {}, "pruned_weights": 1, "wrapped_layers": [],
               "schedule": {"kind": "constant", "initial_sparsity": 0.0, "final_sparsity": 0.5, "begin_step": 0,
                            "end_step": 10, "frequency": 1}, "throughput_vs_dense": 0.9}
    old = dense | {"schema_version": 5, "trial_id": "p", "pruning": pruning}
    old.pop("step_windows")
    (upgraded,) = upgrade_records([old])
    assert upgraded["schema_version"] == 6 and upgraded["step_windows"] is None
    assert upgraded["pruning"]["throughput_vs_dense"] == 0.9  # kept as stored
    assert upgraded["pruning"]["throughput_vs_dense_ci"] is None and upgraded["pruning"]["throughput_vs_dense_windows"] is None
    TrialRecord.model_validate(upgraded)


def test_an_epoch_too_short_for_eight_windows_of_two_steps_gets_none():
    """A sync every step or two would be the measurement (the largest-batch search's probes, short
    synthetic epochs): such a trial keeps its epoch figures only."""
    from types import SimpleNamespace

    from benchharness.worker.timing import NO_WINDOWS
    from benchharness.worker.trial import step_windows_of

    fake_tf = SimpleNamespace(test=SimpleNamespace(experimental=SimpleNamespace(sync_devices=lambda: None)))
    params = {"epochs": 2, "samples_per_epoch": None, "steps_per_execution": 1}
    assert step_windows_of(fake_tf, params, 15, 32) is NO_WINDOWS
    assert step_windows_of(fake_tf, params, 16, 32) is not NO_WINDOWS
    assert step_windows_of(fake_tf, params | {"epochs": "auto"}, 1000, 32) is NO_WINDOWS
