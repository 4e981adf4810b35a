"""Errors that the CLI turns into clear lines and exit codes instead of tracebacks."""

from __future__ import annotations


class UserError(Exception):
    """Bad input (scenario, flag, path, results file): printed line by line, exit code 2.

    ``lines`` holds one message per problem, each already naming the file, line and key.
    """

    def __init__(self, lines: list[str] | str):
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("\n".join(self.lines))
