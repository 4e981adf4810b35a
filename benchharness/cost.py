"""Work and data movement of a model: FLOPs, MACs, memory access cost, and MFU against a peak.

FLOPs: forward pass, batch 1, counted by TensorFlow's profiler on a frozen concrete function. The
profiler counts a multiply-add as 2 FLOPs, so MACs (multiply-accumulates, the papers' "MAdds") are
half of it. FLOPs (work) are not FLOPS (speed): ``benchharness.probe`` measures the latter.

Memory access cost (ShuffleNetV2's "MAC"; here ``mac_bytes`` to keep it apart from MACs): per
layer, the bytes of its weights plus its input and output activations at the compute dtype, summed
over layers, per sample. It is kept in two parts: ``weight_bytes`` (per model: they do not grow with
the batch) and ``activation_bytes_per_sample``. ``arithmetic_intensity`` = forward FLOPs / MAC bytes
at batch 1, the same at every batch size; the roofline places a trial by
``training_step_intensity``, the FLOPs of a training step at its batch size over the bytes it moves.

MFU = 3 x forward FLOPs x steady throughput / probed peak: training is taken as three forward passes
of work (forward, and a backward pass costing about twice the forward).
"""

from __future__ import annotations

import math

TRAINING_FLOPS_FACTOR = 3

# Bytes a training step moves, in passes over the weights and over one sample's activations (see
# ``training_step_intensity``).
WEIGHT_PASSES = 6  # forward read, backward read, gradient write; the optimizer reads gradient and weight, writes weight
SLOT_PASSES = 2  # each optimizer slot (momentum, Adam's m and v) is read and written once per step
ACTIVATION_PASSES = 3  # forward: read inputs, write outputs; backward twice that (like TRAINING_FLOPS_FACTOR)

# Optimizer slots of the scenario's optimizers, as tf_keras builds them: SGD keeps (and assigns) a
# momentum slot even at momentum 0; RMSprop at momentum 0, not centred, has its velocity; Adam and
# AdamW (amsgrad off) have m and v.
OPTIMIZER_SLOTS = {"sgd": 1, "rmsprop": 1, "adam": 2, "adamw": 2}


def has_recurrent_layer(model) -> bool:
    """The profiler counts a while loop's body once, not once per time step: recurrent models
    (LSTM, GRU, SimpleRNN) would be undercounted by the sequence length."""
    return any(hasattr(layer, "cell") and hasattr(layer, "return_sequences") for layer in model.layers)


def profiler_flops(tf, model, input_shape: tuple[int, ...], dtype="float32") -> int | None:
    """Forward FLOPs of one sample, from TensorFlow's profiler on the frozen graph; None if the
    profiler cannot count this model correctly (recurrent layers)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    if has_recurrent_layer(model):
        return None
    function = tf.function(lambda x: model(x, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec([1, *input_shape], dtype))
    graph_def = convert_variables_to_constants_v2(concrete).graph.as_graph_def()
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(graph_def, name="")
        options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        profile = tf.compat.v1.profiler.profile(graph=graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op",
                                                options=options)
    return int(profile.total_float_ops) if profile is not None else None


def _elements(shape) -> int:
    """Elements per sample of one tensor shape (batch dimension dropped)."""
    if shape is None:
        return 0
    return math.prod(d for d in shape[1:] if d is not None)


def _shapes(shape) -> list:
    """A layer's input/output shape as a list of tensor shapes (layers with several tensors)."""
    if isinstance(shape, list):
        return shape
    return [shape]


def layer_macs(layer) -> int:
    """Multiply-accumulates of one sample through Conv2D, DepthwiseConv2D and Dense layers
    (the layers the papers count); 0 for others."""
    kind = type(layer).__name__
    out = _shapes(layer.output_shape)[0]
    if kind == "Conv2D":
        kh, kw = layer.kernel_size
        return _elements(out) * kh * kw * _shapes(layer.input_shape)[0][-1] // layer.groups
    if kind == "DepthwiseConv2D":
        kh, kw = layer.kernel_size
        return _elements(out) * kh * kw
    if kind == "Dense":
        return _elements(out) * _shapes(layer.input_shape)[0][-1]
    return 0


def layer_weight_elements(layer) -> int:
    """Elements of all of a layer's weights, trainable and not (BatchNorm's moving statistics too)."""
    return sum(math.prod(w.shape) for w in layer.weights)


def layer_activation_elements(layer) -> int:
    """Elements of one sample's input and output activations of a layer."""
    return (sum(_elements(s) for s in _shapes(layer.input_shape))
            + sum(_elements(s) for s in _shapes(layer.output_shape)))


def layer_bytes(layer, bytes_per_element: int) -> int:
    """Memory access cost of one layer per sample: weights + input + output activations."""
    return (layer_activation_elements(layer) + layer_weight_elements(layer)) * bytes_per_element


def model_cost(tf, model, input_shape: tuple[int, ...], bytes_per_element: int = 4) -> dict:
    """Forward cost of one sample: profiler FLOPs, analytic MACs, memory access cost (and its weight
    and activation parts), the batch-1 intensity, and the per-layer MACs (for the FLOPs a sparsity
    would save)."""
    flops = profiler_flops(tf, model, input_shape)
    per_layer = {layer.name: layer_macs(layer) for layer in model.layers if layer_macs(layer)}
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    weight_bytes = sum(layer_weight_elements(layer) for layer in layers) * bytes_per_element
    activation_bytes = sum(layer_activation_elements(layer) for layer in layers) * bytes_per_element
    mac_bytes = weight_bytes + activation_bytes
    return {
        "flops_per_sample": flops,
        "macs_per_sample": flops / 2 if flops is not None else None,
        # A recurrent layer's MACs are not in per_layer: a partial sum would look like a count.
        "conv_dense_macs_per_sample": None if has_recurrent_layer(model) else sum(per_layer.values()),
        "mac_bytes_per_sample": mac_bytes,
        "weight_bytes": weight_bytes,
        "activation_bytes_per_sample": activation_bytes,
        "arithmetic_intensity": flops / mac_bytes if flops and mac_bytes else None,
        "per_layer_macs": per_layer,
    }


def training_step_intensity(flops_per_sample: float | None, weight_bytes: float | None,
                            activation_bytes_per_sample: float | None, batch_size: int | None,
                            optimizer_slots: int = 2) -> float | None:
    """Arithmetic intensity of one training step at ``batch_size``: FLOPs per byte moved.

    With F forward FLOPs per sample, W weight bytes, A activation bytes per sample (both from
    ``model_cost``, at the compute dtype: 4 per element in float32, 2 with mixed precision), batch b
    and s optimizer slots::

        FLOPs of a step = 3 F b                          (TRAINING_FLOPS_FACTOR, as in MFU)
        bytes of a step = (6 + 2 s) W + 3 A b
        intensity       = 3 F b / ((6 + 2 s) W + 3 A b)  -> F / A as b grows

    Weights move once per step whatever the batch: read in the forward pass, read again in the
    backward pass (for the input gradients), the gradient written, then the optimizer reads gradient
    and weight and writes the weight (6 passes), and reads and writes each slot (2 per slot: Adam's
    m and v make 10 passes in all, ``OPTIMIZER_SLOTS``). Activations move per sample: the forward
    pass reads each layer's inputs and writes its outputs (A), and the backward pass moves twice
    that: per layer it reads the output gradient, the saved input and output (the output for
    activations such as ReLU; a convolution needs only its input: a slight over-count), and writes
    the input gradient: the same 1 : 2 split as the FLOPs. So the weights' share shrinks as the
    batch grows, and the intensity rises toward the activations' own F / A, which no batch size
    can exceed.

    Assumptions: every tensor is moved from memory once per use (no reuse from caches across
    uses, which would lower the bytes; no re-reads within a kernel, which would raise them); the
    loss, metrics, input pipeline and fused kernels' savings are left out; all weights are counted
    alike (BatchNorm's moving statistics are not updated by the optimizer: a small over-count);
    with mixed precision the float32 master weights and slots are counted at 2 bytes, like the
    compute dtype (an under-count of the weights' bytes). It is a model of the traffic, not a
    measurement of it.

    None if any figure is missing (an uncounted model, a record without the split).
    """
    if flops_per_sample is None or weight_bytes is None or activation_bytes_per_sample is None or not batch_size:
        return None
    step_flops = TRAINING_FLOPS_FACTOR * flops_per_sample * batch_size
    step_bytes = ((WEIGHT_PASSES + SLOT_PASSES * optimizer_slots) * weight_bytes
                  + ACTIVATION_PASSES * activation_bytes_per_sample * batch_size)
    return step_flops / step_bytes if step_bytes else None


def step_intensity_of(cost: dict | None, params: dict) -> float | None:
    """``training_step_intensity`` of a record's ``cost`` at its params' ``batch_size`` and
    ``optimizer``; None where the cost lacks the weight/activation split or the optimizer is unknown."""
    slots = OPTIMIZER_SLOTS.get(params.get("optimizer"))
    if not cost or slots is None:
        return None
    return training_step_intensity(cost.get("flops_per_sample"), cost.get("weight_bytes"),
                                   cost.get("activation_bytes_per_sample"), params.get("batch_size"), slots)


def flops_saved_by_sparsity(per_layer_macs: dict, per_layer_sparsity: dict) -> float | None:
    """FLOPs per sample that skipping the zeroed weights would save: 2 x MACs x sparsity per pruned
    layer. Dense kernels still execute them: this is what a sparse kernel could save, not what ran."""
    if not per_layer_sparsity:
        return None
    return sum(2 * per_layer_macs.get(name, 0) * (sparsity or 0.0) for name, sparsity in per_layer_sparsity.items())


def achieved_flops_per_s(flops_per_sample: float | None, throughput_sps: float | None) -> float | None:
    """Training FLOP/s actually done: 3 x forward FLOPs x samples/s; None if either is missing."""
    if not flops_per_sample or not throughput_sps:
        return None
    return TRAINING_FLOPS_FACTOR * flops_per_sample * throughput_sps


def mfu(flops_per_sample: float | None, throughput_sps: float | None, peak_flops_per_s: float | None) -> float | None:
    """Model FLOPs utilization: 3 x forward FLOPs x samples/s over the probed peak FLOP/s."""
    achieved = achieved_flops_per_s(flops_per_sample, throughput_sps)
    if achieved is None or not peak_flops_per_s:
        return None
    return achieved / peak_flops_per_s
