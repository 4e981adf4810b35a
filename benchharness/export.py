"""Compressed sizes and TFLite accuracy, the way TensorFlow's pruning guide measures them.

Keras: the (stripped) model saved as HDF5 without its optimizer, raw and zipped with DEFLATE
(zeros compress; a dense kernel of the same shape does not). TFLite: float and dynamic-range
quantized (``Optimize.DEFAULT``), raw and zipped. Accuracy of both TFLite models on the test split,
in batches, with LiteRT's interpreter (``ai_edge_litert``) where installed, else ``tf.lite``'s.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np


def zipped_bytes(content: bytes, name: str = "model") -> int:
    """Size of ``content`` in a DEFLATE zip archive (what the guide's ``get_gzipped_model_size`` measures)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
    return len(buffer.getvalue())


def keras_bytes(keras, model) -> bytes:
    """The model as an HDF5 file without optimizer state."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.h5"
        keras.models.save_model(model, str(path), include_optimizer=False)
        return path.read_bytes()


def tflite_bytes(tf, model, quantize: bool) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic-range: int8 weights
    return converter.convert()


def make_interpreter(content: bytes):
    """LiteRT's interpreter where installed, else TensorFlow's (deprecated) one."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter(model_content=content)


def tflite_accuracy(content: bytes, x: np.ndarray, y: np.ndarray, batch_size: int, binary_threshold: float) -> float:
    """Accuracy of a TFLite model on (x, y), evaluated ``batch_size`` rows at a time (the input is
    resized to each batch). ``binary_threshold`` applies to single-output models (0.5 after a
    sigmoid, 0 for logits)."""
    interpreter = make_interpreter(content)
    input_detail = interpreter.get_input_details()[0]
    output_index = interpreter.get_output_details()[0]["index"]
    correct, current = 0, None
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size].astype(input_detail["dtype"])
        if current != len(batch):
            interpreter.resize_tensor_input(input_detail["index"], [len(batch), *x.shape[1:]])
            interpreter.allocate_tensors()
            current = len(batch)
        interpreter.set_tensor(input_detail["index"], batch)
        interpreter.invoke()
        out = interpreter.get_tensor(output_index)
        predicted = (out[:, 0] > binary_threshold).astype(np.int64) if out.shape[-1] == 1 else out.argmax(axis=-1)
        correct += int((predicted == y[start:start + batch_size]).sum())
    return correct / len(x)


def measure_sizes(tf, keras, model, data, batch_size: int, binary_threshold: float) -> tuple[dict, dict | None]:
    """``(sizes, tflite_accuracy)`` for a (stripped) model; accuracy is None without a test split."""
    h5 = keras_bytes(keras, model)
    flat = tflite_bytes(tf, model, quantize=False)
    quant = tflite_bytes(tf, model, quantize=True)
    sizes = {
        "keras_bytes": len(h5), "keras_zip_bytes": zipped_bytes(h5),
        "tflite_bytes": len(flat), "tflite_zip_bytes": zipped_bytes(flat),
        "tflite_quant_bytes": len(quant), "tflite_quant_zip_bytes": zipped_bytes(quant),
    }
    if data.x_test is None:
        return sizes, None
    return sizes, {
        "float": tflite_accuracy(flat, data.x_test, data.y_test, max(batch_size, 256), binary_threshold),
        "quant": tflite_accuracy(quant, data.x_test, data.y_test, max(batch_size, 256), binary_threshold),
        "samples": int(len(data.x_test)),
    }
