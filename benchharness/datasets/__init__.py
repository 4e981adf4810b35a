"""Dataset registry and model/dataset compatibility. Importing it never imports TensorFlow, so
mismatches are caught when a scenario is validated, not in the middle of a run.

Names: ``synthetic``, ``mnist``, ``fashion_mnist``, ``cifar10``, ``imdb`` (the ``tf_keras.datasets``
loaders, cache first), ``idx:DIR`` (MNIST-format IDX files) and ``npz:PATH`` (a NumPy archive with
``x_train, y_train, x_test, y_test``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class DatasetSpec:
    """``kind`` is "image", "tokens" or "any" (synthetic adapts to the model); ``sample_shape``
    excludes the batch dimension (None where it follows the model or the params)."""

    name: str
    description: str
    kind: str
    sample_shape: tuple[int, ...] | None
    classes: int | None
    cache_files: tuple[str, ...] = ()  # under $KERAS_HOME/datasets (default ~/.keras/datasets)
    train_samples: int | None = None  # size of the training split


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("synthetic", "random inputs shaped like the model's input, random labels: speed, not accuracy",
                    "any", None, None, train_samples=60000),
        DatasetSpec("mnist", "MNIST digits, 28x28 grayscale, 10 classes (tf_keras.datasets)", "image", (28, 28), 10,
                    cache_files=("mnist.npz",), train_samples=60000),
        DatasetSpec("fashion_mnist", f"Fashion-MNIST, 28x28 grayscale, 10 classes ({DEBIAN_FASHION_MNIST} first, "
                    "then tf_keras.datasets)", "image", (28, 28), 10,
                    cache_files=tuple(f"fashion-mnist/{f}" for f in (
                        "train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                        "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")), train_samples=60000),
        DatasetSpec("cifar10", "CIFAR-10, 32x32 RGB, 10 classes (tf_keras.datasets)", "image", (32, 32, 3), 10,
                    cache_files=("cifar-10-batches-py/data_batch_1", "cifar-10-batches-py/test_batch"), train_samples=50000),
        DatasetSpec("imdb", "IMDB reviews as word ids, padded to maxlen, 2 classes (tf_keras.datasets)", "tokens",
                    None, 2, cache_files=("imdb.npz",), train_samples=25000),
    )
}
PATH_KINDS = {"idx": "a directory of MNIST-format IDX files", "npz": "a .npz with x_train, y_train, x_test, y_test"}


def keras_cache_dir() -> Path:
    """Where ``tf_keras.datasets`` caches: ``$KERAS_HOME`` or ``~/.keras``, plus ``datasets/``."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def missing_cache_files(name: str) -> list[Path]:
    spec = DATASETS[name]
    if name == "fashion_mnist" and DEBIAN_FASHION_MNIST.is_dir():
        return []
    return [keras_cache_dir() / f for f in spec.cache_files if not (keras_cache_dir() / f).exists()]


def resolve(name: str) -> DatasetSpec:
    """The spec of a registered name or of an ``idx:DIR`` / ``npz:PATH`` reference (read from the
    files' headers). Raises ValueError with one line saying what is wrong."""
    if name in DATASETS:
        return DATASETS[name]
    prefix, _, target = name.partition(":")
    if prefix not in PATH_KINDS or not target:
        known = ", ".join([*sorted(DATASETS), "idx:DIR", "npz:PATH"])
        raise ValueError(f"unknown dataset {name!r}; known datasets: {known}")
    path = Path(target)
    if prefix == "idx":
        from benchharness.datasets import idx

        try:
            shape, classes, count = idx.describe(path)
        except (idx.IdxError, OSError) as exc:
            raise ValueError(f"dataset {name!r}: {exc}") from None
    else:
        from benchharness.datasets import npz

        try:
            shapes = npz.array_shapes(path)
        except (npz.NpzError, OSError) as exc:
            raise ValueError(f"dataset {name!r}: {exc}") from None
        shape, classes, count = shapes["x_train"][1:], None, shapes["x_train"][0]
    return DatasetSpec(name, PATH_KINDS[prefix], "image", tuple(shape), classes, train_samples=count)


def train_samples(name: str, samples_per_epoch: int | None) -> int | None:
    """Training rows per epoch: the dataset's training split, capped by ``samples_per_epoch``."""
    try:
        size = resolve(name).train_samples
    except ValueError:
        return None
    if size is None:
        return samples_per_epoch
    return min(size, samples_per_epoch) if samples_per_epoch else size


def check_dataset_name(name: str) -> str | None:
    """None if ``name`` names a usable dataset, else the reason in one line."""
    try:
        resolve(name)
    except ValueError as exc:
        return str(exc)
    return None


def _shape_text(shape) -> str:
    return "x".join(str(d) for d in shape)


def compatibility_problem(model_name: str, dataset_name: str, params: dict | None = None) -> str | None:
    """Why ``model_name`` (with ``params``) cannot train on ``dataset_name`` (kind, classes, input
    shape), or None. User models (``module:function``) are checked when they are built, in the worker."""
    from benchharness.models import MODELS

    model = MODELS.get(model_name)
    params = params or {}
    try:
        data = resolve(dataset_name)
    except ValueError:
        return None  # reported by the dataset check itself
    if model is None or data.kind == "any":
        return None
    if model.input_kind != data.kind:
        return (f"model {model_name!r} takes {'token sequences' if model.input_kind == 'tokens' else 'images'}; "
                f"dataset {dataset_name!r} holds {'token sequences' if data.kind == 'tokens' else 'images'}")
    classes, shape = model.classes_for(params), model.shape_for(params)
    hint = " (set classes)" if "classes" in model.options else ""
    if data.classes is not None and data.classes != classes:
        return f"model {model_name!r} predicts {classes} classes; dataset {dataset_name!r} has {data.classes}{hint}"
    if data.kind == "image" and math.prod(data.sample_shape) != math.prod(shape):
        hint = " (set input_size)" if "input_size" in model.options else ""
        return (f"model {model_name!r} takes {_shape_text(shape)} inputs; dataset {dataset_name!r} has "
                f"{_shape_text(data.sample_shape)}{hint}")
    return None
