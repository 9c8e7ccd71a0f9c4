"""One exception hierarchy; each class carries its exit code (README: exit codes).

Messages are written for the person at the station: say what is wrong and what to do.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2  # typer/click's own usage errors
    NOT_FOUND = 3
    REFUSED = 4  # an interlock or a state rule said no
    INVALID_INPUT = 5  # malformed file, scan, value
    NOT_AUTHORISED = 6  # not logged in, wrong password, locked, missing role/qualification
    INTEGRITY = 7  # audit chain broken, hash mismatch, database newer than the program


class MesError(Exception):
    """Base of every error the CLI turns into a one-line message and an exit code."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class NotFound(MesError):
    exit_code = ExitCode.NOT_FOUND


class Refused(MesError):
    exit_code = ExitCode.REFUSED


class InvalidInput(MesError):
    exit_code = ExitCode.INVALID_INPUT


class NotAuthorised(MesError):
    exit_code = ExitCode.NOT_AUTHORISED


class IntegrityFailure(MesError):
    exit_code = ExitCode.INTEGRITY


class Problem:
    """One problem found while validating a file: where it is and what is wrong."""

    __slots__ = ("field", "file", "line", "message")

    def __init__(self, file: str, line: int | None, field: str, message: str) -> None:
        self.file, self.line, self.field, self.message = file, line, field, message

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}"


class ValidationFailed(InvalidInput):
    """A file with one or more problems; the first line says how many, then one per problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = problems[0] if problems else None
        n = len(problems) - 1
        more = f" (and {n} more problem{'s' if n > 1 else ''})" if n else ""
        super().__init__(f"{first}{more}" if first else "invalid file")
