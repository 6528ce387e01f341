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
import re
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO
from xml.etree import ElementTree

import python_calamine

from loader import problems
from loader.errors import BatchError
from loader.model import (
    DUE_COLUMNS,
    FULL_OPS,
    MAKING_OPS,
    RESULT_COLUMNS,
    RESULT_MARKS,
    Batch,
    Problem,
    Row,
)
from loader.schema import Schema, load_schema

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
DEFAULT_SHEET = "Batch"  # the template's sheet; otherwise the first sheet is read

# A grid: (spreadsheet row number, cell texts) per row, and the cells, as
# (row number, 0-based column), that hold a formula whose value was never computed.
Grid = Iterator[tuple[int, list[str]]]
Formulas = frozenset[tuple[int, int]]


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
    formulas: Formulas = frozenset()
    if suffix in WORKBOOK_SUFFIXES:
        sheet, grid = _read_workbook(path, sheet)
        formulas = uncomputed_formulas(path, sheet)
    elif suffix in TEXT_SUFFIXES:
        if sheet is not None:
            raise BatchError(f"{path.name} is a CSV file: it has no sheets, so leave out --sheet.")
        grid = _read_csv(path)
    else:
        raise BatchError(
            f"The batch file {path.name} is neither a workbook (.xlsx) nor a CSV file (.csv)."
        )
    return _batch_from_grid(path, sheet, grid, schema, formulas)


# -- workbooks ----------------------------------------------------------------


def _read_workbook(path: Path, sheet: str | None) -> tuple[str, Grid]:
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
            raise BatchError(
                f"The workbook {path.name} has no sheets.", code=problems.MISSING_SHEET.code
            )
    elif sheet not in names:
        listed = ", ".join(f"'{n}'" for n in names)
        raise BatchError(
            f"The workbook {path.name} has no sheet '{sheet}'; its sheets are {listed}.",
            code=problems.MISSING_SHEET.code,
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


_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CELL_REF = re.compile(r"([A-Z]+)(\d+)")


def uncomputed_formulas(path: Path, sheet: str) -> Formulas:
    """Cells of an .xlsx sheet that hold a formula with no saved value.

    A file written by a program (not saved by a spreadsheet program) keeps
    formulas without their results; a reader sees such a cell as blank. The
    sheet's XML is parsed only when it holds a formula at all.
    """
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        return frozenset()
    try:
        with zipfile.ZipFile(path) as archive:
            member = _sheet_member(archive, sheet)
            if member is None or not _mentions_formula(archive, member):
                return frozenset()
            with archive.open(member) as xml:
                return frozenset(_formula_cells(xml))
    except (OSError, KeyError, zipfile.BadZipFile, ElementTree.ParseError):
        return frozenset()  # calamine has read the values; this is only a refinement


def _sheet_member(archive: zipfile.ZipFile, sheet: str) -> str | None:
    """The zip member holding the named sheet's XML."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {
        r.get("Id"): r.get("Target", "") for r in rels.iter(f"{{{_PKG_REL_NS}}}Relationship")
    }
    for entry in workbook.iter(f"{{{_MAIN_NS}}}sheet"):
        if entry.get("name") == sheet:
            target = targets.get(entry.get(f"{{{_REL_NS}}}id"), "")
            if target.startswith("/"):
                return target.lstrip("/")
            return str(PurePosixPath("xl") / target)
    return None


def _mentions_formula(archive: zipfile.ZipFile, member: str) -> bool:
    """A cheap look for a formula element before parsing: most batches have none."""
    tail = b""
    with archive.open(member) as xml:
        while chunk := xml.read(1 << 20):
            if re.search(rb"<(?:\w+:)?f[\s>/]", tail + chunk):
                return True
            tail = chunk[-16:]
    return False


def _formula_cells(xml: IO[bytes]) -> Iterator[tuple[int, int]]:
    cell_tag, formula_tag, value_tag = (f"{{{_MAIN_NS}}}{t}" for t in ("c", "f", "v"))
    for _event, element in ElementTree.iterparse(xml, events=("end",)):
        if element.tag != cell_tag:
            continue
        value = element.find(value_tag)
        if element.find(formula_tag) is not None and (value is None or not value.text):
            match = _CELL_REF.fullmatch(element.get("r", ""))
            if match:
                yield int(match.group(2)), column_index(match.group(1))
        element.clear()


def column_index(letters: str) -> int:
    """0-based column index of a spreadsheet letter: A -> 0, AB -> 27."""
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index - 1


# -- CSV ----------------------------------------------------------------------


def _decode(path: Path, data: bytes) -> str:
    """CSV text as Excel and LibreOffice save it: UTF-8 (BOM or not), UTF-16, Windows-1252."""
    encodings: tuple[str, ...]
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


def _read_csv(path: Path) -> Grid:
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


def _shown(numbers: list[int]) -> str:
    """Row numbers for a message: the first five, then "..."."""
    return ", ".join(str(n) for n in numbers[:5]) + (", ..." if len(numbers) > 5 else "")


def _batch_from_grid(
    path: Path,
    sheet: str | None,
    grid: Iterable[tuple[int, list[str]]],
    schema: Schema,
    formulas: Formulas = frozenset(),
) -> Batch:
    where = f"sheet '{sheet}' of {path.name}" if sheet else path.name
    grid = iter(grid)
    header_number, header_cells = 0, list[str]()
    for header_number, header_cells in grid:  # noqa: B007 - used after the loop
        if any(header_cells):
            break
    else:
        raise BatchError(
            problems.EMPTY_BATCH.message(
                where=where, detail="is empty: it needs a heading row and at least one row"
            ),
            code=problems.EMPTY_BATCH.code,
        )

    ignored, from_result = loader_columns(header_cells)
    found, positions, headers, columns = _headings(header_cells, header_number, schema, ignored)
    rows, unheaded = _rows(grid, header_cells, dict(zip(positions, columns, strict=True)), formulas)
    for index, numbers in sorted(unheaded.items()):
        message = problems.UNNAMED_COLUMN.message(letter=column_letter(index), rows=_shown(numbers))
        found.append(Problem(problems.UNNAMED_COLUMN.code, message, header_number))
    found.extend(_missing_columns(columns, rows, schema))
    if found:
        lines = "\n".join(f"  - {p.message}" for p in found)
        raise BatchError(f"The columns of {where} cannot be used:\n{lines}", found, found[0].code)
    if not rows:
        raise BatchError(
            problems.EMPTY_BATCH.message(
                where=where, detail="has a heading row but no rows below it"
            ),
            code=problems.EMPTY_BATCH.code,
        )
    return Batch(path, sheet, headers, columns, rows, from_result)


def loader_columns(cells: list[str]) -> tuple[frozenset[str], bool]:
    """The headings of columns the loader wrote beside a batch (a result's outcome
    columns, a due report's dates), to be ignored; and whether the sheet is a result.

    A set counts only when every heading of it is there: a lone 'status'
    column is the editor's, and is refused as unknown like any other.
    """
    present = {text.strip().lower() for text in cells if text}
    ignored: set[str] = set()
    from_result = present >= RESULT_MARKS
    if from_result:
        ignored.update(RESULT_COLUMNS)
    if set(DUE_COLUMNS) <= present:
        ignored.update(DUE_COLUMNS)
    return frozenset(ignored), from_result


def _headings(
    cells: list[str], number: int, schema: Schema, ignored: frozenset[str] = frozenset()
) -> tuple[list[Problem], list[int], list[str], list[str]]:
    """Problems with the heading row, and the (position, heading, column) of each usable one."""
    found: list[Problem] = []
    positions: list[int] = []
    headers: list[str] = []
    columns: list[str] = []
    seen: dict[str, str] = {}
    for index, text in enumerate(cells):
        if not text or text.strip().lower() in ignored:
            continue
        letter = column_letter(index)
        column = schema.match_header(text)
        if column is None:
            suggestion = schema.suggest_header(text)
            hint = f"; did you mean '{suggestion}'?" if suggestion else "."
            message = problems.UNKNOWN_COLUMN.message(letter=letter, text=text, hint=hint)
            found.append(Problem(problems.UNKNOWN_COLUMN.code, message, number, text))
        elif column in seen:
            message = problems.DUPLICATE_COLUMN.message(
                letter=letter, text=text, other=seen[column]
            )
            found.append(Problem(problems.DUPLICATE_COLUMN.code, message, number, column))
        else:
            seen[column] = f"'{text}' (column {letter})"
            positions.append(index)
            headers.append(text)
            columns.append(column)
    return found, positions, headers, columns


def _rows(
    grid: Iterator[tuple[int, list[str]]],
    header_cells: list[str],
    columns_at: dict[int, str],
    formulas: Formulas,
) -> tuple[list[Row], dict[int, list[int]]]:
    """The rows under the heading, and {column index: row numbers} of values with no heading."""
    rows: list[Row] = []
    unheaded: dict[int, list[int]] = {}
    width = len(header_cells)
    blank = [i for i, text in enumerate(header_cells) if not text]
    pairs = list(columns_at.items())
    formula_rows: dict[int, set[str]] = {}
    for number, index in formulas:
        if index in columns_at:
            formula_rows.setdefault(number, set()).add(columns_at[index])
    for number, cells in grid:
        size = len(cells)
        values = {column: cells[i] for i, column in pairs if i < size and cells[i]}
        uncomputed = frozenset(formula_rows.get(number, ()))
        if values or uncomputed:
            rows.append(Row(number, values, uncomputed))
        # Values with no heading above them would be silently lost.
        for i in [*blank, *range(width, size)]:
            if i < size and cells[i]:
                unheaded.setdefault(i, []).append(number)
    return rows, unheaded


def _missing_columns(columns: list[str], rows: list[Row], schema: Schema) -> list[Problem]:
    """Columns without which the batch cannot be checked row by row."""
    code = problems.MISSING_COLUMN.code
    if "op" not in columns:
        return [
            Problem(code, problems.MISSING_COLUMN.message(detail="The batch has no 'op' column."))
        ]
    found = []
    if "package" not in columns and "resource_id" not in columns:
        detail = (
            "The batch has neither a 'package' nor a 'resource_id' column, "
            "so no row can name its resource."
        )
        found.append(Problem(code, problems.MISSING_COLUMN.message(detail=detail)))
    ops = [(r.number, r.values.get("op", "").lower()) for r in rows]
    full = [number for number, op in ops if op in FULL_OPS]
    if full:
        needed = list(schema.required_fields)
        if "package" not in columns and any(op in MAKING_OPS for _, op in ops):
            needed.insert(0, "package")
        missing = [name for name in needed if name not in columns]
        if missing:
            names = ", ".join(f"'{m}'" for m in missing)
            detail = (
                f"The batch has no column for {names}: create, update and upsert rows "
                f"(row {_shown(full)}) need a value in every required column."
            )
            found.append(Problem(code, problems.MISSING_COLUMN.message(detail=detail)))
    return found
