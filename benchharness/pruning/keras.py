"""Pruning with tfmot inside the worker: selective wrapping, callbacks, measured sparsity.

Layers are wrapped one by one through ``clone_model`` when tfmot's prune registry supports them and
they hold prunable weights, so models with other (custom, unprunable) layers still prune.
Unstructured pruning zeroes weights but leaves the dense kernels as large as before: it does not
speed up training or inference on dense hardware (tfmot#173). The harness measures that cost
instead of assuming a saving.
"""

from __future__ import annotations

from benchharness.pruning.schedule import POWER, Schedule


class NoPrunableLayer(ValueError):
    pass


def import_tfmot():
    import tensorflow_model_optimization as tfmot

    return tfmot


def _registry():
    # tfmot's public API exposes neither the registry nor the wrapper class; these paths are stable
    # across 0.7 and 0.8.
    from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import PruneRegistry

    return PruneRegistry


def _wrapper_class():
    from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import PruneLowMagnitude

    return PruneLowMagnitude


def is_prunable(layer) -> bool:
    """Supported by tfmot's registry and holding weights it would prune (Dense, Conv, Embedding,
    LSTM kernels...), or a user layer implementing ``PrunableLayer``."""
    tfmot = import_tfmot()
    if isinstance(layer, tfmot.sparsity.keras.PrunableLayer):
        return True
    registry = _registry()
    if not registry.supports(layer):
        return False
    if registry._is_rnn_layer(layer):
        return True
    return bool(registry._weight_names(layer))


def tfmot_schedule(tfmot, schedule: Schedule):
    sparsity = tfmot.sparsity.keras
    if schedule.kind == "constant":
        return sparsity.ConstantSparsity(schedule.final_sparsity, begin_step=schedule.begin_step,
                                         end_step=-1, frequency=schedule.frequency)
    return sparsity.PolynomialDecay(initial_sparsity=schedule.initial_sparsity, final_sparsity=schedule.final_sparsity,
                                    begin_step=schedule.begin_step, end_step=schedule.end_step, power=POWER,
                                    frequency=schedule.frequency)


def apply_pruning(keras, model, schedule: Schedule):
    """A clone of ``model`` (weights kept) with every prunable layer wrapped in ``prune_low_magnitude``.
    Returns ``(pruned_model, names of wrapped layers)``. Raises NoPrunableLayer if there is none."""
    tfmot = import_tfmot()
    wrapped: list[str] = []

    def clone(layer):
        # Returning the original layer objects (wrapped or not) keeps the trained weights, as
        # tfmot's own selective-pruning recipe does.
        if is_prunable(layer):
            wrapped.append(layer.name)
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=tfmot_schedule(tfmot, schedule))
        return layer

    if not any(is_prunable(layer) for layer in model.layers):
        raise NoPrunableLayer(f"model {model.name!r} has no layer tfmot can prune "
                              "(Dense, Conv, Embedding, LSTM... or a PrunableLayer)")
    return keras.models.clone_model(model, clone_function=clone), wrapped


def pruning_wrappers(model) -> list:
    """The model's ``prune_low_magnitude`` wrappers (none for a dense model)."""
    wrapper = _wrapper_class()
    return [layer for layer in model.layers if isinstance(layer, wrapper)]


def measure_sparsity(pruned_model) -> dict:
    """Fraction of exact zeros in each pruned layer's prunable weights, and overall (weighted by
    weight count). Reads the very variables ``strip_pruning`` exports."""
    import numpy as np

    per_layer, zeros, total = {}, 0, 0
    for layer in pruning_wrappers(pruned_model):
        layer_zeros = layer_total = 0
        for weight, _mask, _threshold in layer.pruning_vars:
            values = weight.numpy()
            layer_zeros += int(np.count_nonzero(values == 0))
            layer_total += values.size
        per_layer[layer.layer.name] = layer_zeros / layer_total if layer_total else None
        zeros, total = zeros + layer_zeros, total + layer_total
    return {"measured": zeros / total if total else None, "per_layer": per_layer, "pruned_weights": total}


def strip(pruned_model):
    return import_tfmot().sparsity.keras.strip_pruning(pruned_model)
