"""Pruning: the schedule as plain arithmetic (``schedule``, no TensorFlow: scenario validation uses
it) and the tfmot glue that wraps, measures and strips a ``tf_keras`` model (``keras``, imported only
by a trial that prunes)."""
