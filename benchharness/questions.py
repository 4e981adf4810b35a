"""The questions a run can answer, derived from what its sweep varied, each answered in words with
its uncertainty, or declined with what to sweep to answer it (step 14).

In the order a reviewer asks them: batch size (does a larger batch pay off), sparsity (what does
pruning cost and save), model (which model is fastest, smallest, most accurate), runtime options
(what does each buy). A question is asked only where the run varied its key *inside a comparable
group*: a curve with one batch size gets no batch answer, one model no model comparison.

Pure functions over loaded runs (anything with ``name``, ``info`` and ``records``); the answers
of the batch question are ``analyze.Recommendation``s, made by the report's ``curves``.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from benchharness import stats
from benchharness.analyze import batch_points, describe_group, trust_flags
from benchharness.pruning.speed import speed_vs_dense_words
from benchharness.stats import ratio_words

# A pruned model "keeps its accuracy" while its test accuracy is at most this far below dense
# (absolute: 0.01 = one percentage point), the pruning guide's scale of loss (0.9808 -> 0.9699).
ACCURACY_TOLERANCE = 0.01
# Runtime options a report compares where they vary: params first, then run-wide runtime settings.
PARAM_OPTIONS = ("steps_per_execution",)
RUNTIME_OPTIONS = ("mixed_precision", "xla")
NOT_A_DIFFERENCE = ("timeout_s", "repeats")
WITHIN_TRIALS = "one process on a side"  # ratio_between's interval where a side rests on one trial
Z95 = 1.959963984540054  # the two-sided 95 % normal quantile (accuracy intervals)


@dataclass
class Declined:
    """A question this run cannot answer: why, and what to sweep to answer it."""

    key: str
    title: str
    why: str
    to_answer: str


TITLES = {
    "batch_size": "When does a larger batch pay off?",
    "sparsity": "What does pruning cost and save?",
    "model": "Which model is fastest, smallest and most accurate?",
    "options": "What does each runtime option buy?",
}


# -- ratios in words ----------------------------------------------------------------------------------


def ratio_between(base: list[dict], head: list[dict]) -> tuple[float, tuple[float, float] | None, str]:
    """head / base steady throughput of two groups of ok records (one point each), with a 95 %
    interval and what it is over: Welch t over the trials' log figures with two or more trials a
    side; else each side's own interval (a single trial's windows, or the other side's repeats),
    ends over opposite ends (``WITHIN_TRIALS`` when one side or both rest on one process); else,
    or where an interval reaches 0 (two repeats far apart: t(1) is 12.7), none, and why."""
    left, right = (batch_points(records)[0] for records in (base, head))
    ratio = right.throughput / left.throughput
    if len(left.throughputs) >= 2 and len(right.throughputs) >= 2:
        r = stats.ratio_of_trials(left.throughputs, right.throughputs, confidence=stats.CONFIDENCE)
        return r.ratio, (r.low, r.high), f"over {len(left.throughputs)} and {len(right.throughputs)} trials"
    if left.interval is None or right.interval is None:
        return ratio, None, "a side has a single window"
    if min(left.interval.low, right.interval.low) <= 0:
        return ratio, None, "a side's interval reaches 0 (its repeats spread too far to bound a ratio)"
    r = stats.ratio_of_intervals(left.interval, right.interval)
    return r.ratio, (r.low, r.high), WITHIN_TRIALS


# -- binomial accuracy ----------------------------------------------------------------------------


def accuracy_interval(accuracy: float, samples: int) -> tuple[float, float]:
    """The 95 % Wilson interval of a test accuracy over ``samples`` test samples: the test set's
    sampling error only (one training seed: the seed-to-seed spread is not in it)."""
    z = Z95
    centre = (accuracy + z * z / (2 * samples)) / (1 + z * z / samples)
    half = z * math.sqrt(accuracy * (1 - accuracy) / samples + z * z / (4 * samples * samples)) / (1 + z * z / samples)
    return centre - half, centre + half


def _mean_accuracy(records: list[dict]) -> tuple[float | None, int]:
    """Mean test accuracy over ok records that have one, and the test samples of each."""
    found = [(r["eval"]["accuracy"], r["eval"]["samples"]) for r in records
             if (r.get("eval") or {}).get("accuracy") is not None]
    if not found:
        return None, 0
    return statistics.fmean(a for a, _ in found), min(n for _, n in found)


def _ok_trials(records: list[dict]) -> list[dict]:
    """The ok planned trials that measured a throughput (no probe, no trial trained to a target)."""
    return [r for r in records if r["status"] == "ok" and r.get("role", "trial") == "trial" and not r.get("tta")
            and r.get("throughput_sps") is not None]


def _key_without(params: dict, *names: str) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in params.items() if k not in names + NOT_A_DIFFERENCE))


def _groups(records: list[dict], *varying: str) -> list[list[dict]]:
    """``records`` split by their params except ``varying``, in first-seen order."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault(_key_without(r["params"], *varying), []).append(r)
    return list(groups.values())


# -- sparsity -------------------------------------------------------------------------------------------


@dataclass
class SparsityPoint:
    sparsity: float
    records: list[dict]
    accuracy: float | None
    accuracy_ci: tuple[float, float] | None
    sizes: dict  # bytes: keras_zip_bytes, tflite_zip_bytes, tflite_quant_zip_bytes (None: not measured)
    size_ratio: float | None = None  # dense zipped Keras bytes / this point's: "3.1x smaller"
    quant_ratio: float | None = None  # dense zipped Keras bytes / this point's zipped quantized TFLite
    speed: str = ""  # throughput against dense, in words with its interval
    vs_dense: float | None = None
    vs_dense_ci: tuple[float, float] | None = None
    loss: float | None = None  # dense accuracy minus this point's, absolute (0.01 = one point)
    loss_ci: tuple[float, float] | None = None  # its 95 % interval over the test samples


@dataclass
class PruningAnswer:
    label: str
    dense: SparsityPoint
    pruned: list[SparsityPoint]
    tolerance: float
    chosen: SparsityPoint | None = None
    decided: bool = False  # the chosen point's loss interval is within the tolerance, the next one's beyond it
    missing: list[tuple[float, str]] = field(default_factory=list)  # sparsities with no ok trial, and why
    note: str | None = None  # what qualifies the comparison (a dense trial measured with epochs: auto)
    headline: str = ""
    flags: list[str] = field(default_factory=list)


def sparsity_point(sparsity: float, records: list[dict]) -> SparsityPoint:
    accuracy, samples = _mean_accuracy(records)
    sizes = {k: (records[0].get("sizes") or {}).get(k) for k in
             ("keras_zip_bytes", "tflite_zip_bytes", "tflite_quant_zip_bytes")}
    ci = accuracy_interval(accuracy, samples) if accuracy is not None and samples else None
    return SparsityPoint(sparsity, records, accuracy, ci, sizes)


def _with_dense(point: SparsityPoint, dense: SparsityPoint, run_records: list[dict]) -> SparsityPoint:
    """The point's size ratios, accuracy loss and speed against dense: the record's stored
    ``throughput_vs_dense`` and its interval where its dense peer (``assemble.dense_peer`` over
    ``run_records``) is this group's dense trial; else computed from both sides' figures."""
    from benchharness.assemble import dense_peer

    base = dense.sizes.get("keras_zip_bytes")
    if base:
        point.size_ratio = _over(base, point.sizes.get("keras_zip_bytes"))
        point.quant_ratio = _over(base, point.sizes.get("tflite_quant_zip_bytes"))
    point.loss, point.loss_ci = accuracy_loss(dense, point)
    pruning, caveat = point.records[0].get("pruning") or {}, load_caveat(dense.records, point.records)
    peer = dense_peer(point.records[0], run_records) if len(point.records) == 1 else None
    if pruning.get("throughput_vs_dense") is not None and any(peer is r for r in dense.records):
        point.vs_dense, point.vs_dense_ci = pruning["throughput_vs_dense"], _pair(pruning.get("throughput_vs_dense_ci"))
        point.speed = speed_vs_dense_words(pruning, caveat)
    else:
        point.vs_dense, point.vs_dense_ci, why = ratio_between(dense.records, point.records)
        point.speed = ratio_words(point.vs_dense, point.vs_dense_ci, missing=why, caveat=caveat,
                                  one_process_a_side=why == WITHIN_TRIALS)
    return point


def accuracy_loss(dense: SparsityPoint, point: SparsityPoint) -> tuple[float | None, tuple[float, float] | None]:
    """Dense test accuracy minus the point's, with the 95 % normal interval of the difference of two
    test-set proportions (each side's sampling error over its test samples; one seed each)."""
    if dense.accuracy is None or point.accuracy is None:
        return None, None
    loss = dense.accuracy - point.accuracy
    n_dense, n_point = (_mean_accuracy(p.records)[1] for p in (dense, point))
    if not n_dense or not n_point:
        return loss, None
    se = math.sqrt(dense.accuracy * (1 - dense.accuracy) / n_dense + point.accuracy * (1 - point.accuracy) / n_point)
    return loss, (loss - Z95 * se, loss + Z95 * se)


def load_caveat(base: list[dict], head: list[dict]) -> str | None:
    """Why two sides' within-process intervals cannot separate them: a side measured on a busy
    machine (other work on the host's CPUs or the GPU). Windows of one process see the load it
    ran under, not a load that differed between the trials: a pruned trial measured alone on a
    quiet machine once read 1.70x its busy dense peer. None when neither side was busy, or when
    each side has repeats (their spread then holds the load's)."""
    if len(base) >= 2 and len(head) >= 2:
        return None
    busy = [(side, r) for side, records in (("the baseline", base), ("the compared trial", head)) for r in records
            if (r.get("telemetry") or {}).get("busy")]
    if not busy:
        return None
    side, record = busy[0]
    reason = record["telemetry"].get("busy_reason") or "other work ran"
    return (f"{side} ran on a busy machine ({reason}); windows of one process cannot tell a load that differed "
            "between the trials from a speed difference: rerun on a quiet machine or with repeats")


def _over(base: float, value: float | None) -> float | None:
    return base / value if value else None


def _pair(value) -> tuple[float, float] | None:
    return (value[0], value[1]) if value else None


def pruning_answers(records: list[dict], tolerance: float = ACCURACY_TOLERANCE, prefix: str = "") -> list[PruningAnswer]:
    """One trade-off per group of trials alike but for sparsity (``pruning_groups``) that holds an
    ok dense trial and an ok pruned one: the largest sparsity whose accuracy stays within
    ``tolerance`` of dense, with its size and speed ratios; sparsities with no ok trial are named
    with their status. ``records``: one run's; ``prefix`` goes before each label (the run's name)."""
    from benchharness.analyze import overlapping_trials

    overlaps, out = overlapping_trials(records), []
    for group, note in pruning_groups(records):
        by_sparsity: dict[float, list[dict]] = {}
        for r in _ok_trials(group):
            by_sparsity.setdefault(float(r["params"].get("sparsity") or 0.0), []).append(r)
        if 0.0 not in by_sparsity or len(by_sparsity) < 2:
            continue
        dense = sparsity_point(0.0, by_sparsity.pop(0.0))
        pruned = [_with_dense(sparsity_point(sp, rs), dense, records) for sp, rs in sorted(by_sparsity.items())]
        answer = PruningAnswer(prefix + _pruning_label(group), dense, pruned, tolerance,
                               missing=_missing(group, by_sparsity), note=note)
        answer.chosen, answer.decided = _largest_within(answer)
        answer.headline = _pruning_headline(answer)
        answer.flags = trust_flags(_ok_trials(group), overlaps)
        out.append(answer)
    return out


def pruning_groups(records: list[dict]) -> list[tuple[list[dict], str | None]]:
    """The planned trials (no probe, none trained to a target) split into groups alike but for
    sparsity, each pruned ``epochs`` value its own group. The plan gives pruned trials fixed epochs
    and may leave their dense peer on ``epochs: auto``: such a dense trial joins each group that
    has no dense trial of its own, with a note that it trained for another number of epochs."""
    planned = [r for r in records if r.get("role", "trial") == "trial" and not r.get("tta")]
    out = []
    for group in _groups(planned, "sparsity", "epochs"):
        dense = [r for r in group if not r["params"].get("sparsity")]
        by_epochs: dict[str, list[dict]] = {}
        for r in (r for r in group if r["params"].get("sparsity")):
            by_epochs.setdefault(str(r["params"].get("epochs")), []).append(r)
        for epochs, pruned in by_epochs.items():
            own = [r for r in dense if str(r["params"].get("epochs")) == epochs]
            auto = [r for r in dense if r["params"].get("epochs") == "auto"]
            note = None if own or not auto else (
                f"the dense trial measured with epochs: auto and trained its own number of epochs, the pruned ones "
                f"{epochs}: the accuracy loss compares unequal training, and the speed ratio sets whole epochs "
                "against windows of steps")
            out.append((own + pruned if own else auto + pruned, note))
    return out


def _missing(group: list[dict], measured: dict) -> list[tuple[float, str]]:
    """The pruned sparsities of ``group`` with no ok trial, each with its trials' statuses."""
    pruned = [r for r in group if r["params"].get("sparsity")]
    return sorted((float(sp), status) for sp, status in _statuses_of_missing(pruned, "sparsity", set(measured)))


def _pruning_label(group: list[dict]) -> str:
    p = group[0]["params"]
    return f"{p['model']} on {p['dataset']}, batch {p['batch_size']}"


def _largest_within(a: PruningAnswer) -> tuple[SparsityPoint | None, bool]:
    """The largest sparsity whose accuracy loss is within the tolerance by the point estimates, and
    whether that is decided: its loss's interval lies within the tolerance, the next sparsity's
    beyond it (a larger one that did not complete leaves it open), no smaller one lost more than the
    tolerance, and the dense trial trained as long (no ``note``)."""
    kept = [p for p in a.pruned if p.loss is not None and p.loss <= a.tolerance]
    if not kept:
        return None, False
    chosen = kept[-1]
    larger = [p for p in a.pruned if p.sparsity > chosen.sparsity and p.loss is not None]
    inside = chosen.loss_ci is not None and chosen.loss_ci[1] <= a.tolerance
    beyond = (larger[0].loss_ci is not None and larger[0].loss_ci[0] > a.tolerance) if larger else True
    untried = any(sp > chosen.sparsity for sp, _ in a.missing)
    return chosen, inside and beyond and not untried and not _lost_below(a, chosen) and a.note is None


def _lost_below(a: PruningAnswer, chosen: SparsityPoint) -> list[SparsityPoint]:
    """Smaller sparsities than ``chosen`` that lost more than the tolerance (losses need not grow)."""
    return [p for p in a.pruned if p.sparsity < chosen.sparsity and p.loss is not None and p.loss > a.tolerance]


def _pruning_headline(a: PruningAnswer) -> str:
    dense, tol = a.dense, _points(a.tolerance)
    if dense.accuracy is None or all(p.accuracy is None for p in a.pruned):
        text = (f"{a.label}: no test accuracy was measured for {'dense' if dense.accuracy is None else 'any pruned trial'}"
                ", so no sparsity can be said to keep it; " + "; ".join(f"sparsity {p.sparsity:g}: {p.speed}"
                                                                       for p in a.pruned))
    elif a.chosen is None:
        lightest = next(p for p in a.pruned if p.accuracy is not None)
        text = (f"{a.label}: no sparsity tried keeps test accuracy within {tol} of dense ({dense.accuracy:.4f}): "
                f"the lightest, {lightest.sparsity:g}, reaches {_accuracy(lightest)}; try a lower sparsity or a "
                "longer pruning schedule")
    else:
        text = _chosen_text(a)
    for sparsity, status in a.missing:
        text += f"; sparsity {sparsity:g} did not complete ({status})"
    return text + (f"; note: {a.note}" if a.note else "") + "."


def _chosen_text(a: PruningAnswer) -> str:
    c, dense, tol = a.chosen, a.dense, _points(a.tolerance)
    seeds = "" if min(len(c.records), len(dense.records)) >= 2 else "; one seed each, so run-to-run spread is not in it"
    state = (f"decided over the test samples: the loss, {_loss_text(c)}, lies within {tol}{seeds}" if a.decided
             else f"by the point estimates, not decided: the loss is {_loss_text(c)}")
    text = (f"{a.label}: sparsity {c.sparsity:g} is the largest that keeps test accuracy within {tol} of dense "
            f"({_accuracy(c)} against {_accuracy(dense)}; {state})")
    if c.size_ratio:
        text += f"; zipped it is {c.size_ratio:.1f}x smaller"
        text += f" ({c.quant_ratio:.1f}x as a quantized TFLite model)" if c.quant_ratio else ""
    text += f"; training speed against dense: {c.speed}"
    beyond = [p for p in a.pruned if p.sparsity > c.sparsity and p.loss is not None]
    if beyond:
        text += "; beyond it " + ", ".join(f"{p.sparsity:g} loses {p.loss * 100:.1f} points" for p in beyond)
    below = _lost_below(a, c)
    if below:
        text += "; yet " + ", ".join(f"{p.sparsity:g} lost {p.loss * 100:.1f} points" for p in below)
    return text


def _loss_text(point: SparsityPoint) -> str:
    """"0.3 points, 95 % -0.6 to +1.3": the loss and its interval, in the same sign (a loss > 0)."""
    return f"{point.loss * 100:.1f} points, 95 % {_loss_span(point)}"


def _loss_span(point: SparsityPoint) -> str:
    if point.loss_ci is None:
        return "unknown: no test sample count"
    return f"{point.loss_ci[0] * 100:+.1f} to {point.loss_ci[1] * 100:+.1f}"


def _points(tolerance: float) -> str:
    """An accuracy tolerance in percentage points, in words: "1.0 point", "0.5 points"."""
    return f"{tolerance * 100:.1f} point{'' if round(tolerance * 100, 1) == 1.0 else 's'}"


def _accuracy(point: SparsityPoint) -> str:
    if point.accuracy is None:
        return "no accuracy"
    if point.accuracy_ci is None:
        return f"{point.accuracy:.4f}"
    return f"{point.accuracy:.4f}, 95 % {point.accuracy_ci[0]:.4f}-{point.accuracy_ci[1]:.4f}"


# -- model ------------------------------------------------------------------------------------------


@dataclass
class ModelRow:
    model: str
    batch_size: int
    throughput: float
    interval: tuple[float, float] | None
    n: int
    flops_per_sample: float | None
    mfu: float | None
    weight_bytes: float | None
    zip_bytes: int | None
    accuracy: float | None
    accuracy_ci: tuple[float, float] | None  # 95 % Wilson interval over the test samples
    best_batch: int  # the batch where this model's throughput was highest (any batch it ran)
    best_throughput: float


@dataclass
class ModelComparison:
    label: str
    batch_size: int | None  # the batch every model ran (None: each at its own best)
    rows: list[ModelRow]
    headline: str = ""
    fastest_decided: bool = False
    flags: list[str] = field(default_factory=list)


def model_comparisons(records: list[dict], prefix: str = "") -> list[ModelComparison]:
    """Side by side, per group of trials alike but for model and batch size that holds two or more
    models: each model at the largest batch every model ran (else each at its best)."""
    from benchharness.analyze import overlapping_trials

    overlaps, out = overlapping_trials(records), []
    planned = [r for r in records if r.get("role", "trial") == "trial" and not r.get("tta")]
    for every in _groups(planned, "model", "batch_size"):
        group, by_model = _ok_trials(every), {}
        for r in group:
            by_model.setdefault(r["params"]["model"], []).append(r)
        if len(by_model) < 2:
            continue
        common = set.intersection(*({r["params"]["batch_size"] for r in rs} for rs in by_model.values()))
        batch = max(common) if common else None
        rows = [_model_row(model, rs, batch) for model, rs in by_model.items()]
        comparison = ModelComparison(f"{prefix}Models on {group[0]['params']['dataset']}", batch, rows,
                                     flags=trust_flags(group, overlaps))
        comparison.headline, comparison.fastest_decided = _models_headline(comparison, group)
        comparison.headline += "".join(f" {model} did not complete ({status})." for model, status
                                       in _statuses_of_missing(every, "model", set(by_model)))
        out.append(comparison)
    return out


def _statuses_of_missing(group: list[dict], key: str, measured: set) -> list[tuple[object, str]]:
    """The values of ``key`` in ``group`` with no ok trial, each with its trials' statuses."""
    statuses: dict = {}
    for r in group:
        value = r["params"].get(key)
        if value not in measured and r["status"] != "ok":
            statuses.setdefault(value, set()).add(r["status"])
    return [(value, ", ".join(sorted(found))) for value, found in statuses.items()]


def _model_row(model: str, records: list[dict], batch: int | None) -> ModelRow:
    points = batch_points(records)
    best = max(points, key=lambda p: p.throughput or 0.0)
    point = next(p for p in points if p.batch_size == batch) if batch is not None else best
    interval = point.interval
    first = point.records[0]
    accuracy, samples = _mean_accuracy(point.records)
    return ModelRow(model, point.batch_size, point.throughput, (interval.low, interval.high) if interval else None,
                    point.n, first.get("flops_per_sample"), _median(r.get("mfu") for r in point.records),
                    (first.get("cost") or {}).get("weight_bytes"), (first.get("sizes") or {}).get("keras_zip_bytes"),
                    accuracy, accuracy_interval(accuracy, samples) if accuracy is not None and samples else None,
                    best.batch_size, best.throughput)


def _median(values) -> float | None:
    found = [v for v in values if v is not None]
    return statistics.median(found) if found else None


def _models_headline(c: ModelComparison, group: list[dict]) -> tuple[str, bool]:
    """Fastest (decided when its interval clears the runner-up's), smallest, most accurate, MFU."""
    ranked = sorted(c.rows, key=lambda r: r.throughput, reverse=True)
    top, second = ranked[0], ranked[1]
    where = f"at batch {c.batch_size}" if c.batch_size is not None else "each at its best batch"
    decided, verdict = _fastest_verdict(top, second, group)
    text = (f"{c.label}, {where}: fastest is {top.model} ({_sps(top)}), {top.throughput / second.throughput:.2f}x "
            f"the throughput of {second.model}, the runner-up ({verdict})")
    text += ". " + _smallest(c.rows)
    text += " " + _most_accurate(c.rows, group)
    mfus = [r for r in c.rows if r.mfu is not None]
    if mfus:
        text += " MFU: " + ", ".join(f"{r.model} {r.mfu:.2%}" for r in mfus) + "."
    return text, decided


def _sps(row: ModelRow) -> str:
    if row.interval is None:
        return f"{row.throughput:,.0f} samples/s, no interval"
    return f"{row.throughput:,.0f} samples/s, 95 % interval {row.interval[0]:,.0f}-{row.interval[1]:,.0f}"


def _fastest_verdict(top: ModelRow, second: ModelRow, group: list[dict]) -> tuple[bool, str]:
    """Whether the fastest is decided, in words: its interval clears the runner-up's; over one
    process a side that holds for this pair of processes, and not where one of them ran busy."""
    if not (top.interval and second.interval):
        return False, "not decided: a single steady window has no interval"
    if top.interval[0] <= second.interval[1]:
        return False, f"undecided: its interval overlaps {second.model}'s"
    sides = [[r for r in group if r["params"]["model"] == row.model and r["params"]["batch_size"] == row.batch_size]
             for row in (second, top)]
    caveat = load_caveat(*sides)
    if caveat:
        return False, f"not decided although the intervals separate: {caveat}"
    if min(len(side) for side in sides) < 2:
        return True, (f"decided for these processes: its interval clears {second.model}'s; one process a side does "
                      "not show the spread between processes: repeats would")
    return True, f"decided: its interval over the repeats clears {second.model}'s"


def _smallest(rows: list[ModelRow]) -> str:
    """The smallest model by one measure for all: zipped Keras bytes where every model has them,
    else the weights' bytes."""
    for size, unit in ((lambda r: r.zip_bytes, "MB zipped"), (lambda r: r.weight_bytes, "MB of weights")):
        if all(size(r) for r in rows):
            small = min(rows, key=size)
            return f"Smallest: {small.model} ({size(small) / 1e6:.2f} {unit})."
    return "Smallest: not answered: not every model's size was measured."


def _most_accurate(rows: list[ModelRow], group: list[dict]) -> str:
    """The most accurate model, decided when its Wilson interval over the test samples clears the
    runner-up's; never on synthetic data (random labels: accuracy measures nothing)."""
    if group[0]["params"]["dataset"] == "synthetic":
        return "Most accurate: not answered: synthetic data measures speed, not accuracy."
    scored = sorted((r for r in rows if r.accuracy is not None), key=lambda r: r.accuracy, reverse=True)
    if len(scored) < 2:
        return "Most accurate: not answered: test accuracy was measured for fewer than two models."
    best, second = scored[0], scored[1]
    if best.accuracy_ci and second.accuracy_ci and best.accuracy_ci[0] > second.accuracy_ci[1]:
        state = f"decided: its 95 % interval clears {second.model}'s"
    else:
        state = f"undecided: its interval overlaps {second.model}'s ({second.accuracy:.4f})"
    return f"Most accurate: {best.model} ({best.accuracy:.4f}; {state})."


# -- runtime options ------------------------------------------------------------------------------


@dataclass
class OptionEffect:
    option: str
    base: object
    value: object
    label: str
    ratio: float
    interval: tuple[float, float] | None
    words: str
    decided: bool = False  # the interval excludes 1 and nothing withholds the claim
    flags: list[str] = field(default_factory=list)


def _with_options(runs) -> list[dict]:
    """Every run's ok trials, their params joined by the run's runtime options (run-wide settings);
    a param option a record lacks (written before it existed) at its default."""
    from benchharness.scenario import Params

    defaults = {k: Params.model_fields[k].default for k in PARAM_OPTIONS}
    out = []
    for run in runs:
        runtime = ((run.info.get("scenario") or {}).get("resolved") or {}).get("runtime") or {}
        # Everything else run-wide must match too: another host, GPU model or strategy is no option's doing.
        setting = {f"runtime.{k}": str(v) for k, v in runtime.items() if k not in RUNTIME_OPTIONS} | _machine(run.info)
        for r in _ok_trials(run.records):
            options = {k: bool(runtime.get(k, False)) for k in RUNTIME_OPTIONS}
            params = r["params"] | {k: v for k, v in defaults.items() if r["params"].get(k) is None}
            out.append(r | {"params": params | options | setting, "run_name": run.name})
    return out


def _machine(info: dict) -> dict:
    """The host and GPU model a run measured on, as grouping keys."""
    environment = info.get("environment") or {}
    gpus = environment.get("gpus") or []
    return {"host": str(environment.get("host")),
            "gpu": ", ".join(sorted({str(g.get("name")) for g in gpus if isinstance(g, dict)}))}


def option_effects(runs) -> list[OptionEffect]:
    """What each runtime option buys where it varies: throughput with it over without (the default,
    or the smallest value), per group of trials alike in everything else, with the interval."""
    records = _with_options(runs)
    effects = []
    for option in PARAM_OPTIONS + RUNTIME_OPTIONS:
        if len({str(r["params"].get(option)) for r in records}) < 2:
            continue
        for group in _groups(records, option):
            by_value: dict = {}
            for r in group:
                by_value.setdefault(r["params"].get(option), []).append(r)
            if len(by_value) < 2:
                continue
            base = min(by_value, key=lambda v: (v is not False, v))
            label = describe_group(group) + f", batch {group[0]['params']['batch_size']}"
            effects += [_effect(option, base, value, label, by_value[base], by_value[value])
                        for value in by_value if value != base]
    return effects


def _effect(option: str, base, value, label: str, without: list[dict], with_: list[dict]) -> OptionEffect:
    from benchharness.analyze import overlapping_trials

    ratio, interval, why = ratio_between(without, with_)
    caveat = load_caveat(without, with_)
    words = ratio_words(ratio, interval, missing=why, caveat=caveat, one_process_a_side=why == WITHIN_TRIALS)
    decided = interval is not None and not interval[0] <= 1.0 <= interval[1] and caveat is None
    runs = {r["run_name"] for r in without + with_}
    overlaps = overlapping_trials(without + with_) if len(runs) == 1 else {}
    return OptionEffect(option, base, value, label, ratio, interval, words, decided,
                        trust_flags(without + with_, overlaps))


# -- the questions of a run -----------------------------------------------------------------------


@dataclass
class Questions:
    """What a report answers, in the order it asks, and what it declines."""

    batch: list  # analyze.Recommendation: the curves with two or more batch sizes
    pruning: list[PruningAnswer]
    models: list[ModelComparison]
    options: list[OptionEffect]
    declined: list[Declined]

    @property
    def answered(self) -> list[str]:
        found = {"batch_size": self.batch, "sparsity": self.pruning, "model": self.models, "options": self.options}
        return [key for key, answers in found.items() if answers]


def ask(runs, recommendations: list, tolerance: float = ACCURACY_TOLERANCE, has_tta: bool = False) -> Questions:
    """The questions of ``runs``: ``recommendations`` are every curve's (the report's ``curves``), of
    which those with two or more batch sizes answer the batch question; ``tolerance`` the accuracy
    tolerance of the pruning answer; ``has_tta``: time to accuracy answers the batch question its way."""
    q = Questions([rec for rec in recommendations if len(rec.points) >= 2], [], [], option_effects(runs), [])
    for run, name in zip(runs, run_names(runs)):  # a run's trials are compared with each other only
        prefix = f"{name}: " if len(runs) > 1 else ""
        q.pruning += pruning_answers(run.records, tolerance, prefix)
        q.models += model_comparisons(run.records, prefix)
    q.declined = _declined(q, runs, has_tta)
    return q


def run_names(runs) -> list[str]:
    """Each run's name (its directory's), numbered where two runs share one."""
    names = [run.name for run in runs]
    return [f"{name} ({names[:i].count(name) + 1})" if names.count(name) > 1 else name
            for i, name in enumerate(names)]


def _declined(q: Questions, runs, has_tta: bool) -> list[Declined]:
    """The four questions the runs cannot answer, each with why and what to sweep."""
    trials = _ok_trials([r for run in runs for r in run.records])
    out = []
    if not q.batch and not has_tta:
        batches = sorted({r["params"]["batch_size"] for r in trials})
        why = (f"every curve ran one batch size ({', '.join(map(str, batches))})" if batches
               else "no trial measured a throughput")
        out.append(Declined("batch_size", TITLES["batch_size"], why,
                            "sweep batch_size, e.g. [32, 64, 128, 256] (scenarios/batch_sweep.yaml)"))
    if not q.pruning:
        out.append(Declined("sparsity", TITLES["sparsity"], _why_no_pruning(runs),
                            "sweep sparsity, e.g. [0.0, 0.5, 0.8], with prune_after_dense_epochs "
                            "(scenarios/pruning_sweep.yaml)"))
    if not q.models:
        models = sorted({r["params"]["model"] for r in trials})
        out.append(Declined("model", TITLES["model"],
                            f"one model in each comparable group ({', '.join(models) or 'none measured'})",
                            "sweep model, e.g. [mobilenet_v2, shufflenet_v2] (scenarios/models_sweep.yaml)"))
    if not q.options:
        varied = [k for k in PARAM_OPTIONS + RUNTIME_OPTIONS
                  if len({str(r["params"].get(k)) for r in _with_options(runs)}) > 1]
        why = (f"{' and '.join(varied)} varied, but no two ok trials alike in everything else differ in it alone"
               if varied else "no runtime option varied")
        out.append(Declined("options", TITLES["options"], why,
                            "sweep steps_per_execution, e.g. [1, 4]; mixed precision and XLA are run-wide: run the "
                            "scenario again with runtime.mixed_precision (or xla) true and report both run "
                            "directories together"))
    return out


def _why_no_pruning(runs) -> str:
    planned = [r for run in runs for r in run.records if r.get("role", "trial") == "trial" and not r.get("tta")]
    pruned = [r for r in planned if r["params"].get("sparsity")]
    if not pruned:
        return "no throughput trial was pruned"
    if not any(r["status"] == "ok" for r in pruned):
        return "no pruned trial completed (" + ", ".join(sorted({f"{r['params']['sparsity']:g}: {r['status']}"
                                                                 for r in pruned})) + ")"
    return "no ok dense trial (sparsity 0) alike to compare with"


def questions_json(q: Questions) -> dict:
    """The answers for scripts and CI (``report --format json``)."""
    from benchharness.analyze import answer_json

    return {"answered": q.answered,
            "batch_size": [answer_json(rec) for rec in q.batch],
            "sparsity": [_pruning_json(a) for a in q.pruning],
            "model": [_comparison_json(c) for c in q.models],
            "options": [{"option": e.option, "base": e.base, "value": e.value, "curve": e.label, "ratio": e.ratio,
                         "ratio_ci": list(e.interval) if e.interval else None, "words": e.words,
                         "decided": e.decided, "flags": e.flags} for e in q.options],
            "not_answered": [{"question": d.key, "title": d.title, "why": d.why, "to_answer": d.to_answer}
                             for d in q.declined]}


def _pruning_json(a: PruningAnswer) -> dict:
    def point(p: SparsityPoint) -> dict:
        return {"sparsity": p.sparsity, "accuracy": p.accuracy, "accuracy_ci": list(p.accuracy_ci or []) or None,
                "size_ratio": p.size_ratio, "quant_ratio": p.quant_ratio, "throughput_vs_dense": p.vs_dense,
                "throughput_vs_dense_ci": list(p.vs_dense_ci) if p.vs_dense_ci else None, "speed": p.speed,
                "accuracy_loss": p.loss, "accuracy_loss_ci": list(p.loss_ci) if p.loss_ci else None, **p.sizes}

    return {"group": a.label, "accuracy_tolerance": a.tolerance, "headline": a.headline, "flags": a.flags,
            "largest_sparsity_within_tolerance": a.chosen.sparsity if a.chosen else None, "decided": a.decided,
            "not_completed": [{"sparsity": sp, "status": status} for sp, status in a.missing],
            "dense": point(a.dense), "pruned": [point(p) for p in a.pruned]}


def _comparison_json(c: ModelComparison) -> dict:
    rows = [{"model": r.model, "batch_size": r.batch_size, "throughput_sps": r.throughput,
             "throughput_ci_sps": list(r.interval) if r.interval else None, "n": r.n,
             "flops_per_sample": r.flops_per_sample, "mfu": r.mfu, "weight_bytes": r.weight_bytes,
             "keras_zip_bytes": r.zip_bytes, "accuracy": r.accuracy,
             "accuracy_ci": list(r.accuracy_ci) if r.accuracy_ci else None, "best_batch": r.best_batch,
             "best_throughput_sps": r.best_throughput} for r in c.rows]
    return {"group": c.label, "batch_size": c.batch_size, "headline": c.headline,
            "fastest_decided": c.fastest_decided, "flags": c.flags, "models": rows}


# -- the first screen ---------------------------------------------------------------------------------


def digest(q: Questions) -> list[dict]:
    """One short line per answer, per question in order, with how many flags qualify it: what a
    reviewer reads on the report's first screen before any section."""
    out = []
    if q.batch:
        out.append(_item("batch_size", [(_batch_line(rec), rec.decided, len(rec.flags)) for rec in q.batch]))
    if q.pruning:
        out.append(_item("sparsity", [(_pruning_line(a), a.decided, len(a.flags)) for a in q.pruning]))
    if q.models:
        out.append(_item("model", [(_models_line(c), c.fastest_decided, len(c.flags)) for c in q.models]))
    if q.options:
        out.append(_item("options", [(f"{e.label}: {e.option} {e.value} against {e.base}: {e.words}", e.decided,
                                      len(e.flags)) for e in q.options]))
    return out


def _item(key: str, lines: list[tuple[str, bool, int]]) -> dict:
    return {"key": key, "title": TITLES[key],
            "lines": [{"text": text, "decided": decided, "flags": flags} for text, decided, flags in lines]}


def _batch_line(rec) -> str:
    if rec.answer is None:
        return f"{rec.label}: no batch size completed"
    if rec.decided:
        return f"{rec.label}: use batch {rec.recommended.batch_size} (decided)"
    span = rec.answer.indistinguishable
    where = f"batch {span[0]}" if len(span) == 1 else f"batch {span[0]} to {span[-1]}"
    lone = any(p.throughput and p.interval is None for p in rec.points)
    return f"{rec.label}: undecided, {where} ({'no interval: single steady windows' if lone else 'the intervals overlap'})"


def _pruning_line(a: PruningAnswer) -> str:
    if a.dense.accuracy is None or all(p.accuracy is None for p in a.pruned):
        return f"{a.label}: test accuracy was not measured on both sides, so no sparsity can be said to keep it"
    if a.chosen is None:
        return f"{a.label}: no sparsity tried keeps test accuracy within {_points(a.tolerance)} of dense"
    c = a.chosen
    size = f", {c.size_ratio:.1f}x smaller zipped" if c.size_ratio else ""
    state = "" if a.decided else " by the point estimates"
    return (f"{a.label}: sparsity {c.sparsity:g} keeps test accuracy within {_points(a.tolerance)} of dense{state} "
            f"(loses {_loss_text(c)}){size}; speed: {c.speed}")


def _models_line(c: ModelComparison) -> str:
    ranked = sorted(c.rows, key=lambda r: r.throughput, reverse=True)
    where = f"at batch {c.batch_size}" if c.batch_size is not None else "each at its best batch"
    state = "decided" if c.fastest_decided else "not decided"
    return (f"{c.label}, {where}: fastest {ranked[0].model}, {ranked[0].throughput / ranked[1].throughput:.2f}x "
            f"{ranked[1].model} ({state})")
