"""Time to accuracy across batch sizes: pure functions over trial records (dicts), for the report
and the CLI. Nothing here reads files or touches TensorFlow.

A *curve* is the trials with a ``tta`` that differ only in batch size, seed and timeout (repeats
are seeds: a time-to-accuracy trial trains with ``seed + repeat``). Per batch size the figure is
``stats.trimmed_interval`` over the converged trials' training time to the target (the mean, with
the fastest and slowest dropped from 5 seeds on), with the count that did not converge beside it.
The fastest batch is chosen with the throughput rule (``stats.decide``, on 1 / time: the smallest
batch within the tolerance of the fastest, decided only when the intervals separate it) among the
batches where every seed reached the target, and so is
the batch that pays off by training throughput alone (the trials' own ``tta.throughput_sps``), so
the two answers come from the same processes and can be compared.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from benchharness import stats

NOT_TTA_GROUPING = ("batch_size", "seed", "timeout_s")


def tta_key(record: dict) -> tuple:
    return tuple(sorted((k, v) for k, v in record["params"].items() if k not in NOT_TTA_GROUPING))


@dataclass
class TtaPoint:
    batch_size: int
    times: list[float] = field(default_factory=list)  # s, training time to the target, converged trials
    walls: list[float] = field(default_factory=list)  # s, with evaluation
    energies: list[float] = field(default_factory=list)  # J, where measured
    epochs: list[float] = field(default_factory=list)  # passes over the training split to the target
    throughputs: list[float] = field(default_factory=list)  # samples/s, every trial that reported one
    not_converged: int = 0
    failed: int = 0  # trials with no tta (OOM, crash, timeout)
    learning_rate: float | None = None

    @property
    def trials(self) -> int:
        return len(self.times) + self.not_converged + self.failed

    @property
    def time(self) -> stats.Interval | None:
        return stats.trimmed_interval(self.times) if self.times else None

    @property
    def wall(self) -> stats.Interval | None:
        return stats.trimmed_interval(self.walls) if self.walls else None

    @property
    def energy(self) -> stats.Interval | None:
        """None unless every converged trial has its energy (a partial set would favour the lucky)."""
        return stats.trimmed_interval(self.energies) if self.energies and len(self.energies) == len(self.times) else None

    @property
    def throughput(self) -> stats.Interval | None:
        return stats.trial_level_interval(self.throughputs) if self.throughputs else None


@dataclass
class TtaCurve:
    label: str
    target: dict
    points: list[TtaPoint]
    tolerance: float
    fastest: stats.Answer | None = None
    cheapest: stats.Answer | None = None  # by energy, where measured
    by_throughput: stats.Answer | None = None
    agreement: str = ""
    headline: str = ""


def tta_points(records: list[dict]) -> list[TtaPoint]:
    points: dict[int, TtaPoint] = {}
    for r in records:
        point = points.setdefault(r["params"]["batch_size"], TtaPoint(r["params"]["batch_size"]))
        tta = r.get("tta")
        if tta is None:
            point.failed += 1
            continue
        point.learning_rate = tta["lr_policy"]["learning_rate"]
        if tta["throughput_sps"]:
            point.throughputs.append(tta["throughput_sps"])
        if not tta["converged"]:
            point.not_converged += 1
            continue
        point.times.append(tta["time_to_target_s"])
        point.walls.append(tta["wall_to_target_s"])
        point.epochs.append(tta["epochs"])
        if tta["energy_j"] is not None:
            point.energies.append(tta["energy_j"])
    return [points[b] for b in sorted(points)]


def tta_groups(records: list[dict]) -> list[list[dict]]:
    """The planned trials of curves that trained to a target (any trial of the curve has a ``tta``;
    its trials without one failed), each curve in the order it first appears."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        if r.get("role", "trial") == "trial":
            groups.setdefault(tta_key(r), []).append(r)
    return [group for group in groups.values() if any(r.get("tta") for r in group)]


def _answer(points: list[TtaPoint], figure, tolerance: float, invert: bool) -> stats.Answer | None:
    figures = [(p.batch_size, figure(p)) for p in points]
    if not any(f for _, f in figures):
        return None
    return stats.decide([stats.Point(b, stats.inverted(f) if (f and invert) else f) for b, f in figures], tolerance)


def tta_curve(records: list[dict], tolerance: float = 0.05) -> TtaCurve:
    """One curve's answers: the batch with the shortest time (and, where measured, energy) to the
    target, the batch that pays off by throughput alone, and whether they agree."""
    from benchharness.analyze import describe_group

    first = next(r["tta"] for r in records if r.get("tta"))
    p = records[0]["params"]
    label = f"{describe_group(records)}, lr_scaling {p.get('lr_scaling', 'none')}" + (
        f" (warm-up {p['lr_warmup_epochs']:g} epochs)" if p.get("lr_warmup_epochs") else "")
    curve = TtaCurve(label, {"metric": first["metric"], "value": first["target"],
                             "eval_every_samples": first["eval_every_samples"]}, tta_points(records), tolerance)
    # A batch where a seed missed the target is no candidate: its mean over the seeds that made it
    # would flatter it (the misses' times are unknown, beyond max_epochs); the headline counts them.
    every_seed = lambda figure: lambda pt: figure(pt) if not (pt.not_converged or pt.failed) else None  # noqa: E731
    curve.fastest = _answer(curve.points, every_seed(lambda pt: pt.time), tolerance, invert=True)
    curve.cheapest = _answer(curve.points, every_seed(lambda pt: pt.energy), tolerance, invert=True)
    curve.by_throughput = _answer(curve.points, lambda pt: pt.throughput, tolerance, invert=False)
    curve.agreement = agreement(curve.fastest, curve.by_throughput)
    curve.headline = _headline(curve)
    return curve


def agreement(fastest: stats.Answer | None, by_throughput: stats.Answer | None) -> str:
    """Whether time to accuracy and throughput pick the same batch, in words."""
    if fastest is None or fastest.recommended_batch is None:
        return "no batch size reached the target, so there is nothing to compare with throughput"
    if by_throughput is None or by_throughput.recommended_batch is None:
        return "no throughput figure to compare with"
    same = fastest.recommended_batch == by_throughput.recommended_batch
    sure = fastest.decided and by_throughput.decided
    if same:
        return f"they agree (batch {fastest.recommended_batch})" + ("" if sure else ", by the point figures: the "
                                                                    "intervals do not decide both")
    text = (f"they disagree: throughput alone picks batch {by_throughput.recommended_batch}, time to accuracy "
            f"batch {fastest.recommended_batch}")
    return text + ("" if sure else " (by the point figures: the intervals do not decide both)")


def _headline(curve: TtaCurve) -> str:
    target = f"{curve.target['metric']} {curve.target['value']:g}"
    missed = [p for p in curve.points if p.not_converged or p.failed]
    misses = "; ".join(f"batch {p.batch_size}: {p.not_converged} of {p.trials} did not reach it"
                       + (f", {p.failed} failed" if p.failed else "") for p in missed)
    answer_ = curve.fastest
    if answer_ is None or answer_.recommended_batch is None:
        return f"{curve.label}: no trial reached {target}" + (f" ({misses})" if misses else "") + "."
    best = next(p for p in curve.points if p.batch_size == answer_.recommended_batch)
    span = answer_.indistinguishable
    word = ("decided" if answer_.decided else f"undecided between batch {span[0]} and {span[-1]}" if len(span) > 1
            else "the only batch where every seed reached it, so nothing to compare it with")
    text = (f"{curve.label}: to {target}, batch {best.batch_size} trains fastest ({word}): "
            f"{_figure(best.time, 's')} of training, {statistics.median(best.epochs):.2f} epochs")
    return text + (f"; {misses}" if misses else "") + f"; throughput vs time to accuracy: {curve.agreement}."


def _figure(interval: stats.Interval | None, unit: str) -> str:
    if interval is None:
        return "-"
    if interval.n < 2:
        return f"{interval.median:,.1f} {unit} (n=1, no interval)"
    return f"{interval.median:,.1f} {unit} (95 % interval {interval.low:,.1f}-{interval.high:,.1f}, n={interval.n})"


def tta_rows(curve: TtaCurve) -> list[dict]:
    """The report's table rows: one per batch size."""
    rows = []
    for p in curve.points:
        time, wall, energy, tput = p.time, p.wall, p.energy, p.throughput
        rows.append({"batch_size": p.batch_size, "learning_rate": p.learning_rate, "trials": p.trials,
                     "converged": len(p.times), "not_converged": p.not_converged, "failed": p.failed,
                     "time_s": time.median if time else None, "time_ci": [time.low, time.high] if time and time.n > 1 else None,
                     "wall_s": wall.median if wall else None, "epochs": statistics.median(p.epochs) if p.epochs else None,
                     "energy_j": energy.median if energy else None,
                     "energy_ci": [energy.low, energy.high] if energy and energy.n > 1 else None,
                     "throughput_sps": tput.median if tput else None,
                     "throughput_ci": [tput.low, tput.high] if tput and tput.n > 1 else None})
    return rows
