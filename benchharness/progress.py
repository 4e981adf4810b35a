"""The live progress display of a sweep (rich): trial i of N, its params, epoch, elapsed, ETA."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from benchharness.plan import Trial, varying_keys

STATUS_STYLE = {"ok": "green", "oom": "yellow", "failed": "red", "timeout": "red"}


class SweepProgress:
    """Context manager; pass :meth:`on_event` and :meth:`on_record` to the executor."""

    def __init__(self, console: Console, trials: list[Trial], todo: list[Trial]):
        self.keys = varying_keys(trials) or ["model", "batch_size"]
        self.todo = todo
        self.index = {t.trial_id: i for i, t in enumerate(todo, start=1)}
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                                 TimeRemainingColumn(), console=console, transient=True)
        self.task = None
        self._credited = 0.0

    def __enter__(self):
        self.progress.start()
        self.task = self.progress.add_task("starting", total=len(self.todo))
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def _describe(self, trial: Trial, phase: str) -> str:
        # The description is rich markup: a parameter (a model path) is text, escaped.
        return f"trial {self.index[trial.trial_id]}/{len(self.todo)} {escape(trial.describe(self.keys))} · {phase}"

    def on_event(self, trial: Trial, event: dict) -> None:
        if trial.trial_id not in self.index:  # a probe of the largest-batch search: on_probe reports it
            return
        kind = event["event"]
        if kind == "started":
            self.progress.update(self.task, description=self._describe(trial, "importing TensorFlow"))
        elif kind == "fit_start":
            self.progress.update(self.task, description=self._describe(trial, "epoch 1"))
        elif kind == "epoch_end":
            # With epochs: auto the count is known only at the end: credit against the cap.
            epochs = trial.params["epochs"] if trial.params["epochs"] != "auto" else trial.params["max_epochs"]
            # Credit most of a trial across its epochs so the ETA moves during long trials.
            share = min(0.9 / epochs, 0.9 - self._credited)
            self._credited += share
            self.progress.advance(self.task, share)
            phase = f"epoch {event['epoch'] + 2}" if event["epoch"] + 1 < epochs else "finishing"
            self.progress.update(self.task, description=self._describe(trial, phase))

    def on_probe(self, curve: dict, probe, why: str) -> None:
        """One probe of the largest-batch search (``maxbatch.ProbeResult``), as it is decided."""
        memory = "" if probe.mem_mb is None else f", {probe.mem_mb:,.0f} MiB"
        again = " again" if probe.repeat else ""
        self.progress.console.print(escape(f"  probe{again} batch {probe.batch} ({why}): {probe.outcome}{memory}"
                                           + (f" — {probe.error}" if probe.outcome == "failed" else "")),
                                    highlight=False)

    def on_record(self, trial: Trial, record) -> None:
        """``record`` is the trial's ``TrialRecord``, just stored."""
        self.progress.advance(self.task, 1 - self._credited)
        self._credited = 0.0
        style = STATUS_STYLE.get(record.status, "white")
        speed = "" if record.throughput_sps is None else (
            f" {record.epoch_time_s:.3f} s/epoch, {record.throughput_sps:,.0f} samples/s")
        error = f" — {record.error}" if record.error else ""  # TensorFlow's text: "[/batch, 28, 28]" is no markup
        self.progress.console.print(
            f"[{style}]{record.status:>7}[/] {escape(f'{trial.describe(self.keys)}{speed}{error}')}", highlight=False)
