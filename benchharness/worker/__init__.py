"""The worker: runs one trial inside a fresh process and reports back through an events file.

Run as ``python -m benchharness.worker`` with the trial spec as JSON on stdin (``__main__``).
One module per concern, in the order a trial uses them:

- ``device``: TensorFlow import with Keras 2 selected, memory growth or a memory cap on every GPU
  (before any op touches one), what device ran the trial.
- ``distribute``: MirroredStrategy over the trial's first ``num_gpus`` devices, the all-reduce that ran.
- ``model``: build, compile, loss, evaluation.
- ``data``: the trial's data and the input pipeline.
- ``cost_cache``: FLOPs counted once per architecture per run.
- ``pruning``: tfmot glue (dense pre-training, wrapping, measured sparsity).
- ``timing``: the epoch and step timer.
- ``tta``: training to a target metric (time to accuracy), evaluations on a schedule kept apart.
- ``fake_memory``: the fake device's memory model, enforced (CI's out-of-memory path).
- ``summaries``: TensorBoard scalars, recorded during fit and written after it.
- ``events``: the JSON-lines events file the parent reads.
- ``trial``: the order of all of the above.

The parent imports nothing from here: it starts ``python -m benchharness.worker`` and reads the
events file, and never imports TensorFlow.
"""
