"""Benchmark: what the harness itself costs.

1. Steady epoch time through the harness's own code path (tf.data pipeline + timing callback, as the
   worker runs it) against a bare ``tf_keras`` ``model.fit(x, y)`` of the same model, data and batch
   size, measured side by side in one process, rounds interleaved (ABAB) so drift hits both.
   Target: ratio <= 1.02 at batch 128.
2. The fixed cost of a trial: spawn + TensorFlow import + model build + first-epoch start, from real
   worker processes (``startup_s``), and everything outside the epochs (``wall_s`` - epoch seconds).

Usage: python benchmarks/overhead.py [--batch-size 128] [--samples 12000] [--rounds 3] [--epochs 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchharness import worker  # noqa: E402


class _Events:
    def emit(self, *args, **kwargs):
        pass


def steady_epochs_harness(tf, keras, x, y, params, epochs):
    """The worker's own path: its pipeline and its callbacks (timer + TensorBoard scalars)."""
    model = worker.build_model(keras, params)
    worker.compile_model(keras, model, params, {})
    dataset = worker.make_dataset(tf, x, y, params["batch_size"], params["seed"])
    timer = worker.make_epoch_timer(keras, _Events(), len(x))
    with tempfile.TemporaryDirectory() as log_dir:
        model.fit(dataset, epochs=epochs, verbose=0, callbacks=worker.training_callbacks(keras, timer, log_dir, False))
    return [e["seconds"] for e in timer.epochs[1:]]


def steady_epochs_bare(keras, x, y, params, epochs):
    model = worker.build_model(keras, params)
    worker.compile_model(keras, model, params, {})
    times = []

    class EpochOnly(keras.callbacks.Callback):  # epoch hooks only: no per-step work at all
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t0)

    model.fit(x, y, batch_size=params["batch_size"], epochs=epochs, verbose=0, callbacks=[EpochOnly()])
    return times[1:]


def fit_overhead(args) -> float:
    tf = worker.import_tensorflow()
    keras = worker.import_keras()
    params = {"model": "tutorial_cnn", "batch_size": args.batch_size, "seed": 0, "optimizer": "adam",
              "learning_rate": 0.001, "samples_per_epoch": args.samples}
    keras.utils.set_random_seed(0)
    data = worker.load_data(worker.build_model(keras, params), params | {"dataset": "synthetic"})
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


def trial_fixed_cost(args) -> None:
    from benchharness.execute import Executor
    from benchharness.plan import trial_id
    from benchharness.plan import Trial
    from benchharness.store import RunDir

    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir.create(Path(tmp), "overhead", {})
        executor = Executor(run, {"memory_growth": True})
        startups, outside = [], []
        for i in range(args.trials):
            params = {"model": "tutorial_cnn", "dataset": "synthetic", "epochs": 2, "samples_per_epoch": 1024,
                      "batch_size": 128, "sparsity": 0.0, "optimizer": "adam", "learning_rate": 0.001,
                      "seed": i, "timeout_s": 300}
            record = executor.run_trial(Trial(trial_id(params, 0), 0, params))
            startups.append(record["startup_s"])
            outside.append(record["wall_s"] - sum(e["seconds"] for e in record["epochs"]))
    print(f"fixed cost of a trial over {args.trials} trials: spawn to first epoch (startup_s) median "
          f"{statistics.median(startups):.2f} s; all time outside epochs median {statistics.median(outside):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--samples", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    fit_overhead(args)
    trial_fixed_cost(args)


if __name__ == "__main__":
    main()
