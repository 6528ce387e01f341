"""The result workbook: the batch as the editor wrote it, with what happened to each row.

Sheet "Results" opens with the outcome of each row (status, action, error,
code, datastore), so that what happened is read first, without scrolling past
the batch; the status column and the heading row stay in view however far the
sheet is scrolled, and a filter on every heading finds the failed rows.
`datastore` says what became of the file a row sent in the catalogue's
DataStore ("loaded 12,345 rows", "load failed: ...", "still loading after
600 s", "not loaded (format pdf)"; blank where no file was sent). The batch's
own columns and values follow, with the `resource_id` of every row that
resolved or created a resource filled in (a `resource_id` column is added
among the batch's columns when it had none), then the resource's page and its
dataset's id (resource_url, package_id). So the Results sheet is itself a
batch: the reader recognises the result columns wherever they stand and
ignores them, and the next run acts on the same resources by id. Cells with a
problem (and DataStore loads that failed or did not finish) are highlighted
red and carry the message as a comment; cells with a warning (the row still
runs) yellow. Sheet "Summary" counts rows by status (in a dry run, by what
they would do; for a run, files by DataStore state too) and says when, where
and by whom.

Nothing from the batch or the catalogue is ever written as a formula, and
the file is replaced in one step, so an interrupted run never leaves half
a workbook behind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from loader.model import (
    DATASTORE_COLUMN,
    RESULT_COLUMNS,
    RESULT_LEADING,
    RESULT_TRAILING,
    UNLOADED,
    WOULD,
    Batch,
    LoadState,
    Outcome,
    Problem,
    Row,
    RunSummary,
    Status,
    tally,
)
from loader.spreadsheet import (
    BOLD,
    CellValue,
    WriteOnlyWorksheet,
    fit,
    save_atomically,
    text_cell,
)

STATUS_FILLS = {
    Status.DONE: PatternFill("solid", fgColor="C6EFCE"),
    Status.FAILED: PatternFill("solid", fgColor="FFC7CE"),
    Status.INVALID: PatternFill("solid", fgColor="FFC7CE"),
    Status.SKIPPED: PatternFill("solid", fgColor="EDEDED"),
}
PROBLEM_FILL = PatternFill("solid", fgColor="FFC7CE")
WARNING_FILL = PatternFill("solid", fgColor="FFEB9C")  # the row runs: the file may mislead
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
LINK = Font(color="0563C1", underline="single")
AUTHOR = "bcdc-loader"


def write_results(
    path: Path,
    batch: Batch,
    outcomes: list[Outcome],
    summary: RunSummary,
    warnings: Iterable[Problem] = (),
) -> Path:
    """Write the result workbook to `path` (replacing it in one step) and return the path.

    `warnings` (problems that leave their row ready, such as a file in
    Windows-1252) are marked on their cells. Rows are streamed (openpyxl's
    write-only mode), so a large batch costs little memory.
    """
    wb = Workbook(write_only=True)
    _results_sheet(wb.create_sheet("Results"), batch, outcomes, warnings)
    _summary_sheet(wb.create_sheet("Summary"), batch, outcomes, summary)
    return save_atomically(wb, Path(path))


def result_columns(batch: Batch) -> tuple[list[str], list[str]]:
    """The batch part of the Results sheet: (headings, canonical columns).

    The batch's own, plus a `resource_id` column after op, package and
    organization when the batch had none, so the sheet can be run again.
    """
    headers, columns = list(batch.headers), list(batch.columns)
    if "resource_id" not in columns:
        leading = [columns.index(c) + 1 for c in ("op", "package", "organization") if c in columns]
        at = max(leading, default=0)
        headers.insert(at, "resource_id")
        columns.insert(at, "resource_id")
    return headers, columns


def sheet_columns(batch: Batch) -> tuple[list[str], list[str]]:
    """Every column of the Results sheet, in order: (headings, names). The outcome
    leads, the batch follows, the catalogue's addresses close the row."""
    headers, columns = result_columns(batch)
    return (
        [*RESULT_LEADING, *headers, *RESULT_TRAILING],
        [*RESULT_LEADING, *columns, *RESULT_TRAILING],
    )


def result_values(row: Row, outcome: Outcome) -> dict[str, str]:
    """A row's batch cells as the next run reads them: the resource it resolved
    or created named by id."""
    values = dict(row.values)
    if outcome.resource_id:
        values["resource_id"] = outcome.resource_id
    return values


def outcome_values(outcome: Outcome) -> dict[str, CellValue]:
    """The outcome columns of one row, by name."""
    values: dict[str, CellValue] = {name: getattr(outcome, name) for name in RESULT_COLUMNS}
    values["status"] = str(outcome.status)
    return values


def _results_sheet(
    ws: WriteOnlyWorksheet, batch: Batch, outcomes: list[Outcome], warnings: Iterable[Problem]
) -> None:
    headers, columns = sheet_columns(batch)
    by_row = {o.row: o for o in outcomes}
    rows = [(r, by_row.get(r.number) or Outcome(r.number, Status.NOT_RUN)) for r in batch.rows]
    notes: dict[int, dict[str, str]] = {}
    for warning in warnings:
        if warning.row is not None and warning.column is not None:
            cells = notes.setdefault(warning.row, {})
            cells[warning.column] = "\n".join(
                filter(None, [cells.get(warning.column), warning.message])
            )
    _layout(ws, headers, columns, rows)
    ws.append([text_cell(ws, text, font=BOLD, fill=HEADER_FILL) for text in headers])
    for row, outcome in rows:
        values = {**result_values(row, outcome), **outcome_values(outcome)}
        ws.append(_result_row(ws, columns, values, outcome, notes.get(row.number, {})))


# The widest a column is drawn (in characters): the outcome's text columns narrower,
# so that the batch's own columns still show beside them; longer text runs on
# into the blank cell beside it, or shows whole in the cell.
_WIDEST = 60
_WIDEST_OUTCOME = {"action": 48, "error": 48}


def _layout(
    ws: WriteOnlyWorksheet, headers: list[str], columns: list[str], rows: list[tuple[Row, Outcome]]
) -> None:
    """A write-only sheet takes its layout before its rows: size the columns from the
    headings and the first rows, keep the headings and the status in view, filter."""
    position = {column: i for i, column in enumerate(columns)}
    longest = [len(text) for text in headers]
    for row, outcome in rows[:200]:
        values = {**result_values(row, outcome), **outcome_values(outcome)}
        for column, value in values.items():
            at = position[column]
            longest[at] = max(longest[at], len(str(value or "")))
    for index, (column, size) in enumerate(zip(columns, longest, strict=True), start=1):
        widest = _WIDEST_OUTCOME.get(column, _WIDEST)
        ws.column_dimensions[get_column_letter(index)].width = min(max(size + 2, 8), widest)
    # the heading row and the status column stay in view, however far the editor scrolls
    ws.freeze_panes = "B2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{max(1, len(rows) + 1)}"


def _result_row(
    ws: WriteOnlyWorksheet,
    columns: list[str],
    values: dict[str, CellValue],
    outcome: Outcome,
    warnings: dict[str, str],
) -> list[object]:
    """One Results row: the outcome, then the batch cells (problems and warnings
    marked on their cells), then the catalogue's addresses."""
    position = {column: i for i, column in enumerate(columns)}
    cells: list[object] = [None] * len(columns)
    for column, value in values.items():
        if value not in (None, ""):
            cells[position[column]] = text_cell(ws, value)
    if outcome.status in STATUS_FILLS:
        cells[position["status"]] = text_cell(ws, outcome.status, fill=STATUS_FILLS[outcome.status])
    if outcome.status in (Status.FAILED, Status.INVALID) and outcome.error:
        cells[position["error"]] = text_cell(ws, outcome.error, fill=PROBLEM_FILL)
    if outcome.load in UNLOADED:
        cells[position[DATASTORE_COLUMN]] = text_cell(ws, outcome.datastore, fill=PROBLEM_FILL)
    url = outcome.resource_url
    if url and url.lower().startswith(("https://", "http://")):
        cells[position["resource_url"]] = text_cell(ws, url, hyperlink=url, font=LINK)
    marks = [(c, m, WARNING_FILL, "Warning: ") for c, m in warnings.items()]
    marks += [(c, m, PROBLEM_FILL, "") for c, m in outcome.field_errors.items()]
    for column, message, fill, said in marks:
        if column not in position or column in RESULT_COLUMNS:
            continue  # a column the batch lacks: the message is in `error`
        note = fit(ILLEGAL_CHARACTERS_RE.sub("", said + message))
        cells[position[column]] = text_cell(
            ws, values.get(column), fill=fill, comment=Comment(note, AUTHOR, 120, 320)
        )
    return cells


def load_counts(outcomes: list[Outcome]) -> dict[str, int]:
    """How many rows' files ended in each DataStore state, in LoadState's order."""
    found = Counter(str(o.load) for o in outcomes if o.load is not None)
    return {str(state): found[str(state)] for state in LoadState if found[str(state)]}


def _summary_sheet(
    ws: WriteOnlyWorksheet, batch: Batch, outcomes: list[Outcome], summary: RunSummary
) -> None:
    status = {o.row: o.status for o in outcomes}
    counts = Counter(status.get(row.number, Status.NOT_RUN) for row in batch.rows)
    lines: list[tuple[str, CellValue]] = [
        ("Mode", summary.mode + (" (dry run)" if summary.dry_run else "")),
        ("Batch file", str(batch.path)),
        ("Sheet", batch.sheet or ""),
        ("Target catalogue", summary.target_url or "(none: checked offline)"),
        ("User", summary.user or ""),
        ("Started", summary.started.isoformat(timespec="seconds")),
        ("Ended", summary.ended.isoformat(timespec="seconds")),
        ("Duration (seconds)", round(summary.duration, 3)),
        ("Loader version", summary.loader_version),
        ("Rows", len(batch.rows)),
    ]
    lines += [(f"Rows {status}", counts.get(status, 0)) for status in Status]
    if summary.dry_run:  # what the rows would do, after what became of them
        would = tally(outcomes, dry_run=True)
        lines += [(f"Rows that {key}", n) for key, n in would.items() if key in WOULD.values()]
    elif summary.mode == "run":
        loads = load_counts(outcomes)
        lines += [(f"DataStore: {state}", loads.get(str(state), 0)) for state in LoadState]
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 60
    ws.append([text_cell(ws, "Item", font=BOLD), text_cell(ws, "Value", font=BOLD)])
    for label, value in lines:
        ws.append([text_cell(ws, label), text_cell(ws, value)])
