"""``python -m benchharness.worker``: one trial (spec as JSON on stdin), or ``--probe``: the device's
ceilings. Every outcome is data: the last event is ``result`` with a status, then the process exits.

Once that event is flushed and fsynced the worker leaves with ``os._exit``: TensorFlow's own
teardown (thread pools, atexit handlers) took about 3 s per trial here and the record needs none of it.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path


def probe_main() -> int:
    """The device's measured matmul and memory ceilings, written as JSON to ``spec["output"]``."""
    from benchharness.probe import probe_peak
    from benchharness.worker.device import configure_devices, import_tensorflow

    spec = json.loads(sys.stdin.read())
    tf = import_tensorflow()
    configure_devices(tf.config, spec["runtime"])
    peak = probe_peak(tf, bool(tf.config.list_physical_devices("GPU")), bool(spec["runtime"].get("mixed_precision")))
    Path(spec["output"]).write_text(json.dumps(peak))
    return 0


def trial_main() -> int:
    """Run the trial of the spec on stdin; its ``result`` event says ok, oom or failed."""
    from benchharness.worker.events import EventLog

    spec = json.loads(sys.stdin.read())
    events = EventLog(spec["events_path"])
    events.emit("started", pid=os.getpid())
    try:
        from benchharness.worker.trial import run_trial

        result = run_trial(spec, events)
        events.emit_final("result", status="ok", error=None, **result)
        return 0
    except BaseException as exc:  # every outcome is data: report it, then exit non-zero
        from benchharness.worker.model import error_line, is_oom

        traceback.print_exc()
        events.emit_final("result", status="oom" if is_oom(exc) else "failed", error=error_line(exc))
        return 1


def exit_now(code: int) -> None:
    """Flush what Python buffers and leave without interpreter or TensorFlow teardown."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    from benchharness.lifeline import die_with_parent

    die_with_parent()
    exit_now(probe_main() if sys.argv[1:] == ["--probe"] else trial_main())
