"""Test-only models, referenced from scenarios as ``tests/helpers/models.py:NAME``."""

from __future__ import annotations

import time


def tiny_mlp(params):
    """A very small model on 28x28 inputs: fast enough for end-to-end tests of real processes."""
    import tf_keras as keras

    return keras.Sequential([keras.layers.InputLayer(input_shape=(28, 28)), keras.layers.Flatten(),
                             keras.layers.Dense(16, activation="relu"), keras.layers.Dense(10)])


def oom_model(params):
    """Raises the error TensorFlow raises when a GPU allocation fails."""
    import tensorflow as tf

    raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[4096,4096] (test)")


def failing_model(params):
    raise RuntimeError("this model is broken on purpose")


def hanging_model(params):
    """Never returns: the trial must be killed at its timeout."""
    while True:
        time.sleep(1)


def not_a_model(params):
    return "a string"


def keras3_model(params):
    """A Keras 3 model: tfmot cannot prune it, so the harness refuses it with the reason."""
    import keras

    return keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)])


def bracket_error_model(params):
    """Fails with text that looks like rich markup, as TensorFlow's shape errors do: it must be shown as
    written, never read as markup (a closing tag that matches nothing makes rich raise)."""
    raise ValueError("Input 0 of layer 'dense' is incompatible with the layer: expected shape=[/batch, 28, 28], "
                     "found [red]shape=(None, 784)[/red] [/x] [bold]")


def wide_mlp(params):
    """``tiny_mlp`` with two 512-unit layers: about 50 times its multiply-adds, a slower model for comparisons."""
    import tf_keras as keras

    return keras.Sequential([keras.layers.InputLayer(input_shape=(28, 28)), keras.layers.Flatten(),
                             keras.layers.Dense(512, activation="relu"), keras.layers.Dense(512, activation="relu"),
                             keras.layers.Dense(10)])
