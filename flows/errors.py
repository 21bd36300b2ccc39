"""The one error a protocol file can produce."""

from __future__ import annotations


class ProtocolError(ValueError):
    """A protocol file is unusable.

    The message is one line — `file: entry: problem` — because it is what a
    clinic's admin sees when the bot refuses to start, and it must say where to
    look without a traceback.
    """

    def __init__(self, file: str, entry: str, problem: str) -> None:
        self.file = file
        self.entry = entry
        self.problem = problem
        super().__init__(f"{file}: {entry}: {problem}" if entry else f"{file}: {problem}")
