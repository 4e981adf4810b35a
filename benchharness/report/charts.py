"""Charts: each a small function from a DataFrame (or analysis result) to an inline SVG string.

SVG text stays text (``svg.fonttype: none``) and every namespace URL is stripped, so the report
holds no ``http://`` reference at all and opens offline. Text is data: mathtext is off
(``text.parse_math``), so a ``$`` in a model path or a title is drawn as written and never makes a
chart unrenderable.
"""

from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

sns.set_theme(style="whitegrid", context="notebook")
plt.rcParams.update({"svg.fonttype": "none", "font.family": "sans-serif", "figure.dpi": 96, "text.parse_math": False})

PALETTE = sns.color_palette("deep")


def to_svg(fig) -> str:
    """The figure as an inline SVG element with no XML prolog, metadata or namespace URLs."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight",
                metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    plt.close(fig)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)


def _log2_batches(ax, batches) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(batches)
    ax.set_xticklabels([str(b) for b in batches])
    ax.set_xlabel("batch size")


def epoch_time_vs_utilization(recommendations) -> str:
    """The central chart: time per epoch against batch size, utilization on a second axis; one panel
    per curve, at most three a row."""
    n = len(recommendations)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 4.0 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, rec in zip(axes.flat, recommendations):
        points = [p for p in rec.points if p.throughput]
        batches = [p.batch_size for p in points]
        ax.plot(batches, [p.epoch_time for p in points], "o-", color=PALETTE[0], label="time per steady epoch (s)")
        ax.set_ylabel("time per epoch (s)", color=PALETTE[0])
        ax.set_ylim(bottom=0)
        _log2_batches(ax, batches or [1])
        utils = [(p.batch_size, p.util) for p in points if p.util is not None]
        if utils:
            twin = ax.twinx()
            twin.plot([b for b, _ in utils], [u for _, u in utils], "s--", color=PALETTE[3])
            twin.set_ylim(0, 105)
            twin.set_ylabel(rec.util_metric or "utilization %", color=PALETTE[3])
            twin.grid(False)
        if rec.recommended:
            ax.axvline(rec.recommended.batch_size, color=PALETTE[2], lw=1.5, ls=":")
            label = "recommended" if rec.decided else "undecided; medians say"
            ax.annotate(f"{label}: {rec.recommended.batch_size}", (rec.recommended.batch_size, 0),
                        xytext=(4, 6), textcoords="offset points", color=PALETTE[2], fontsize=9)
        ax.set_title(rec.label, fontsize=11)
    fig.tight_layout()
    return to_svg(fig)


def throughput_vs_batch(recommendations) -> str:
    """Throughput with its 95 % interval (error bars; none where a point has no interval) and the
    gain of each step up."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    all_batches = set()
    for i, rec in enumerate(recommendations):
        points = [p for p in rec.points if p.throughput]
        batches = [p.batch_size for p in points]
        all_batches.update(batches)
        medians = [p.throughput for p in points]
        # The median can sit outside the interval of the mean on a skewed trace: no negative bars.
        low = [max(0.0, p.throughput - p.interval.low) if p.interval else 0.0 for p in points]
        high = [max(0.0, p.interval.high - p.throughput) if p.interval else 0.0 for p in points]
        ax.errorbar(batches, medians, yerr=[low, high], fmt="o-", capsize=4, color=PALETTE[i % 10], label=rec.label)
        for d in rec.doublings:
            y = next(p.throughput for p in points if p.batch_size == d.to_batch)
            ax.annotate(f"{d.gain:+.0%}" + (" (noise)" if d.noise else ""), (d.to_batch, y), xytext=(0, 8),
                        textcoords="offset points", ha="center", fontsize=8, color=PALETTE[i % 10])
        _mark_max_batch(ax, rec.max_batch, PALETTE[i % 10])
    _log2_batches(ax, sorted(all_batches) or [1])
    return _finished(fig, ax, "steady throughput (samples/s)", "lower right", from_zero=True)


def memory_vs_batch(recommendations) -> str | None:
    """Each trial's primary memory figure against batch size, labelled with its source; where
    TensorFlow's allocator peak was fitted, the line, the memory limit and its crossing (an estimate)."""
    from benchharness.analyze import memory_label

    with_memory = [r for r in recommendations if any(p.mems for p in r.points)]
    if not with_memory:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    batches = set()
    for i, rec in enumerate(with_memory):
        xs = [p.batch_size for p in rec.points for _ in p.mems]
        ys = [m for p in rec.points for m in p.mems]
        batches.update(xs)
        source = memory_label(set().union(*(p.mem_sources for p in rec.points)))
        ax.plot(xs, ys, "o", color=PALETTE[i % 10], label=f"{rec.label}: {source}")
        if rec.memory_fit:
            _memory_fit_lines(ax, rec.memory_fit, xs, PALETTE[i % 10])
        _mark_max_batch(ax, rec.max_batch, PALETTE[i % 10])
    _log2_batches(ax, sorted(batches))
    return _finished(fig, ax, "memory (MiB)", "upper left")


def _finished(fig, ax, ylabel: str, legend_loc: str, from_zero: bool = False) -> str:
    """A one-axis chart's ending: its y label, the y axis from 0 where asked, the legend, the SVG."""
    ax.set_ylabel(ylabel)
    if from_zero:
        ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc=legend_loc)
    fig.tight_layout()
    return to_svg(fig)


def _mark_max_batch(ax, entry: dict | None, color) -> None:
    """The searched largest batch that fits (verified twice), a solid vertical line, where there is one."""
    if not entry or entry.get("verified") is None:
        return
    ax.axvline(entry["verified"], color=color, lw=1.5)
    ax.annotate(f"largest batch that fits: {entry['verified']}", (entry["verified"], 0), xytext=(-4, 20),
                textcoords="offset points", ha="right", fontsize=8, color=color)


def max_batch_probes(sections: list[dict]) -> str | None:
    """Per searched curve: each fitting probe's memory against batch, the least-squares line, the
    limit, and the verified batch and the one that ran out of memory."""
    with_probes = [s for s in sections if any(p["mem_mb"] is not None for p in s["probes"])]
    if not with_probes:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for i, section in enumerate(with_probes):
        entry, color = section["entry"], PALETTE[i % 10]
        fits = [(p["batch_size"], p["mem_mb"]) for p in section["probes"] if p["status"] == "ok" and p["mem_mb"]]
        ax.plot([b for b, _ in fits], [m for _, m in fits], "o", color=color, label=f"{section['label']}: probes that fit")
        for p in section["probes"]:
            if p["status"] == "oom":
                ax.axvline(p["batch_size"], color=color, ls=":", lw=0.8)
        top = max(b for b, _ in fits) * 1.15
        if entry.get("fit"):
            fit = entry["fit"]
            ax.plot([0, top], [fit["intercept_mb"], fit["intercept_mb"] + fit["mb_per_sample"] * top], "--", color=color,
                    lw=1, label=f"least-squares fit: {fit['mb_per_sample']:.2f} MiB per sample")
        if entry.get("limit_mb"):
            ax.axhline(entry["limit_mb"], color="black", lw=1)
        _mark_max_batch(ax, entry, color)
    ax.set_xlabel("batch size (dotted: a probe ran out of memory)")
    return _finished(fig, ax, "memory (MiB)", "upper left", from_zero=True)


def time_to_accuracy(curves) -> str | None:
    """Training time to the target against batch size, 95 % intervals over seeds; one line per curve
    (learning-rate policy); a batch where some seed did not converge is marked with the count."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    batches = set()
    for i, curve in enumerate(curves):
        points = [p for p in curve.points if p.time is not None]
        batches.update(p.batch_size for p in curve.points)
        xs = [p.batch_size for p in points]
        ys = [p.time.median for p in points]
        low = [max(0.0, p.time.median - p.time.low) for p in points]
        high = [max(0.0, p.time.high - p.time.median) for p in points]
        ax.errorbar(xs, ys, yerr=[low, high], fmt="o-", capsize=4, color=PALETTE[i % 10], label=curve.label)
        for p in curve.points:
            if p.not_converged or p.failed:
                y = p.time.median if p.time else 0
                ax.annotate(f"{p.not_converged + p.failed}/{p.trials} missed", (p.batch_size, y), xytext=(0, 8),
                            textcoords="offset points", ha="center", fontsize=8, color=PALETTE[i % 10])
    _log2_batches(ax, sorted(batches) or [1])
    return _finished(fig, ax, "training time to target (s)", "upper right", from_zero=True)


def _memory_fit_lines(ax, fit: dict, xs: list[int], color) -> None:
    top = max(max(xs) * 2, fit["estimated_oom_batch"] or 0)
    line_x = list(np.geomspace(min(xs), top, 64))  # a straight line is curved on the log2 axis
    ax.plot(line_x, [fit["intercept_mb"] + fit["mb_per_sample"] * x for x in line_x], "--",
            color=color, lw=1, label=f"linear fit: {fit['mb_per_sample']:.2f} MiB per sample")
    if fit["total_mb"]:
        ax.axhline(fit["total_mb"], color="black", lw=1)
        ax.annotate(f"memory limit {fit['total_mb']:,.0f} MiB", (min(xs), fit["total_mb"]), xytext=(2, -12),
                    textcoords="offset points", fontsize=8)
    if fit["estimated_oom_batch"]:
        ax.axvline(fit["estimated_oom_batch"], color=PALETTE[3], ls=":", lw=1)
        ax.annotate(f"estimated out of memory at batch ~{fit['estimated_oom_batch']:,.0f}",
                    (fit["estimated_oom_batch"], fit["total_mb"] or 0), xytext=(-4, -26),
                    textcoords="offset points", ha="right", fontsize=8, color=PALETTE[3])


def utilization_timelines(timelines: list[dict], util_label: str) -> str | None:
    """Per trial: utilization over time since the worker started, with epoch boundaries."""
    if not timelines:
        return None
    n = len(timelines)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.0 * cols, 2.6 * rows), squeeze=False, sharey=True)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, item in zip(axes.flat, timelines):
        frame: pd.DataFrame = item["samples"]
        t0 = item["t0"]
        # One line per device: an NVML CSV has a row per GPU at each time, which as one line would zigzag.
        groups = frame.groupby("device", sort=False) if "device" in frame.columns else [(None, frame)]
        for i, (device, rows) in enumerate(groups):
            ax.plot(rows["t_monotonic"] - t0, rows[item["column"]], color=PALETTE[i % 10], lw=1,
                    label=None if device is None or len(groups) == 1 else str(device))
        if "device" in frame.columns and frame["device"].nunique() > 1:
            ax.legend(fontsize=7, loc="lower right")
        for epoch in item["epochs"]:
            if epoch.get("t_start_monotonic") is not None:
                ax.axvline(epoch["t_start_monotonic"] - t0, color=PALETTE[2] if epoch["epoch"] else PALETTE[7],
                           lw=0.8, ls="--")
        ax.set_title(item["title"], fontsize=9)
        ax.set_ylim(0, 105)
        ax.set_xlabel("seconds since the worker started", fontsize=8)
    axes[0][0].set_ylabel(util_label, fontsize=8)
    fig.tight_layout()
    return to_svg(fig)


def pruning_tradeoff(frame: pd.DataFrame) -> str | None:
    """Sparsity against test accuracy (Keras, TFLite quantized) and compressed sizes."""
    if frame.empty:
        return None
    fig, (acc_ax, size_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for column, label, color in (("accuracy", "Keras (stripped)", PALETTE[0]),
                                 ("tflite_quant_accuracy", "TFLite dynamic-range quantized", PALETTE[1])):
        if frame[column].notna().any():
            acc_ax.plot(frame["sparsity"], frame[column], "o-", label=label, color=color)
    acc_ax.set_xlabel("target sparsity")
    acc_ax.set_ylabel("test accuracy")
    acc_ax.legend(fontsize=8)
    for column, label, color in (("keras_zip_bytes", "Keras .h5, zipped", PALETTE[0]),
                                 ("tflite_zip_bytes", "TFLite float, zipped", PALETTE[2]),
                                 ("tflite_quant_zip_bytes", "TFLite quantized, zipped", PALETTE[1])):
        if frame[column].notna().any():
            size_ax.plot(frame["sparsity"], frame[column] / 1024, "o-", label=label, color=color)
    size_ax.set_xlabel("target sparsity")
    size_ax.set_ylabel("compressed size (KiB)")
    size_ax.set_ylim(bottom=0)
    size_ax.legend(fontsize=8)
    fig.tight_layout()
    return to_svg(fig)


def per_layer_sparsity(frame: pd.DataFrame) -> str | None:
    """Measured sparsity of each pruned layer, one bar group per target."""
    if frame.empty:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    sns.barplot(data=frame, x="layer", y="measured", hue="target", ax=ax, palette="crest")
    ax.set_ylabel("measured sparsity")
    ax.set_ylim(0, 1)
    ax.legend(title="target", fontsize=8)
    fig.tight_layout()
    return to_svg(fig)


def roofline(points: list[dict], peak_flops: float, bandwidth: float) -> str | None:
    """Achieved FLOP/s (3 x forward FLOPs x samples/s) against training-step arithmetic intensity
    (FLOPs of a step at the trial's batch size per byte it moves, ``cost.training_step_intensity``),
    under the probed matmul and memory-bandwidth ceilings. Each point is labelled with its batch
    size: a batch sweep moves right as the batch grows. Points without an intensity (records
    without the weight/activation split) are counted in a note, not drawn."""
    if not points or not (peak_flops > 0 and bandwidth > 0):
        return None
    placed = [p for p in points if p["intensity"] and p["intensity"] > 0 and p["achieved"] > 0]  # log axes
    unplaced = len(points) - len(placed)
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    ridge = peak_flops / bandwidth
    intensities = [p["intensity"] for p in placed]
    low, high = min(intensities + [ridge]) / 4, max(intensities + [ridge]) * 4
    xs = np.geomspace(low, high, 128)
    ax.plot(xs, np.minimum(peak_flops, bandwidth * xs), color="black", lw=1.5, label="roofline (probed)")
    ax.annotate(f"matmul peak {peak_flops / 1e9:,.0f} GFLOP/s", (high, peak_flops), ha="right", va="bottom", fontsize=8)
    ax.annotate(f"{bandwidth / 1e9:,.1f} GB/s", (low * 1.5, bandwidth * low * 1.5), fontsize=8, rotation=30)
    labels = sorted({p["label"] for p in placed})
    for i, label in enumerate(labels):
        mine = sorted((p for p in placed if p["label"] == label), key=lambda p: p["intensity"])
        ax.scatter([p["intensity"] for p in mine], [p["achieved"] for p in mine], color=PALETTE[i % 10], label=label,
                   zorder=3)
        for p in mine:
            if p.get("batch_size") is not None:
                ax.annotate(str(p["batch_size"]), (p["intensity"], p["achieved"]), xytext=(4, -10),
                            textcoords="offset points", fontsize=7, color=PALETTE[i % 10])
    if unplaced:
        ax.text(0.02, 0.98, f"{unplaced} trial{'s' if unplaced > 1 else ''} not placed: recorded without the "
                "weight/activation split\n(older schema), so the intensity at their batch size is unknown",
                transform=ax.transAxes, ha="left", va="top", fontsize=8,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training-step arithmetic intensity (FLOPs per byte moved)")
    return _finished(fig, ax, "achieved FLOP/s (3 x forward FLOPs x samples/s)", "lower right")


def _scaling_panel(ax_t, ax_e, curves, first_color: int) -> None:
    """One batch-scaling mode: throughput against replicas (ideal: N x T(1), dotted) and E(N) (ideal 1)."""
    for i, curve in enumerate(curves):
        color = PALETTE[(first_color + i) % 10]
        points = [p for p in curve.points if p.throughput]
        ns = [p.replicas for p in points]
        low = [max(0.0, p.throughput - p.point.interval.low) if p.point.interval else 0.0 for p in points]
        high = [max(0.0, p.point.interval.high - p.throughput) if p.point.interval else 0.0 for p in points]
        ax_t.errorbar(ns, [p.throughput for p in points], yerr=[low, high], fmt="o-", capsize=4, color=color,
                      label=curve.label)
        if curve.one is not None:
            ax_t.plot(ns, [n * curve.one.throughput for n in ns], ":", color=color, lw=1)
        effs = [(p.replicas, *curve.efficiency(p)) for p in points]
        effs = [e for e in effs if e[1] is not None]
        ax_e.errorbar([e[0] for e in effs], [e[1] for e in effs],
                      yerr=[[e[1] - e[2] if e[2] is not None else 0.0 for e in effs],
                            [e[3] - e[1] if e[3] is not None else 0.0 for e in effs]],
                      fmt="s-", capsize=4, color=color, label=curve.label)
    ax_e.axhline(1.0, color="grey", lw=1, ls=":")
    for ax in (ax_t, ax_e):
        ax.set_xlabel("replicas N")
        ax.set_xticks(sorted({p.replicas for c in curves for p in c.points}))
        ax.set_ylim(bottom=0)
    ax_t.set_ylabel("global throughput (samples/s)")
    ax_e.set_ylabel("scaling efficiency E(N) = T(N) / (N T(1))")
    ax_t.legend(fontsize=8, loc="upper left")


def scaling(curves) -> str | None:
    """Throughput and scaling efficiency against replicas with 95 % intervals, one row per
    batch-scaling mode (per_replica: weak scaling; global: strong scaling)."""
    if not curves:
        return None
    modes = [m for m in ("per_replica", "global") if any(c.batch_scaling == m for c in curves)]
    fig, axes = plt.subplots(len(modes), 2, figsize=(12.4, 4.2 * len(modes)), squeeze=False)
    for row, mode in zip(axes, modes):
        _scaling_panel(row[0], row[1], [c for c in curves if c.batch_scaling == mode], 0)
        title = "weak scaling (batch per replica)" if mode == "per_replica" else "strong scaling (global batch)"
        row[0].set_title(f"throughput, {title}", fontsize=11)
        row[1].set_title(f"efficiency, {title}", fontsize=11)
    fig.tight_layout()
    return to_svg(fig)
