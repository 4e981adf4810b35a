"""Pruning: schedule arithmetic, selective wrapping, measured sparsity, sizes and TFLite on tiny models."""

from __future__ import annotations

import numpy as np
import pytest

from benchharness.pruning.schedule import (Schedule, polynomial_sparsity, reached_sparsity, resolve_schedule,
                                   total_steps)


def test_polynomial_formula_at_chosen_steps():
    # s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3 with s_i 0.5, s_f 0.8, t0 0, n dt 1000
    assert polynomial_sparsity(0, 0.5, 0.8, 0, 1000) == pytest.approx(0.5)
    assert polynomial_sparsity(500, 0.5, 0.8, 0, 1000) == pytest.approx(0.8 - 0.3 * 0.125)
    assert polynomial_sparsity(900, 0.5, 0.8, 0, 1000) == pytest.approx(0.8 - 0.3 * 0.001)
    assert polynomial_sparsity(1000, 0.5, 0.8, 0, 1000) == pytest.approx(0.8)
    assert polynomial_sparsity(5000, 0.5, 0.8, 0, 1000) == pytest.approx(0.8)  # clamped after end
    assert polynomial_sparsity(-5, 0.5, 0.8, 0, 1000) == pytest.approx(0.5)  # clamped before begin


def test_default_end_step_lands_on_the_pruning_grid():
    params = {"sparsity": 0.8, "initial_sparsity": 0.5, "frequency": 100, "begin_step": 0, "end_step": None}
    schedule = resolve_schedule(params, steps=938)  # 469 steps/epoch x 2 epochs at batch 128
    assert schedule.end_step == 900
    assert reached_sparsity(schedule, 938) == pytest.approx(0.8)


def test_tfmot_imdb_example_stops_short_of_its_target():
    """tfmot's IMDB example: PolynomialDecay(0.3 -> 0.7, begin 1000, end 3000, frequency 100), but
    25,000 samples at batch 32 for 3 epochs is only 2,346 steps: the last prune is at 2,300."""
    steps = total_steps(25000, 32, 3)
    assert steps == 2346
    reached = reached_sparsity(Schedule("polynomial", 0.3, 0.7, 1000, 3000, 100), steps)
    assert reached == pytest.approx(0.7 + (0.3 - 0.7) * (1 - 1300 / 2000) ** 3)
    assert round(reached, 2) == 0.68


def test_schedule_that_begins_after_training_never_prunes():
    assert reached_sparsity(Schedule("polynomial", 0.0, 0.5, 5000, 6000, 100), 1000) is None
    assert reached_sparsity(Schedule("constant", 0.0, 0.5, 0, 1, 100), 1000) == 0.5


# -- with TensorFlow -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras():
    from benchharness.worker import device as worker_device

    worker_device.import_tensorflow()
    return worker_device.import_keras()


def small_model(keras, with_custom_layer: bool):
    class Scale(keras.layers.Layer):
        """A custom layer tfmot cannot prune: it must be left as it is."""

        def build(self, input_shape):
            self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.scale

    layers = [keras.layers.InputLayer(input_shape=(8, 8)), keras.layers.Flatten(),
              keras.layers.Dense(32, activation="relu", name="hidden")]
    if with_custom_layer:
        layers.append(Scale(name="scale"))
    layers.append(keras.layers.Dense(4, name="out"))
    return keras.Sequential(layers)


def data(n=512, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 8, 8), dtype=np.float32)
    y = (x.reshape(n, -1)[:, :4].argmax(axis=1)).astype(np.int32)  # learnable
    return x, y


def test_selective_wrapping_leaves_unprunable_layers(keras):
    from benchharness.pruning.keras import apply_pruning

    model = small_model(keras, with_custom_layer=True)
    before = {w.name: w.numpy().copy() for w in model.weights}
    pruned, wrapped = apply_pruning(keras, model, Schedule("constant", 0.0, 0.5, 0, 1, 1))
    assert wrapped == ["hidden", "out"]
    kinds = [type(layer).__name__ for layer in pruned.layers]
    assert kinds == ["Flatten", "PruneLowMagnitude", "Scale", "PruneLowMagnitude"]
    kept = {w.name: w.numpy() for w in pruned.layers[1].layer.weights}
    assert np.array_equal(kept["hidden/kernel:0"], before["hidden/kernel:0"])  # trained weights kept


def test_model_without_prunable_layers_is_refused(keras):
    from benchharness.pruning.keras import NoPrunableLayer, apply_pruning

    model = keras.Sequential([keras.layers.InputLayer(input_shape=(4,)), keras.layers.Activation("relu")])
    with pytest.raises(NoPrunableLayer, match="has no layer tfmot can prune"):
        apply_pruning(keras, model, Schedule("constant", 0.0, 0.5, 0, 1, 1))


def test_training_reaches_the_measured_target_and_exports_smaller(keras):
    import tensorflow as tf

    from benchharness.datasets.loaders import Data
    from benchharness.export import measure_sizes, tflite_accuracy, tflite_bytes
    from benchharness.worker import model as worker_model
    from benchharness.worker import pruning as worker_pruning

    keras.utils.set_random_seed(0)
    x, y = data()
    params = {"optimizer": "adam", "learning_rate": 0.01, "sparsity": 0.75, "initial_sparsity": 0.0,
              "frequency": 4, "begin_step": 0, "end_step": None, "pruning_schedule": "polynomial", "epochs": 3}
    dense = small_model(keras, with_custom_layer=True)
    worker_model.compile_model(keras, dense, params, {})
    dense.fit(x, y, batch_size=64, epochs=2, verbose=0)
    dense_sizes, _ = measure_sizes(tf, keras, dense, Data(x, y, None, None), 64, 0.0)
    pruned, state = worker_pruning.prepare_pruning(keras, dense, params, {}, steps_per_epoch=8)
    pruned.fit(x, y, batch_size=64, epochs=3, verbose=0, callbacks=[worker_pruning.update_step_callback()])
    stripped, pruning = worker_pruning.finish_pruning(pruned, state)
    assert pruning["schedule"]["end_step"] == 20  # 24 steps, frequency 4: last grid point at or before 23
    assert pruning["measured"] == pytest.approx(0.75, abs=0.01)
    assert set(pruning["per_layer"]) == {"hidden", "out"}
    assert all(v == pytest.approx(0.75, abs=0.01) for v in pruning["per_layer"].values())
    assert [type(layer).__name__ for layer in stripped.layers] == ["Flatten", "Dense", "Scale", "Dense"]
    sizes, accuracy = measure_sizes(tf, keras, stripped, Data(x, y, x[:100], y[:100]), 64, 0.0)
    assert sizes["keras_zip_bytes"] < dense_sizes["keras_zip_bytes"]
    assert sizes["tflite_quant_bytes"] < sizes["tflite_bytes"]
    # TFLite computes what Keras computes.
    keras_accuracy = float((stripped.predict(x[:100], verbose=0).argmax(axis=1) == y[:100]).mean())
    assert accuracy["float"] == pytest.approx(keras_accuracy, abs=0.011)
    assert accuracy["samples"] == 100
    # Batches of any size, the last one partial.
    content = tflite_bytes(tf, stripped, quantize=False)
    assert tflite_accuracy(content, x[:100], y[:100], 33, 0.0) == accuracy["float"]


def test_zipped_bytes_compresses_zeros():
    from benchharness.export import zipped_bytes

    assert zipped_bytes(bytes(100_000)) < 1_000 < zipped_bytes(np.random.default_rng(0).bytes(100_000))


def test_throughput_vs_dense_pairs_same_model_dataset_and_batch():
    from benchharness.assemble import throughput_vs_dense

    def rec(sparsity, batch, sps, repeat=0, status="ok"):
        return {"status": status, "repeat": repeat, "throughput_sps": sps,
                "params": {"model": "m", "dataset": "d", "batch_size": batch, "sparsity": sparsity,
                           "samples_per_epoch": None, "epochs": 2}}

    records = [rec(0.0, 32, 1000.0), rec(0.0, 64, 2000.0), rec(0.8, 32, 900.0), rec(0.8, 64, 2100.0),
               rec(0.5, 128, 500.0), rec(0.0, 128, 10.0, status="oom")]
    assert throughput_vs_dense(records[2], records) == pytest.approx(0.9)
    assert throughput_vs_dense(records[3], records) == pytest.approx(1.05)
    assert throughput_vs_dense(records[4], records) is None  # its dense peer ran out of memory
    assert throughput_vs_dense(records[0], records) is None  # dense trials have no ratio
