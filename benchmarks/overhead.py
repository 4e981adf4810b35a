"""Benchmark: what the harness costs inside an epoch (``fixed_cost.py`` measures what a trial
costs outside its epochs).

Steady epoch time through the harness's own code path (tf.data pipeline + timing callback, as the
worker runs it) against a bare ``tf_keras`` ``model.fit(x, y)`` of the same model, data and batch
size, measured side by side in one process, rounds interleaved (ABBA) so drift hits both.
Target: ratio <= 1.02 at batch 128.

Usage: python benchmarks/overhead.py [--batch-size 128] [--samples 12000] [--rounds 6] [--epochs 4]
(or with pytest-benchmark: pytest benchmarks/test_overhead.py --benchmark-only)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sidebyside import compare, spread_text  # noqa: E402

from benchharness.worker.data import load_data, make_dataset  # noqa: E402
from benchharness.worker.device import import_keras, import_tensorflow  # noqa: E402
from benchharness.worker.model import build_model, compile_model  # noqa: E402
from benchharness.worker.timing import make_epoch_timer  # noqa: E402
from benchharness.worker.summaries import make_summary_recorder  # noqa: E402

TARGET = 1.02


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


class Setup(NamedTuple):
    tf: object
    keras: object
    x: object
    y: object
    params: dict


def prepare(batch_size: int, samples: int) -> Setup:
    """TensorFlow, tf_keras and the synthetic data, once for all rounds."""
    tf = import_tensorflow()
    keras = import_keras()
    params = {"model": "tutorial_cnn", "batch_size": batch_size, "seed": 0, "optimizer": "adam",
              "learning_rate": 0.001, "samples_per_epoch": samples}
    keras.utils.set_random_seed(0)
    data = load_data(build_model(keras, params), params | {"dataset": "synthetic"})
    return Setup(tf, keras, data.x_train, data.y_train, params)


def one_round(setup: Setup, round_: int, epochs: int) -> tuple[list[float], list[float]]:
    """(harness, bare) steady epoch times of one round. ABBA: even rounds run the harness first, odd
    rounds the bare fit, so a machine that speeds up or slows down within a round favours neither."""
    tf, keras, x, y, params = setup
    if round_ % 2 == 0:
        h = steady_epochs_harness(tf, keras, x, y, params, epochs)
        b = steady_epochs_bare(keras, x, y, params, epochs)
    else:
        b = steady_epochs_bare(keras, x, y, params, epochs)
        h = steady_epochs_harness(tf, keras, x, y, params, epochs)
    return h, b


def summarize(rounds: list[tuple[list[float], list[float]]]) -> dict:
    """The harness's steady epochs against the bare ones, over all rounds."""
    harness = [t for h, _ in rounds for t in h]
    bare = [t for _, b in rounds for t in b]
    ratios = [statistics.median(h) / statistics.median(b) for h, b in rounds]
    result = compare(harness, bare, ratios)
    return {"harness": result.pop("a"), "bare": result.pop("b"), **result, "target": "ratio <= 1.02",
            "meets_target": result["ratio"] <= TARGET}


def headline(summary: dict) -> str:
    return (f"harness {spread_text(summary['harness'])} vs bare model.fit {spread_text(summary['bare'])} "
            f"-> ratio {summary['ratio']:.3f} (95% CI {summary['ratio_ci95'][0]:.3f}-{summary['ratio_ci95'][1]:.3f}; "
            f"per-round {min(summary['round_ratios']):.3f}-{max(summary['round_ratios']):.3f}) (target <= {TARGET})")


def fit_overhead(args) -> float:
    setup = prepare(args.batch_size, args.samples)
    rounds = []
    for round_ in range(args.rounds):
        h, b = one_round(setup, round_, args.epochs)
        rounds.append((h, b))
        print(f"round {round_ + 1}: harness {statistics.median(h):.4f} s, bare {statistics.median(b):.4f} s, "
              f"ratio {statistics.median(h) / statistics.median(b):.3f}", flush=True)
    summary = summarize(rounds)
    print(f"median of the per-round ratios: {summary['round_ratio_median']:.3f}")
    print(f"steady epoch, tutorial_cnn, batch {args.batch_size}, {args.samples} samples: " + headline(summary))
    return summary["ratio"]


def fit_arguments(doc: str) -> argparse.Namespace:
    """The side-by-side fit benchmarks' arguments: batch size, samples, epochs per fit, rounds."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--samples", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=6)
    return parser.parse_args()


def main() -> None:
    fit_overhead(fit_arguments(__doc__))


if __name__ == "__main__":
    main()
