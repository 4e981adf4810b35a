"""The baseline model of TensorFlow's "Pruning in Keras" guide."""

from __future__ import annotations


def build_tutorial_cnn(params: dict):
    """InputLayer(28,28) -> Reshape -> Conv2D(12,3,relu) -> MaxPool(2) -> Flatten -> Dense(10) logits."""
    import tf_keras as keras

    return keras.Sequential(
        [
            keras.layers.InputLayer(input_shape=(28, 28)),
            keras.layers.Reshape(target_shape=(28, 28, 1)),
            keras.layers.Conv2D(filters=12, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ],
        name="tutorial_cnn",
    )
