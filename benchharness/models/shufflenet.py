"""ShuffleNet V2 (Ma et al. 2018, "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture
Design"), built from plain ``tf_keras`` Conv2D / DepthwiseConv2D / BatchNormalization layers so that
tfmot can prune its convolutions; the channel split and shuffle are small custom layers with no weights.

Stage widths (Table 5): 0.5x 48/96/192, 1.0x 116/232/464, 1.5x 176/352/704, 2.0x 244/488/976; conv5 has
1024 channels (2048 at 2.0x); stages repeat 4, 8, 4 units, the first of each with stride 2.
"""

from __future__ import annotations

WIDTHS = {0.5: (48, 96, 192, 1024), 1.0: (116, 232, 464, 1024), 1.5: (176, 352, 704, 1024), 2.0: (244, 488, 976, 2048)}
REPEATS = (4, 8, 4)


def _layers():
    import tensorflow as tf
    import tf_keras as keras

    class ChannelSplit(keras.layers.Layer):
        """Split the channels in two halves (the unit's shortcut and its branch)."""

        def call(self, x):
            return tf.split(x, 2, axis=-1)

        def compute_output_shape(self, input_shape):
            half = input_shape[:-1] + (input_shape[-1] // 2,)
            return [half, half]

    class ChannelShuffle(keras.layers.Layer):
        """Interleave the channels of ``groups`` groups: reshape (..., g, c/g), transpose, reshape back."""

        def __init__(self, groups: int = 2, **kwargs):
            super().__init__(**kwargs)
            self.groups = groups

        def call(self, x):
            height, width, channels = x.shape[1], x.shape[2], x.shape[3]
            x = tf.reshape(x, [-1, height, width, self.groups, channels // self.groups])
            x = tf.transpose(x, [0, 1, 2, 4, 3])
            return tf.reshape(x, [-1, height, width, channels])

        def get_config(self):
            return {**super().get_config(), "groups": self.groups}

    return keras, ChannelSplit, ChannelShuffle


def _conv_bn(keras, x, filters: int, kernel: int = 1, stride: int = 1, relu: bool = True, name: str = ""):
    layers = keras.layers
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}conv")(x)
    x = layers.BatchNormalization(name=f"{name}bn")(x)
    return layers.ReLU(name=f"{name}relu")(x) if relu else x


def _dw_bn(keras, x, stride: int, name: str):
    layers = keras.layers
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}dw")(x)
    return layers.BatchNormalization(name=f"{name}dwbn")(x)


def shuffle_unit(keras, split_cls, shuffle_cls, x, out_channels: int, stride: int, name: str):
    """One ShuffleNetV2 unit. Stride 1: split, branch on one half, concat, shuffle (channels kept).
    Stride 2: both branches see all channels, each gives half the output, spatial size halves."""
    half = out_channels // 2
    if stride == 1:
        shortcut, branch = split_cls(name=f"{name}split")(x)
    else:
        shortcut = _dw_bn(keras, x, 2, f"{name}short_")
        shortcut = _conv_bn(keras, shortcut, half, name=f"{name}short_pw_")
        branch = x
    branch = _conv_bn(keras, branch, half, name=f"{name}pw1_")
    branch = _dw_bn(keras, branch, stride, f"{name}")
    branch = _conv_bn(keras, branch, half, name=f"{name}pw2_")
    x = keras.layers.Concatenate(name=f"{name}concat")([shortcut, branch])
    return shuffle_cls(2, name=f"{name}shuffle")(x)


def build_shufflenet_v2(params: dict):
    """ShuffleNetV2 at width ``alpha`` (0.5, 1.0, 1.5 or 2.0), ``input_size`` x ``input_size`` RGB
    inputs (default 224), ``classes`` outputs with softmax (default 1000)."""
    keras, split_cls, shuffle_cls = _layers()
    alpha = params.get("alpha") or 1.0
    if alpha not in WIDTHS:
        raise ValueError(f"shufflenet_v2: alpha must be one of {sorted(WIDTHS)}, got {alpha}")
    size = params.get("input_size") or 224
    stages, last = WIDTHS[alpha][:3], WIDTHS[alpha][3]
    inputs = keras.Input((size, size, 3))
    x = _conv_bn(keras, inputs, 24, kernel=3, stride=2, name="conv1_")
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="maxpool")(x)
    for stage, (channels, repeats) in enumerate(zip(stages, REPEATS), start=2):
        for unit in range(repeats):
            x = shuffle_unit(keras, split_cls, shuffle_cls, x, channels, 2 if unit == 0 else 1,
                             name=f"stage{stage}_{unit}_")
    x = _conv_bn(keras, x, last, name="conv5_")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(params.get("classes") or 1000, activation="softmax", name="fc")(x)
    return keras.Model(inputs, outputs, name=f"shufflenet_v2_{alpha}x")
