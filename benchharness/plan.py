"""The plan: a pure function from a scenario to the list of trials to run.

Full product of the sweep axes, minus ``exclude``, plus ``include``, each point times its ``repeats``.
Every trial has a stable id, a hash of its resolved parameters and repeat index, which is what makes
resume and comparing runs possible.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass

from benchharness.scenario import Scenario


@dataclass(frozen=True)
class Trial:
    """One run of one parameter point. ``params`` holds every resolved parameter except ``repeats``."""

    trial_id: str
    repeat: int
    params: dict

    def describe(self, keys: list[str]) -> str:
        return " ".join(f"{k}={self.params[k]}" for k in keys)


def trial_id(params: dict, repeat: int) -> str:
    """A 12-hex-digit id that depends only on the resolved params and the repeat index."""
    canonical = json.dumps({"params": params, "repeat": repeat}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def matches(point: dict, partial: dict) -> bool:
    """True if every key of ``partial`` has the same value in ``point``."""
    return all(point.get(key) == value for key, value in partial.items())


def sweep_product(scenario: Scenario) -> list[dict]:
    """Every combination of the sweep axes over the defaults, in the order the YAML lists them."""
    base = scenario.defaults.model_dump()
    axes = scenario.sweep.model_dump(exclude_none=True)
    names = list(axes)
    return [base | dict(zip(names, combo)) for combo in itertools.product(*(axes[n] for n in names))]


def expand(scenario: Scenario) -> list[Trial]:
    """The trials of a scenario: product - exclude + include, times repeats; duplicates dropped."""
    excludes = [entry.model_dump(exclude_none=True) for entry in scenario.exclude]
    points = [p for p in sweep_product(scenario) if not any(matches(p, ex) for ex in excludes)]
    base = scenario.defaults.model_dump()
    points += [base | entry.model_dump(exclude_none=True) for entry in scenario.include]
    trials, seen = [], set()
    for point in points:
        params = {k: v for k, v in point.items() if k != "repeats"}
        for repeat in range(point["repeats"]):
            tid = trial_id(params, repeat)
            if tid not in seen:
                seen.add(tid)
                trials.append(Trial(tid, repeat, params))
    return trials


def varying_keys(trials: list[Trial]) -> list[str]:
    """Parameter names whose value differs between trials (what a plan table should show)."""
    if not trials:
        return []
    keys = list(trials[0].params)
    return [k for k in keys if len({json.dumps(t.params[k]) for t in trials}) > 1]
