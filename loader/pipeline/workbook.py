"""Look inside a batch file before it is parsed: what it really is, how big it would get,
and what the cell reader does not say.

The reader (calamine) unpacks a workbook into memory and lays a sheet out as a
dense grid from A1 to its farthest cell. So a small file can claim gigabytes:
a zip whose parts unpack to far more than it holds (a 45 MB file of 1.3 GB of
text took 3.8 GB of memory), or one cell at XFD1048576, a grid of 17 billion
cells that aborts the process outright, with no error to catch. Before the
reader sees a file, this module therefore reads the zip's central directory
(each part's declared size) and scans the sheet's XML, streaming, for its
farthest cell. A part that would unpack past its declared size is refused
at that size, by the scan (the sheet) or by the reader (the rest). The
limits below are far beyond any editor's batch (the 50,000-row benchmark
unpacks to 50 MB, 11 times its size, in 1.2 million cells).

The same scan of the sheet finds what calamine does not report: formulas
whose value was never computed, and hidden rows and columns.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO
from xml.etree import ElementTree

from openpyxl.utils.cell import column_index_from_string

from loader import problems
from loader.errors import BatchError
from loader.text import show_size

MiB = 1 << 20
MAX_FILE_BYTES = 100 * MiB  # any batch file, as stored
MAX_UNPACKED_BYTES = 200 * MiB  # a workbook's parts, unpacked
MAX_RATIO = 100  # unpacked / packed, once the parts pass RATIO_FLOOR
RATIO_FLOOR = 10 * MiB
MAX_PARTS = 10_000
MAX_CELLS = 5_000_000  # a sheet's grid, A1 to its farthest cell (a CSV file's: rows x widest)
# What a spreadsheet holds: a workbook cannot reach past them; a CSV file is held to them.
MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384

_CFB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an OLE2 file: .xls, or an encrypted .xlsx
_ENCRYPTED = "EncryptedPackage".encode("utf-16-le")
_ODS_MIME = b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet"


def kind_of(path: Path) -> str:
    """What a file holds, from its first bytes: xlsx, ods, xls, encrypted, zip or other."""
    with path.open("rb") as f:
        head = f.read(512)
        if head.startswith(_CFB):
            # the stream names sit in the directory, usually early; read up to 1 MiB for them
            return "encrypted" if _ENCRYPTED in head + f.read(MiB) else "xls"
    if not head.startswith(b"PK\x03\x04"):
        return "other"
    if head[30:].startswith(_ODS_MIME):
        return "ods"
    return "xlsx"


def check_file_size(path: Path) -> None:
    """Refuse a batch file larger than any real batch, before reading any of it."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        detail = (
            f"{path.name} is {show_size(size)}; the loader reads batch files up to "
            f"{show_size(MAX_FILE_BYTES)}. Split it into smaller batches."
        )
        raise BatchError(problems.TOO_LARGE.message(detail=detail), code=problems.TOO_LARGE.code)


def check_archive(path: Path) -> None:
    """Refuse a zip-based workbook that is damaged, or would unpack past the limits.

    Only the central directory is read. A part whose data unpacks past its
    declared size cannot get round the limits: the sheet scan and the reader
    both stop at the declared size and refuse the part as damaged.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            _check_declared(path, archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise damaged(path, exc) from None


def damaged(path: Path, exc: Exception) -> BatchError:
    """The refusal of a workbook whose zip is damaged or incomplete."""
    return BatchError(
        f"Cannot read {path.name} as a workbook: it is damaged or incomplete ({exc}). "
        "Save it again from your spreadsheet program."
    )


def _check_declared(path: Path, parts: list[zipfile.ZipInfo]) -> None:
    packed = sum(p.compress_size for p in parts)
    unpacked = sum(p.file_size for p in parts)
    ratio = unpacked / max(packed, 1)
    figures = (
        f"{path.name} would unpack to {show_size(unpacked)}, {ratio:,.0f} times the "
        f"{show_size(packed)} it holds, in {len(parts):,} parts"
    )
    if unpacked > MAX_UNPACKED_BYTES:
        why = f"the loader unpacks workbooks up to {show_size(MAX_UNPACKED_BYTES)}"
    elif unpacked > RATIO_FLOOR and ratio > MAX_RATIO:
        why = f"a real workbook packs at most about {MAX_RATIO} times"
    elif len(parts) > MAX_PARTS:
        why = f"a real workbook has far fewer than {MAX_PARTS:,} parts"
    else:
        return
    detail = f"{figures}; {why}. It was not opened."
    raise BatchError(problems.TOO_LARGE.message(detail=detail), code=problems.TOO_LARGE.code)


# -- one sheet's XML -------------------------------------------------------------

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CELL_REF = re.compile(r"([A-Z]+)(\d+)")
_ROW_TAG = re.compile(rb"<(?:\w+:)?row\b([^>]*)>")
_CELL_TAG = re.compile(rb"<(?:\w+:)?c[\s>/]")
_CELL_WITH_REF = re.compile(rb"<(?:\w+:)?c\s[^>]*?\br=\"([A-Z]{1,3})(\d+)\"")
_COL_TAG = re.compile(rb"<(?:\w+:)?col\s([^>]*)>")
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_PLAIN_ROW = re.compile(rb'<row r="(\d+)"')
_PLAIN_REF = re.compile(rb'<c r="([A-Z]{1,3})(\d+)')
_TWO_LETTERS = re.compile(rb'<c r="[A-Z]{2}')
_THREE_LETTERS = re.compile(rb'<c r="[A-Z]{3}')
_ATTR = re.compile(rb'\b(r|hidden|min|max)="([^"]*)"')
_TRUE = (b"1", b"true")


@dataclass
class SheetScan:
    """What one streaming pass over a sheet's XML found."""

    rows: int = 0  # the farthest row (an upper bound when rows or cells lack their number)
    columns: int = 0  # the farthest column, likewise
    hidden_rows: list[int] = field(default_factory=list)
    hidden_columns: set[int] = field(default_factory=set)  # 0-based
    formulas: bool = False  # holds a formula element at all

    @property
    def cells(self) -> int:
        return self.rows * self.columns


def sheet_member(archive: zipfile.ZipFile, sheet: str) -> str | None:
    """The zip part holding the named sheet's XML."""
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


def scan_sheet(path: Path, sheet: str) -> SheetScan:
    """Scan an .xlsx sheet's XML once, streaming, without building it in memory.

    Raises BatchError when the sheet's part is damaged (its checksum fails at
    its declared size: a part that would unpack past it, for one).
    """
    scan = SheetScan()
    try:
        with zipfile.ZipFile(path) as archive:
            member = sheet_member(archive, sheet)
            if member is None:
                return scan
            with archive.open(member) as xml:
                _scan(xml, scan, exact=False)
            if scan.cells > MAX_CELLS:  # the quick bound may be loose: measure before refusing
                exact = SheetScan()
                with archive.open(member) as xml:
                    _scan(xml, exact, exact=True)
                scan.rows, scan.columns = exact.rows, exact.columns
    except (zipfile.BadZipFile, EOFError) as exc:
        raise damaged(path, exc) from None
    except (OSError, KeyError, ElementTree.ParseError):
        pass  # not the usual layout: the reader's own errors will speak
    return scan


def _chunks(xml: IO[bytes]) -> Iterator[bytes]:
    """The XML in pieces that never cut a tag: each ends at a '>'."""
    rest = b""
    while chunk := xml.read(MiB):
        data = rest + chunk
        end = data.rfind(b">") + 1
        rest = data[end:]
        yield data[:end]
    if rest:
        yield rest


def _scan(xml: IO[bytes], scan: SheetScan, exact: bool) -> None:
    """One pass: the sheet's reach (a quick upper bound unless `exact`), hidden rows and
    columns, and whether it holds a formula."""
    state = _Counts()
    prefixed: bool | None = None  # a namespace prefix (<x:c>) is used all through, or not at all
    for data in _chunks(xml):
        if prefixed is None and b"sheetData" in data:
            prefixed = b"<sheetData" not in data
        if prefixed:  # rare: the slow, general patterns
            _scan_prefixed(data, scan, state)
        elif exact:
            _scan_plain(data, scan, state)
        else:
            _bound_plain(data, scan, state)
        if exact:
            continue
        if b'hidden="' in data:
            _hidden(data, scan)
        if not scan.formulas and (b":f" if prefixed else b"<f") in data:  # <filter> is not one
            scan.formulas = bool(_FORMULA.search(data))
    # A row or cell without its number sits after the one before it: count each as reaching
    # one further, an upper bound that is exact for the usual files (every one numbered).
    scan.rows += state.unnumbered_rows
    scan.columns += state.unnumbered_cells


@dataclass
class _Counts:
    unnumbered_rows: int = 0
    unnumbered_cells: int = 0


def _scan_plain(data: bytes, scan: SheetScan, state: _Counts) -> None:
    """Rows and cells as Excel, LibreOffice and openpyxl write them: `<c r="B7" ...>`."""
    rows = _PLAIN_ROW.findall(data)
    state.unnumbered_rows += max(data.count(b"<row") - len(rows), 0)
    refs = _PLAIN_REF.findall(data)
    if len(refs) != data.count(b' r="') - len(rows):  # a cell's r is not first: look again
        _scan_prefixed(data, scan, state)
        return
    # every "<c" tag is a cell in sheetData; the few elsewhere (<col>, <cfRule>) only
    # loosen the bound a little
    state.unnumbered_cells += max(data.count(b"<c") - len(refs), 0)
    letters, numbers = zip(*refs, strict=True) if refs else ((), ())
    _reach(scan, set(letters), {*rows, *numbers})


def _bound_plain(data: bytes, scan: SheetScan, state: _Counts) -> None:
    """A quick upper bound of the reach, without matching every cell: the widest kind of
    column reference (A, AA or AAA), and the rows as the row tags number them, unless a
    cell names a row with more digits (then the exact pass is forced by a huge bound)."""
    rows = _PLAIN_ROW.findall(data)
    state.unnumbered_rows += max(data.count(b"<row") - len(rows), 0)
    # a "<c" that is not '<c r="' is a cell without its reference, or one of the few
    # other <c...> tags (<col>, <cfRule>): either only widens the bound
    state.unnumbered_cells += max(data.count(b"<c") - data.count(b'<c r="'), 0)
    width = 16384 if _THREE_LETTERS.search(data) else 702 if _TWO_LETTERS.search(data) else 26
    scan.columns = max(scan.columns, width)
    digits = max(map(len, rows), default=1)
    longer = re.search(rb'<c r="[A-Z]{1,3}\d{%d}' % (digits + 1), data)
    scan.rows = max(scan.rows, MAX_CELLS + 1 if longer else 10**digits - 1)


def _scan_prefixed(data: bytes, scan: SheetScan, state: _Counts) -> None:
    rows = [dict(_ATTR.findall(m.group(1))).get(b"r", b"") for m in _ROW_TAG.finditer(data)]
    numbered = [r for r in rows if r.isdigit()]
    state.unnumbered_rows += len(rows) - len(numbered)
    refs = _CELL_WITH_REF.findall(data)
    state.unnumbered_cells += max(len(_CELL_TAG.findall(data)) - len(refs), 0)
    _reach(scan, {letters for letters, _ in refs}, {*numbered, *(n for _, n in refs)})


def _reach(scan: SheetScan, letters: set[bytes], numbers: set[bytes]) -> None:
    """Stretch the scan to the farthest column and row named."""
    for column in letters:
        scan.columns = max(scan.columns, column_index_from_string(column.decode()))
    if numbers:
        scan.rows = max(scan.rows, max(int(n) for n in numbers))


def _hidden(data: bytes, scan: SheetScan) -> None:
    """Rows and column ranges marked hidden."""
    row = 0
    for match in _ROW_TAG.finditer(data):
        attrs = dict(_ATTR.findall(match.group(1)))
        row = int(attrs[b"r"]) if attrs.get(b"r", b"").isdigit() else row + 1
        if attrs.get(b"hidden") in _TRUE:
            scan.hidden_rows.append(row)
    for match in _COL_TAG.finditer(data):
        attrs = dict(_ATTR.findall(match.group(1)))
        first, last = attrs.get(b"min", b""), attrs.get(b"max", b"")
        if attrs.get(b"hidden") in _TRUE and first.isdigit():
            end = min(int(last) if last.isdigit() else int(first), 16384)
            scan.hidden_columns.update(range(int(first) - 1, end))


def too_many_cells(path: Path, sheet: str, scan: SheetScan) -> BatchError:
    """The refusal of a sheet whose grid is past the limit."""
    detail = (
        f"Sheet '{sheet}' of {path.name} reaches row {scan.rows:,} and column "
        f"{scan.columns:,}: a grid of {scan.cells:,} cells, when the loader reads up to "
        f"{MAX_CELLS:,}. A cell far below or right of the batch (perhaps a stray space) "
        "stretches the grid: delete the rows and columns past your batch and save again. "
        "It was not opened."
    )
    return BatchError(problems.TOO_LARGE.message(detail=detail), code=problems.TOO_LARGE.code)


def text_too_large(path: Path, rows: int, columns: int) -> BatchError:
    """The refusal of a CSV file found past a limit at its row `rows`, its widest row so
    far `columns` cells wide (it is read no further)."""
    if columns > MAX_COLUMNS:
        why = (
            f"row {rows:,} holds {columns:,} cells, when a spreadsheet row holds at most "
            f"{MAX_COLUMNS:,}"
        )
    elif rows > MAX_ROWS:
        why = f"it holds more than {MAX_ROWS:,} rows, the most a spreadsheet holds"
    else:
        why = (
            f"by row {rows:,}, with rows up to {columns:,} cells wide, it makes a grid of "
            f"{rows * columns:,} cells, when the loader reads up to {MAX_CELLS:,}"
        )
    detail = (
        f"{path.name} is too large to load: {why}. It was read no further and nothing was "
        "loaded; split it into smaller batches."
    )
    return BatchError(problems.TOO_LARGE.message(detail=detail), code=problems.TOO_LARGE.code)


def uncomputed_formulas(path: Path, sheet: str) -> frozenset[tuple[int, int]]:
    """(row number, 0-based column) of the cells holding a formula with no saved value.

    A file written by a program (not saved by a spreadsheet program) keeps
    formulas without their results; a reader sees such a cell as blank. Only
    called when the scan found a formula at all.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            member = sheet_member(archive, sheet)
            if member is None:
                return frozenset()
            with archive.open(member) as xml:
                return frozenset(_formula_cells(xml))
    except (OSError, KeyError, zipfile.BadZipFile, ElementTree.ParseError):
        return frozenset()  # calamine has read the values; this is only a refinement


def _formula_cells(xml: IO[bytes]) -> Iterator[tuple[int, int]]:
    cell_tag, formula_tag, value_tag = (f"{{{_MAIN_NS}}}{t}" for t in ("c", "f", "v"))
    for _event, element in ElementTree.iterparse(xml, events=("end",)):
        if element.tag != cell_tag:
            continue
        value = element.find(value_tag)
        if element.find(formula_tag) is not None and (value is None or not value.text):
            match = _CELL_REF.fullmatch(element.get("r", ""))
            if match:
                yield int(match.group(2)), column_index_from_string(match.group(1)) - 1
        element.clear()
