"""Read a batch file (.xlsx or .csv) into a Batch of rows as the editor typed them.

Every cell becomes text: whole numbers without `.0`, dates as ISO dates,
text (ids included) untouched apart from surrounding whitespace. Blank rows
are skipped; row numbers are the ones the spreadsheet shows. Anything that
makes the file unusable as a whole raises BatchError with one message.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from pathlib import Path

import python_calamine

from loader.errors import BatchError
from loader.model import Batch, Problem, Row
from loader.schema import Schema, load_schema

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
DEFAULT_SHEET = "Batch"  # the template's sheet; otherwise the first sheet is read
FULL_OPS = ("create", "update", "upsert")


def read_batch(path: Path, sheet: str | None = None, schema: Schema | None = None) -> Batch:
    """Read a batch file: header row, then one row per resource operation.

    `sheet` picks a workbook sheet; by default the sheet named "Batch", or
    else the first sheet. Raises BatchError when the file cannot be read or
    its columns cannot be used.
    """
    schema = schema or load_schema()
    path = Path(path)
    if not path.exists():
        raise BatchError(f"The batch file {path} does not exist.")
    if not path.is_file():
        raise BatchError(f"The batch file {path} is not a file.")
    suffix = path.suffix.lower()
    if suffix in WORKBOOK_SUFFIXES:
        sheet, grid = _read_workbook(path, sheet)
    elif suffix in TEXT_SUFFIXES:
        if sheet is not None:
            raise BatchError(f"{path.name} is a CSV file: it has no sheets, so leave out --sheet.")
        grid = _read_csv(path)
    else:
        raise BatchError(
            f"The batch file {path.name} is neither a workbook (.xlsx) nor a CSV file (.csv)."
        )
    return _batch_from_grid(path, sheet, grid, schema)


# -- workbooks ----------------------------------------------------------------


def _read_workbook(path: Path, sheet: str | None) -> tuple[str, Iterator[tuple[int, list[str]]]]:
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several unrelated types for a bad file
        raise BatchError(f"Cannot read {path.name} as a workbook: {exc}") from None
    names = workbook.sheet_names
    if sheet is None:
        visible = [
            m.name
            for m in workbook.sheets_metadata
            if m.visible == python_calamine.SheetVisibleEnum.Visible
            and m.typ == python_calamine.SheetTypeEnum.WorkSheet
        ]
        if DEFAULT_SHEET in names:
            sheet = DEFAULT_SHEET
        elif visible or names:
            sheet = (visible or names)[0]
        else:
            raise BatchError(f"The workbook {path.name} has no sheets.")
    elif sheet not in names:
        listed = ", ".join(f"'{n}'" for n in names)
        raise BatchError(
            f"The workbook {path.name} has no sheet '{sheet}'; its sheets are {listed}."
        )
    try:
        cells = workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    except Exception as exc:
        raise BatchError(f"Cannot read sheet '{sheet}' of {path.name}: {exc}") from None
    finally:
        workbook.close()
    # to_python(skip_empty_area=False) starts at A1, so list index + 1 is the row number.
    return sheet, ((i, [_cell_text(v) for v in r]) for i, r in enumerate(cells, start=1))


def _cell_text(value: object) -> str:
    """A workbook cell as the editor sees it typed."""
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        # Excel keeps every number as a float: 1 comes back as 1.0.
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(timespec="seconds" if not value.microsecond else "auto")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value).strip()


# -- CSV ----------------------------------------------------------------------


def _decode(path: Path, data: bytes) -> str:
    """CSV text as Excel and LibreOffice save it: UTF-8 (BOM or not), UTF-16, Windows-1252."""
    if data.startswith(codecs.BOM_UTF8):
        encodings = ("utf-8-sig",)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ("utf-16",)
    else:
        encodings = ("utf-8", "cp1252")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise BatchError(
        f"Cannot read {path.name}: it is neither UTF-8 nor Windows-1252 text. "
        "Save it from Excel as 'CSV UTF-8' and try again."
    )


def _delimiter(text: str) -> str:
    """The separator the header line uses: comma, semicolon (some locales) or tab."""
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_csv(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BatchError(f"Cannot read {path.name}: {exc.strerror or exc}") from None
    if b"\x00" in data and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise BatchError(f"Cannot read {path.name}: it is not a text (CSV) file.")
    text = _decode(path, data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        # One record is one spreadsheet row, even when a quoted cell holds line breaks.
        rows = [(i, [c.strip() for c in r]) for i, r in enumerate(reader, start=1)]
    except csv.Error as exc:
        raise BatchError(f"Cannot read {path.name} as CSV: {exc}") from None
    return iter(rows)


# -- columns and rows ------------------------------------------------------------


def column_letter(index: int) -> str:
    """Spreadsheet letter for a 0-based column index: 0 -> A, 27 -> AB."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _batch_from_grid(
    path: Path, sheet: str | None, grid: Iterable[tuple[int, list[str]]], schema: Schema
) -> Batch:
    where = f"sheet '{sheet}' of {path.name}" if sheet else path.name
    grid = iter(grid)
    header_number, header_cells = 0, []
    for header_number, header_cells in grid:  # noqa: B007 - used after the loop
        if any(header_cells):
            break
    else:
        raise BatchError(f"The {where} is empty: it needs a heading row and at least one row.")

    problems: list[Problem] = []
    positions: list[int] = []
    headers: list[str] = []
    columns: list[str] = []
    seen: dict[str, str] = {}
    for index, text in enumerate(header_cells):
        if not text:
            continue
        letter = column_letter(index)
        column = schema.match_header(text)
        if column is None:
            hint = schema.suggest_header(text)
            message = f"Column {letter}, '{text}', is not a column the loader knows"
            message += f"; did you mean '{hint}'?" if hint else "."
            problems.append(Problem("unknown-column", message, header_number, text))
        elif column in seen:
            problems.append(
                Problem(
                    "duplicate-column",
                    f"Column {letter}, '{text}', is the same column as {seen[column]}; "
                    "keep only one of them.",
                    header_number,
                    column,
                )
            )
        else:
            seen[column] = f"'{text}' (column {letter})"
            positions.append(index)
            headers.append(text)
            columns.append(column)

    rows: list[Row] = []
    unheaded: dict[int, list[int]] = {}
    width = len(header_cells)
    blank = [i for i, text in enumerate(header_cells) if not text]
    pairs = list(zip(positions, columns, strict=True))
    for number, cells in grid:
        size = len(cells)
        values = {column: cells[i] for i, column in pairs if i < size and cells[i]}
        if values:
            rows.append(Row(number, values))
        # Values with no heading above them would be silently lost.
        for i in [*blank, *range(width, size)]:
            if i < size and cells[i]:
                unheaded.setdefault(i, []).append(number)

    for index, numbers in sorted(unheaded.items()):
        shown = ", ".join(str(n) for n in numbers[:5]) + (", ..." if len(numbers) > 5 else "")
        problems.append(
            Problem(
                "unnamed-column",
                f"Column {column_letter(index)} has no heading but holds values (row {shown}); "
                "give it a heading or clear it.",
                header_number,
            )
        )
    problems.extend(_missing_columns(columns, rows, schema))
    if problems:
        lines = "\n".join(f"  - {p.message}" for p in problems)
        raise BatchError(f"The columns of {where} cannot be used:\n{lines}", problems)
    if not rows:
        raise BatchError(f"The {where} has a heading row but no rows below it.")
    return Batch(path, sheet, headers, columns, rows)


def _missing_columns(columns: list[str], rows: list[Row], schema: Schema) -> list[Problem]:
    """Columns without which the batch cannot be checked row by row."""
    if "op" not in columns:
        return [Problem("missing-column", "The batch has no 'op' column.")]
    problems = []
    if "package" not in columns and "resource_id" not in columns:
        problems.append(
            Problem(
                "missing-column",
                "The batch has neither a 'package' nor a 'resource_id' column, "
                "so no row can name its resource.",
            )
        )
    full = [r.number for r in rows if r.values.get("op", "").lower() in FULL_OPS]
    if full:
        needed = [f.name for f in schema.fields if f.required and not f.read_only]
        if "package" not in columns and any(
            r.values.get("op", "").lower() in ("create", "upsert") for r in rows
        ):
            needed.insert(0, "package")
        missing = [name for name in needed if name not in columns]
        if missing:
            shown = ", ".join(str(n) for n in full[:5]) + (", ..." if len(full) > 5 else "")
            names = ", ".join(f"'{m}'" for m in missing)
            problems.append(
                Problem(
                    "missing-column",
                    f"The batch has no column for {names}: create, update and upsert rows "
                    f"(row {shown}) need a value in every required column.",
                )
            )
    return problems
