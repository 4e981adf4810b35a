"""Work and data movement of a model: FLOPs, MACs, memory access cost, and MFU against a peak.

FLOPs: forward pass, batch 1, counted by TensorFlow's profiler on a frozen concrete function. The
profiler counts a multiply-add as 2 FLOPs, so MACs (multiply-accumulates, the papers' "MAdds") are
half of it. FLOPs (work) are not FLOPS (speed): ``benchharness.probe`` measures the latter.

Memory access cost (ShuffleNetV2's "MAC"; here ``mac_bytes`` to keep it apart from MACs): per
layer, the bytes of its weights plus its input and output activations at the compute dtype, summed
over layers, per sample. Arithmetic intensity = FLOPs / bytes places a trial on the roofline.

MFU = 3 x forward FLOPs x steady throughput / probed peak: training is taken as three forward passes
of work (forward, and a backward pass costing about twice the forward).
"""

from __future__ import annotations

import math

TRAINING_FLOPS_FACTOR = 3


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


def layer_bytes(layer, bytes_per_element: int) -> int:
    """Memory access cost of one layer per sample: weights + input + output activations."""
    activations = sum(_elements(s) for s in _shapes(layer.input_shape)) + sum(_elements(s) for s in _shapes(layer.output_shape))
    weights = sum(math.prod(w.shape) for w in layer.weights)
    return (activations + weights) * bytes_per_element


def model_cost(tf, model, input_shape: tuple[int, ...], bytes_per_element: int = 4) -> dict:
    """Forward cost of one sample: profiler FLOPs, analytic MACs, memory access cost, intensity,
    and the per-layer MACs (for the FLOPs a sparsity would save)."""
    flops = profiler_flops(tf, model, input_shape)
    per_layer = {layer.name: layer_macs(layer) for layer in model.layers if layer_macs(layer)}
    mac_bytes = sum(layer_bytes(layer, bytes_per_element) for layer in model.layers
                    if type(layer).__name__ != "InputLayer")
    return {
        "flops_per_sample": flops,
        "macs_per_sample": flops / 2 if flops is not None else None,
        # A recurrent layer's MACs are not in per_layer: a partial sum would look like a count.
        "conv_dense_macs_per_sample": None if has_recurrent_layer(model) else sum(per_layer.values()),
        "mac_bytes_per_sample": mac_bytes,
        "arithmetic_intensity": flops / mac_bytes if flops and mac_bytes else None,
        "per_layer_macs": per_layer,
    }


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
