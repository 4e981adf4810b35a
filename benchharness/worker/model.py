"""The trial's model inside the worker: build, compile with the right loss, evaluate."""

from __future__ import annotations

OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop", "adamw": "AdamW"}


def as_float(value) -> float | None:
    """A Keras log value as a float; None where it is missing or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def output_activation(model) -> str | None:
    """Name of the last layer's activation (``softmax``, ``sigmoid``, ``linear``), if it has one."""
    activation = getattr(model.layers[-1], "activation", None)
    return getattr(activation, "__name__", None)


def make_loss(keras, model):
    """Sparse categorical (or binary for one output unit) cross-entropy, from logits unless the
    model ends in softmax/sigmoid."""
    activation = output_activation(model)
    if model.output_shape[-1] == 1:
        return keras.losses.BinaryCrossentropy(from_logits=activation != "sigmoid")
    return keras.losses.SparseCategoricalCrossentropy(from_logits=activation != "softmax")


def compile_model(keras, model, params: dict, runtime: dict, learning_rate=None) -> None:
    """Compile with the trial's optimizer at ``learning_rate`` (a rate or a schedule; None:
    ``params.learning_rate``, as pruning's recompile keeps it)."""
    rate = params["learning_rate"] if learning_rate is None else learning_rate
    optimizer = getattr(keras.optimizers, OPTIMIZERS[params["optimizer"]])(learning_rate=rate)
    model.compile(optimizer=optimizer, loss=make_loss(keras, model), metrics=["accuracy"],
                  jit_compile=bool(runtime.get("xla")), steps_per_execution=params.get("steps_per_execution") or 1)


def build_model(keras, params: dict):
    """Build the trial's model; a user reference must return a ``tf_keras`` model."""
    from benchharness.models import resolve_builder

    model = resolve_builder(params["model"])(params)
    if not isinstance(model, keras.Model):
        kind = f"{type(model).__module__}.{type(model).__name__}"
        hint = " (a Keras 3 model: tfmot needs tf_keras, import tf_keras as keras)" if kind.startswith("keras") else ""
        raise TypeError(f"model {params['model']!r} returned {kind}, not a tf_keras Model{hint}")
    return model


def evaluate(tf, model, data, batch_size: int) -> dict | None:
    """Test-split accuracy and loss; None where there is no meaningful test split (synthetic)."""
    if data.x_test is None:
        return None
    test = tf.data.Dataset.from_tensor_slices((data.x_test, data.y_test)).batch(batch_size).prefetch(tf.data.AUTOTUNE)
    result = model.evaluate(test, verbose=0, return_dict=True)
    return {"accuracy": as_float(result.get("accuracy")), "loss": as_float(result.get("loss")),
            "samples": int(len(data.x_test))}


def error_line(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0] if message else ''}".strip()


def is_oom(exc: BaseException) -> bool:
    """TensorFlow's fatal allocation failure (``outcome.is_oom_text``), or the host running out."""
    from benchharness.outcome import is_oom_text

    return isinstance(exc, MemoryError) or is_oom_text(f"{type(exc).__name__}: {exc}")
