"""Benchmark: what the harness costs inside an epoch (``fixed_cost.py`` measures what a trial
costs outside its epochs).

Steady epoch time through the harness's own code path (tf.data pipeline + timing callback, as the
worker runs it) against a bare ``tf_keras`` ``model.fit(x, y)`` of the same model, data and batch
size, measured side by side in one process, rounds interleaved (ABAB) so drift hits both.
Target: ratio <= 1.02 at batch 128.

Usage: python benchmarks/overhead.py [--batch-size 128] [--samples 12000] [--rounds 3] [--epochs 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchharness.worker.data import load_data, make_dataset  # noqa: E402
from benchharness.worker.device import import_keras, import_tensorflow  # noqa: E402
from benchharness.worker.model import build_model, compile_model  # noqa: E402
from benchharness.worker.timing import make_epoch_timer  # noqa: E402
from benchharness.worker.summaries import make_summary_recorder  # noqa: E402


class _Events:
    def emit(self, *args, **kwargs):
        pass


def steady_epochs_harness(tf, keras, x, y, params, epochs):
    """The worker's own path: its pipeline and its callbacks (timer + TensorBoard scalars)."""
    model = build_model(keras, params)
    compile_model(keras, model, params, {})
    batches = make_dataset(tf, x, y, params["batch_size"], params["seed"])
    timer = make_epoch_timer(keras, _Events(), lambda steps: len(x))
    model.fit(batches.dataset, epochs=epochs, steps_per_epoch=batches.steps_per_epoch, verbose=0, callbacks=[timer, make_summary_recorder(keras, pruning=False)])
    return [e["seconds"] for e in timer.epochs[1:]]


def steady_epochs_bare(keras, x, y, params, epochs):
    model = build_model(keras, params)
    compile_model(keras, model, params, {})
    times = []

    class EpochOnly(keras.callbacks.Callback):  # epoch hooks only: no per-step work at all
        """Times epochs as the harness does: from the previous epoch's end to this one's end."""

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = getattr(self, "previous_end", None) or time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.previous_end = time.perf_counter()
            times.append(self.previous_end - self.t0)

    model.fit(x, y, batch_size=params["batch_size"], epochs=epochs, verbose=0, callbacks=[EpochOnly()])
    return times[1:]


def fit_overhead(args) -> float:
    tf = import_tensorflow()
    keras = import_keras()
    params = {"model": "tutorial_cnn", "batch_size": args.batch_size, "seed": 0, "optimizer": "adam",
              "learning_rate": 0.001, "samples_per_epoch": args.samples}
    keras.utils.set_random_seed(0)
    data = load_data(build_model(keras, params), params | {"dataset": "synthetic"})
    x, y = data.x_train, data.y_train
    harness, bare, ratios = [], [], []
    for round_ in range(args.rounds):
        # ABBA: alternate which goes first, so a machine that speeds up or slows down within a
        # round does not favour one side.
        if round_ % 2 == 0:
            h = steady_epochs_harness(tf, keras, x, y, params, args.epochs)
            b = steady_epochs_bare(keras, x, y, params, args.epochs)
        else:
            b = steady_epochs_bare(keras, x, y, params, args.epochs)
            h = steady_epochs_harness(tf, keras, x, y, params, args.epochs)
        harness, bare = harness + h, bare + b
        ratios.append(statistics.median(h) / statistics.median(b))
        print(f"round {round_ + 1}: harness {statistics.median(h):.4f} s, bare {statistics.median(b):.4f} s, "
              f"ratio {ratios[-1]:.3f}", flush=True)
    ratio = statistics.median(harness) / statistics.median(bare)
    print(f"median of the per-round ratios: {statistics.median(ratios):.3f}")
    print(f"steady epoch, tutorial_cnn, batch {args.batch_size}, {args.samples} samples: "
          f"harness {statistics.median(harness):.4f} s vs bare model.fit {statistics.median(bare):.4f} s "
          f"-> ratio {ratio:.3f} (target <= 1.02)")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--samples", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    fit_overhead(args)


if __name__ == "__main__":
    main()
