"""Worker set-up order and helpers, with TensorFlow's device list replaced by fakes."""

from __future__ import annotations

import pytest

from benchharness.worker import data as worker_data
from benchharness.worker import device as worker_device
from benchharness.worker import events as worker_events
from benchharness.worker import model as worker_model
from benchharness.worker import trial as worker_trial


class FakeConfig:
    """Stands in for ``tf.config``; records every call in order."""

    def __init__(self, gpus):
        self.calls = []
        self._gpus = gpus
        config = self

        class Experimental:
            @staticmethod
            def set_memory_growth(gpu, enabled):
                config.calls.append(("set_memory_growth", gpu, enabled))

        self.experimental = Experimental()

    def list_physical_devices(self, kind):
        self.calls.append(("list_physical_devices", kind))
        return list(self._gpus) if kind == "GPU" else []

    def LogicalDeviceConfiguration(self, memory_limit):
        return ("logical", memory_limit)

    def set_logical_device_configuration(self, gpu, configs):
        self.calls.append(("set_logical_device_configuration", gpu, configs))


def test_memory_growth_on_every_gpu():
    config = FakeConfig(["GPU:0", "GPU:1", "GPU:2"])
    assert worker_device.configure_devices(config, {"memory_growth": True, "memory_limit_mb": None}) == ["GPU:0", "GPU:1", "GPU:2"]
    assert config.calls[1:] == [("set_memory_growth", g, True) for g in ("GPU:0", "GPU:1", "GPU:2")]


def test_memory_limit_is_a_virtual_device_instead_of_growth():
    config = FakeConfig(["GPU:0", "GPU:1"])
    worker_device.configure_devices(config, {"memory_growth": False, "memory_limit_mb": 2048})
    assert config.calls[1:] == [("set_logical_device_configuration", g, [("logical", 2048)]) for g in ("GPU:0", "GPU:1")]
    assert not any(c[0] == "set_memory_growth" for c in config.calls)


def test_logical_cpu_devices_are_refused_where_there_is_a_gpu():
    config = FakeConfig(["GPU:0"])
    with pytest.raises(RuntimeError, match="logical_cpu_devices is for machines without a GPU"):
        worker_device.configure_devices(config, {"memory_growth": True, "logical_cpu_devices": 2})


def test_no_gpu_no_calls():
    config = FakeConfig([])
    worker_device.configure_devices(config, {"memory_growth": True})
    assert config.calls == [("list_physical_devices", "GPU")]


class Reached(Exception):
    pass


def test_devices_configured_before_keras_or_any_op(monkeypatch, tmp_path):
    """run_trial configures every GPU before Keras is imported or a model, seed or dataset exists."""
    config = FakeConfig(["GPU:0", "GPU:1"])

    class FakeTF:
        pass

    FakeTF.config = config
    monkeypatch.setattr(worker_trial, "import_tensorflow", lambda: FakeTF)

    def first_use():
        config.calls.append(("import_keras",))
        raise Reached

    monkeypatch.setattr(worker_trial, "import_keras", first_use)
    spec = {"params": {"seed": 0}, "runtime": {"memory_growth": True}, "events_path": str(tmp_path / "e")}
    with pytest.raises(Reached):
        worker_trial.run_trial(spec, worker_events.EventLog(spec["events_path"]))
    names = [c[0] for c in config.calls]
    assert names == ["list_physical_devices", "set_memory_growth", "set_memory_growth", "import_keras"]


def test_error_line_and_oom_detection():
    class ResourceExhaustedError(Exception):
        pass

    class InternalError(Exception):
        pass

    assert worker_model.is_oom(ResourceExhaustedError("x")) and worker_model.is_oom(MemoryError())
    assert worker_model.is_oom(InternalError("CUDA runtime implicit initialization on GPU:0 failed. Status: out of memory"))
    assert not worker_model.is_oom(InternalError("Failed to get convolution algorithm"))
    assert not worker_model.is_oom(ValueError("x"))
    assert worker_model.error_line(ValueError("first\nsecond")) == "ValueError: first"


@pytest.fixture(scope="module")
def keras():
    worker_device.import_tensorflow()
    return worker_device.import_keras()


def test_loss_follows_the_output_layer(keras):
    logits = keras.Sequential([keras.layers.InputLayer(input_shape=(4,)), keras.layers.Dense(3)])
    probs = keras.Sequential([keras.layers.InputLayer(input_shape=(4,)), keras.layers.Dense(3, activation="softmax")])
    binary = keras.Sequential([keras.layers.InputLayer(input_shape=(4,)), keras.layers.Dense(1),
                               keras.layers.Activation("sigmoid")])
    assert worker_model.make_loss(keras, logits).get_config()["from_logits"] is True
    assert worker_model.make_loss(keras, probs).get_config()["from_logits"] is False
    assert isinstance(worker_model.make_loss(keras, binary), keras.losses.BinaryCrossentropy)
    assert worker_model.make_loss(keras, binary).get_config()["from_logits"] is False


def test_tutorial_cnn_matches_the_guide(keras):
    from benchharness.models.tutorial import build_tutorial_cnn

    model = build_tutorial_cnn({})
    assert model.count_params() == 20410
    assert worker_data.input_spec(model) == ((28, 28), "image", 10)


def test_user_model_that_is_not_a_keras_model_is_refused(keras):
    with pytest.raises(TypeError, match="returned builtins.str, not a tf_keras Model"):
        worker_model.build_model(keras, {"model": "tests/helpers/models.py:not_a_model"})


def test_user_reference_errors_name_the_reference():
    from benchharness.models import resolve_builder

    with pytest.raises(ValueError, match="'tests/helpers/models.py:nope': tests/helpers/models.py has no function 'nope'"):
        resolve_builder("tests/helpers/models.py:nope")
    with pytest.raises(ValueError, match="'no_such_module_xyz:f': import failed: ModuleNotFoundError"):
        resolve_builder("no_such_module_xyz:f")


def test_auto_windows_are_sized_from_the_warmups_settled_steps():
    from benchharness.worker.measure import window_steps

    # the first half (tracing: 500 ms, then 40 ms) is ignored; settled steps take 10 ms
    steps = [500.0] + [40.0] * 9 + [10.0] * 10
    assert window_steps(steps, 2.0) == 200
    assert window_steps(steps, 0.001) == 1  # never an empty window
    assert window_steps([], 2.0) == 1


def test_the_timer_counts_steps_with_steps_per_execution(keras):
    import numpy as np

    from benchharness.worker.timing import make_epoch_timer

    class Events:
        def emit(self, *args, **kwargs):
            pass

    model = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(2)])
    worker_model.compile_model(keras, model, {"optimizer": "sgd", "learning_rate": 0.01, "steps_per_execution": 4}, {})
    timer = make_epoch_timer(keras, Events(), lambda steps: steps * 8)
    x, y = np.zeros((128, 4), "float32"), np.zeros((128,), "int32")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[timer])
    (epoch,) = timer.epochs
    assert epoch["steps"] == 16 and epoch["samples"] == 128  # 16 steps, reported 4 at a time
    assert len(timer.last_step_ms) == 16 and len(set(timer.last_step_ms[:4])) == 1  # one execution's mean


class CollectedEvents:
    """Stands in for the worker's ``EventLog``: keeps the events, stamped as the real one does."""

    def __init__(self):
        self.events = []

    def emit(self, event, **fields):
        import time

        self.events.append({"event": event, "t_monotonic": time.monotonic(), **fields})


def timed_record(keras, params: dict):
    """A tiny model's timed fit (``worker.trial.timed_fit``, windows as ``throughput_fit`` makes
    them) on 2,048 samples at batch 16, built into a record by the real builder."""
    import time

    import numpy as np

    from benchharness.assemble import RunContext, WorkerRun, build_record
    from benchharness.plan import Trial

    tf = worker_device.import_tensorflow()
    model = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(2)])
    worker_model.compile_model(keras, model, {"optimizer": "sgd", "learning_rate": 0.01}, {})
    x, y = np.random.default_rng(0).normal(size=(2048, 4)).astype("float32"), np.zeros((2048,), "int32")
    batches = worker_data.make_dataset(tf, x, y, 16, 0)
    collected, spawned = CollectedEvents(), time.monotonic()
    windows = worker_trial.step_windows_of(tf, params, len(x) // 16, 16)
    measurement = worker_trial.timed_fit(tf, keras, model, batches, {"params": params}, collected,
                                         lambda steps: len(x), False, [], windows)
    events = collected.events + [{"event": "result", "t_monotonic": collected.events[-1]["t_monotonic"],
                                  "status": "ok", "error": None, "measurement": measurement}]
    worker = WorkerRun(events, 0, False, spawned, events[-1]["t_monotonic"])
    return build_record(Trial("t", 0, params | {"batch_size": 16, "timeout_s": 60.0}), worker, None, RunContext())


def test_fixed_epochs_are_split_into_windows_of_steps(keras):
    record = timed_record(keras, {"epochs": 3, "max_epochs": 3})
    windows = record.step_windows
    assert windows is not None and windows.n >= 8 and len(windows.sps) == windows.n
    assert windows.steps_per_window <= 128 // 8  # 128 steps an epoch: at least 8 windows in each
    assert windows.n <= 2 * (128 // windows.steps_per_window)  # two steady epochs, leftovers no window
    assert windows.ci_sps[0] < windows.median_sps < windows.ci_sps[1]
    assert record.steady_windows == 2 and record.throughput_ci_sps is not None  # the epoch windows stay


def test_epochs_auto_has_no_windows_of_steps(keras):
    params = {"epochs": "auto", "max_epochs": 4, "min_steady_epochs": 2, "precision": 0.5, "max_measure_s": None}
    record = timed_record(keras, params)
    assert record.step_windows is None and record.steady_windows >= 2
