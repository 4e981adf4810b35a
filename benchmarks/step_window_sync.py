"""Benchmark: what the windows of steps inside fixed epochs cost (a device sync at every window
boundary, ``worker.timing.StepWindows``), against the same fit without them.

Steady epoch time of ``tutorial_cnn`` through the worker's own epoch timer, once with windows of
steps (as a fixed-epochs trial runs: ``measure.steps_per_step_window`` steps each, the real
``device.device_sync``) and once without (``NO_WINDOWS``), side by side in one process, rounds
interleaved (ABBA) so the machine's drift hits both. Prints the ratio with a bootstrap 95 % interval,
the per-round ratios and the samples behind them. Target: ratio <= 1.02 (the sync drains the
pipeline once a window; on a CPU there is little pipeline to drain, on a GPU it is unmeasured here).

Usage: python benchmarks/step_window_sync.py [--batch-size 128] [--samples 12000] [--rounds 6] [--epochs 4]
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead import Setup, fit_arguments, prepare  # noqa: E402
from sidebyside import compare, spread_text  # noqa: E402

from benchharness.worker.data import make_dataset  # noqa: E402
from benchharness.worker.device import device_sync  # noqa: E402
from benchharness.worker.measure import steps_per_step_window  # noqa: E402
from benchharness.worker.model import build_model, compile_model  # noqa: E402
from benchharness.worker.timing import NO_WINDOWS, StepWindows, make_epoch_timer  # noqa: E402

TARGET = 1.02


class _Events:
    def emit(self, *args, **kwargs):
        pass


def steady_epochs(setup: Setup, epochs: int, windowed: bool) -> tuple[list[float], int]:
    """Steady epoch seconds of one fit (the first epoch is warm-up) and the windows it made."""
    tf, keras, x, y, params = setup
    model = build_model(keras, params)
    compile_model(keras, model, params, {})
    batches = make_dataset(tf, x, y, params["batch_size"], params["seed"])
    steps, whole = batches.steps_per_epoch, len(x) // params["batch_size"]  # whole batches, as a trial counts them
    windows = (StepWindows(lambda ms: steps_per_step_window(ms, whole), whole, params["batch_size"], device_sync(tf))
               if windowed else NO_WINDOWS)
    made = []
    timer = make_epoch_timer(keras, _Events(), lambda n: len(x), windows=windows)

    class Count(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            made.append(len(windows.windows) if windows.active else 0)

    model.fit(batches.dataset, epochs=epochs, steps_per_epoch=steps, verbose=0, callbacks=[timer, Count()])
    return [e["seconds"] for e in timer.epochs][1:], sum(made)


def measure(args) -> dict:
    setup = prepare(args.batch_size, args.samples)
    rounds, windows = [], 0
    for round_ in range(args.rounds):
        order = (True, False) if round_ % 2 == 0 else (False, True)
        found = {}
        for windowed in order:
            found[windowed], made = steady_epochs(setup, args.epochs, windowed)
            windows += made
        rounds.append((found[True], found[False]))
        print(f"round {round_ + 1}: with windows {statistics.median(found[True]):.4f} s, without "
              f"{statistics.median(found[False]):.4f} s, ratio "
              f"{statistics.median(found[True]) / statistics.median(found[False]):.3f}", flush=True)
    ratios = [statistics.median(a) / statistics.median(b) for a, b in rounds]
    result = compare([t for a, _ in rounds for t in a], [t for _, b in rounds for t in b], ratios)
    return {"with_windows": result.pop("a"), "without": result.pop("b"), **result,
            "windows_per_steady_epoch": windows / (args.rounds * (args.epochs - 1)),
            "meets_target": result["ratio"] <= TARGET}


def main() -> None:
    args = fit_arguments(__doc__)
    s = measure(args)
    print(f"steady epoch, tutorial_cnn, batch {args.batch_size}, {args.samples} samples, "
          f"{s['windows_per_steady_epoch']:.1f} windows (syncs) per epoch: with windows {spread_text(s['with_windows'])} "
          f"vs without {spread_text(s['without'])} -> ratio {s['ratio']:.3f} (95% CI {s['ratio_ci95'][0]:.3f}-"
          f"{s['ratio_ci95'][1]:.3f}; per-round {min(s['round_ratios']):.3f}-{max(s['round_ratios']):.3f}) "
          f"(target <= {TARGET})")


if __name__ == "__main__":
    main()
