"""The plain values that flow from one stage to the next.

batch file --read--> Batch(rows) --validate--> Problems + CheckedRows
--plan--> Operations --execute--> Outcomes --report--> workbook + summary
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

OPS = ("create", "update", "patch", "delete", "upsert")

# A cell holding exactly this asks a patch to empty the field.
CLEAR = "<clear>"


@dataclass(frozen=True)
class Row:
    """One spreadsheet row as the editor typed it.

    `number` is the row number the spreadsheet shows (the header is row 1 in a
    sheet that starts at the top). `values` maps canonical column names (the
    API's spelling, dotted for grouped fields) to trimmed cell text; blank
    cells are absent.
    """

    number: int
    values: dict[str, str]


@dataclass(frozen=True)
class Batch:
    """A read batch: where it came from, its columns and its rows."""

    path: Path
    sheet: str | None
    headers: list[str]  # as the editor wrote them, sheet order
    columns: list[str]  # canonical names, same order as headers
    rows: list[Row]

    def header_for(self, column: str) -> str:
        """The editor's own heading for a canonical column name."""
        try:
            return self.headers[self.columns.index(column)]
        except ValueError:
            return column


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the batch, located as the editor sees it."""

    code: str  # stable, e.g. "invalid-choice", "missing-value", "unknown-column"
    message: str
    row: int | None = None  # spreadsheet row number; None for file-level problems
    column: str | None = None  # canonical column name; None when not tied to one


@dataclass(frozen=True)
class CheckedRow:
    """A valid row, its values converted to what the catalogue API takes."""

    number: int
    op: str
    package: str | None  # dataset name or id as given
    organization: str | None
    resource_id: str | None
    name: str | None  # resource name (also a field in `fields` when given)
    upload: Path | None  # absolute path of the file to upload
    fields: dict[str, Any] = field(default_factory=dict)  # resource fields to send
    clear: frozenset[str] = frozenset()  # columns a patch empties (dotted for group parts)


STATUSES = ("done", "failed", "skipped", "invalid", "not run")


@dataclass(frozen=True)
class Outcome:
    """What happened to one row: the record behind the result workbook,
    the console summary and (later) the journal."""

    row: int  # spreadsheet row number
    status: str  # one of STATUSES
    action: str = ""  # what was done or would be done, in words
    resource_id: str | None = None
    package_id: str | None = None
    resource_url: str | None = None  # the resource's page in the catalogue
    error: str = ""
    field_errors: dict[str, str] = field(default_factory=dict)  # column -> message


@dataclass(frozen=True)
class RunSummary:
    """What the result workbook's Summary sheet says about one validate or run."""

    mode: str  # "validate" or "run"
    started: datetime
    ended: datetime
    loader_version: str
    target_url: str | None = None  # the catalogue, when one was reached
    user: str | None = None  # who the catalogue says the token belongs to
    dry_run: bool = False

    @property
    def duration(self) -> float:
        """Seconds from start to end."""
        return (self.ended - self.started).total_seconds()
