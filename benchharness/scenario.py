"""Scenario files: load YAML, validate the document once into frozen config objects, report every
error at once. What the document's sweep expands to is checked by ``benchharness.plan``.

Every error names the file, the line and the dotted key, e.g.
``scenarios/x.yaml:12: sweep.batch_size[1]: must be a positive integer, got -64``.
This module never touches hardware, the environment or TensorFlow.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_core import PydanticCustomError

from benchharness.datasets import check_dataset_name
from benchharness.errors import UserError
from benchharness.models import check_model_name
from benchharness.yamldoc import Document, Path_, dotted, line_of, read_yaml, yaml_repr


def _registry_check(checker):
    def validate(value: str) -> str:
        problem = checker(value)
        if problem:
            raise PydanticCustomError("unknown_name", problem)
        return value

    return AfterValidator(validate)


# allow_inf_nan: .inf and .nan are numbers to YAML, never a learning rate or a timeout here.
_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

# What each trial parameter must be, in words; used for every failure of that field so that the
# messages read the same wherever the value appears (defaults, a sweep list, include, exclude).
PARAM_EXPECT = {
    "model": "must be a model name",
    "dataset": "must be a dataset name",
    "epochs": "must be auto or an integer >= 2 (the first epoch is warm-up and reported apart)",
    "min_steady_epochs": "must be an integer >= 2 (steady windows before the precision stop may fire)",
    "max_epochs": "must be an integer >= 3 (the cap on epochs with epochs: auto, warm-up included)",
    "precision": "must be a number in (0, 1) (target relative half-width of the 95 % interval)",
    "max_measure_s": "must be a positive number of seconds or null",
    "samples_per_epoch": "must be a positive integer, auto or null",
    "steps_per_execution": "must be a positive integer (training steps per call into the device)",
    "window_s": "must be a positive number of seconds (the shortest measurement window with samples_per_epoch: auto)",
    "batch_size": "must be a positive integer",
    "sparsity": "must be a number in [0, 1)",
    "optimizer": "must be one of adam, sgd, rmsprop, adamw",
    "learning_rate": "must be a positive number",
    "seed": "must be a non-negative integer",
    "repeats": "must be a positive integer",
    "timeout_s": "must be a positive number of seconds",
    "pruning_schedule": "must be polynomial or constant",
    "initial_sparsity": "must be a number in [0, 1)",
    "begin_step": "must be a non-negative integer",
    "end_step": "must be a positive integer or null (null: the trial's last step on the pruning grid)",
    "frequency": "must be a positive integer (steps between pruning updates)",
    "prune_after_dense_epochs": "must be a non-negative integer",
    "measure_sizes": "must be true or false",
    "num_words": "must be a positive integer (vocabulary size) or null",
    "maxlen": "must be a positive integer (sequence length) or null",
    "input_size": "must be an integer >= 32 (square image side) or null",
    "alpha": "must be a positive number (width multiplier) or null",
    "classes": "must be an integer >= 2 or null",
    "num_gpus": "must be a positive integer (replicas: the first num_gpus of the trial's devices)",
    "batch_scaling": "must be per_replica (weak scaling: batch_size per replica) or global (strong scaling)",
    "lr_scaling": "must be none, linear or sqrt (the learning rate per batch size, from lr_base_batch)",
    "lr_warmup_epochs": "must be a number >= 0 (epochs of linear ramp from learning_rate to the scaled rate)",
    "lr_base_batch": "must be a positive integer (the batch size learning_rate is meant for)",
}


class Params(BaseModel):
    """One trial's parameters. Every key may be swept."""

    model_config = _STRICT

    model: Annotated[str, _registry_check(check_model_name)] = "tutorial_cnn"
    dataset: Annotated[str, _registry_check(check_dataset_name)] = "synthetic"
    # auto: measure until the throughput interval is within ``precision`` (benchharness.stats);
    # an integer: exactly that many epochs (pruning needs a fixed step count).
    epochs: Literal["auto"] | Annotated[int, Field(ge=2)] = "auto"
    min_steady_epochs: Annotated[int, Field(ge=2)] = 3
    max_epochs: Annotated[int, Field(ge=3)] = 20
    precision: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.02
    max_measure_s: Annotated[float, Field(gt=0.0)] | None = None
    # auto: size each measurement window from the warm-up's step time to last at least window_s.
    samples_per_epoch: Literal["auto"] | Annotated[int, Field(gt=0)] | None = None
    window_s: Annotated[float, Field(gt=0.0)] = 2.0
    # Keras compile(steps_per_execution=N): N steps per call into the device. On a GPU per-step
    # Python overhead is the usual reason a small batch does not saturate it: the alternative to a
    # larger batch, side by side in a sweep.
    steps_per_execution: Annotated[int, Field(ge=1)] = 1
    batch_size: Annotated[int, Field(gt=0)] = 32
    sparsity: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    optimizer: Literal["adam", "sgd", "rmsprop", "adamw"] = "adam"
    learning_rate: Annotated[float, Field(gt=0.0)] = 0.001
    seed: Annotated[int, Field(ge=0)] = 0
    repeats: Annotated[int, Field(ge=1)] = 1
    timeout_s: Annotated[float, Field(gt=0.0)] = 900.0
    pruning_schedule: Literal["polynomial", "constant"] = "polynomial"
    initial_sparsity: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    begin_step: Annotated[int, Field(ge=0)] = 0
    end_step: Annotated[int, Field(gt=0)] | None = None
    frequency: Annotated[int, Field(gt=0)] = 100
    prune_after_dense_epochs: Annotated[int, Field(ge=0)] = 0
    measure_sizes: bool = False
    num_words: Annotated[int, Field(gt=0)] | None = None  # sequence models: vocabulary size
    maxlen: Annotated[int, Field(gt=0)] | None = None  # sequence models: tokens per sample
    input_size: Annotated[int, Field(ge=32)] | None = None  # image applications: square side
    alpha: Annotated[float, Field(gt=0.0)] | None = None  # image applications: width multiplier
    classes: Annotated[int, Field(ge=2)] | None = None  # image applications: output classes
    # Multi-device trials (runtime.distribute: mirrored): the first num_gpus devices are the replicas.
    # per_replica: batch_size per replica, the global batch grows with them (weak scaling); global:
    # batch_size is the global batch, split among them (strong scaling).
    num_gpus: Annotated[int, Field(ge=1)] = 1
    batch_scaling: Literal["per_replica", "global"] = "per_replica"
    # The learning rate per batch size: learning_rate is meant for lr_base_batch; linear scales it by
    # batch / lr_base_batch (Goyal et al. 2017), sqrt by its square root (Krizhevsky 2014), with a
    # linear ramp from learning_rate over lr_warmup_epochs. What a larger batch needs to converge
    # as fast per sample: time to accuracy compares the policies (scenario target).
    lr_scaling: Literal["none", "linear", "sqrt"] = "none"
    lr_warmup_epochs: Annotated[float, Field(ge=0.0)] = 0.0
    lr_base_batch: Annotated[int, Field(gt=0)] = 32


PARAM_NAMES = tuple(Params.model_fields)
SWEEPABLE = tuple(name for name in PARAM_NAMES if name != "repeats")



def _field_type(name: str):
    """The full annotated type of a Params field, constraints included, for reuse in other models."""
    info = Params.model_fields[name]
    return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation


# Every key optional: the shape of an include/exclude entry.
PartialParams = create_model(
    "PartialParams",
    __config__=_STRICT,
    **{name: (Optional[_field_type(name)], None) for name in PARAM_NAMES},
)

# sweep: each sweepable key maps to a non-empty list of values of that key's type.
Sweep = create_model(
    "Sweep",
    __config__=_STRICT,
    **{name: (Optional[Annotated[list[_field_type(name)], Field(min_length=1)]], None) for name in SWEEPABLE},
)


SAMPLE_INTERVAL_EXPECT = "must be 0 (sampling off) or an integer in [10, 10000] (milliseconds)"


def _sampling_off_or_in_range(value: int) -> int:
    if 0 < value < 10:
        raise PydanticCustomError("sample_interval", SAMPLE_INTERVAL_EXPECT)
    return value


class Runtime(BaseModel):
    """Process-wide settings applied in every worker before TensorFlow touches a device."""

    model_config = _STRICT

    memory_growth: bool = True
    memory_limit_mb: Annotated[int, Field(gt=0)] | None = None
    mixed_precision: bool = False
    xla: bool = False
    # 0 turns telemetry off (no sampler; the record's telemetry is null); else 10 ms to 10 s.
    sample_interval_ms: Annotated[int, Field(ge=0, le=10000), AfterValidator(_sampling_off_or_in_range)] = 100
    # none: one device, no strategy; mirrored: tf.distribute.MirroredStrategy over num_gpus devices.
    distribute: Literal["none", "mirrored"] = "none"
    # How MirroredStrategy sums gradients; nccl is missing on some builds (and on the CPU): the worker
    # then falls back to one_device (ReductionToOneDevice) and the record says what ran.
    cross_device_ops: Literal["nccl", "hierarchical_copy", "one_device"] = "nccl"
    # No GPU: split the CPU into N logical devices, so the multi-device code path runs in CI.
    logical_cpu_devices: Annotated[int, Field(ge=1)] | None = None


RUNTIME_EXPECT = {
    "memory_growth": "must be true or false",
    "memory_limit_mb": "must be a positive integer (MiB) or null",
    "mixed_precision": "must be true or false",
    "xla": "must be true or false",
    "sample_interval_ms": SAMPLE_INTERVAL_EXPECT,
    "distribute": "must be none or mirrored",
    "cross_device_ops": "must be nccl, hierarchical_copy or one_device",
    "logical_cpu_devices": "must be a positive integer (logical CPU devices, for runs without a GPU) or null",
}


class MaxBatchSettings(BaseModel):
    """``max_batch``: how the largest-batch search probes (``benchharness.maxbatch``)."""

    model_config = _STRICT

    start: Annotated[int, Field(gt=0)] = 32
    step: Annotated[int, Field(gt=0)] = 8  # batch granularity: every probed batch is a multiple of it
    headroom: Annotated[float, Field(ge=0.0, lt=0.5)] = 0.05  # of the limit, kept free by the headroom probe
    upper: Annotated[int, Field(gt=0)] = 65536  # never probe above this batch
    probe_steps: Annotated[int, Field(ge=1)] = 5  # steps of a probe's warm-up and of its one window


MAX_BATCH_EXPECT = {
    "start": "must be a positive integer, a multiple of step (the first probe's batch)",
    "step": "must be a positive integer (batch granularity: every probed batch is a multiple of it)",
    "headroom": "must be a number in [0, 0.5) (share of the memory limit the headroom probe keeps free)",
    "upper": "must be a positive integer (the search never probes above this batch)",
    "probe_steps": "must be a positive integer (steps of a probe's warm-up epoch and of its window)",
}


class Target(BaseModel):
    """``target``: train each trial until the test metric reaches ``value`` (time to accuracy)."""

    model_config = _STRICT

    metric: Literal["accuracy", "loss"] = "accuracy"
    value: Annotated[float, Field(gt=0.0)]
    eval_every_samples: Annotated[int, Field(gt=0)]


TARGET_EXPECT = {
    "metric": "must be accuracy (reached at or above value) or loss (at or below)",
    "value": "must be a positive number (the test metric to reach)",
    "eval_every_samples": "must be a positive integer (training samples between evaluations, the same for every "
                          "batch size)",
}


class Scenario(BaseModel):
    """A validated, immutable scenario."""

    model_config = _STRICT

    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    defaults: Params = Params()
    runtime: Runtime = Runtime()
    sweep: Sweep = Sweep()  # type: ignore[valid-type]
    exclude: list[PartialParams] = []  # type: ignore[valid-type]
    include: list[PartialParams] = []  # type: ignore[valid-type]
    # interleaved: repeats in rounds, every point once per round, so machine drift is spread over
    # all points instead of lining up with one; random: seeded shuffle; sequential: as listed.
    order: Literal["interleaved", "random", "sequential"] = "interleaved"
    order_seed: Annotated[int, Field(ge=0)] = 0
    # max_batch: before the sweep, find each curve's largest batch that fits (probes, run.json).
    search: Literal["none", "max_batch"] = "none"
    max_batch: MaxBatchSettings = MaxBatchSettings()
    target: Target | None = None


TOP_EXPECT = {
    "name": "must be a non-empty string",
    "description": "must be a string",
    "defaults": "must be a mapping of trial parameters",
    "runtime": "must be a mapping of runtime settings",
    "sweep": "must be a mapping of parameter -> list of values",
    "exclude": "must be a list of partial parameter mappings",
    "include": "must be a list of parameter mappings",
    "order": "must be interleaved, random or sequential",
    "order_seed": "must be a non-negative integer",
    "search": "must be none or max_batch",
    "max_batch": "must be a mapping of search settings (start, step, headroom, upper, probe_steps)",
    "target": "must be a mapping with metric, value and eval_every_samples, or null",
}


@dataclass(frozen=True)
class LoadedScenario:
    """A scenario with where it came from (for run.json and for resume checks)."""

    scenario: Scenario
    path: Path
    sha256: str
    lines: dict = field(default_factory=dict, compare=False)  # document location -> line, for later checks

    def resolved(self) -> dict:
        return self.scenario.model_dump(mode="json")


# Nested sections other than runtime: their model and the wording of each key's expectation.
SECTIONS = {"max_batch": (MaxBatchSettings, MAX_BATCH_EXPECT), "target": (Target, TARGET_EXPECT)}


# --------------------------------------------------------------------------------------------
# Error wording


def _known_keys(parent: Path_) -> tuple[str, ...]:
    if not parent:
        return tuple(Scenario.model_fields)
    section = parent[0]
    if section == "runtime":
        return tuple(Runtime.model_fields)
    if section in SECTIONS:
        return tuple(SECTIONS[section][0].model_fields)
    if section == "sweep":
        return SWEEPABLE
    return PARAM_NAMES


def _unknown_key_message(path: Path_) -> str:
    key, parent = str(path[-1]), path[:-1]
    known = _known_keys(parent)
    if parent == ("sweep",) and key == "repeats":
        return "repeats cannot be swept; set defaults.repeats"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
    return f"unknown key ({hint})"


def _field_expectation(path: Path_) -> str | None:
    if len(path) == 1:
        return TOP_EXPECT.get(path[0])
    section, name = path[0], path[-1] if not isinstance(path[-1], int) else path[-2]
    if section == "runtime":
        return RUNTIME_EXPECT.get(name)
    if section in SECTIONS:
        return SECTIONS[section][1].get(name)
    if section in ("include", "exclude") and len(path) == 2:
        return "must be a mapping of parameters"
    if section == "sweep" and len(path) == 2:
        return None  # list-level problems get pydantic's wording below
    return PARAM_EXPECT.get(name)


def _trim_loc(loc: tuple) -> Path_:
    """Drop pydantic's union-member tags from a location, keeping document keys and indexes."""
    depth = {"defaults": 2, "runtime": 2, "sweep": 3, "include": 3, "exclude": 3, "max_batch": 2,
             "target": 2}.get(loc[0] if loc else "", 1)
    return tuple(loc[:depth])


def _pydantic_message(err: dict, path: Path_) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return _unknown_key_message(path)
    if kind == "missing":
        return "required key is missing"
    if kind == "unknown_name":
        return err["msg"]
    if path[:1] == ("sweep",) and len(path) == 2:
        if kind == "too_short":
            return "must list at least one value"
        return f"must be a list of values, got {yaml_repr(err['input'])}"
    expect = _field_expectation(path)
    if kind == "finite_number":
        return f"{expect or 'must be a number'}, got {yaml_repr(err['input'])}, which is not a finite number"
    return f"{expect or err['msg']}, got {yaml_repr(err['input'])}"


def _cross_checks(data: dict) -> list[tuple[Path_, str]]:
    """Checks across keys, on the raw document so that they report even when other keys are bad."""
    problems = _search_checks(data)
    runtime = data.get("runtime")
    if not isinstance(runtime, dict):
        return problems
    if runtime.get("memory_growth", True) is True and runtime.get("memory_limit_mb") is not None:
        problems.append((
            ("runtime", "memory_limit_mb"),
            "cannot be combined with memory_growth: true (TensorFlow refuses both on one GPU); "
            "set memory_growth: false to cap memory",
        ))
    return problems


def _search_checks(data: dict) -> list[tuple[Path_, str]]:
    """The largest-batch search: its start on its grid, and the telemetry it reads memory from."""
    problems = []
    settings = data.get("max_batch")
    if isinstance(settings, dict):
        start, step = settings.get("start", 32), settings.get("step", 8)
        if _positive_int(start) and _positive_int(step) and start % step:
            problems.append((("max_batch", "start"), f"must be a multiple of max_batch.step ({step}), got {start}"))
    runtime = data.get("runtime") if isinstance(data.get("runtime"), dict) else {}
    if data.get("search") == "max_batch" and runtime.get("sample_interval_ms") == 0:
        problems.append((("runtime", "sample_interval_ms"),
                         "search: max_batch reads each probe's memory from the sampled telemetry: must not be 0"))
    return problems


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


# --------------------------------------------------------------------------------------------
# Public API


def load_scenario(path: str | Path) -> LoadedScenario:
    """Load and validate a scenario file.

    Raises ``UserError`` listing every problem found, each as ``file:line: dotted.key: message``.
    """
    path = Path(path)
    raw, doc = read_yaml(path, what="scenario file")
    return _validate(doc, path, hashlib.sha256(raw).hexdigest())


def _validate(doc: Document, path: Path, sha256: str) -> LoadedScenario:
    source = str(path)
    problems: list[tuple[int, Path_, str]] = list(doc.problems)

    def add(loc: Path_, message: str) -> None:
        problems.append((line_of(loc, doc.lines), loc, message))

    scenario = None
    if not isinstance(doc.data, dict):
        add((), f"a scenario must be a mapping of keys (name, defaults, sweep, ...), got {type(doc.data).__name__}")
    else:
        try:
            scenario = Scenario.model_validate(doc.data)
        except ValidationError as exc:
            seen: set[Path_] = set()
            for err in exc.errors():
                loc = _trim_loc(err["loc"])
                if loc in seen or any(loc[:len(bad)] == bad for bad in doc.unreadable):
                    continue  # one message per location, even when a union reports several; the YAML
                    # reader has already said why a value it could not read is wrong
                seen.add(loc)
                add(loc, _pydantic_message(err, loc))
        for loc, message in _cross_checks(doc.data):
            add(loc, message)
    if problems:
        raise UserError(format_problems(source, problems))
    return LoadedScenario(scenario=scenario, path=path, sha256=sha256, lines=doc.lines)


def format_problems(source: str, problems: list[tuple[int, Path_, str]]) -> list[str]:
    """``(line, location, message)`` problems as ``file:line: dotted.key: message`` lines, in file order."""
    return [f"{source}:{line}: {dotted(loc)}: {msg}" for line, loc, msg in sorted(problems, key=lambda p: p[0])]
