"""Time to accuracy inside the worker: train until the test metric reaches the scenario's target
(evaluated every ``eval_every_samples`` training samples, ``benchharness.tta``) or ``max_epochs``.

Evaluation time is kept apart: the training time (``time_to_target_s``) excludes it and the epoch
timer subtracts it (``paused``), so the epochs' throughput is training alone; ``wall_to_target_s``
includes it. The evaluation is a traced forward pass over the test split in chunks, not Keras'
``evaluate``, which resets the training metrics in the middle of an epoch.
"""

from __future__ import annotations

import time

import numpy as np

from benchharness.tta import eval_step, lr_policy, period_throughput, reached
from benchharness.worker.events import EventLog
from benchharness.worker.model import output_activation

# 512: the fastest of 512, 2048 and the whole split for tutorial_cnn here (0.72 s vs 0.9 s for 10,000).
EVAL_CHUNK = 512


def make_evaluator(tf, model, x_test, y_test):
    """A function returning ``{"accuracy", "loss"}`` on the test split (the model's compiled loss)."""
    forward = tf.function(lambda x: model(x, training=False),
                          input_signature=[tf.TensorSpec([None, *x_test.shape[1:]], tf.as_dtype(x_test.dtype))])
    binary = model.output_shape[-1] == 1
    threshold = 0.5 if output_activation(model) == "sigmoid" else 0.0
    labels = np.asarray(y_test).reshape(-1)

    def evaluate() -> dict:
        outputs = np.concatenate([forward(x_test[i:i + EVAL_CHUNK]).numpy() for i in range(0, len(x_test), EVAL_CHUNK)])
        predicted = (outputs.reshape(-1) > threshold).astype(labels.dtype) if binary else outputs.argmax(axis=-1)
        truth = labels.reshape(-1, 1).astype(np.float32) if binary else labels
        loss = float(model.loss(truth, outputs))
        return {"accuracy": float(np.mean(predicted == labels)), "loss": loss}

    return evaluate


def learning_rate(keras, params: dict, batch: int, train_samples: int):
    """The optimizer's learning rate for ``lr_scaling`` and ``lr_warmup_epochs`` (``tta.lr_policy``):
    the scaled rate, or a schedule that ramps to it from ``learning_rate``."""
    policy = lr_policy(params, batch, train_samples)
    if policy["warmup_steps"] <= 0:
        return policy["learning_rate"]
    import tensorflow as tf

    class Warmup(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            done = tf.minimum(1.0, tf.cast(step, tf.float32) / policy["warmup_steps"])
            return policy["base_learning_rate"] + (policy["learning_rate"] - policy["base_learning_rate"]) * done

        def get_config(self):
            return dict(policy)

    return Warmup()


def make_target_stop(keras, events: EventLog, evaluate, target: dict, batch: int):
    """A callback that evaluates at each scheduled step, keeps the evaluations (``.evals``) and the
    seconds they took (``.paused_s``), and stops ``fit`` when the target is reached."""

    class TargetStop(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.evals: list[dict] = []
            self.paused_s, self.steps, self.converged = 0.0, 0, False
            self.metrics: dict | None = None  # the last evaluation's accuracy and loss
            self._epoch_steps, self._next_k = 0, 1  # the next scheduled evaluation (1-based)

        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch_steps = self.steps

        def on_train_batch_end(self, step, logs=None):
            self.steps = self._epoch_steps + step + 1
            every = target["eval_every_samples"]
            if self.steps >= eval_step(self._next_k, batch, every):
                # Past every schedule point passed (a batch over the interval passes several a step).
                self._next_k = self.steps * batch // every + 1
                self._evaluate()

        def _evaluate(self):
            began = time.perf_counter()
            self.metrics = evaluate()
            value = self.metrics[target["metric"]]
            ended = time.perf_counter()
            entry = {"samples": self.steps * batch, "steps": self.steps, "train_s": began - self.started - self.paused_s,
                     "wall_s": ended - self.started, "eval_s": ended - began, "value": value}
            self.paused_s += ended - began
            self.evals.append(entry)
            events.emit("tta_eval", **entry)
            if reached(target["metric"], value, target["value"]):
                self.converged = self.model.stop_training = True

    return TargetStop()


def tta_result(stop, timer_epochs: list[dict], params: dict, target: dict, batch: int, train_samples: int,
               seed: int) -> dict:
    """The record's ``tta`` (less the energy, which the parent measures) from the stop callback."""
    last = stop.evals[-1] if stop.evals else None
    at = last if stop.converged else None
    trained_s = sum(e["seconds"] for e in timer_epochs)
    samples = at["samples"] if at else stop.steps * batch
    return {"metric": target["metric"], "target": target["value"], "eval_every_samples": target["eval_every_samples"],
            "converged": stop.converged, "time_to_target_s": at["train_s"] if at else None,
            "wall_to_target_s": at["wall_s"] if at else None, "epochs": samples / train_samples,
            "steps": at["steps"] if at else stop.steps, "samples": samples, "train_samples": train_samples,
            "trained_s": trained_s, "throughput_sps": period_throughput(stop.evals), "seed": seed,
            "lr_policy": lr_policy(params, batch, train_samples), "evals": stop.evals}
