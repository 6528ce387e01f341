"""The page's only door into the loader library.

Every call the page makes to `loader.run`, `loader.export`, `loader.due` and
`loader.client`, and every read of what they return, is here, turned into the
small plain values below, so that the rest of the page depends on this
module's names alone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from loader.client import Catalogue, CatalogueAPI, CatalogueError, is_production
from loader.due import due_report, write_due
from loader.errors import LoaderError, SchemaError, UnsafeTarget
from loader.export import export_batch
from loader.model import CLEAR, LoadState, Outcome, blocking, in_words, tally_key
from loader.options import JOBS_DEFAULT, JOBS_LIMIT, CheckOptions, Listeners, RunOptions
from loader.pipeline.follow import LOADING
from loader.pipeline.read import BATCH_SUFFIXES, sheet_names
from loader.pipeline.validate.batch import upload_path
from loader.run import check_batch, run_batch
from loader.schema import Schema, schema_from_scheming

__all__ = [
    "BATCH_SUFFIXES",
    "CLEAR",
    "JOBS_DEFAULT",
    "JOBS_LIMIT",
    "Catalogue",
    "CatalogueError",
    "CheckOptions",
    "CheckedBatch",
    "DueRow",
    "Exported",
    "JobListener",
    "LoaderError",
    "RowOutcome",
    "RunOptions",
    "Schema",
    "UnsafeTarget",
    "check",
    "check_options",
    "connect",
    "due",
    "export",
    "in_words",
    "is_production",
    "live_schema",
    "run",
    "sheet_names",
    "tally_key",
    "upload_path",
    "upload_sizes",
    "who",
]


@dataclass(frozen=True)
class CellProblem:
    """One problem as the page shows it: on a cell, on a row, or on the whole file."""

    code: str
    message: str
    row: int | None
    column: str | None


@dataclass(frozen=True)
class RowOutcome:
    """What happened (or would happen) to one row."""

    row: int
    status: str  # done, failed, skipped, invalid, not run
    action: str
    error: str
    resource_url: str | None
    field_errors: dict[str, str] = field(default_factory=dict)
    datastore: str = ""  # the file it sent, in the catalogue's DataStore, in words
    load: str = ""  # that load's state: loaded, load failed, still loading... ("": none)
    loading: bool = False  # that load is still being followed
    operation: str = ""  # what the row's operation does ("patch", "noop"...), once planned


@dataclass(frozen=True)
class CheckedBatch:
    """A batch as read and checked: its columns, its rows' cells, and every problem."""

    headers: list[str]  # the editor's own headings
    columns: list[str]  # canonical column names, same order
    rows: list[tuple[int, dict[str, str]]]  # (row number, canonical column -> cell text)
    problems: list[CellProblem]  # what blocks a run
    outcomes: list[RowOutcome]
    counts: dict[str, int]
    exit_code: int
    warnings: list[CellProblem] = field(default_factory=list)  # shown; the rows still run
    sheet: str | None = None  # the workbook sheet read (None for a CSV file)


@dataclass(frozen=True)
class Exported:
    """What an export wrote: so many resources of so many datasets."""

    resources: int
    packages: int


@dataclass(frozen=True)
class DueRow:
    """One overdue resource, as the due report's table shows it."""

    name: str
    package: str
    organization: str
    cycle: str
    last_updated: str  # "2026-10-27 09:30:00 (last_modified)": when, and read from where
    due_date: str
    days_overdue: int


def connect(url: str, api_key: str | None) -> Catalogue:
    """The catalogue at `url`, reached with `api_key` (None: as anyone, public datasets only).
    The caller closes it."""
    return Catalogue(url, api_key)


def check_options(url: str | None) -> CheckOptions:
    """How the page checks batches for the catalogue at `url`: with its upload limit,
    as the command line does."""
    return CheckOptions.for_target(url)


def check(path: Path, options: CheckOptions, result_path: Path | None = None) -> CheckedBatch:
    """Read and validate a batch offline; raises LoaderError when it cannot be read."""
    result = check_batch(path, options, result_path=result_path)
    batch = result.batch
    blocks = blocking(result.problems)
    return CheckedBatch(
        headers=list(batch.headers),
        columns=list(batch.columns),
        rows=[(r.number, dict(r.values)) for r in batch.rows],
        problems=[CellProblem(p.code, p.message, p.row, p.column) for p in blocks],
        outcomes=[_outcome(o) for o in result.outcomes],
        counts={_text(k): v for k, v in result.counts().items()},
        exit_code=result.exit_code,
        warnings=[
            CellProblem(p.code, p.message, p.row, p.column) for p in result.problems if p.warning
        ],
        sheet=batch.sheet,
    )


def live_schema(catalogue: CatalogueAPI) -> Schema:
    """The catalogue's own schema (as --schema live reads it); SchemaError when it
    cannot be read."""
    try:
        return schema_from_scheming(catalogue.dataset_schema(), source=catalogue.url)
    except CatalogueError as error:
        raise SchemaError(f"cannot read the schema of {catalogue.url}: {error.message}") from None


def who(catalogue: CatalogueAPI) -> str:
    """The catalogue's name for the token's user; CatalogueError when it refuses the token."""
    name = catalogue.user().get("name")
    return name if isinstance(name, str) else ""


class JobListener(Protocol):
    """What hears a preview or run as it goes (the page's Job)."""

    stop: threading.Event  # set: the calls under way finish, no more are sent

    def begin(self, total: int) -> None: ...
    def finished_row(self, outcome: RowOutcome) -> None: ...
    def heard_bytes(self, count: int) -> None: ...
    def load_changed(self, outcome: RowOutcome) -> None: ...


def run(
    path: Path, catalogue: CatalogueAPI, options: RunOptions, job: JobListener, result_path: Path
) -> tuple[list[RowOutcome], dict[str, int], int]:
    """Preview (a dry run) or run a batch; returns every row's outcome, the counts, the
    exit code.

    The job hears the rows as they finish, the bytes of uploads as they stream
    (the file and the form around it) and the DataStore loads of the files sent as
    they end. Raises LoaderError when the batch cannot be read or the run cannot
    start.
    """
    listeners = Listeners(
        job.begin,
        lambda outcome: job.finished_row(_outcome(outcome)),
        job.heard_bytes,
        lambda outcome: job.load_changed(_outcome(outcome)),
    )
    result = run_batch(
        path, catalogue, options, result_path=result_path, listeners=listeners, stop=job.stop
    )
    counts = {_text(k): v for k, v in result.counts().items()}
    return [_outcome(o) for o in result.outcomes], counts, result.exit_code


def export(
    catalogue: CatalogueAPI, path: Path, *, organizations: list[str], packages: list[str]
) -> Exported:
    """Write the resources of the datasets named, and of every dataset of the
    organizations named, as a batch of patch rows at `path` (.xlsx).

    Raises LoaderError when a name is not found (or not visible without a
    token), when there is nothing to export, or when the catalogue does not
    answer.
    """
    done = export_batch(catalogue, path, organizations=organizations, packages=packages)
    return Exported(resources=len(done.rows), packages=done.packages)


def due(catalogue: CatalogueAPI, path: Path, *, organizations: list[str]) -> list[DueRow]:
    """The overdue resources of every dataset of these organizations, most overdue
    first; when there are any, the due workbook (a batch to fill) is written at `path`.

    Raises LoaderError as `export` does.
    """
    found = due_report(catalogue, organizations=organizations)
    if found:
        write_due(path, found)
    return [
        DueRow(
            name=d.name,
            package=d.package,
            organization=d.organization,
            cycle=d.cycle,
            last_updated=f"{d.last_updated.isoformat(sep=' ', timespec='seconds')} "
            f"({d.updated_from})",
            due_date=d.due_date.isoformat(),
            days_overdue=d.days_overdue,
        )
        for d in found
    ]


def upload_sizes(batch: CheckedBatch, batch_path: Path) -> dict[int, int]:
    """Bytes of the file each row names, by row number: the bytes bar's whole.

    Paths resolve as on the command line: relative to the batch's folder, a
    path written on Windows (`files\\a.csv`) as the check reads it.
    """
    base = batch_path.resolve().parent
    sizes: dict[int, int] = {}
    for number, values in batch.rows:
        upload = values.get("upload")
        if not upload or upload == CLEAR:
            continue
        path = upload_path(base, upload)
        if path.is_file():
            sizes[number] = path.stat().st_size
    return sizes


def _outcome(outcome: Outcome) -> RowOutcome:
    return RowOutcome(
        row=outcome.row,
        status=_text(outcome.status),
        action=outcome.action,
        error=outcome.error,
        resource_url=outcome.resource_url,
        field_errors=dict(outcome.field_errors),
        datastore=outcome.datastore,
        load=_text(outcome.load) if outcome.load is not None else "",
        loading=outcome.load == LoadState.LOADING and outcome.datastore == LOADING,
        operation=_text(outcome.operation),
    )


def _text(value: object) -> str:
    """A status as text, whether the library gives a string or an enum."""
    return str(getattr(value, "value", value))
