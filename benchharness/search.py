"""The largest-batch search's driver: runs each curve's probes as ordinary trials (``role: probe``)
through the executor, decides the next one with ``benchharness.maxbatch``, and writes the answer
to run.json's ``max_batch``.

A probe's trial id is a hash of its parameters, its repeat (first or confirming probe at that
batch) and its role, and the search is a pure function of the probes so far: resuming replays it
and runs only the probes without a record (``--retry-failed`` runs failed ones again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

from benchharness.maxbatch import Done, ProbeResult, SearchConfig, classify_record, next_probe, summarize_search
from benchharness.plan import Trial, trial_id

# What a curve is: a trial's params without these (the search varies the batch; a probe's length
# is its own).
NOT_CURVE = ("batch_size",)


def probe_params(curve: dict, batch: int, config: SearchConfig) -> dict:
    """A probe's parameters: the curve's, at ``batch``, with a warm-up epoch and one window of
    ``probe_steps`` steps each (fixed epochs: no stop rule, no precision to wait for)."""
    return curve | {"batch_size": batch, "epochs": 2, "samples_per_epoch": config.probe_steps * batch}


def probe_trial(curve: dict, batch: int, repeat: int, config: SearchConfig) -> Trial:
    params = probe_params(curve, batch, config)
    return Trial(trial_id(params, repeat, role="probe"), repeat, params, role="probe")


def curves_of(trials: list[Trial]) -> list[dict]:
    """The distinct curves of the plan's trials (params without batch size), in plan order."""
    seen, out = set(), []
    for trial in trials:
        curve = {k: v for k, v in trial.params.items() if k not in NOT_CURVE}
        key = json.dumps(curve, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(curve)
    return out


@dataclass
class Search:
    """One run's search over its curves. ``run_probe(trial)`` runs a probe and returns its record
    as a dict; ``recorded`` maps trial ids to the run's current records; ``on_probe(curve, probe,
    why)`` reports each probe as it is decided."""

    config: SearchConfig
    run_probe: Callable[[Trial], dict]
    recorded: dict[str, dict]
    retry_failed: bool = False
    on_probe: Callable[[dict, ProbeResult, str], None] = lambda curve, probe, why: None

    def curve(self, curve: dict) -> dict:
        """Search one curve to its end; returns its run.json ``max_batch`` entry."""
        from benchharness.stats import CONFIDENCE, t_quantile

        probes: list[ProbeResult] = []
        limit_mb, reason = None, None
        while reason is None:
            decision = next_probe(self.config, limit_mb or 0.0, probes)
            if isinstance(decision, Done):
                reason = decision.reason
                break
            record = self._record(probe_trial(curve, decision.batch, decision.repeat, self.config))
            outcome, mem = classify_record(record)
            probe = ProbeResult(decision.batch, decision.repeat, outcome, mem, record["trial_id"], record.get("error"))
            probes.append(probe)
            self.on_probe(curve, probe, decision.why)
            limit_mb = limit_mb or ((record.get("telemetry") or {}).get("mem_limit_mb"))
            if limit_mb is None:
                reason = ("no memory limit to search against: the probe ran on the CPU (use a GPU, or the fake NVML "
                          "with a memory_model in CI)")
        summary = summarize_search(self.config, limit_mb, probes, reason, lambda dof: t_quantile(CONFIDENCE, dof))
        return {"curve": curve} | summary

    def _record(self, trial: Trial) -> dict:
        """The probe's record: the one already stored, else (or, with ``retry_failed``, when it
        failed) a fresh run of it."""
        record = self.recorded.get(trial.trial_id)
        if record is None or (self.retry_failed and record["status"] in ("failed", "timeout")):
            record = self.run_probe(trial)
            self.recorded[trial.trial_id] = record
        return record


def search_all(run, search: Search, curves: list[dict]) -> list[dict]:
    """Search every curve, writing run.json's ``max_batch`` after each one (an interrupted search
    keeps the curves it finished); returns the entries."""
    done: list[dict] = []
    for curve in curves:
        done.append(search.curve(curve))
        run.update_info(max_batch=done)
    return done


def search_hook(run, config: SearchConfig, curves: list[dict], retry_failed: bool,
                on_probe: Callable[[dict, ProbeResult, str], None]):
    """What ``execute.run_sweep`` calls with its executor before the sweep's trials: the search of
    every curve, its probes run one at a time by that executor."""

    def hook(executor) -> list[dict]:
        recorded = {r["trial_id"]: r for r in executor.records}
        run_probe = lambda trial: executor.run_trial(trial).model_dump(mode="json")  # noqa: E731
        return search_all(run, Search(config, run_probe, recorded, retry_failed, on_probe), curves)

    return hook


def config_of(settings) -> SearchConfig:
    """The scenario's ``max_batch`` settings as the search's config."""
    from benchharness.maxbatch import on_grid

    # Every probed batch is on the step grid: an upper bound off it is its grid point below.
    upper = on_grid(settings.upper, settings.step) if settings.upper >= settings.step else settings.upper
    return SearchConfig(settings.start, settings.step, settings.headroom, upper, settings.probe_steps)
