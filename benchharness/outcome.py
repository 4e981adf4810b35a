"""A trial's outcome class (ok / oom / failed / timeout) from what the worker reported and how it ended."""

from __future__ import annotations

OOM_MARKERS = ("ResourceExhaustedError", "OOM when allocating", "out of memory")


def classify(result: dict | None, returncode: int | None, timed_out: bool, log_tail: str,
             timeout_s: float) -> tuple[str, str | None]:
    """Decide a trial's ``(status, error)`` from what the worker reported and how it ended.

    ``result`` is the worker's final event (None if it died first); ``returncode`` follows
    ``subprocess`` (negative = killed by that signal).
    """
    if timed_out:
        return "timeout", f"exceeded timeout_s={timeout_s:g}; the worker's process group was killed"
    if result is not None:
        error = result.get("error")
        if result["status"] == "failed":
            error = f"{error} | log tail: {_last_lines(log_tail.strip(), 3)}"
        return result["status"], error
    tail = log_tail.strip()
    if any(marker in tail for marker in OOM_MARKERS):
        return "oom", f"worker died out of memory (exit {returncode}): {_last_lines(tail, 3)}"
    if returncode == -9:
        return "oom", ("worker killed by SIGKILL before reporting, not by the harness; "
                       "the kernel's OOM killer is the usual sender")
    return "failed", f"worker exited with code {returncode} before reporting: {_last_lines(tail, 5)}"


def _last_lines(text: str, count: int) -> str:
    return " | ".join(text.splitlines()[-count:]) if text else "(no output)"
