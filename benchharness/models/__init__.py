"""Model registry: names to lazily built ``tf_keras`` models.

Importing this module never imports TensorFlow, so scenarios validate without it. A user's own model
is a ``module:function`` or ``path/to/file.py:function`` reference returning an uncompiled model.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelSpec:
    """What the harness needs to know about a model before building it.

    ``builder`` is ``"module:function"``; the function takes the resolved trial params (a dict) and
    returns an uncompiled ``tf_keras`` model. ``input_shape`` excludes the batch dimension.
    """

    name: str
    builder: str
    input_shape: tuple[int, ...]
    num_classes: int
    input_kind: str  # "image" or "tokens"
    output: str  # "logits", "softmax" or "sigmoid": decides the loss (see worker.make_loss)
    description: str
    options: tuple[str, ...] = ()  # extra params this model reads (e.g. num_words, maxlen)

    def shape_for(self, params: dict) -> tuple[int, ...]:
        """The input shape these params give (``input_size`` resizes square RGB models)."""
        if "input_size" in self.options and params.get("input_size"):
            return (params["input_size"], params["input_size"], self.input_shape[-1])
        if "maxlen" in self.options and params.get("maxlen"):
            return (params["maxlen"],)
        return self.input_shape

    def classes_for(self, params: dict) -> int:
        if "classes" in self.options and params.get("classes"):
            return params["classes"]
        return self.num_classes


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="tutorial_cnn",
            builder="benchharness.models.tutorial:build_tutorial_cnn",
            input_shape=(28, 28),
            num_classes=10,
            input_kind="image",
            output="logits",
            description="baseline CNN of TensorFlow's 'Pruning in Keras' guide",
        ),
        ModelSpec(
            name="mnist_cnn",
            builder="benchharness.models.tfmot_examples:build_mnist_cnn",
            input_shape=(28, 28, 1),
            num_classes=10,
            input_kind="image",
            output="softmax",
            description="tfmot examples/sparsity/keras/mnist/mnist_cnn.py",
        ),
        ModelSpec(
            name="imdb_lstm",
            builder="benchharness.models.tfmot_examples:build_imdb_lstm",
            input_shape=(100,),
            num_classes=2,
            input_kind="tokens",
            output="sigmoid",
            description="tfmot examples/sparsity/keras/imdb/imdb_lstm.py (num_words, maxlen)",
            options=("num_words", "maxlen"),
        ),
        *(
            ModelSpec(
                name=name,
                builder=f"benchharness.models.{module}:build_{name}",
                input_shape=(224, 224, 3),
                num_classes=1000,
                input_kind="image",
                output="softmax",
                description=description,
                options=("input_size", "alpha", "classes") if name != "resnet50" else ("input_size", "classes"),
            )
            for name, module, description in (
                ("mobilenet_v1", "applications", "tf_keras.applications.MobileNet (Howard et al. 2017)"),
                ("mobilenet_v2", "applications", "tf_keras.applications.MobileNetV2 (Sandler et al. 2018)"),
                ("mobilenet_v3_small", "applications", "tf_keras.applications.MobileNetV3Small (Howard et al. 2019)"),
                ("mobilenet_v3_large", "applications", "tf_keras.applications.MobileNetV3Large (Howard et al. 2019)"),
                ("shufflenet_v2", "shufflenet", "ShuffleNetV2 (Ma et al. 2018), prunable convolutions; alpha 0.5-2.0"),
                ("resnet50", "applications", "tf_keras.applications.ResNet50: a heavy reference"),
            )
        ),
    )
}

_USER_REF = re.compile(r"^(?P<target>[^:]+):(?P<function>[A-Za-z_][A-Za-z0-9_]*)$")


def is_user_reference(name: str) -> bool:
    """True for ``module:function`` or ``file.py:function`` references."""
    return ":" in name


def check_model_name(name: str) -> str | None:
    """Return None if ``name`` names a registered model or a plausible user reference, else why not.

    Never imports the user's module (that may import TensorFlow); a ``.py`` path must exist.
    """
    if name in MODELS:
        return None
    if not is_user_reference(name):
        return f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))} (or module:function)"
    match = _USER_REF.match(name)
    if not match:
        return f"model reference {name!r} must look like 'package.module:function' or 'path/to/file.py:function'"
    target = match["target"]
    if target.endswith(".py"):
        if not Path(target).is_file():
            return f"model reference {name!r}: file {target} does not exist"
        return None
    if importlib.util.find_spec(target.split(".")[0]) is None:
        return f"model reference {name!r}: module {target.split('.')[0]!r} is not importable"
    return None


def resolve_builder(name: str):
    """Import and return the builder function for a registered name or a user reference.

    Raises ``ValueError`` with one line naming the reference when it cannot be imported.
    """
    ref = MODELS[name].builder if name in MODELS else name
    match = _USER_REF.match(ref)
    if not match:
        raise ValueError(f"model reference {ref!r} must look like 'module:function' or 'file.py:function'")
    target, function = match["target"], match["function"]
    try:
        if target.endswith(".py"):
            spec = importlib.util.spec_from_file_location(Path(target).stem, target)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except Exception as exc:  # an import error in user code is bad input, not a crash
        raise ValueError(f"model reference {ref!r}: import failed: {type(exc).__name__}: {exc}") from exc
    builder = getattr(module, function, None)
    if not callable(builder):
        raise ValueError(f"model reference {ref!r}: {target} has no function {function!r}")
    return builder
