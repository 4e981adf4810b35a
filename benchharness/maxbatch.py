"""The largest batch that fits: the search's arithmetic, pure (no TensorFlow, no processes).

A *probe* is a short trial in a fresh process (a warm-up epoch and one measurement window of
``probe_steps`` steps each) that either fits (it reports its memory figure: TensorFlow's allocator
peak, or the fake device's memory model in CI) or runs out of memory. The search
(:func:`next_probe`) decides the next probe from the probes so far, so it is a pure function of
the history: a resumed run replays it and runs only the probes not yet recorded.

Batches lie on a grid of ``step`` (every batch a multiple of it; ``step: 1`` searches every integer).
Memory is modelled as a + b * batch. The search:

1. *seeds*: ``start``, then the largest batch that fits for certain if memory is a + b * batch with
   a >= 0: start * (limit - headroom) / memory(start) (all of memory(start) per sample is the worst
   case); a wide lever arm for the fit, at no risk under the model.
2. *headroom*: while the largest fitting probe's memory is more than twice the headroom below the
   limit, probe where the line through the two largest fitting probes reaches limit - headroom.
3. *predicted*: then where that line reaches the limit itself (the two largest fitting probes, not
   all of them: cuDNN workspaces and XLA bend the line, and the local slope is the one that
   matters near the limit); one step up if the line says the largest fitting batch is the largest.
4. *bracket*: once a probe ran out of memory, interpolate along the same line inside the bracket
   after a probe that fit, and bisect after one that did not (so a bent line costs at most a
   bisection's probes).
5. *confirm*: when the largest fitting batch and the smallest failing one are one step apart, each
   gets a second probe. ``verified`` is the largest batch that fit in both of two probes; ``oom_at``
   the next step up when it ran out of memory in both. A probe that disagrees with the first one
   makes the search go on below it.

``doubling_bisection_probes`` counts what the usual search (double until OOM, bisect between the
last two) needs for the same answer, for comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

Outcome = Literal["fits", "oom", "failed"]


@dataclass(frozen=True)
class SearchConfig:
    """The scenario's ``max_batch`` settings (``scenario.MaxBatchSettings``)."""

    start: int = 32
    step: int = 8
    headroom: float = 0.05  # fraction of the limit kept free for the headroom probe
    upper: int = 65536  # never probe above this batch
    probe_steps: int = 5


@dataclass(frozen=True)
class ProbeResult:
    """One probe: its batch, which of the (up to two) probes at that batch it was, and its outcome;
    ``mem_mb`` is the memory figure of a probe that fit (None where none was measured)."""

    batch: int
    repeat: int
    outcome: Outcome
    mem_mb: float | None = None
    trial_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Next:
    """The probe to run next: ``repeat`` 0 is the first probe at ``batch``, 1 its confirmation."""

    batch: int
    repeat: int
    why: str


@dataclass(frozen=True)
class Done:
    reason: str


@dataclass(frozen=True)
class Line:
    """Memory (MiB) = intercept_mb + mb_per_sample * batch."""

    intercept_mb: float
    mb_per_sample: float

    def at(self, batch: float) -> float:
        return self.intercept_mb + self.mb_per_sample * batch

    def batch_at(self, mem_mb: float) -> float:
        """The batch where the line reaches ``mem_mb``; infinity if it never rises."""
        return (mem_mb - self.intercept_mb) / self.mb_per_sample if self.mb_per_sample > 0 else math.inf


def classify_record(record: dict) -> tuple[Outcome, float | None]:
    """A probe's outcome from its trial record: ``fits`` (status ok, with the memory figure the
    search fits: TensorFlow's allocator peak or the fake device's model, else None), ``oom``, or
    ``failed`` (a crash, a timeout, anything else: the search cannot read memory from it)."""
    if record["status"] == "oom":
        return "oom", None
    if record["status"] != "ok":
        return "failed", None
    telemetry = record.get("telemetry") or {}
    if telemetry.get("mem_primary_source") in FITTED_SOURCES:
        return "fits", telemetry.get("mem_primary_mb")
    return "fits", None


# Memory figures a batch's fit is read from (see docs/design.md, "Memory"): never NVML's or RSS.
FITTED_SOURCES = ("tf_allocator_peak", "fake_memory_model")


def on_grid(value: float, step: int) -> int:
    """The largest multiple of ``step`` at or below ``value`` (at least ``step``)."""
    if not math.isfinite(value):
        raise ValueError(f"no grid point for {value}")
    return max(step, int(math.floor(value / step + 1e-9)) * step)


@dataclass(frozen=True)
class State:
    """What the probes so far say: per batch the outcomes, the largest batch whose every probe fit
    (``lo``) and the smallest above it with a probe that ran out of memory (``hi``)."""

    outcomes: dict[int, list[Outcome]]
    memory: dict[int, list[float]]
    lo: int | None
    hi: int | None
    last: ProbeResult | None

    @classmethod
    def of(cls, probes: Sequence[ProbeResult]) -> "State":
        outcomes: dict[int, list[Outcome]] = {}
        memory: dict[int, list[float]] = {}
        for p in probes:
            outcomes.setdefault(p.batch, []).append(p.outcome)
            if p.outcome == "fits" and p.mem_mb is not None:
                memory.setdefault(p.batch, []).append(p.mem_mb)
        fits = [b for b, o in outcomes.items() if all(x == "fits" for x in o)]
        lo = max(fits, default=None)
        failing = [b for b, o in outcomes.items() if "oom" in o and (lo is None or b > lo)]
        return cls(outcomes, memory, lo, min(failing, default=None), probes[-1] if probes else None)

    def fitting_points(self) -> list[tuple[int, float]]:
        """(batch, memory) of the batches whose every probe fit, smallest first (one figure per
        batch: the largest, as the one to stay under)."""
        return sorted((b, max(m)) for b, m in self.memory.items() if all(x == "fits" for x in self.outcomes[b]))

    def local_line(self) -> Line | None:
        """The line through the two largest fitting batches with a memory figure."""
        points = self.fitting_points()
        if len(points) < 2:
            return None
        (x0, y0), (x1, y1) = points[-2], points[-1]
        slope = (y1 - y0) / (x1 - x0)
        return Line(y1 - slope * x1, slope)


def next_probe(config: SearchConfig, limit_mb: float, probes: Sequence[ProbeResult]) -> Next | Done:
    """The search's next probe given every probe so far, in the order they ran (see the module
    docstring); ``Done`` with the reason when the answer is known or cannot be had."""
    failed = next((p for p in probes if p.outcome == "failed"), None)
    if failed is not None:
        return Done(f"the probe at batch {failed.batch} failed ({failed.error or 'no reason given'}); "
                    "the search stops there")
    if not probes:
        return Next(config.start, 0, "seed")
    state = State.of(probes)
    if state.lo is None:
        return _below_start(config, state)
    if state.hi is not None and state.hi <= state.lo + config.step:
        return _confirm(state)
    if state.lo >= config.upper:
        if len(state.outcomes[state.lo]) < 2:
            return Next(state.lo, len(state.outcomes[state.lo]), "confirm")
        return Done(f"batch {state.lo} fits and the search stops at max_batch.upper ({config.upper})")
    if state.hi is None:
        return _upward(config, limit_mb, state)
    return _inside_bracket(config, limit_mb, state)


def _below_start(config: SearchConfig, state: State) -> Next | Done:
    """Even the start ran out of memory: halve toward one step."""
    if state.hi <= config.step:
        return Done(f"batch {state.hi} does not fit: no batch on the grid of {config.step} fits")
    return Next(on_grid(state.hi / 2, config.step), 0, "halve")


def _confirm(state: State) -> Next | Done:
    """The bracket is one step wide: a second probe at each end, then done."""
    for batch in (state.lo, state.hi):
        if len(state.outcomes[batch]) < 2:
            return Next(batch, len(state.outcomes[batch]), "confirm")
    return Done("confirmed" if all(o == "oom" for o in state.outcomes[state.hi])
                else f"batch {state.hi} ran out of memory in only one of its probes")


def _upward(config: SearchConfig, limit_mb: float, state: State) -> Next | Done:
    """No probe has run out of memory yet: seed, then headroom, then predicted (module docstring)."""
    points = state.fitting_points()
    if not points or points[-1][0] != state.lo:
        return Done(f"the probe at batch {state.lo} fit but reported no memory figure to fit (TensorFlow's "
                    "allocator peak on a GPU, or the fake device's memory model)")
    if len(points) == 1:
        batch, mem = points[0]
        guess = batch * (limit_mb - config.headroom * limit_mb) / mem if mem > 0 else math.inf
        return Next(_ahead(config, state.lo, guess), 0, "seed")
    aim = _aim(config, limit_mb, state)
    return Next(_ahead(config, state.lo, state.local_line().batch_at(aim)), 0,
                "predicted" if aim == limit_mb else "headroom")


def _aim(config: SearchConfig, limit_mb: float, state: State) -> float:
    """The memory the next probe aims at: the limit less the headroom while the largest fitting
    probe is further than twice the headroom below the limit (a bent line then errs on the safe
    side, and the next line runs through a point near the limit), else the limit itself."""
    headroom_mb = config.headroom * limit_mb
    return limit_mb - headroom_mb if state.fitting_points()[-1][1] < limit_mb - 2 * headroom_mb else limit_mb


def _ahead(config: SearchConfig, lo: int, guess: float) -> int:
    """``guess`` on the grid, at least one step above ``lo``, at most ``upper`` (doubling where the
    line never reaches the limit)."""
    guess = 2 * lo if not math.isfinite(guess) else guess
    return min(config.upper, max(lo + config.step, on_grid(guess, config.step)))


def _inside_bracket(config: SearchConfig, limit_mb: float, state: State) -> Next:
    """Interpolate after a probe that fit, bisect after one that ran out of memory."""
    lo, hi, step = state.lo, state.hi, config.step
    line = state.local_line()
    if line is not None and state.last is not None and state.last.outcome == "fits":
        guess = line.batch_at(_aim(config, limit_mb, state))
        batch = hi - step if not math.isfinite(guess) else on_grid(guess, step)
        return Next(min(hi - step, max(lo + step, batch)), 0, "interpolate")
    return Next(min(hi - step, max(lo + step, on_grid((lo + hi) / 2, step))), 0, "bisect")


# -- the answer -----------------------------------------------------------------------------------


def verified_batch(probes: Sequence[ProbeResult]) -> int | None:
    """The largest batch that fit in two probes (and never ran out of memory)."""
    state = State.of(probes)
    ok = [b for b, o in state.outcomes.items() if len(o) >= 2 and all(x == "fits" for x in o)]
    return max(ok, default=None)


def oom_batch(probes: Sequence[ProbeResult], verified: int | None, step: int) -> int | None:
    """The next step above ``verified`` when it ran out of memory in both of two probes."""
    if verified is None:
        return None
    outcomes = State.of(probes).outcomes.get(verified + step, [])
    return verified + step if len(outcomes) >= 2 and all(o == "oom" for o in outcomes) else None


def least_squares(points: Sequence[tuple[float, float]]) -> tuple[Line, float | None] | None:
    """The least-squares line through ``points`` and its residual standard deviation (MiB; None
    with two points: nothing left to estimate it); None with fewer than two distinct batches."""
    if len({x for x, _ in points}) < 2:
        return None
    n = len(points)
    mean_x = math.fsum(x for x, _ in points) / n
    mean_y = math.fsum(y for _, y in points) / n
    sxx = math.fsum((x - mean_x) ** 2 for x, _ in points)
    slope = math.fsum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    line = Line(mean_y - slope * mean_x, slope)
    if n < 3:
        return line, None
    return line, math.sqrt(math.fsum((y - line.at(x)) ** 2 for x, y in points) / (n - 2))


def predicted_interval(points: Sequence[tuple[float, float]], limit_mb: float, step: int, upper: int,
                       t_quantile: Callable[[int], float]) -> tuple[int, int] | None:
    """[low, high]: the batches (on the grid) where the 95 % prediction band of the least-squares
    line reaches the limit: low is the largest batch whose band's top stays under it, high the
    largest whose band's bottom does. ``t_quantile(dof)`` is the two-sided 95 % Student t quantile.
    None below three probes (no residual to estimate the band from) or for a line that never rises."""
    fitted = least_squares(points)
    if fitted is None or fitted[1] is None or fitted[0].mb_per_sample <= 0:
        return None
    line, sd = fitted
    n = len(points)
    mean_x = math.fsum(x for x, _ in points) / n
    sxx = math.fsum((x - mean_x) ** 2 for x, _ in points)
    half = lambda x: t_quantile(n - 2) * sd * math.sqrt(1 + 1 / n + (x - mean_x) ** 2 / sxx)  # noqa: E731
    top = _last_under(lambda x: line.at(x) + half(x) <= limit_mb, step, upper)
    bottom = _last_under(lambda x: line.at(x) - half(x) <= limit_mb, step, upper)
    return top, bottom


def _last_under(under: Callable[[int], bool], step: int, upper: int) -> int:
    """The largest grid batch up to ``upper`` with ``under(batch)`` true, for a test true up to a
    point and false after it; ``upper`` itself where it is still true there (the band's bottom
    falls when the residual is large: the data then set no upper bound), 0 where not even ``step``
    passes."""
    if under(upper):
        return upper
    low, high = step, upper
    if not under(low):
        return 0
    while high - low > step:
        mid = on_grid((low + high) / 2, step)
        if mid == low:  # ``upper`` off the grid: nothing on the grid lies between low and high
            break
        low, high = (mid, high) if under(mid) else (low, mid)
    return low


def doubling_bisection_probes(start: int, step: int, largest: int | None, upper: int, confirm: bool = True) -> int:
    """Probes the usual search needs to find ``largest`` (the largest batch that fits, None: not
    even ``step`` fits) on a device where every batch up to it fits and every one above does not:
    double from ``start`` until a probe fails (or ``upper``), then bisect on the grid between the
    last batch that fit and the first that did not. With ``confirm``, the same second probe at each
    end of the bracket that :func:`next_probe` gives, so both searches end as sure of the answer."""
    fits = (lambda b: largest is not None and b <= largest)  # noqa: E731
    count, lo, hi, batch = 0, 0, None, start
    while batch <= upper:
        count += 1
        if not fits(batch):
            hi = batch
            break
        lo, batch = batch, 2 * batch
    if hi is None:  # reached upper without a failure: nothing above to confirm
        return count + (1 if confirm and lo else 0)
    while hi - lo > step:
        mid = on_grid((lo + hi) / 2, step) if lo else on_grid(hi / 2, step)
        count += 1
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return count + ((1 if lo else 0) + 1 if confirm else 0)


def run_offline(config: SearchConfig, limit_mb: float, memory_mb: Callable[[int], float],
                max_probes: int = 200) -> list[ProbeResult]:
    """The search against a memory model (``memory_mb(batch)``; a batch fits when that is at most
    ``limit_mb``): the probes it runs, in order. For tests and for sizing a search."""
    probes: list[ProbeResult] = []
    while len(probes) < max_probes:
        decision = next_probe(config, limit_mb, probes)
        if isinstance(decision, Done):
            return probes
        mem = memory_mb(decision.batch)
        fits = mem <= limit_mb
        probes.append(ProbeResult(decision.batch, decision.repeat, "fits" if fits else "oom", mem if fits else None))
    raise RuntimeError(f"the search did not end within {max_probes} probes")


def seed_prediction(config: SearchConfig, limit_mb: float, probes: Sequence[ProbeResult]) -> int | None:
    """Where the line through the first two fitting probes (the seeds, far below the limit) puts the
    largest batch that fits: the prediction made before any probe near the limit."""
    seeds = [(p.batch, p.mem_mb) for p in probes if p.outcome == "fits" and p.mem_mb is not None]
    seeds = list({b: (b, m) for b, m in seeds}.values())[:2]
    if len(seeds) < 2:
        return None
    (x0, y0), (x1, y1) = seeds
    line = Line(y0 - (y1 - y0) / (x1 - x0) * x0, (y1 - y0) / (x1 - x0))
    guess = line.batch_at(limit_mb)
    return on_grid(guess, config.step) if math.isfinite(guess) and guess >= config.step else None


def summarize_search(config: SearchConfig, limit_mb: float | None, probes: Sequence[ProbeResult], reason: str,
                     t_quantile: Callable[[int], float]) -> dict:
    """run.json's ``max_batch`` entry for one curve (``record.MaxBatch``, less ``curve``): the fit
    over every fitting probe and where it reaches the limit (``predicted``, with its interval), the
    seeds' prediction, ``verified``, ``oom_at``, the probes in the order they ran, and the count
    the usual doubling-and-bisection search would need for the same answer."""
    verified = verified_batch(probes)
    points = State.of(probes).fitting_points()
    fitted = least_squares(points) if limit_mb else None
    predicted = None
    if fitted is not None and math.isfinite(fitted[0].batch_at(limit_mb)) and fitted[0].batch_at(limit_mb) >= config.step:
        predicted = on_grid(fitted[0].batch_at(limit_mb), config.step)
    interval = predicted_interval(points, limit_mb, config.step, config.upper, t_quantile) if limit_mb else None
    return {"limit_mb": limit_mb, "headroom_mb": config.headroom * limit_mb if limit_mb else None,
            "step": config.step, "start": config.start, "predicted": predicted,
            "predicted_interval": list(interval) if interval else None,
            "seed_predicted": seed_prediction(config, limit_mb, probes) if limit_mb else None,
            "verified": verified, "oom_at": oom_batch(probes, verified, config.step),
            "fit": None if fitted is None else {"intercept_mb": fitted[0].intercept_mb,
                                                "mb_per_sample": fitted[0].mb_per_sample,
                                                "residual_mb": fitted[1], "points": len(points)},
            "probes": [p.trial_id for p in probes if p.trial_id is not None], "probe_count": len(probes),
            "doubling_bisection_probes": doubling_bisection_probes(config.start, config.step, verified, config.upper)
            if verified is not None else None,
            "stop_reason": reason}
