"""Exceptions the loader raises, one class per kind of failure.

Callers handle them by type. Each carries the process exit code the command
line uses for it, so a new kind of failure needs no change in the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loader import problems

if TYPE_CHECKING:
    from loader.model import Problem


# The exit code of a failure the loader did not foresee (a fault in it, not in the
# batch): sysexits' EX_SOFTWARE, which no command gives for anything else (1 means
# rows failed or something is due, 2 an unusable batch or a run that could not start).
EXIT_UNEXPECTED = 70


class LoaderError(Exception):
    """Base class: a failure the editor can act on, shown as one message."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BatchError(LoaderError):
    """The batch file cannot be read or used: unreadable, wrong sheet, bad columns.

    `problems` lists the individual findings when there are several (for
    example every unknown column), each as a Problem with row None.
    """

    exit_code = 2

    def __init__(self, message: str, found: list[Problem] | None = None, code: str | None = None):
        super().__init__(message)
        self.problems = list(found or [])
        self.code = code or problems.UNREADABLE_FILE.code  # a code of loader.problems


class SchemaError(LoaderError):
    """A schema (bundled file, file given, or the catalogue's own) is unusable."""

    exit_code = 2


class CannotStart(LoaderError):
    """The run cannot begin: the catalogue does not answer or refuses the token."""

    exit_code = 2


class CatalogueReadError(LoaderError):
    """A command that only reads the catalogue (export, due) cannot: a dataset or
    organization is not there or not visible, or the catalogue does not answer."""

    exit_code = 2


class UnsafeTarget(LoaderError):
    """The catalogue's address would expose the API token (plain http to another machine)."""

    exit_code = 2
