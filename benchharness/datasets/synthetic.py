"""Synthetic data shaped like a model's input: for speed measurements, where accuracy means nothing."""

from __future__ import annotations

import numpy as np


def make_synthetic(input_shape: tuple[int, ...], num_classes: int, samples: int, seed: int,
                   input_kind: str = "image", vocab_size: int = 20000):
    """Return ``(x, y)`` numpy arrays: ``samples`` rows of inputs and integer labels.

    Images are float32 in [0, 1); token sequences are int32 ids in [1, vocab_size).
    """
    rng = np.random.default_rng(seed)
    shape = (samples, *input_shape)
    if input_kind == "tokens":
        x = rng.integers(1, vocab_size, size=shape, dtype=np.int32)
    else:
        x = rng.random(shape, dtype=np.float32)
    y = rng.integers(0, max(num_classes, 2), size=(samples,), dtype=np.int32)
    return x, y
