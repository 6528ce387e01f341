"""The page's only door into the loader library.

Every call the page makes to `loader.run` and `loader.client`, and every read
of what they return, is here, turned into the small plain values below. The
library is being reshaped (one recorder of outcomes, enums for statuses), so
this is the one module to re-point when it changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from loader.client import Catalogue, CatalogueError, catalogue_url, is_production
from loader.errors import LoaderError
from loader.model import CLEAR, Outcome
from loader.run import check_batch, run_batch

__all__ = [
    "CLEAR",
    "CatalogueError",
    "CheckedBatch",
    "LoaderError",
    "RowOutcome",
    "check",
    "is_production",
    "run",
    "target_url",
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


@dataclass(frozen=True)
class CheckedBatch:
    """A batch as read and checked: its columns, its rows' cells, and every problem."""

    headers: list[str]  # the editor's own headings
    columns: list[str]  # canonical column names, same order
    rows: list[tuple[int, dict[str, str]]]  # (row number, canonical column -> cell text)
    problems: list[CellProblem]
    outcomes: list[RowOutcome]
    counts: dict[str, int]
    exit_code: int


def target_url(target: str) -> str:
    """A catalogue's address from `prod`, `test` or a URL (ValueError when it is none)."""
    return catalogue_url(target)


def check(path: Path, result_path: Path | None = None) -> CheckedBatch:
    """Read and validate a batch offline; raises LoaderError when it cannot be read."""
    result = check_batch(path, result_path=result_path)
    batch = result.batch
    return CheckedBatch(
        headers=list(batch.headers),
        columns=list(batch.columns),
        rows=[(r.number, dict(r.values)) for r in batch.rows],
        problems=[CellProblem(p.code, p.message, p.row, p.column) for p in result.problems],
        outcomes=[_outcome(o) for o in result.outcomes],
        counts={_text(k): v for k, v in result.counts().items()},
        exit_code=result.exit_code,
    )


def who(url: str, api_key: str) -> str:
    """The catalogue's name for the token's user; CatalogueError when it refuses the token."""
    name = Catalogue(url, api_key).user().get("name")
    return name if isinstance(name, str) else ""


def run(
    path: Path,
    url: str,
    api_key: str,
    *,
    dry_run: bool,
    result_path: Path,
    stop: threading.Event,
    on_start: Callable[[int], None],
    on_outcome: Callable[[RowOutcome], None],
) -> tuple[list[RowOutcome], dict[str, int], int]:
    """Preview (dry run) or run a batch; returns every row's outcome, the counts, the exit code.

    Raises LoaderError when the batch cannot be read or the run cannot start.
    """
    result = run_batch(
        path,
        Catalogue(url, api_key),
        dry_run_only=dry_run,
        result_path=result_path,
        stop=stop,
        on_start=on_start,
        on_outcome=lambda outcome: on_outcome(_outcome(outcome)),
    )
    counts = {_text(k): v for k, v in result.counts().items()}
    return [_outcome(o) for o in result.outcomes], counts, result.exit_code


def upload_sizes(batch: CheckedBatch, batch_path: Path) -> dict[int, int]:
    """Bytes each row uploads, by row number.

    run_batch reports rows, not bytes, so the page counts a row's file as
    sent once the row is finished. Paths resolve as on the command line:
    relative to the batch's folder.
    """
    base = batch_path.resolve().parent
    sizes: dict[int, int] = {}
    for number, values in batch.rows:
        upload = values.get("upload")
        if not upload or upload == CLEAR:
            continue
        path = base / Path(upload).expanduser()
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
    )


def _text(value: object) -> str:
    """A status as text, whether the library gives a string or an enum."""
    return str(getattr(value, "value", value))
