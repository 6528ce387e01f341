"""The result workbook: the batch as the editor wrote it, with what happened to each row.

Sheet "Results" repeats the batch's own columns and values, with the
`resource_id` of every row that resolved or created a resource filled in
(a `resource_id` column is added among the batch's columns when it had
none), then status, action, package_id, resource_url, error, code and
datastore (what became of the file a row sent in the catalogue's DataStore:
"loaded 12,345 rows", "load failed: ...", "still loading after 600 s", "not
loaded (format pdf)"; blank where no file was sent). So the Results sheet is
itself a batch: the reader recognises the result columns
and ignores them, and the next run acts on the same resources by id. Cells
with a problem are highlighted and carry the message as a comment. Sheet
"Summary" counts rows by status (and, for a run, files by DataStore state) and
says when, where and by whom.

Nothing from the batch or the catalogue is ever written as a formula, and
the file is replaced in one step, so an interrupted run never leaves half
a workbook behind.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from loader.model import (
    DATASTORE_COLUMN,
    RESULT_COLUMNS,
    UNLOADED,
    Batch,
    LoadState,
    Outcome,
    Row,
    RunSummary,
    Status,
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
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
LINK = Font(color="0563C1", underline="single")
AUTHOR = "bcdc-loader"


def write_results(path: Path, batch: Batch, outcomes: list[Outcome], summary: RunSummary) -> Path:
    """Write the result workbook to `path` (replacing it in one step) and return the path.

    Rows are streamed (openpyxl's write-only mode), so a large batch costs
    little memory.
    """
    wb = Workbook(write_only=True)
    _results_sheet(wb.create_sheet("Results"), batch, outcomes)
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


def result_values(row: Row, outcome: Outcome) -> dict[str, str]:
    """A row's batch cells as the next run reads them: the resource it resolved
    or created named by id."""
    values = dict(row.values)
    if outcome.resource_id:
        values["resource_id"] = outcome.resource_id
    return values


def _results_sheet(ws: WriteOnlyWorksheet, batch: Batch, outcomes: list[Outcome]) -> None:
    batch_headers, columns = result_columns(batch)
    headers = [*batch_headers, *RESULT_COLUMNS]
    width = len(columns)
    by_row = {o.row: o for o in outcomes}
    rows = [(r, by_row.get(r.number) or Outcome(r.number, Status.NOT_RUN)) for r in batch.rows]
    _layout(ws, headers, columns, rows)
    ws.append([text_cell(ws, text, font=BOLD, fill=HEADER_FILL) for text in headers])
    for row, outcome in rows:
        ws.append(_result_row(ws, columns, width, result_values(row, outcome), outcome))


def _layout(
    ws: WriteOnlyWorksheet, headers: list[str], columns: list[str], rows: list[tuple[Row, Outcome]]
) -> None:
    """A write-only sheet takes its layout before its rows: size the columns
    from the headings and the first rows."""
    position = {column: i for i, column in enumerate(columns)}
    longest = [len(text) for text in headers]
    for row, outcome in rows[:200]:
        for column, text in result_values(row, outcome).items():
            longest[position[column]] = max(longest[position[column]], len(text))
        for offset, value in enumerate(_result_values(outcome), start=len(columns)):
            longest[offset] = max(longest[offset], len(str(value or "")))
    for index, size in enumerate(longest, start=1):
        ws.column_dimensions[get_column_letter(index)].width = min(max(size + 2, 8), 60)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{max(1, len(rows) + 1)}"


def _result_row(
    ws: WriteOnlyWorksheet, columns: list[str], width: int, values: dict[str, str], outcome: Outcome
) -> list[object]:
    """One Results row: the batch cells (problems marked), then the outcome."""
    status_at, error_at, link_at, datastore_at = (
        width + RESULT_COLUMNS.index(name)
        for name in ("status", "error", "resource_url", DATASTORE_COLUMN)
    )
    position = {column: i for i, column in enumerate(columns)}
    cells: list[object] = [None] * (width + len(RESULT_COLUMNS))
    for column, text in values.items():
        cells[position[column]] = text_cell(ws, text)
    for offset, value in enumerate(_result_values(outcome), start=width):
        if value not in (None, ""):
            cells[offset] = text_cell(ws, value)
    if outcome.status in STATUS_FILLS:
        cells[status_at] = text_cell(ws, outcome.status, fill=STATUS_FILLS[outcome.status])
    if outcome.status in (Status.FAILED, Status.INVALID) and outcome.error:
        cells[error_at] = text_cell(ws, outcome.error, fill=PROBLEM_FILL)
    if outcome.load in UNLOADED:
        cells[datastore_at] = text_cell(ws, outcome.datastore, fill=PROBLEM_FILL)
    url = outcome.resource_url
    if url and url.lower().startswith(("https://", "http://")):
        cells[link_at] = text_cell(ws, url, hyperlink=url, font=LINK)
    for column, message in outcome.field_errors.items():
        if column not in position:
            continue  # a column the batch lacks: the message is in `error`
        comment = Comment(fit(ILLEGAL_CHARACTERS_RE.sub("", message)), AUTHOR, 120, 320)
        cells[position[column]] = text_cell(
            ws, values.get(column), fill=PROBLEM_FILL, comment=comment
        )
    return cells


def _result_values(outcome: Outcome) -> tuple[CellValue, ...]:
    """The values of RESULT_COLUMNS for one row, in that order."""
    return tuple(getattr(outcome, name) for name in RESULT_COLUMNS)


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
    if summary.mode == "run" and not summary.dry_run:
        loads = load_counts(outcomes)
        lines += [(f"DataStore: {state}", loads.get(str(state), 0)) for state in LoadState]
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 60
    ws.append([text_cell(ws, "Item", font=BOLD), text_cell(ws, "Value", font=BOLD)])
    for label, value in lines:
        ws.append([text_cell(ws, label), text_cell(ws, value)])
