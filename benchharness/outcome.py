"""A trial's outcome class (ok / oom / failed / timeout) from what the worker reported and how it ended.

``oom`` is never a guess: it is TensorFlow's fatal allocation failure (``ResourceExhaustedError``, or
an ``InternalError`` / ``UnknownError`` whose text is a CUDA or cuDNN out-of-memory), the host
running out (``MemoryError``, or Ray's memory monitor killing the trial's task: ``OutOfMemoryError``),
or a kernel OOM kill the harness confirmed (the cgroup's
``memory.events`` oom_kill count rose while the worker ran). TensorFlow's allocator warning "ran out
of memory trying to allocate ... this is not a failure" is not an OOM, and neither is a SIGKILL
nobody can explain: that trial is ``failed`` with the reason.
"""

from __future__ import annotations

import re

# An exception line of TensorFlow's that means the allocation failed for good.
FATAL_OOM = re.compile(
    r"\bResourceExhaustedError\b"
    r"|\bOutOfMemoryError\b"  # Ray's memory monitor killed the trial's task (ray.exceptions)
    r"|\b(InternalError|UnknownError)\b.*(CUDA_ERROR_OUT_OF_MEMORY|CUDNN_STATUS_ALLOC_FAILED|[Oo]ut of memory)")


def is_oom_text(text: str) -> bool:
    """Whether any line of ``text`` is TensorFlow's fatal out-of-memory error (see the module docstring)."""
    return any(FATAL_OOM.search(line) for line in text.splitlines())


def classify(result: dict | None, returncode: int | None, timed_out: bool, log_tail: str,
             timeout_s: float, oom_killed: bool | None = None) -> tuple[str, str | None]:
    """Decide a trial's ``(status, error)`` from what the worker reported and how it ended.

    ``result`` is the worker's final event (None if it died first); ``returncode`` follows
    ``subprocess`` (negative = killed by that signal); ``oom_killed``: the cgroup's oom_kill count
    rose during the trial (None: it could not be read).
    """
    if timed_out:
        return "timeout", f"exceeded timeout_s={timeout_s:g}; the worker's process group was killed"
    if result is not None:
        error = result.get("error")
        if result["status"] == "failed":
            error = f"{error} | log tail: {_last_lines(log_tail.strip(), 3)}"
        return result["status"], error
    tail = log_tail.strip()
    if is_oom_text(tail):
        return "oom", f"worker died out of memory (exit {returncode}): {_last_lines(tail, 3)}"
    if returncode == -9 and oom_killed:
        return "oom", "the kernel's OOM killer killed the worker (the cgroup's memory.events oom_kill count rose)"
    if returncode == -9:
        unknown = "could not be read" if oom_killed is None else "recorded none"
        return "failed", (f"worker killed by SIGKILL before reporting, not by the harness; the cgroup's OOM-kill "
                          f"count {unknown}, so this is not called an OOM")
    return "failed", f"worker exited with code {returncode} before reporting: {_last_lines(tail, 5)}"


def _last_lines(text: str, count: int) -> str:
    return " | ".join(text.splitlines()[-count:]) if text else "(no output)"
