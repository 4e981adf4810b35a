"""Load a dataset as NumPy arrays shaped for a model (runs in the worker; may import tf_keras).

Real datasets load cache first: ``$KERAS_HOME/datasets`` (default ``~/.keras/datasets``), and
``fashion_mnist`` from Debian's ``dataset-fashion-mnist`` directory before that. With no cached copy
the ``tf_keras`` loader tries its download; offline, that fails with one line saying which file is
missing, where to put it, and which datasets work offline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchharness.datasets import DEBIAN_FASHION_MNIST, keras_cache_dir, missing_cache_files, resolve

OFFLINE_CHOICES = "synthetic, fashion_mnist (Debian package dataset-fashion-mnist), idx:DIR or npz:PATH"


class DatasetUnavailable(Exception):
    """A dataset that is neither cached nor downloadable; the message is one line."""


@dataclass
class Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None  # None: no meaningful test split (synthetic data)
    y_test: np.ndarray | None


# With ``samples_per_epoch: auto`` windows are counted in steps over a repeated, reshuffled pool:
# synthetic data needs no more rows than this (a 224x224x3 pool is then 1.2 GB, not 36 GB).
AUTO_SYNTHETIC_ROWS = 2048


def _keras_load(name: str, params: dict):
    """Call the ``tf_keras.datasets`` loader with the cache directory made explicit."""
    from tf_keras import datasets

    cache = str(keras_cache_dir().parent)
    if name == "imdb":
        from benchharness.models.tfmot_examples import IMDB_NUM_WORDS

        return datasets.imdb.load_data(num_words=params.get("num_words") or IMDB_NUM_WORDS, cache_dir=cache)
    return getattr(datasets, name).load_data(cache_dir=cache)


def load_keras_dataset(name: str, params: dict):
    """``((x_train, y_train), (x_test, y_test))`` from the cache, or the loader's download."""
    missing = missing_cache_files(name)
    try:
        return _keras_load(name, params)
    except Exception as exc:  # offline, a proxy, a truncated download: all end the same way
        where = missing[0] if missing else keras_cache_dir()
        raise DatasetUnavailable(
            f"dataset {name!r}: {where} is missing and the download failed ({type(exc).__name__}); "
            f"put {Path(where).name} in {Path(where).parent}, or use a dataset that works offline: {OFFLINE_CHOICES}"
        ) from None


def _arrays(name: str, params: dict) -> dict[str, np.ndarray]:
    if name == "fashion_mnist" and DEBIAN_FASHION_MNIST.is_dir():
        from benchharness.datasets import idx

        return idx.load(DEBIAN_FASHION_MNIST)
    if name.startswith("idx:"):
        from benchharness.datasets import idx

        return idx.load(Path(name[4:]))
    if name.startswith("npz:"):
        from benchharness.datasets import npz

        return npz.load(Path(name[4:]))
    (x_train, y_train), (x_test, y_test) = load_keras_dataset(name, params)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def pad_tokens(sequences, maxlen: int) -> np.ndarray:
    """Pad or cut word-id sequences to ``maxlen`` as tfmot's IMDB example does (pre-padding, keep the end)."""
    from tf_keras.preprocessing.sequence import pad_sequences

    return pad_sequences(sequences, maxlen=maxlen).astype(np.int32)


def prepare_images(x: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """Scale integer pixels to [0, 1] float32 and reshape to the model's input (e.g. 28x28 -> 28x28x1)."""
    if math.prod(x.shape[1:]) != math.prod(input_shape):
        raise ValueError(f"dataset samples are {x.shape[1:]}, the model takes {input_shape}")
    x = x.astype(np.float32)
    if x.max(initial=0) > 1.0:
        x /= 255.0
    return x.reshape((len(x), *input_shape))


def load_dataset(name: str, params: dict, input_shape: tuple[int, ...], input_kind: str, classes: int,
                 vocab_size: int) -> Data:
    """Training and test arrays for a model; ``samples_per_epoch`` caps the training split.

    Raises DatasetUnavailable (one line) when a real dataset cannot be had.
    """
    limit = params.get("samples_per_epoch")
    if name == "synthetic":
        from benchharness.datasets.synthetic import make_synthetic

        rows = max(AUTO_SYNTHETIC_ROWS, params["batch_size"]) if limit == "auto" else limit or 60000
        x, y = make_synthetic(input_shape, classes, rows, params["seed"], input_kind, vocab_size)
        return Data(x, y, None, None)
    resolve(name)  # a bad idx:/npz: reference fails here with its one-line reason
    arrays = _arrays(name, params)
    if input_kind == "tokens":
        x_train, x_test = (pad_tokens(arrays[k], input_shape[0]) for k in ("x_train", "x_test"))
    else:
        x_train, x_test = (prepare_images(arrays[k], input_shape) for k in ("x_train", "x_test"))
    y_train, y_test = (np.asarray(arrays[k]).reshape(-1).astype(np.int32) for k in ("y_train", "y_test"))
    if isinstance(limit, int):
        x_train, y_train = x_train[:limit], y_train[:limit]
    return Data(x_train, y_train, x_test, y_test)
