"""A heavier stand-in for the tutorial CNN, for scripts/compare_check.py's "a change made the model
slower" run (referenced as ``scripts/compare_models.py:build_heavy_cnn``)."""

from __future__ import annotations


def build_heavy_cnn(params: dict):
    """The tutorial CNN with two 32-filter convolutions instead of one of 12: the same input and
    output, several times the FLOPs per sample."""
    import tf_keras as keras

    return keras.Sequential(
        [
            keras.layers.InputLayer(input_shape=(28, 28)),
            keras.layers.Reshape(target_shape=(28, 28, 1)),
            keras.layers.Conv2D(filters=32, kernel_size=(3, 3), activation="relu"),
            keras.layers.Conv2D(filters=32, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ],
        name="heavy_cnn",
    )
