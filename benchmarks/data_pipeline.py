"""Benchmark: is the input pipeline the bottleneck?

Steady-epoch throughput of ``tutorial_cnn`` at one batch size on a real dataset (default
``fashion_mnist``) against the same model on ``synthetic`` data of the same shape and size, both
through the harness's own loader, ``tf.data`` pipeline and timing callback, in one process, rounds
interleaved so drift hits both. Target: ratio >= 0.95.

Usage: python benchmarks/data_pipeline.py [--dataset fashion_mnist] [--batch-size 128] [--samples 12000]
(or with pytest-benchmark: pytest benchmarks/test_data_pipeline.py --benchmark-only)
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sidebyside import compare, spread_text  # noqa: E402

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


TARGET = 0.95


def base_params(batch_size: int, samples: int) -> dict:
    return {"model": "tutorial_cnn", "batch_size": batch_size, "seed": 0, "optimizer": "adam",
            "learning_rate": 0.001, "samples_per_epoch": samples}


def one_round(tf, keras, base: dict, dataset: str, epochs: int) -> tuple[list[float], list[float]]:
    """(real, synthetic) steady-epoch throughputs (samples/s) of one round: the real dataset first."""
    real = steady_throughput(tf, keras, base | {"dataset": dataset}, epochs)
    synthetic = steady_throughput(tf, keras, base | {"dataset": "synthetic"}, epochs)
    return real, synthetic


def summarize(rounds: list[tuple[list[float], list[float]]], dataset: str) -> dict:
    real = [v for r, _ in rounds for v in r]
    synthetic = [v for _, s in rounds for v in s]
    ratios = [statistics.median(r) / statistics.median(s) for r, s in rounds]
    result = compare(real, synthetic, ratios, digits=4)
    return {"dataset": dataset, "real": result.pop("a"), "synthetic": result.pop("b"), **result,
            "target": f"ratio >= {TARGET}", "meets_target": result["ratio"] >= TARGET}


def headline(summary: dict) -> str:
    return (f"{summary['dataset']} {spread_text(summary['real'], 'samples/s', ',.0f')} vs synthetic "
            f"{spread_text(summary['synthetic'], 'samples/s', ',.0f')} -> ratio {summary['ratio']:.3f} "
            f"(95% CI {summary['ratio_ci95'][0]:.3f}-{summary['ratio_ci95'][1]:.3f}) (target >= {TARGET})")


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
    base = base_params(args.batch_size, args.samples)
    rounds = []
    for round_ in range(args.rounds):
        rounds.append(one_round(tf, keras, base, args.dataset, args.epochs))
        real = [v for r, _ in rounds for v in r]
        synthetic = [v for _, s in rounds for v in s]
        print(f"round {round_ + 1}: {args.dataset} {statistics.median(real):,.0f} samples/s, "
              f"synthetic {statistics.median(synthetic):,.0f} samples/s", flush=True)
    print(f"tutorial_cnn, batch {args.batch_size}, {args.samples} samples/epoch: " + headline(summarize(rounds, args.dataset)))


if __name__ == "__main__":
    main()
