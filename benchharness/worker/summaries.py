"""TensorBoard scalars of a trial, recorded at epoch end and written after ``fit``.

Why not tf_keras' TensorBoard or tfmot's PruningSummaries (a TensorBoard subclass): attached to fit,
either slowed every steady epoch by about 7 % here (timer alone vs timer + TensorBoard, interleaved),
a cost the harness would then report as the model's, and as pruning's in throughput_vs_dense. The
recorder reads values at epoch end, after the timer stopped, and ``write_summaries`` writes them once
training is over.
"""

from __future__ import annotations

from pathlib import Path

from benchharness.worker.model import as_float


def make_summary_recorder(keras, pruning: bool):
    """Collects per-epoch scalars in memory: Keras' logs and, for pruned layers (only when
    ``pruning``: reading them imports tfmot), the mask sparsity and threshold."""
    import numpy as np

    class SummaryRecorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.scalars: list[tuple[str, int, float]] = []

        def on_epoch_end(self, epoch, logs=None):
            for name, value in (logs or {}).items():
                if as_float(value) is not None:
                    self.scalars.append((f"epoch_{name}", epoch, as_float(value)))
            for weight, mask, threshold in _pruning_vars(self.model) if pruning else ():
                tag = weight.name.split(":")[0]
                self.scalars.append((f"pruning/{tag}/sparsity", epoch, float(1 - np.mean(mask.numpy()))))
                self.scalars.append((f"pruning/{tag}/threshold", epoch, float(threshold.numpy())))

    return SummaryRecorder()


def _pruning_vars(model) -> list:
    from benchharness.pruning.keras import pruning_wrappers

    return [v for layer in pruning_wrappers(model) for v in layer.pruning_vars]


def write_summaries(tf, log_dir: str | None, recorder, epochs: list[dict]) -> None:
    """Write the recorded scalars, and each epoch's time and throughput, under ``log_dir/train``."""
    if not log_dir or recorder is None:
        return
    writer = tf.summary.create_file_writer(str(Path(log_dir) / "train"))
    with writer.as_default():
        for tag, step, value in recorder.scalars:
            tf.summary.scalar(tag, value, step=step)
        for epoch in epochs:
            tf.summary.scalar("epoch_seconds", epoch["seconds"], step=epoch["epoch"])
            tf.summary.scalar("epoch_samples_per_second", epoch["samples"] / epoch["seconds"], step=epoch["epoch"])
    writer.close()
