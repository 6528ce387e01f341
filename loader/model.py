"""The plain values that flow from one stage to the next, and the names they share.

batch file --read--> Batch(rows) --validate--> Problems + CheckedRows
--plan--> Operations --calls--> Calls --execute--> Outcomes (held by the Recorder)
--report--> workbook + summary
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from loader.pinned import PinnedFile


class Op(StrEnum):
    """What a batch row asks for (the `op` column)."""

    CREATE = "create"
    UPDATE = "update"
    PATCH = "patch"
    DELETE = "delete"
    UPSERT = "upsert"
    REORDER = "reorder"  # put a dataset's resources in the order the batch's rows name them


# Rows that give the whole resource: every required field, and an update
# replaces what is there (fields left blank end up empty).
FULL_OPS = frozenset({Op.CREATE, Op.UPDATE, Op.UPSERT})
# Rows that may make a new resource.
MAKING_OPS = frozenset({Op.CREATE, Op.UPSERT})
# Rows that act on a resource that must already exist.
TARGETING_OPS = frozenset({Op.UPDATE, Op.PATCH, Op.DELETE})


class Status(StrEnum):
    """What became of a row."""

    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    INVALID = "invalid"
    NOT_RUN = "not run"


class LoadState(StrEnum):
    """How a file a row sent fared in the catalogue's DataStore (the `datastore` column
    says it in words)."""

    LOADED = "loaded"
    FAILED = "load failed"
    LOADING = "still loading"  # queued or under way when the run stopped following it
    NOT_LOADED = "not loaded"  # not a format the catalogue loads
    NOT_FOLLOWED = "not followed"  # the catalogue has no DataStore loader, or did not say


# The states that leave data unqueryable as sent: the run's exit code says so.
UNLOADED = frozenset({LoadState.FAILED, LoadState.LOADING})


# A cell holding exactly this asks a patch to empty the field.
CLEAR = "<clear>"

# Columns the loader writes beside a batch's own: the result workbook's outcome
# columns, and the due report's dates. A sheet carrying every heading of one
# set is still a batch: the reader ignores those columns wherever they stand,
# so a result or a due report can be run as the next batch.
#
# On the Results sheet the outcome leads (what became of the row, what was
# done, what went wrong, whether its data can be queried: read first, without
# scrolling past the batch), and the catalogue's addresses for the row close it.
DATASTORE_COLUMN = "datastore"
RESULT_LEADING = ("status", "action", "error", "code", DATASTORE_COLUMN)
RESULT_TRAILING = ("resource_url", "package_id")
RESULT_COLUMNS = RESULT_LEADING + RESULT_TRAILING
DUE_COLUMNS = ("last_updated", "due_date", "days_overdue")
# The headings that mark a sheet as a result (`code` and `datastore` came later; they
# are ignored too).
RESULT_MARKS = frozenset(RESULT_COLUMNS) - {"code", DATASTORE_COLUMN}
# The DataStore state the loader writes into results, exports and due reports: a
# `datastore` heading is always the loader's, ignored even on its own.
STATE_COLUMNS = (DATASTORE_COLUMN,)


@dataclass(frozen=True, slots=True)  # slots: a large batch holds a million of them
class Row:
    """One spreadsheet row as the editor typed it.

    `number` is the row number the spreadsheet shows (the header is row 1 in a
    sheet that starts at the top). `values` maps canonical column names (the
    API's spelling, dotted for grouped fields) to trimmed cell text; blank
    cells are absent. `formulas` names the columns whose cell holds a formula
    that was never computed (so its value is unknown, not blank).
    """

    number: int
    values: dict[str, str]
    formulas: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Batch:
    """A read batch: where it came from, its columns and its rows."""

    path: Path
    sheet: str | None
    headers: list[str]  # as the editor wrote them, sheet order
    columns: list[str]  # canonical names, same order as headers
    rows: list[Row]
    # the sheet is a result workbook's: its create and upsert rows that carry a
    # resource_id (filled in by the run that made them) act on that resource
    from_result: bool = False

    def header_for(self, column: str) -> str:
        """The editor's own heading for a canonical column name."""
        try:
            return self.headers[self.columns.index(column)]
        except ValueError:
            return column


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the batch, located as the editor sees it."""

    code: str  # a code of loader.problems, e.g. "invalid-choice"
    message: str
    row: int | None = None  # spreadsheet row number; None for file-level problems
    column: str | None = None  # canonical column name; None when not tied to one
    warning: bool = False  # reported, but the row still runs


def blocking(found: list[Problem]) -> list[Problem]:
    """The problems that make their rows invalid (all but warnings)."""
    return [p for p in found if not p.warning]


@dataclass(frozen=True)
class CheckedRow:
    """A valid row: its cells converted to the values the catalogue takes.

    `cells` holds the resource columns the row fills (canonical names, dotted
    for group parts); the schema turns them into an API payload. `clear`
    names the columns a patch empties.
    """

    number: int
    op: Op
    package: str | None  # dataset name or id as given
    organization: str | None
    resource_id: str | None
    name: str | None  # resource name (also in `cells` when given)
    upload: PinnedFile | None  # the file to upload, pinned as validation checked it
    cells: dict[str, Any] = field(default_factory=dict)
    clear: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Outcome:
    """What happened to one row: the record behind the result workbook,
    the console summary and the journal."""

    row: int  # spreadsheet row number
    status: Status
    action: str = ""  # what was done or would be done, in words
    resource_id: str | None = None
    package_id: str | None = None
    resource_url: str | None = None  # the resource's page in the catalogue
    error: str = ""
    field_errors: dict[str, str] = field(default_factory=dict)  # column -> message
    code: str = ""  # a code of loader.problems when the row did not get done
    # the file the row sent, in the catalogue's DataStore: in words, and its state
    # ("" and None where no file was sent)
    datastore: str = ""
    load: LoadState | None = None
    # what the row's operation does (an Action: "create", "patch", "noop"...), once planned
    operation: str = ""
    # the resource as the catalogue saved it ({} once deleted), for the journal: undo
    # compares it with the resource now to tell whether someone changed it since
    saved: dict[str, Any] | None = field(default=None, repr=False, compare=False)


# How a dry run counts the rows that would run: by what they would do.
WOULD = {
    "noop": "would change nothing",
    "create": "would be created",
    "update": "would be updated",
    "patch": "would be patched",
    "delete": "would be deleted",
    "touch": "would be marked refreshed",
    "reload": "would be loaded into the DataStore again",
    "reorder": "would put a dataset's resources in order",
}


def tally_key(status: str, operation: str, dry_run: bool) -> str:
    """What a summary counts a row as: its status, or (in a dry run, for a row that
    would run) what it would do: "would change nothing", "would be patched"..."""
    if dry_run and status == Status.NOT_RUN and operation in WOULD:
        return WOULD[operation]
    return str(status)


def tally(outcomes: Iterable[Outcome], dry_run: bool) -> dict[str, int]:
    """How many rows each `tally_key` counts, what rows would do first (in WOULD's
    order), then the statuses (in Status's order): "397 would change nothing, 3
    would be patched, 1 failed"."""
    counts = Counter(tally_key(o.status, o.operation, dry_run) for o in outcomes)
    order = [*WOULD.values(), *(str(s) for s in Status)]
    return {key: counts[key] for key in order if counts[key]}


def in_words(counts: Mapping[str, int], loads: Mapping[str, int]) -> str:
    """Row counts, then DataStore states where any: '3 done, 1 failed; DataStore: 2
    loaded, 1 load failed' (the terminal's summary line and the page's say this)."""
    said = ", ".join(f"{n} {key}" for key, n in counts.items())
    told = ", ".join(f"{n} {state}" for state, n in loads.items())
    return said + (f"; DataStore: {told}" if told else "")


@dataclass(frozen=True)
class RunSummary:
    """What the result workbook's Summary sheet says about one validate, run or undo."""

    mode: str  # "validate", "run" or "undo"
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
