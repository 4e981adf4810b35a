"""Benchmark: is the input pipeline the bottleneck?

Steady-epoch throughput of ``tutorial_cnn`` at one batch size on a real dataset (default
``fashion_mnist``) against the same model on ``synthetic`` data of the same shape and size, both
through the harness's own loader, ``tf.data`` pipeline and timing callback, in one process, rounds
interleaved so drift hits both. Target: ratio >= 0.95.

Usage: python benchmarks/data_pipeline.py [--dataset fashion_mnist] [--batch-size 128] [--samples 12000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchharness.worker.data import load_data, make_dataset  # noqa: E402
from benchharness.worker.device import import_keras, import_tensorflow  # noqa: E402
from benchharness.worker.model import build_model, compile_model  # noqa: E402
from benchharness.worker.timing import make_epoch_timer  # noqa: E402


class _Events:
    def emit(self, *args, **kwargs):
        pass


def steady_throughput(tf, keras, params: dict, epochs: int) -> list[float]:
    model = build_model(keras, params)
    compile_model(keras, model, params, {})
    data = load_data(model, params)
    batches = make_dataset(tf, data.x_train, data.y_train, params["batch_size"], params["seed"])
    timer = make_epoch_timer(keras, _Events(), lambda steps: len(data.x_train))
    model.fit(batches.dataset, epochs=epochs, steps_per_epoch=batches.steps_per_epoch, verbose=0, callbacks=[timer])
    return [e["samples"] / e["seconds"] for e in timer.epochs[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--samples", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tf = import_tensorflow()
    keras = import_keras()
    base = {"model": "tutorial_cnn", "batch_size": args.batch_size, "seed": 0, "optimizer": "adam",
            "learning_rate": 0.001, "samples_per_epoch": args.samples}
    real, synthetic = [], []
    for round_ in range(args.rounds):
        real += steady_throughput(tf, keras, base | {"dataset": args.dataset}, args.epochs)
        synthetic += steady_throughput(tf, keras, base | {"dataset": "synthetic"}, args.epochs)
        print(f"round {round_ + 1}: {args.dataset} {statistics.median(real):,.0f} samples/s, "
              f"synthetic {statistics.median(synthetic):,.0f} samples/s", flush=True)
    ratio = statistics.median(real) / statistics.median(synthetic)
    print(f"tutorial_cnn, batch {args.batch_size}, {args.samples} samples/epoch: {args.dataset} "
          f"{statistics.median(real):,.0f} samples/s vs synthetic {statistics.median(synthetic):,.0f} samples/s "
          f"-> ratio {ratio:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
