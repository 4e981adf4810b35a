"""A steady ``fit`` whose epochs are switched between two conditions (``test_sampler.py``: a sampler
polling, or none), through the worker's own path (``overhead.py``'s: the harness's ``tf.data``
pipeline, epoch timer and summary recorder).

``switched_fit`` runs the training in this process and calls ``begin(epoch) -> on`` before and
``end(epoch, on) -> rows`` after each epoch, inside the epoch's timed span: the epoch timer times
from the previous epoch's end to this one's end and comes after the switch in the callback list, so
whatever the switch does (start a sampler, stop it) counts against the epoch it switches.

``Child`` runs the same fits in a child process (spawned: a fresh interpreter, as a trial's worker
is) that asks this process, over a pipe, at every epoch's start and end; every epoch waits for that
answer, sampled or not, so the handshake costs both sides alike.
"""

from __future__ import annotations

import multiprocessing
import os

import overhead

from benchharness.worker.data import make_dataset
from benchharness.worker.model import build_model, compile_model
from benchharness.worker.summaries import make_summary_recorder
from benchharness.worker.timing import make_epoch_timer


def sampled(epoch: int, first_on: bool) -> bool:
    """ABAB from the second epoch (the first is warm-up): odd rounds start with the other side."""
    return epoch >= 1 and ((epoch - 1) % 2 == 0) == first_on


class _Events:
    def emit(self, *args, **kwargs):
        pass


def switched_fit(setup: overhead.Setup, epochs: int, begin, end) -> list[dict]:
    """One ``fit``; its steady epochs as ``{"on", "rows", "seconds"}``."""
    tf, keras, x, y, params = setup
    model = build_model(keras, params)
    compile_model(keras, model, params, {})
    batches = make_dataset(tf, x, y, params["batch_size"], params["seed"])
    timer = make_epoch_timer(keras, _Events(), lambda steps: len(x))
    seen: list[dict] = []

    class Switch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.on = begin(epoch)

        def on_epoch_end(self, epoch, logs=None):
            seen.append({"on": self.on, "rows": end(epoch, self.on)})

    model.fit(batches.dataset, epochs=epochs, steps_per_epoch=batches.steps_per_epoch, verbose=0,
              callbacks=[Switch(), timer, make_summary_recorder(keras, pruning=False)])
    return [s | {"seconds": e["seconds"]} for s, e in zip(seen, timer.epochs)][1:]


def in_process_fit(setup: overhead.Setup, sampler, epochs: int, first_on: bool) -> list[dict]:
    """The sampler's thread samples this process, which trains."""

    def begin(epoch):
        on = sampled(epoch, first_on)
        if on:
            sampler.start(os.getpid(), setup.params)
        return on

    return switched_fit(setup, epochs, begin, lambda epoch, on: len(sampler.stop().rows) if on else 0)


def _child_main(conn, batch_size: int, samples: int) -> None:
    setup = overhead.prepare(batch_size, samples)
    conn.send(("ready", os.getpid()))
    while True:
        command, epochs = conn.recv()
        if command == "quit":
            return

        def ask(kind):
            def hook(epoch, on=None):
                conn.send((kind, epoch))
                return conn.recv()

            return hook

        conn.send(("done", switched_fit(setup, epochs, ask("begin"), ask("end"))))


class Child:
    """A child process that trains on request; this process's sampler samples it."""

    def __init__(self, batch_size: int, samples: int, timeout_s: float = 300.0):
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.proc = context.Process(target=_child_main, args=(child_conn, batch_size, samples), daemon=True)
        self.proc.start()
        if not self.conn.poll(timeout_s):
            self.close()
            raise RuntimeError(f"the training child did not start within {timeout_s:g} s")
        self.conn.recv()
        self.params = {"batch_size": batch_size, "samples_per_epoch": samples}

    def fit(self, sampler, epochs: int, first_on: bool) -> list[dict]:
        self.conn.send(("fit", epochs))
        while True:
            kind, value = self.conn.recv()
            if kind == "begin":
                on = sampled(value, first_on)
                if on:
                    sampler.start(self.proc.pid, self.params)
                self.conn.send(on)
            elif kind == "end":
                self.conn.send(len(sampler.stop().rows) if on else 0)
            else:
                return value

    def close(self) -> None:
        if self.proc.is_alive():
            try:
                self.conn.send(("quit", 0))
            except OSError:
                pass
            self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
