"""Pruning: the schedule as plain arithmetic (``schedule``, no TensorFlow: scenario validation uses
it), the speed against dense with its interval and its words (``speed``, pure), and the tfmot glue
that wraps, measures and strips a ``tf_keras`` model (``keras``, imported only by a trial that
prunes)."""
