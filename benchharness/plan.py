"""The plan: a pure function from a validated scenario to the trials to run, and the checks that
only the expanded product can make.

Full product of the sweep axes, minus ``exclude``, plus ``include``, each point times its ``repeats``
(expanded once, in :func:`make_plan`, after :func:`plan_size` has counted it by arithmetic: a plan
over ``PLAN_LIMIT`` trials is refused with its count unless asked for, and none is ever built past
``HARD_LIMIT``). Every trial has a stable id, a hash of its resolved
parameters and repeat index, which is what makes resume and comparing runs possible. The scenario
module validates the document; this one validates the product (model/dataset fit, options a model
does not read, pruning schedules), naming the file and line each value came from.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchharness.errors import UserError
from benchharness.scenario import LoadedScenario, Scenario, format_problems, load_scenario
from benchharness.yamldoc import Path_, dotted, line_of

MODEL_OPTIONS = ("num_words", "maxlen", "input_size", "alpha", "classes")
# A plan larger than this is refused (with its count) unless --allow-large-plan: at a minute a trial,
# 10,000 trials are a week of machine time, and a typo in a sweep list is the usual cause.
PLAN_LIMIT = 10_000
# Never built, flag or not: every trial's parameters are held in memory and checked, and the sweep's
# product is enumerated to apply exclude (100,000 trials: 220 MB and 13 s of validation on a 2-core
# Xeon; at 5 s a trial, process start and TensorFlow import alone, six days of running).
HARD_LIMIT = 100_000
# plan_size enumerates one representative per class of equivalent sweep values; past this it bounds.
_CLASS_COMBOS_LIMIT = 100_000
# Pruning's schedule needs a fixed step count: ``epochs: auto`` runs this many epochs for a pruning
# trial (the default before adaptive measurement existed), and validation says so.
PRUNING_EPOCHS_FOR_AUTO = 3


@dataclass(frozen=True)
class Trial:
    """One run of one parameter point. ``params`` holds every resolved parameter except ``repeats``;
    ``role`` is ``trial`` (planned) or ``probe`` (the largest-batch search's); ``target`` the
    scenario's time-to-accuracy target (``Target`` as a dict), None for a throughput trial."""

    trial_id: str
    repeat: int
    params: dict
    role: str = "trial"
    target: dict | None = None

    def describe(self, keys: list[str]) -> str:
        return " ".join(f"{k}={self.params[k]}" for k in keys)


@dataclass(frozen=True)
class Plan:
    """A scenario's trials, in run order, and the warnings about them (``file:line: key: message``)."""

    trials: list[Trial]
    warnings: tuple[str, ...]


def trial_id(params: dict, repeat: int, role: str = "trial", target: dict | None = None) -> str:
    """A 12-hex-digit id that depends only on the resolved params and the repeat index, and on the
    role and target where they are not the default (a probe, a time-to-accuracy trial), so a probe
    or a trial trained to a target never shares an id with a throughput trial of the same params."""
    extra = ({"role": role} if role != "trial" else {}) | ({"target": target} if target is not None else {})
    canonical = json.dumps({"params": params, "repeat": repeat, **extra}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def matches(point: dict, partial: dict) -> bool:
    """True if every key of ``partial`` has the same value in ``point``."""
    return all(point.get(key) == value for key, value in partial.items())


def sweep_product(scenario: Scenario):
    """Every combination of the sweep axes over the defaults, in the order the YAML lists them
    (an iterator: the product is never held in memory)."""
    base = scenario.defaults.model_dump()
    axes = scenario.sweep.model_dump(exclude_none=True)
    names = list(axes)
    return (base | dict(zip(names, combo)) for combo in itertools.product(*(axes[n] for n in names)))


def expand(scenario: Scenario) -> list[Trial]:
    """The trials of a scenario: product - exclude + include, times repeats; duplicates dropped.
    Builds every trial: call :func:`plan_size` first for a scenario nobody has bounded."""
    excludes = [entry.model_dump(exclude_none=True) for entry in scenario.exclude]
    points = [p for p in sweep_product(scenario) if not any(matches(p, ex) for ex in excludes)]
    base = scenario.defaults.model_dump()
    points += [base | entry.model_dump(exclude_none=True) for entry in scenario.include]
    trials, seen = [], set()
    target = scenario.target.model_dump() if scenario.target is not None else None
    for point in points:
        params = resolve_epochs({k: v for k, v in point.items() if k != "repeats"})
        for repeat in range(point["repeats"]):
            tid = trial_id(params, repeat, target=target)
            if tid not in seen:
                seen.add(tid)
                trials.append(Trial(tid, repeat, params, target=target))
    return trials


# -- the plan's size, by arithmetic -------------------------------------------------------------


@dataclass(frozen=True)
class PlanSize:
    """What :func:`expand` would build, counted without building it. ``trials`` is exact (``exact``)
    or, when the excludes are too tangled to count, a lower bound; ``product`` is the number of sweep
    points before exclude (what expansion enumerates)."""

    trials: int
    exact: bool
    product: int


def _key(value) -> str:
    """Values are the same point when their JSON is (as in :func:`trial_id`)."""
    return json.dumps(value, sort_keys=True)


def _distinct(values: list) -> list:
    return list({_key(v): v for v in values}.values())


def plan_size(scenario: Scenario) -> PlanSize:
    """The number of trials of ``scenario``, computed from the axis lengths: the product of the
    distinct values of each sweep list, minus the points an exclude entry matches, times repeats,
    plus the include points that are new (or repeat more). Takes time in the number of values and
    entries, not in the product, so a sweep of 10^10 points is counted at once.

    The count equals ``len(expand(scenario))``, but for one corner: a pruning point listed both with
    ``epochs: auto`` and ``epochs: 3`` is one trial in the plan and two here."""
    base = scenario.defaults.model_dump()
    axes = {name: _distinct(values) for name, values in scenario.sweep.model_dump(exclude_none=True).items()}
    excludes = [entry.model_dump(exclude_none=True) for entry in scenario.exclude]
    product = math.prod(len(values) for values in axes.values())
    kept, exact = _points_after_exclude(base, axes, excludes, product)
    repeats = base["repeats"]
    trials = kept * repeats
    axis_keys = {name: {_key(v) for v in values} for name, values in axes.items()}
    extra: dict[str, int] = {}  # include point -> its repeats beyond those the sweep already gives it
    for entry in scenario.include:
        point = base | entry.model_dump(exclude_none=True)
        as_swept = point | {"repeats": repeats}  # the sweep's point with the same parameters
        in_sweep = (all(_key(value) in axis_keys[k] if k in axes else _key(value) == _key(base[k])
                        for k, value in as_swept.items())
                    and not any(matches(as_swept, ex) for ex in excludes))
        key = _key(resolve_epochs({k: v for k, v in point.items() if k != "repeats"}))
        extra[key] = max(extra.get(key, 0), point["repeats"] - (repeats if in_sweep else 0))
    return PlanSize(trials + sum(extra.values()), exact, product)


def _points_after_exclude(base: dict, axes: dict[str, list], excludes: list[dict], product: int) -> tuple[int, bool]:
    """(sweep points no exclude entry matches, exact?). The values of an axis that every entry treats
    alike (matched by the same entries) are counted as one class, so the enumeration is over classes
    of the axes the entries name, never over the product."""
    live = []  # the swept keys of entries whose other keys match the defaults
    for entry in excludes:
        if all(base.get(k) == v for k, v in entry.items() if k not in axes):
            swept = {k: v for k, v in entry.items() if k in axes}
            if not swept:
                return 0, True  # it matches every point
            live.append(swept)
    if not live:
        return product, True
    named = [name for name in axes if any(name in entry for entry in live)]
    classes = []  # per named axis: [(which entries each value satisfies, how many values)]
    for name in named:
        signatures = Counter(tuple(name not in entry or value == entry[name] for entry in live) for value in axes[name])
        classes.append(list(signatures.items()))
    others = math.prod(len(values) for name, values in axes.items() if name not in named)
    if math.prod(len(c) for c in classes) > _CLASS_COMBOS_LIMIT:  # a lower bound: each entry's box, all disjoint
        removed = sum(math.prod(sum(1 for v in axes[k] if v == value) for k, value in entry.items()) *
                      math.prod(len(values) for name, values in axes.items() if name not in entry) for entry in live)
        return max(product - removed, 0), False
    kept = 0
    for combo in itertools.product(*classes):
        if not any(all(signature[i] for signature, _ in combo) for i in range(len(live))):
            kept += math.prod(count for _, count in combo)
    return kept * others, True


def resolve_epochs(params: dict) -> dict:
    """A pruning trial's ``epochs: auto`` becomes ``PRUNING_EPOCHS_FOR_AUTO`` fixed epochs."""
    if params.get("sparsity") and params.get("epochs") == "auto":
        return params | {"epochs": PRUNING_EPOCHS_FOR_AUTO}
    return params


def in_order(trials: list[Trial], order: str, seed: int) -> list[Trial]:
    """The run order: ``interleaved`` runs repeats in rounds (every point once per round, in sweep
    order), ``random`` a shuffle seeded by ``seed``, ``sequential`` the expansion's order (each
    point's repeats back to back). In each of them the dense trials (sparsity 0) of a round come
    before its pruned ones: a pruned trial's ``throughput_vs_dense`` is computed once, when its
    record is built, from the dense peer already stored. The order depends only on the arguments,
    so a resumed run keeps it."""
    if order == "interleaved":
        return sorted(trials, key=lambda t: (t.repeat, bool(t.params.get("sparsity"))))  # stable
    ordered = list(trials)
    if order == "random":
        random.Random(seed).shuffle(ordered)
    return sorted(ordered, key=lambda t: bool(t.params.get("sparsity")))


def varying_keys(trials: list[Trial]) -> list[str]:
    """Parameter names whose value differs between trials (what a plan table should show)."""
    if not trials:
        return []
    keys = list(trials[0].params)
    return [k for k in keys if len({json.dumps(t.params[k]) for t in trials}) > 1]


# -- checks on the product ----------------------------------------------------------------------


def make_plan(loaded: LoadedScenario, allow_large_plan: bool = False) -> Plan:
    """Count the plan (:func:`plan_size`), refuse it past ``PLAN_LIMIT`` trials unless
    ``allow_large_plan`` (and past ``HARD_LIMIT`` always), then expand it once and check every trial.
    Raises ``UserError`` listing every problem (``file:line: key: message``); returns the trials and
    the warnings."""
    _check_size(loaded, allow_large_plan)
    scenario = loaded.scenario
    trials = in_order(expand(scenario), scenario.order, scenario.order_seed)
    problems = [(line_of(loc, loaded.lines), loc, message) for loc, message in _point_problems(scenario, trials)]
    if problems:
        raise UserError(format_problems(str(loaded.path), problems))
    warnings = _exclude_warnings(loaded) + _auto_epochs_warnings(loaded) + _schedule_warnings(loaded, trials)
    return Plan(trials, tuple(warnings))


def load_plan(path: str | Path, allow_large_plan: bool = False) -> tuple[LoadedScenario, Plan]:
    """Load, validate and plan a scenario file. Raises ``UserError`` (see ``load_scenario``, ``make_plan``)."""
    loaded = load_scenario(path)
    return loaded, make_plan(loaded, allow_large_plan)


def _check_size(loaded: LoadedScenario, allow_large_plan: bool) -> None:
    """One line, before anything is built, for a plan too large to build or not asked for."""
    scenario = loaded.scenario
    size = plan_size(scenario)
    loc: Path_ = ("sweep",) if scenario.sweep.model_dump(exclude_none=True) else (
        ("include",) if scenario.include else ("defaults", "repeats"))
    count = f"{size.trials:,}" if size.exact else f"at least {size.trials:,}"
    if size.trials > PLAN_LIMIT and not allow_large_plan:
        message = (f"the plan has {count} trials, over the limit of {PLAN_LIMIT:,} (counted, not built); "
                   "narrow the sweep, or pass --allow-large-plan to run it anyway")
    elif size.trials > HARD_LIMIT:
        message = (f"the plan has {count} trials; even with --allow-large-plan at most {HARD_LIMIT:,} are "
                   "planned (each one is held in memory)")
    elif size.product > HARD_LIMIT:
        loc = ("sweep",)
        message = (f"the sweep's product has {size.product:,} points before exclude; at most {HARD_LIMIT:,} "
                   "are enumerated: narrow the sweep lists instead of excluding most of them")
    else:
        return
    raise UserError(format_problems(str(loaded.path), [(line_of(loc, loaded.lines), loc, message)]))


def _origin(scenario: Scenario, key: str, value) -> Path_:
    """Where in the file a trial's value of ``key`` was written: a sweep entry, an include, or defaults."""
    swept = getattr(scenario.sweep, key, None)
    if swept is not None and value in swept:
        return ("sweep", key, swept.index(value))
    for i, entry in enumerate(scenario.include):
        if getattr(entry, key) == value:
            return ("include", i, key)
    return ("defaults", key)


def _point_problems(scenario: Scenario, trials: list[Trial]) -> list[tuple[Path_, str]]:
    """Every distinct problem of the planned trials, once per location."""
    problems: list[tuple[Path_, str]] = []
    for trial in trials:
        for problem in _trial_problems(scenario, trial.params):
            if problem not in problems:
                problems.append(problem)
    return problems


def _trial_problems(scenario: Scenario, p: dict) -> list[tuple[Path_, str]]:
    """One trial's problems: model/dataset fit, options its model does not read, its pruning schedule."""
    from benchharness.datasets import compatibility_problem
    from benchharness.models import MODELS

    problems = []
    problem = compatibility_problem(p["model"], p["dataset"], p)
    if problem:
        problems.append((_origin(scenario, "dataset", p["dataset"]), problem))
    spec = MODELS.get(p["model"])
    for option in MODEL_OPTIONS:
        if spec is not None and p[option] is not None and option not in spec.options:
            problems.append((_origin(scenario, option, p[option]), f"model {p['model']!r} does not read {option}"))
    if p["sparsity"] and p["samples_per_epoch"] == "auto":
        problems.append((_origin(scenario, "samples_per_epoch", "auto"),
                         "pruning needs a fixed step count: set samples_per_epoch to a number (or null) "
                         "for trials with sparsity > 0"))
    if p["epochs"] == "auto" and scenario.target is None and p["max_epochs"] < p["min_steady_epochs"] + 1:
        problems.append((_origin(scenario, "max_epochs", p["max_epochs"]),
                         f"must leave room for a warm-up epoch and min_steady_epochs ({p['min_steady_epochs']}): "
                         f"at least {p['min_steady_epochs'] + 1}, got {p['max_epochs']}"))
    return problems + _schedule_problems(scenario, p) + _replica_problems(scenario, p) + _target_problems(scenario, p)


def _target_problems(scenario: Scenario, p: dict) -> list[tuple[Path_, str]]:
    """What a trial trained to a target cannot have: no test split, a fixed length, windows or pruning."""
    if scenario.target is None:
        return []
    checks = (("dataset", p["dataset"] == "synthetic",
               "synthetic data has no test split to evaluate the target on: use a real dataset"),
              ("epochs", p["epochs"] != "auto",
               "with a target a trial trains until it reaches the target or max_epochs: leave epochs at auto"),
              ("samples_per_epoch", p["samples_per_epoch"] == "auto",
               "with a target an epoch is a pass over the training split: set a number of samples (a subset) or null"),
              ("sparsity", bool(p["sparsity"]), "pruning trials have a fixed step count: not with a target"))
    problems = [(_origin(scenario, key, p[key]), message) for key, bad, message in checks if bad]
    if scenario.runtime.distribute == "mirrored":
        problems.append((("runtime", "distribute"), "time to accuracy runs on one device: not with a target"))
    if p["steps_per_execution"] > 1:  # Keras calls the evaluation callback once per N steps
        problems.append((_origin(scenario, "steps_per_execution", p["steps_per_execution"]),
                         "evaluations must land on their scheduled step: leave steps_per_execution at 1 with a target"))
    return problems


def _replica_problems(scenario: Scenario, p: dict) -> list[tuple[Path_, str]]:
    """Replicas the runtime cannot give: several without a strategy, more than the logical CPU devices."""
    runtime, n = scenario.runtime, p["num_gpus"]
    if n > 1 and runtime.distribute != "mirrored":
        return [(_origin(scenario, "num_gpus", n),
                 f"{n} replicas need runtime.distribute: mirrored (distribute is {runtime.distribute})")]
    if runtime.logical_cpu_devices is not None and n > runtime.logical_cpu_devices:
        return [(_origin(scenario, "num_gpus", n),
                 f"{n} replicas, but runtime.logical_cpu_devices is {runtime.logical_cpu_devices}")]
    if runtime.distribute == "mirrored" and p["sparsity"]:
        return [(_origin(scenario, "sparsity", p["sparsity"]),
                 "pruning trials run on one device: not with runtime.distribute: mirrored")]
    if p["batch_scaling"] == "global" and p["batch_size"] % n:
        return [(_origin(scenario, "batch_size", p["batch_size"]),
                 f"batch_scaling: global splits batch {p['batch_size']} among {n} replicas: must divide evenly")]
    return []


def _schedule_problems(scenario: Scenario, p: dict) -> list[tuple[Path_, str]]:
    """A pruning schedule that contradicts itself."""
    if not p["sparsity"]:
        return []
    problems = []
    if p["end_step"] is not None and p["begin_step"] >= p["end_step"]:
        problems.append((_origin(scenario, "end_step", p["end_step"]),
                         f"must be greater than begin_step ({p['begin_step']}), got {p['end_step']}"))
    if p["pruning_schedule"] == "polynomial" and p["initial_sparsity"] > p["sparsity"]:
        problems.append((_origin(scenario, "initial_sparsity", p["initial_sparsity"]),
                         f"{p['initial_sparsity']} is above the target sparsity {p['sparsity']}; "
                         "the polynomial schedule only increases sparsity"))
    return problems


def _exclude_warnings(loaded: LoadedScenario) -> list[str]:
    """``exclude`` entries that match no point of the sweep: some key's value is in no sweep list
    (or, for a key not swept, is not the default). Per key, so the product is never enumerated."""
    base = loaded.scenario.defaults.model_dump()
    axes = loaded.scenario.sweep.model_dump(exclude_none=True)
    warnings = []
    for i, entry in enumerate(loaded.scenario.exclude):
        if not all(any(v == value for v in axes[k]) if k in axes else base.get(k) == value
                   for k, value in entry.model_dump(exclude_none=True).items()):
            path = ("exclude", i)
            warnings.append(f"{loaded.path}:{line_of(path, loaded.lines)}: {dotted(path)}: matches no trial of the sweep")
    return warnings


def _auto_epochs_warnings(loaded: LoadedScenario) -> list[str]:
    """Pruning points left at ``epochs: auto``: they run a fixed number of epochs instead. A sweep
    point has both when some sparsity value is non-zero and some epochs value is auto (the axes are
    independent), so the product is never enumerated."""
    defaults = loaded.scenario.defaults.model_dump()
    axes = loaded.scenario.sweep.model_dump(exclude_none=True)
    sparsities, epochs = axes.get("sparsity", [defaults["sparsity"]]), axes.get("epochs", [defaults["epochs"]])
    in_sweep = any(sparsities) and "auto" in epochs
    points = [defaults | entry.model_dump(exclude_none=True) for entry in loaded.scenario.include]
    if not in_sweep and not any(p.get("sparsity") and p.get("epochs") == "auto" for p in points):
        return []
    loc = _origin(loaded.scenario, "epochs", "auto")
    return [f"{loaded.path}:{line_of(loc, loaded.lines)}: {dotted(loc)}: pruning trials need a fixed step count: "
            f"with epochs: auto they run {PRUNING_EPOCHS_FOR_AUTO} epochs (set epochs to choose)"]


def _schedule_warnings(loaded: LoadedScenario, trials: list[Trial]) -> list[str]:
    """Pruning schedules that cannot reach their target within the trial's real step count."""
    warnings = []
    for trial in trials:
        text = _schedule_warning(loaded, trial.params)
        if text is not None and text not in warnings:
            warnings.append(text)
    return warnings


def _schedule_warning(loaded: LoadedScenario, p: dict) -> str | None:
    from benchharness.datasets import train_samples
    from benchharness.pruning.schedule import reached_sparsity, resolve_schedule, total_steps

    if not p["sparsity"] or p["end_step"] is None and p["begin_step"] == 0 or p["samples_per_epoch"] == "auto":
        return None  # the default end_step always lands on the pruning grid; auto is an error for pruning
    samples = train_samples(p["dataset"], p["samples_per_epoch"])
    if samples is None:
        return None
    steps = total_steps(samples, p["batch_size"], p["epochs"])
    reached = reached_sparsity(resolve_schedule(p, steps), steps)
    if reached is not None and reached >= p["sparsity"] - 1e-3:
        return None
    key = "end_step" if p["end_step"] is not None else "begin_step"
    loc = _origin(loaded.scenario, key, p[key])
    what = ("never prunes: training ends before begin_step" if reached is None
            else f"reaches sparsity {reached:.3f}, not the target {p['sparsity']}")
    return (f"{loaded.path}:{line_of(loc, loaded.lines)}: {dotted(loc)}: the schedule {what} "
            f"(batch_size {p['batch_size']}: {steps} steps, frequency {p['frequency']}); "
            "put end_step on begin_step + k * frequency within the steps, or leave it null")
