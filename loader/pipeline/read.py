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
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import python_calamine
from openpyxl.utils.cell import get_column_letter

from loader import problems
from loader.csvtext import ESCAPE, unescape
from loader.errors import BatchError
from loader.model import (
    DUE_COLUMNS,
    FULL_OPS,
    MAKING_OPS,
    RESULT_COLUMNS,
    RESULT_MARKS,
    STATE_COLUMNS,
    Batch,
    Problem,
    Row,
)
from loader.pipeline.workbook import (
    MAX_CELLS,
    MAX_COLUMNS,
    MAX_ROWS,
    MiB,
    SheetScan,
    check_archive,
    check_file_size,
    kind_of,
    scan_sheet,
    text_too_large,
    too_many_cells,
    uncomputed_formulas,
)
from loader.schema import Schema, load_schema
from loader.text import quote

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
BATCH_SUFFIXES = WORKBOOK_SUFFIXES + TEXT_SUFFIXES  # what a batch file may be named
DEFAULT_SHEET = "Batch"  # the template's sheet; otherwise the first sheet is read
_LETTERED = 18_278  # columns A to ZZZ: those openpyxl names with letters
# The suffixes under which calamine recognises each kind of workbook by name.
_KIND_SUFFIXES = {"xlsx": (".xlsx", ".xlsm"), "xls": (".xls",), "ods": (".ods",)}

# A grid: (spreadsheet row number, cell texts) per row.
Grid = Iterator[tuple[int, list[str]]]
Formulas = frozenset[tuple[int, int]]
Merged = list[tuple[tuple[int, int], tuple[int, int]]]  # 0-based (first, last) corners


@dataclass(frozen=True)
class Marks:
    """What the sheet says about its cells beyond their values."""

    formulas: Formulas = frozenset()  # (row number, 0-based column) never computed
    hidden_rows: frozenset[int] = frozenset()  # row numbers
    hidden_columns: frozenset[int] = frozenset()  # 0-based
    merged: Merged = field(default_factory=list)


def read_batch(path: Path, sheet: str | None = None, schema: Schema | None = None) -> Batch:
    """Read a batch file: header row, then one row per resource operation.

    `sheet` picks a workbook sheet; by default the sheet named "Batch", or
    else the first sheet. A workbook is read as what it holds (an .xls saved
    under an .xlsx name is read as .xls). Raises BatchError when the file
    cannot be read or its columns cannot be used.
    """
    schema = schema or load_schema()
    path = Path(path)
    if not path.exists():
        raise BatchError(f"The batch file {path} does not exist.")
    if not path.is_file():
        raise BatchError(f"The batch file {path} is not a file.")
    try:
        check_file_size(path)
        kind = kind_of(path)
    except OSError as exc:
        raise BatchError(f"Cannot read {path.name}: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    if kind == "encrypted":
        raise BatchError(
            f"Cannot read {path.name}: it is protected by a password. Open it, remove the "
            "password (in Excel: File > Info > Protect Workbook > Encrypt with Password, "
            "and clear it), save it and try again."
        )
    if suffix in TEXT_SUFFIXES and kind != "other":
        raise BatchError(
            f"{path.name} is not a text (CSV) file but a workbook ({kind}): rename it "
            f"to .{kind} and try again."
        )
    if kind in _KIND_SUFFIXES:
        sheet, grid, marks = _read_workbook(path, kind, sheet)
    elif suffix in WORKBOOK_SUFFIXES:
        raise BatchError(
            f"Cannot read {path.name} as a workbook: it is not a spreadsheet file "
            "(if it is a CSV file, give it a .csv name)."
        )
    elif suffix in TEXT_SUFFIXES:
        if sheet is not None:
            raise BatchError(f"{path.name} is a CSV file: it has no sheets, so leave out --sheet.")
        grid, marks = _read_csv(path), Marks()
    else:
        raise BatchError(
            f"The batch file {path.name} is neither a workbook (.xlsx) nor a CSV file (.csv)."
        )
    return _batch_from_grid(path, sheet, grid, schema, marks)


# -- workbooks ----------------------------------------------------------------


def sheet_names(path: Path) -> list[str]:
    """The sheets of a workbook, in order, for choosing the one to read; [] for a CSV
    file, or a file that cannot be read as a workbook (reading it says why)."""
    try:
        check_file_size(path)
        kind = kind_of(path)
        if kind not in _KIND_SUFFIXES:
            return []
        if kind != "xls":
            check_archive(path)
        with path.open("rb") as stream:
            workbook = python_calamine.CalamineWorkbook.from_filelike(stream)
        try:
            return list(workbook.sheet_names)
        finally:
            workbook.close()
    except (BatchError, OSError):
        return []
    except BaseException as exc:  # calamine's own errors, as _fault tells them apart
        _fault(exc)
        return []


def _read_workbook(path: Path, kind: str, sheet: str | None) -> tuple[str, Grid, Marks]:
    """The sheet's cells, once the file has been shown safe to unpack and lay out."""
    if kind != "xls":
        check_archive(path)
    try:
        if path.suffix.lower() in _KIND_SUFFIXES[kind]:
            workbook = python_calamine.CalamineWorkbook.from_path(str(path))
        else:  # renamed: let calamine tell the kind from the content
            with path.open("rb") as stream:
                workbook = python_calamine.CalamineWorkbook.from_filelike(stream)
    except BaseException as exc:  # calamine raises several unrelated types for a bad file
        raise BatchError(f"Cannot read {path.name} as a workbook: {_fault(exc)}") from None
    try:
        sheet = _pick_sheet(path, workbook, sheet)
        scan = scan_sheet(path, sheet) if kind == "xlsx" else SheetScan()
        if scan.cells > MAX_CELLS:
            raise too_many_cells(path, sheet, scan)
        found = workbook.get_sheet_by_name(sheet)
        cells = found.to_python(skip_empty_area=False)
        merged = list(found.merged_cell_ranges or [])
    except BatchError:
        raise
    except BaseException as exc:
        raise BatchError(f"Cannot read sheet '{sheet}' of {path.name}: {_fault(exc)}") from None
    finally:
        workbook.close()
    marks = Marks(
        uncomputed_formulas(path, sheet) if scan.formulas else frozenset(),
        frozenset(scan.hidden_rows),
        frozenset(scan.hidden_columns),
        merged,
    )
    # to_python(skip_empty_area=False) starts at A1, so list index + 1 is the row number.
    grid = ((i, [_cell_text(v) for v in r]) for i, r in enumerate(cells, start=1))
    return sheet, grid, marks


def _fault(exc: BaseException) -> str:
    """What the reader said about a file it could not read.

    A panic inside calamine reaches Python as pyo3's PanicException, which derives
    from BaseException (so `except Exception` misses it) and is not importable; it
    is told apart by name, and anything else that is no Exception goes on up.
    """
    if isinstance(exc, Exception):
        return str(exc)
    if type(exc).__name__ != "PanicException":
        raise exc
    first = str(exc).splitlines()[0] if str(exc) else "no detail"
    return f"the reader broke on it ({first})"


def _pick_sheet(path: Path, workbook: python_calamine.CalamineWorkbook, sheet: str | None) -> str:
    """The sheet asked for; else 'Batch'; else the first visible one. A hidden sheet is
    read only when asked for by name."""
    names = workbook.sheet_names
    if sheet is not None:
        if sheet not in names:
            listed = ", ".join(f"'{n}'" for n in names)
            raise BatchError(
                f"The workbook {path.name} has no sheet '{sheet}'; its sheets are {listed}.",
                code=problems.MISSING_SHEET.code,
            )
        return sheet
    shown = python_calamine.SheetVisibleEnum.Visible
    visible = [
        m.name
        for m in workbook.sheets_metadata
        if m.visible == shown and m.typ == python_calamine.SheetTypeEnum.WorkSheet
    ]
    if DEFAULT_SHEET in names:
        if DEFAULT_SHEET not in visible:
            detail = (
                f"The sheet '{DEFAULT_SHEET}' of {path.name} is hidden, so nobody would see "
                f"what it loads: unhide it, or name the sheet to read with --sheet."
            )
            raise BatchError(
                problems.HIDDEN_CELLS.message(detail=detail), code=problems.HIDDEN_CELLS.code
            )
        return DEFAULT_SHEET
    if visible or names:
        return (visible or names)[0]
    raise BatchError(f"The workbook {path.name} has no sheets.", code=problems.MISSING_SHEET.code)


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
#
# A CSV file is read in passes that each stream it, holding a chunk at a time:
# its bytes (which encoding), its records counted (a file past the limits is
# refused before anything is kept), then its records as rows. Reading it whole
# cost six times its size before the first row was made (its bytes, its text,
# and the text again in the parser's buffer), and the rows were all made before
# their number was looked at: a 104 MB file of short cells took 5.7 GB.

_CHUNK = MiB


def _read_csv(path: Path) -> Grid:
    """The CSV file's records, once its encoding is known and its size within the limits."""
    try:
        encoding = _encoding(path)
        delimiter = _delimiter(path, encoding)
        for _ in _records(path, encoding, delimiter):  # counts, keeping nothing
            pass
    except OSError as exc:
        raise BatchError(f"Cannot read {path.name}: {exc.strerror or exc}") from None
    return _records(path, encoding, delimiter)


def _records(path: Path, encoding: str, delimiter: str) -> Grid:
    """(row number, trimmed cells) per record: one record is one spreadsheet row, even
    when a quoted cell holds line breaks. A cell escaped by the loader's own CSV writer
    (loader.csvtext) reads as the text it stands for. Raises BatchError past the grid
    limits."""
    try:
        with path.open(encoding=encoding, newline="") as text:
            reader = csv.reader(text, delimiter=delimiter)
            widest = 0
            for number, record in enumerate(reader, start=1):
                widest = max(widest, len(record))
                if number * widest > MAX_CELLS or number > MAX_ROWS or widest > MAX_COLUMNS:
                    raise text_too_large(path, number, widest)
                # a cell the loader wrote with an apostrophe before it reads as it was
                yield number, [unescape(t) if (t := c.strip())[:1] == ESCAPE else t for c in record]
    except csv.Error as exc:
        detail = str(exc)
        if "field larger than field limit" in detail:  # the csv module's own limit
            detail = (
                f"a cell holds more than {csv.field_size_limit():,} characters, when a "
                "spreadsheet cell holds at most 32,767"
            )
        raise BatchError(
            f"Cannot read {path.name} as CSV: line {reader.line_num}: {detail}"
        ) from None
    except UnicodeDecodeError:  # damaged UTF-16, or a file changed since it was looked at
        name = _ENCODING_NAMES[encoding]
        raise BatchError(f"Cannot read {path.name}: its {name} text is damaged.") from None
    except OSError as exc:  # gone or locked since it was looked at
        raise BatchError(f"Cannot read {path.name}: {exc.strerror or exc}") from None


_ENCODING_NAMES = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "cp1252": "Windows-1252"}


def _delimiter(path: Path, encoding: str) -> str:
    """The separator the header line uses: comma, semicolon (some locales) or tab."""
    with path.open(encoding=encoding, errors="replace", newline="") as text:
        first = text.readline(_CHUNK)
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _encoding(path: Path) -> str:
    """How to decode a CSV file as Excel and LibreOffice save it: UTF-8 (BOM or not),
    UTF-16, or Windows-1252; read a chunk at a time.

    A file that is not all UTF-8 is read as Windows-1252 only when it holds no
    UTF-8 text at all: a file mixing the two (lines pasted from two sources)
    is refused, naming the line, because reading it either way garbles one part
    ("cafÃ©"), and guessing line by line could garble it silently.
    """
    with path.open("rb") as stream:
        head = stream.read(len(codecs.BOM_UTF8))
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"  # damaged text is found as it is decoded
        marked = head == codecs.BOM_UTF8  # the file says it is UTF-8
        stream.seek(0)
        size, nuls, bad = _utf8_scan(stream)
        # A stray NUL is a cell's problem (validation names its row and column); text
        # full of them is not text, or is UTF-16 that lost its byte-order mark.
        if nuls > size // 10:
            raise BatchError(
                f"Cannot read {path.name}: it is not a text (CSV) file (a tenth of its bytes "
                "are NUL). If it is text, save it from Excel as 'CSV UTF-8' and try again."
            )
        if bad is None:
            return "utf-8-sig"
        text_start = len(head) if marked else 0  # the mark is not text
        utf8 = _first_utf8(stream, text_start)
        if utf8 is not None or marked:
            raise _mixed(path, stream, text_start, bad, utf8)
        stream.seek(0)
        try:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                chunk.decode("cp1252")  # one byte a character: chunks cut nothing
        except UnicodeDecodeError:
            raise BatchError(
                f"Cannot read {path.name}: it is neither UTF-8 nor Windows-1252 text. "
                "Save it from Excel as 'CSV UTF-8' and try again."
            ) from None
    return "cp1252"


Span = tuple[int, int]  # (start, end) byte offsets in a file


def _utf8_scan(stream: IO[bytes]) -> tuple[int, int, Span | None]:
    """The file's size, its NUL bytes, and where its first bytes that are not UTF-8 are."""
    size = nuls = done = 0  # done: bytes decoded so far
    pending = b""  # a character cut by the end of a chunk
    bad: Span | None = None
    for chunk in iter(lambda: stream.read(_CHUNK), b""):
        size += len(chunk)
        nuls += chunk.count(0)
        if bad is not None:
            continue
        data = pending + chunk
        try:
            _, used = codecs.utf_8_decode(data, "strict", False)
        except UnicodeDecodeError as error:
            bad = (done + error.start, done + error.end)
            continue
        done, pending = done + used, data[used:]
    if bad is None and pending:  # the file ends inside a character
        bad = (done, done + len(pending))
    return size, nuls, bad


# A byte sequence UTF-8 uses for one character beyond ASCII.
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]{1,3}")


def _first_utf8(stream: IO[bytes], start: int) -> Span | None:
    """Where the file, from `start`, first holds a character beyond ASCII in UTF-8.

    Looked for a chunk at a time, as the whole file would be: a sequence that
    reaches the end of a chunk may go on in the next, so it is judged there.
    """
    stream.seek(start)
    data = b""
    for chunk in iter(lambda: stream.read(_CHUNK), b""):
        data += chunk
        keep = max(len(data) - 3, 0)  # a character may begin in the last three bytes
        for match in _UTF8_SEQUENCE.finditer(data):
            if match.end() == len(data):
                keep = min(keep, match.start())
                break
            if _is_utf8(match.group()):
                return start + match.start(), start + match.end()
        start, data = start + keep, data[keep:]
    found = next((m for m in _UTF8_SEQUENCE.finditer(data) if _is_utf8(m.group())), None)
    return (start + found.start(), start + found.end()) if found else None


def _is_utf8(sequence: bytes) -> bool:
    try:
        sequence.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _mixed(
    path: Path, stream: IO[bytes], text_start: int, bad: Span, utf8: Span | None
) -> BatchError:
    """The refusal of a CSV file holding UTF-8 (text, or the mark that says so) and
    non-UTF-8 text, with both places."""

    def line_of(position: int) -> int:
        stream.seek(0)
        lines, left = 1, position
        while left > 0 and (chunk := stream.read(min(_CHUNK, left))):
            lines += chunk.count(b"\n")
            left -= len(chunk)
        return lines

    def around(start: int, end: int) -> str:
        """The bytes from `start` to `end`, with up to 20 more each side on their line."""
        first = max(text_start, start - 20)
        stream.seek(first)
        piece = stream.read(end + 20 - first)
        before, inside = piece[: start - first], piece[start - first :]
        before = before[before.rfind(b"\n") + 1 :]
        newline = inside.find(b"\n", end - start)
        inside = inside if newline < 0 else inside[:newline]
        return quote((before + inside).decode("utf-8", errors="backslashreplace").strip())

    stream.seek(bad[0])
    shown = " ".join(f"0x{b:02X}" for b in stream.read(bad[1] - bad[0]))
    message = problems.MIXED_ENCODING.message(
        file=path.name,
        utf8_line=line_of(utf8[0]) if utf8 else 1,
        utf8_sample=f"'{around(*utf8)}'" if utf8 else "its UTF-8 mark",
        line=line_of(bad[0]),
        bytes=shown,
        sample=f"'{around(*bad)}'",
    )
    return BatchError(message, code=problems.MIXED_ENCODING.code)


# -- columns and rows ------------------------------------------------------------


def column_letter(index: int) -> str:
    """A 0-based column as the spreadsheet names it: 0 -> A, 27 -> AB. Past ZZZ, which
    only a CSV file reaches (a workbook stops at XFD), its number: 20000."""
    return get_column_letter(index + 1) if index < _LETTERED else str(index + 1)


def _shown(numbers: list[int]) -> str:
    """Row numbers for a message: the first five, then "..."."""
    return ", ".join(str(n) for n in numbers[:5]) + (", ..." if len(numbers) > 5 else "")


def _batch_from_grid(
    path: Path,
    sheet: str | None,
    grid: Iterable[tuple[int, list[str]]],
    schema: Schema,
    marks: Marks | None = None,
) -> Batch:
    marks = marks or Marks()
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
    columns_at = dict(zip(positions, columns, strict=True))
    rows, unheaded = _rows(grid, header_cells, columns_at, marks.formulas)
    for index, numbers in sorted(unheaded.items()):
        message = problems.UNNAMED_COLUMN.message(letter=column_letter(index), rows=_shown(numbers))
        found.append(Problem(problems.UNNAMED_COLUMN.code, message, header_number))
    found.extend(_missing_columns(columns, rows, schema))
    if found:
        lines = "\n".join(f"  - {p.message}" for p in found)
        raise BatchError(f"The columns of {where} cannot be used:\n{lines}", found, found[0].code)
    hidden = _unseen(marks, header_number, header_cells, rows)
    if hidden:
        lines = "\n".join(f"  - {p.message}" for p in hidden)
        raise BatchError(f"The {where} cannot be loaded as it is:\n{lines}", hidden, hidden[0].code)
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
    columns, a due report's dates, the DataStore state), to be ignored; and whether
    the sheet is a result.

    A set counts only when every heading of it is there: a lone 'status'
    column is the editor's, and is refused as unknown like any other. The
    `datastore` column is the exception: no field has that name, and export
    writes it alone.
    """
    present = {text.strip().lower() for text in cells if text}
    ignored: set[str] = set()
    from_result = present >= RESULT_MARKS
    if from_result:
        ignored.update(RESULT_COLUMNS)
    if set(DUE_COLUMNS) <= present:
        ignored.update(DUE_COLUMNS)
    ignored.update(present & set(STATE_COLUMNS))
    return frozenset(ignored), from_result


def _unseen(marks: Marks, header: int, header_cells: list[str], rows: list[Row]) -> list[Problem]:
    """Hidden rows and columns that hold values, and merged cells under the heading:
    what the spreadsheet shows is not what would be loaded."""
    found: list[Problem] = []
    code = problems.HIDDEN_CELLS.code
    hidden_rows = sorted(r.number for r in rows if r.number in marks.hidden_rows)
    if hidden_rows:
        one = len(hidden_rows) == 1
        detail = (
            f"{'Row' if one else 'Rows'} {_shown(hidden_rows)} {'is' if one else 'are'} hidden "
            f"but {'holds' if one else 'hold'} values; unhide {'it' if one else 'them'} (or "
            f"delete {'it' if one else 'them'}) so that you see everything the batch loads."
        )
        found.append(Problem(code, problems.HIDDEN_CELLS.message(detail=detail), hidden_rows[0]))
    for index in sorted(marks.hidden_columns):
        if index < len(header_cells) and header_cells[index]:
            heading = quote(header_cells[index])
            detail = (
                f"Column {column_letter(index)} ('{heading}') is hidden; unhide it (or delete "
                "it) so that you see everything the batch loads."
            )
            found.append(Problem(code, problems.HIDDEN_CELLS.message(detail=detail), header))
    for (top, left), (bottom, right) in marks.merged:
        if bottom + 1 <= header:
            continue  # a title above the heading row
        first, last = column_letter(left), column_letter(right)
        message = problems.MERGED_CELLS.message(
            range=f"{first}{top + 1}:{last}{bottom + 1}",
            rows=f"{top + 1} to {bottom + 1}",
            columns=first if left == right else f"{first} to {last}",
        )
        found.append(Problem(problems.MERGED_CELLS.code, message, top + 1))
    return found


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
    formula_rows: dict[int, frozenset[str]] = {}
    for number, index in formulas:
        if index in columns_at:
            formula_rows[number] = formula_rows.get(number, frozenset()) | {columns_at[index]}
    none: frozenset[str] = frozenset()  # one for every row (each frozenset() is a new one)
    shared = _Shared()
    for number, cells in grid:
        size = len(cells)
        values = {column: shared[cells[i]] for i, column in pairs if i < size and cells[i]}
        uncomputed = formula_rows.get(number, none)
        if values or uncomputed:
            rows.append(Row(number, values, uncomputed))
        # Values with no heading above them would be silently lost.
        for i in [*blank, *range(width, size)]:
            if i < size and cells[i]:
                unheaded.setdefault(i, []).append(number)
    return rows, unheaded


class _Shared(dict[str, str]):
    """Each cell text once: a batch repeats most of them down its rows (the op, the
    dataset, the format, the cycle), and a text kept once per cell cost more than
    half of a read batch's memory. At most SHARED texts are kept, so a batch of
    all-different texts costs little more than it would unshared."""

    SHARED = 1 << 16

    def __missing__(self, text: str) -> str:
        if len(self) < self.SHARED:
            self[text] = text
        return text


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
