"""``benchharness models``: every registered model built at its defaults, with parameters, input
shape and FLOPs, as a rich table. Imports TensorFlow; TensorFlow's C++ log goes to a file."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

from rich.table import Table

MODELS_LOG = Path(tempfile.gettempdir()) / "benchharness-models.log"
TITLE = ("registered models at their default input (forward pass, one sample): FLOPs counted by "
         "TensorFlow's profiler, MACs = FLOPs / 2; conv/FC MACs are what the papers count")
COLUMNS = ("name", "params", "input shape", "classes", "FLOPs", "MACs", "conv/FC MACs", "description")
NUMERIC = ("params", "FLOPs", "MACs", "conv/FC MACs")


@contextlib.contextmanager
def native_stderr_to(log_path: Path):
    """Send what is written to file descriptor 2 (TensorFlow's C++ logging, which bypasses Python)
    to ``log_path``, while ``sys.stderr`` (rich's status line, our messages) stays on the terminal."""
    sys.stderr.flush()
    terminal = os.dup(2)
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 2)
    python_stderr = sys.stderr
    sys.stderr = os.fdopen(os.dup(terminal), "w", buffering=1)
    try:
        yield
    finally:
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(terminal, 2)
        os.close(terminal)


def models_table() -> Table:
    """The table of every registered model (builds each one: seconds per model)."""
    table = Table(title=TITLE, title_justify="left")
    for column in COLUMNS:
        table.add_column(column, justify="right" if column in NUMERIC else "left")
    for row in model_rows():
        table.add_row(*row)
    return table


def model_rows():
    """One table row per registered model, built at its defaults (imports TensorFlow)."""
    from benchharness.cost import model_cost
    from benchharness.models import MODELS, resolve_builder
    from benchharness.worker.device import import_keras, import_tensorflow

    tf = import_tensorflow()
    tf.get_logger().setLevel("ERROR")  # the profiler's deprecation warnings
    keras = import_keras()
    for name, spec in MODELS.items():
        model = resolve_builder(name)({})
        cost = model_cost(tf, model, tuple(model.input_shape[1:]))
        yield (name, f"{model.count_params():,}", str(tuple(model.input_shape[1:])), str(spec.num_classes),
               si(cost["flops_per_sample"]), si(cost["macs_per_sample"]), si(cost["conv_dense_macs_per_sample"]),
               spec.description)
        keras.backend.clear_session()


def si(value: float | None) -> str:
    """1234567 -> '1.23 M'."""
    if value is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.0f}"
