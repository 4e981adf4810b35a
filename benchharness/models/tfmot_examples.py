"""The networks of TensorFlow Model Optimization's sparsity examples (examples/sparsity/keras/)."""

from __future__ import annotations

IMDB_NUM_WORDS = 20000
IMDB_MAXLEN = 100


def build_mnist_cnn(params: dict):
    """mnist_cnn.py: Conv2D(32,5,same,relu) -> MaxPool(2,same) -> BatchNorm -> Conv2D(64,5,same,relu)
    -> MaxPool(2,same) -> Flatten -> Dense(1024,relu) -> Dropout(0.4) -> Dense(10,softmax); 3,274,762 params."""
    import tf_keras as keras

    layers = keras.layers
    return keras.Sequential(
        [
            layers.InputLayer(input_shape=(28, 28, 1)),
            layers.Conv2D(32, 5, padding="same", activation="relu"),
            layers.MaxPooling2D((2, 2), (2, 2), padding="same"),
            layers.BatchNormalization(),
            layers.Conv2D(64, 5, padding="same", activation="relu"),
            layers.MaxPooling2D((2, 2), (2, 2), padding="same"),
            layers.Flatten(),
            layers.Dense(1024, activation="relu"),
            layers.Dropout(0.4),
            layers.Dense(10, activation="softmax"),
        ],
        name="mnist_cnn",
    )


def build_imdb_lstm(params: dict):
    """imdb_lstm.py: Embedding(num_words, 128, input_length=maxlen) -> LSTM(128) -> Dropout(0.5)
    -> Dense(1) -> sigmoid."""
    import tf_keras as keras

    num_words = params.get("num_words") or IMDB_NUM_WORDS
    maxlen = params.get("maxlen") or IMDB_MAXLEN
    layers = keras.layers
    return keras.Sequential(
        [
            layers.InputLayer(input_shape=(maxlen,)),
            layers.Embedding(num_words, 128, input_length=maxlen),
            layers.LSTM(128),
            layers.Dropout(0.5),
            layers.Dense(1),
            layers.Activation("sigmoid"),
        ],
        name="imdb_lstm",
    )
