"""Look inside each file a batch uploads, before anything is written.

The catalogue loads tabular uploads (CSV, TSV, Excel) into its DataStore after
they are stored, and that load fails on what no cell of the batch shows: text
in an encoding that does not decode, blank or repeated column names, rows
with more or fewer cells than the heading row, a file that is not what its
`format` says (a workbook named `.csv`, a zip declared `geojson`). The editor
would learn of it only when users find an empty preview. So validation reads
each file once, here, and says what is wrong in the editor's terms: the
file, the line, the column.

What a file is comes from its content (its first bytes, a zip's list of
parts), never from its name alone. Text is read streamed, a megabyte at a
time, through Python's csv module (which the DataStore loader's own reader
uses) and an incremental decoder, so a 1 GB file costs no more
memory than a small one; JSON goes through ijson's streaming parser for the
same reason. The heading row is found as the DataStore loader finds it: the
first row, among the first hundred that are not blank, holding about as many
values as most rows do (a title line above it is skipped).

Text is read as UTF-8, or else as Windows-1252 (Excel's plain "CSV"), as the
batch file itself is: a file holding both is refused, naming a line of each.
A Windows-1252 file loads, so it only draws a warning.

`Contents.check` is the entry point validation uses (each file read once per
batch); `look_inside` checks one file on its own.
"""

from __future__ import annotations

import codecs
import csv
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

from loader import problems
from loader.pinned import Altered, PinnedFile
from loader.pipeline.read import column_letter
from loader.pipeline.validate.rules import Found
from loader.pipeline.workbook import MAX_PARTS, kind_of
from loader.problems import ProblemType
from loader.text import plural, quote

CHUNK = 1 << 20  # bytes read at a time
SAMPLE_ROWS = 100  # rows looked at for the heading row, as the DataStore loader does
MAX_LINE = 16 << 20  # characters in one line before the file is taken for no table
MAX_SHARED_STRINGS = 64 << 20  # a workbook's shared strings, unpacked, read for its headings
NAME_LIMIT = 63  # characters of a column name the DataStore keeps (PostgreSQL's limit)
SHOWN = 5  # line numbers listed in a message
NEWLINE = b"\n"
KEPT_LINE = 1 << 20  # bytes of a JSON line kept to say in which column it fails


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a file, before it is tied to the row that uploads it."""

    problem: ProblemType
    values: dict[str, Any]
    column: str = "upload"  # the batch column it is shown on

    def found(self, text: str) -> Found:
        """The finding as validation records it for a row whose upload cell is `text`."""
        return self.problem.code, self.column, self.problem.message(text=text, **self.values)


# -- what a file is --------------------------------------------------------------------

# What each kind of file is called in messages.
KIND_WORDS = {
    "text": "plain text",
    "json": "JSON text",
    "xml": "an XML document",
    "html": "a web page (HTML)",
    "pdf": "a PDF document",
    "xlsx": "an Excel workbook (.xlsx)",
    "xls": "an Excel 97-2003 workbook (.xls)",
    "encrypted": "a password-protected workbook",
    "ods": "an OpenDocument spreadsheet (.ods)",
    "docx": "a Word document (.docx)",
    "pptx": "a PowerPoint presentation (.pptx)",
    "kmz": "a KMZ file (zipped KML)",
    "zip": "a zip archive",
    "damaged-zip": "a damaged or incomplete zip archive",
    "gzip": "a gzip archive",
    "7z": "a 7-Zip archive",
    "rar": "a RAR archive",
    "png": "a PNG image",
    "jpeg": "a JPEG image",
    "gif": "a GIF image",
    "tiff": "a TIFF image",
    "sqlite": "an SQLite database",
    "gpkg": "a GeoPackage",
    "shp": "the .shp part of a shapefile",
    "binary": "binary data, not text",
}
_MAGIC = (
    (b"%PDF-", "pdf"),
    (b"\x1f\x8b", "gzip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"\x00\x00\x27\x0a", "shp"),
)
# Parts that tell one zip-based format from another.
_ZIP_MARKS = (
    ("xl/workbook.xml", "xlsx"),
    ("xl/workbook.bin", "xlsx"),
    ("word/document.xml", "docx"),
    ("ppt/presentation.xml", "pptx"),
)
_ODS_MIME = b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet"
_TEXTS = ("text", "json", "xml", "html")

# The kinds of file each `format` may hold; formats not listed (other, multiple,
# services, cded) are not compared with the file.
ACCEPTS: dict[str, frozenset[str]] = {
    name: frozenset(kinds)
    for name, kinds in {
        "csv": {"text"},
        "tsv": {"text"},
        "txt": _TEXTS,
        "e00": {"text"},
        # text that is not JSON is reported where it fails to parse, not as another kind
        "json": {"json", "text"},
        "geojson": {"json", "text"},
        "openapi-json": {"json", "text"},
        "xml": {"xml"},
        "rdf": {"xml"},
        "atom": {"xml"},
        "georss": {"xml"},
        "kml": {"xml"},
        "html": {"html", "xml"},
        "pdf": {"pdf"},
        "xls": {"xls"},
        "xlsx": {"xlsx"},
        "zip": {"zip", "kmz"},
        "kmz": {"kmz", "zip"},
        "shp": {"zip", "shp"},
        "fgdb": {"zip"},
        "gpkg": {"gpkg", "sqlite"},
    }.items()
}
# The format to suggest for a kind of file.
_SUGGEST = {
    "text": "csv or txt",
    "json": "json or geojson",
    "xml": "xml",
    "html": "html",
    "pdf": "pdf",
    "xlsx": "xlsx",
    "xls": "xls",
    "kmz": "kmz",
    "zip": "zip",
    "gpkg": "gpkg",
    "sqlite": "gpkg",
    "shp": "shp",
}
TABLE_FORMATS = frozenset({"csv", "tsv"})
JSON_FORMATS = frozenset({"json", "geojson", "openapi-json"})


def kind_of_file(path: Path) -> str:
    """What a file holds, from its content: a key of KIND_WORDS."""
    with path.open("rb") as stream:
        head = stream.read(8192)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg" if head[68:72] in (b"GPKG", b"GP10", b"GP11") else "sqlite"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "encrypted" if kind_of(path) == "encrypted" else "xls"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(path, head)
    return _text_kind(head)


def _zip_kind(path: Path, head: bytes) -> str:
    if head[30:].startswith(_ODS_MIME):
        return "ods"
    if _zip_entries(path) > MAX_PARTS:  # not opened: its directory alone could fill memory
        return "zip"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError):
        return "damaged-zip"
    present = set(names)
    for name, kind in _ZIP_MARKS:
        if name in present:
            return kind
    if any(name.lower().endswith(".kml") and "/" not in name for name in names):
        return "kmz"
    return "zip"


def _zip_entries(path: Path) -> int:
    """How many parts a zip's end record declares (a large number when it cannot say)."""
    with path.open("rb") as stream:
        size = stream.seek(0, 2)
        stream.seek(max(0, size - (1 << 16) - 22))
        tail = stream.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 12:
        return 0  # no end record: zipfile will say it is damaged
    entries = int.from_bytes(tail[at + 10 : at + 12], "little")
    return MAX_PARTS + 1 if entries == 0xFFFF else entries  # 0xFFFF: a zip64 count


def _text_kind(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        head = head.decode("utf-16", errors="replace").encode("utf-8", errors="replace")
    elif head.count(b"\x00") > len(head) // 10:  # a stray NUL is the text's problem
        return "binary"
    start = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if start.startswith((b"{", b"[")):
        return "json"
    if start.startswith(b"<"):
        lower = start[:2048].lower()
        return "html" if b"<!doctype html" in lower or b"<html" in lower else "xml"
    return "text"


def declared_format(format_cell: str | None, path: Path) -> tuple[str, str]:
    """What the row says the file is, and how it says it: its `format` cell, or else
    (a patch that keeps the format) the end of its name."""
    if format_cell and format_cell.strip():
        value = format_cell.strip().lower()
        return value, f"its format is '{value}'"
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ACCEPTS:
        return suffix, f"its name ends in .{suffix}"
    return "", ""


def format_findings(kind: str, declared: str, said: str) -> list[Finding]:
    """The file is not what its format (or name) says."""
    if not declared or declared not in ACCEPTS or kind in ACCEPTS[declared]:
        return []
    if kind == "encrypted":
        fix = "save it again without a password (the DataStore cannot open it)"
    elif kind in _SUGGEST and _SUGGEST[kind] != declared:
        fix = f"set format to {_SUGGEST[kind]}, or upload the {declared} file you meant"
    else:
        fix = f"upload the {declared} file you meant"
    values = {"kind": KIND_WORDS[kind], "said": said, "fix": fix}
    return [Finding(problems.UPLOAD_WRONG_FORMAT, values, column="format")]


# -- reading text ----------------------------------------------------------------------

# A byte sequence UTF-8 uses for one character beyond ASCII.
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]{1,3}")


def _first_utf8(data: bytes) -> re.Match[bytes] | None:
    for match in _UTF8_SEQUENCE.finditer(data):
        try:
            match.group().decode("utf-8")
        except UnicodeDecodeError:
            continue
        return match
    return None


def _sample(data: bytes, start: int, end: int) -> str:
    """The text around bytes [start, end) of one line, shown as a message quotes it."""
    line_start = data.rfind(b"\n", 0, start) + 1
    line_end = data.find(b"\n", end)
    line_end = len(data) if line_end < 0 else line_end
    piece = data[max(line_start, start - 20) : min(line_end, end + 20)]
    return quote(piece.decode("utf-8", errors="backslashreplace").strip())


def _hex(data: bytes) -> str:
    return " ".join(f"0x{b:02X}" for b in data)


@dataclass
class _Place:
    line: int
    sample: str


@dataclass
class _Decoded:
    """A text file's lines, decoded as they are read: UTF-8, unless the file shows it is
    Windows-1252 or UTF-16 (by its byte-order mark). What the decoding met is kept
    for the findings; once the text is found not to decode, the rest is read with
    replacement characters so that its rows can still be checked."""

    path: Path
    on_chunk: Callable[[bytes], object] | None = None
    encoding: str = "UTF-8"
    marked: bool = False  # a UTF-8 byte-order mark says the file is UTF-8
    utf8_at: _Place | None = None  # the first character beyond ASCII, as UTF-8
    other_at: _Place | None = None  # the first bytes that are not UTF-8
    other_bytes: str = ""  # those bytes, in hex
    other_text: str = ""  # and the text around them, read as Windows-1252
    findings: list[Finding] = field(default_factory=list)
    watching: bool = True  # no encoding problem found yet
    lines_before: int = 0  # line breaks in the bytes before the current chunk
    newline: str = "\n"
    break_byte: bytes = b"\n"  # the same, as a byte

    def lines(self) -> Iterator[list[str]]:
        """Lists of lines (without their line break), a chunk's worth at a time."""
        decoder: Any = None
        rest = ""
        with self.path.open("rb") as stream:
            data = stream.read(CHUNK)
            if self.on_chunk:
                self.on_chunk(data)
            if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                self.encoding, self.watching = "UTF-16", False
                decoder = codecs.getincrementaldecoder("utf-16")(errors="replace")
            else:
                self.marked = data.startswith(codecs.BOM_UTF8)
                data = data.removeprefix(codecs.BOM_UTF8)
                decoder = codecs.getincrementaldecoder("utf-8")()
            if b"\n" not in data and b"\r" in data:  # old Mac line ends
                self.newline, self.break_byte = "\r", b"\r"
            while data:
                text, decoder = self._decode(data, decoder)
                if self.watching and b"\x00" in data:
                    self._nul(data)
                self.lines_before += data.count(self.break_byte)
                parts = (rest + text).split(self.newline)
                rest = parts.pop()
                if len(rest) > MAX_LINE:
                    raise LineTooLong(self.lines_before + 1)
                yield parts
                data = stream.read(CHUNK)
                if self.on_chunk and data:
                    self.on_chunk(data)
        rest += self._last(decoder)
        if rest:
            yield [rest]

    def _decode(self, data: bytes, decoder: Any) -> tuple[str, Any]:
        pending = decoder.getstate()[0] if self.encoding == "UTF-8" else b""
        try:
            text = decoder.decode(data)
        except UnicodeDecodeError as bad:
            if not self.watching:  # already reported: read on as well as can be
                return self._replacing(pending + data)
            return self._undecodable(pending + data, bad, len(pending))
        if not self.watching:
            return text, decoder
        if data.isascii():
            return text, decoder
        if self.encoding == "UTF-8":
            if self.utf8_at is None:
                match = _first_utf8(data)
                if match is not None:
                    self.utf8_at = self._place(data, match.start(), match.end())
        else:  # Windows-1252 so far: UTF-8 text further on means the file mixes the two
            match = _first_utf8(data)
            if match is not None:
                self.utf8_at = self._place(data, match.start(), match.end())
                self._mixed()
        return text, decoder

    def _undecodable(self, joined: bytes, bad: UnicodeDecodeError, pending: int) -> tuple[str, Any]:
        """Bytes that do not decode: UTF-8 giving way to Windows-1252, or a real problem."""
        data = joined[pending:]
        at = max(0, bad.start - pending)
        place = self._place(data, at, max(at + 1, bad.end - pending))
        place_bytes = _hex(joined[bad.start : bad.end])
        if self.encoding == "UTF-8":
            self.other_at = place
            self.other_bytes = place_bytes
            line_start = data.rfind(b"\n", 0, at) + 1
            line_end = data.find(b"\n", at)
            piece = data[max(line_start, at - 20) : at + 20 if line_end < 0 else line_end]
            self.other_text = quote(piece.decode("cp1252", errors="replace").strip())
            earlier = _first_utf8(joined[: bad.start])
            if earlier is not None and self.utf8_at is None:
                self.utf8_at = self._place(data, earlier.start(), earlier.end())
            if self.utf8_at is not None or self.marked:
                self._mixed()
                return self._replacing(joined)
            self.encoding = "Windows-1252"
            decoder = codecs.getincrementaldecoder("cp1252")()
            try:
                return decoder.decode(joined), decoder
            except UnicodeDecodeError as worse:
                return self._undecodable(joined, worse, 0)
        detail = (
            f"line {place.line} holds {place_bytes} ({place.sample}), which is no character "
            "in UTF-8 or in Windows-1252, so the file cannot be read as text; save it as "
            "UTF-8 ('CSV UTF-8' in Excel)"
        )
        self._encoding_problem(detail)
        return self._replacing(joined)

    def _last(self, decoder: Any) -> str:
        """What the decoder still holds at the end: a character cut off is bytes that
        are not UTF-8, like any other."""
        try:
            return str(decoder.decode(b"", final=True))
        except UnicodeDecodeError as bad:
            pending = decoder.getstate()[0]
            if not self.watching:
                return self._replacing(pending)[0]
            return str(self._undecodable(pending, bad, 0)[0])

    def _replacing(self, joined: bytes) -> tuple[str, Any]:
        decoder = codecs.getincrementaldecoder("cp1252")(errors="replace")
        return decoder.decode(joined), decoder

    def _mixed(self) -> None:
        assert self.other_at is not None
        where = (
            f"line {self.utf8_at.line} holds UTF-8 text ({self.utf8_at.sample})"
            if self.utf8_at
            else "it starts with the mark of UTF-8 text"
        )
        detail = (
            f"it mixes two text encodings: {where}, but line {self.other_at.line} holds "
            f"bytes that are not UTF-8 ({self.other_bytes} in {self.other_at.sample}), so "
            f"one of them would load garbled. Fix line {self.other_at.line} (or every line "
            "with odd characters) and save the file as UTF-8"
        )
        self._encoding_problem(detail)

    def _nul(self, data: bytes) -> None:
        at = data.find(b"\x00")
        line = self.lines_before + data.count(self.break_byte, 0, at) + 1
        detail = (
            f"line {line} holds a NUL character (a zero byte), which the DataStore cannot "
            "store; the file may be damaged, or not text"
        )
        self._encoding_problem(detail)

    def _encoding_problem(self, detail: str) -> None:
        self.watching = False
        self.findings.append(Finding(problems.UPLOAD_ENCODING, {"detail": detail}))

    def _place(self, data: bytes, start: int, end: int) -> _Place:
        line = self.lines_before + data.count(self.break_byte, 0, start) + 1
        return _Place(line, f"'{_sample(data, start, end)}'")

    def warning(self) -> list[Finding]:
        """A file that decoded, but not as UTF-8."""
        if self.encoding == "UTF-8" or any(
            f.problem is problems.UPLOAD_ENCODING for f in self.findings
        ):
            return []
        where = f" (line {self.other_at.line}: '{self.other_text}')" if self.other_at else ""
        values = {"encoding": self.encoding, "where": where}
        return [Finding(problems.UPLOAD_OTHER_ENCODING, values)]


class LineTooLong(Exception):
    """A line longer than any row of a table (MAX_LINE characters)."""

    def __init__(self, line: int):
        super().__init__(line)
        self.line = line


# -- tables ----------------------------------------------------------------------------


_NUMBER = re.compile(r"[-+]?(\d[\d,]*(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"}


def _delimiter(lines: list[str]) -> str:
    """The separator the first line that is not blank uses most."""
    first = next((line for line in lines if line.strip()), "")
    counts = {d: first.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _blank(cells: list[str]) -> bool:
    return not any(map(str.strip, cells))


@dataclass
class _Ragged:
    """Rows whose number of cells is not the heading row's."""

    width: int
    heading: str  # where the heading row is, in words
    separator: str = "comma"
    first: tuple[int, int, int] | None = None  # start line, end line, cells
    lines: list[int] = field(default_factory=list)
    count: int = 0

    def note(self, start: int, end: int, cells: int) -> None:
        self.count += 1
        if self.first is None:
            self.first = (start, end, cells)
        elif len(self.lines) < SHOWN:
            self.lines.append(start)

    def findings(self) -> list[Finding]:
        if self.first is None:
            return []
        start, end, cells = self.first
        more = cells > self.width
        detail = (
            f"line {start} has {plural(cells, 'cell')}, {'more' if more else 'fewer'} than "
            f"the {plural(self.width, 'column')} of the heading row ({self.heading})"
        )
        if end > start:
            detail += f"; it runs on to line {end}: a quote opened on line {start} may never close"
        elif more:
            detail += f"; a value holding a {self.separator} needs quotes around it"
        if self.count > 1:
            shown = ", ".join(str(n) for n in self.lines)
            etc = ", ..." if self.count - 1 > len(self.lines) else ""
            others = plural(self.count - 1, "other line")
            detail += f". So do {others} (lines {shown}{etc})"
        return [Finding(problems.UPLOAD_RAGGED_ROWS, {"detail": detail})]


Sampled = list[tuple[int, int, list[str]]]  # (start line, end line, cells) of rows not blank


def heading_index(sample: Sampled) -> int:
    """The heading row among the first rows: the first holding about as many values
    as most rows do (so that a title line above the table is passed over)."""
    counts = [sum(map(bool, map(str.strip, cells))) for _, _, cells in sample]
    modal = Counter(counts).most_common(1)[0][0]
    return next(i for i, n in enumerate(counts) if n >= modal - 1)


def heading_findings(cells: list[str], where: str) -> list[Finding]:
    """Blank and repeated names in the heading row, and a heading row of numbers."""
    found: list[Finding] = []
    blank = [column_letter(i) for i, c in enumerate(cells) if not c.strip()]
    if blank:
        columns = _columns(blank)
        have = "has" if len(blank) == 1 else "have"
        values = {"columns": columns, "where": where, "have": have}
        found.append(Finding(problems.UPLOAD_BLANK_HEADING, values))
    by_name: dict[str, list[int]] = {}
    for i, c in enumerate(cells):
        name = c.strip()[:NAME_LIMIT].strip()
        if name:
            by_name.setdefault(name, []).append(i)
    repeated = [(name, at) for name, at in by_name.items() if len(at) > 1]
    if repeated:
        name, at = repeated[0]
        cut = any(len(cells[i].strip()) > NAME_LIMIT for i in at)
        detail = f"{_columns([column_letter(i) for i in at])} of the heading row ({where}) "
        detail += (
            f"are all named '{quote(name)}'" if len(at) > 2 else f"are both named '{quote(name)}'"
        )
        if cut:
            detail += f" (the DataStore keeps the first {NAME_LIMIT} characters of a name)"
        if len(repeated) > 1:
            others = ", ".join(f"'{quote(n)}'" for n, _ in repeated[1:SHOWN])
            detail += f"; so are {others}"
        found.append(Finding(problems.UPLOAD_DUPLICATE_HEADING, {"detail": detail}))
    named = [c.strip() for c in cells if c.strip()]
    if named and all(_NUMBER.fullmatch(c) for c in named):
        shown = ", ".join(quote(c) for c in named[:SHOWN]) + (", ..." if len(named) > SHOWN else "")
        found.append(Finding(problems.UPLOAD_NO_HEADING, {"where": where, "sample": shown}))
    return found


def _columns(letters: list[str]) -> str:
    shown = letters[:SHOWN]
    words = ", ".join(shown[:-1]) + f" and {shown[-1]}" if len(shown) > 1 else shown[0]
    if len(letters) > SHOWN:
        words = ", ".join(shown) + f" and {len(letters) - SHOWN:,} more"
    return ("column " if len(letters) == 1 else "columns ") + words


def table_findings(path: Path, on_chunk: Callable[[bytes], object] | None = None) -> list[Finding]:
    """What would break the DataStore load of a delimited text file, read once, streamed."""
    decoded = _Decoded(path, on_chunk)
    feed = _Feed(decoded.lines())
    try:
        delimiter = _delimiter(feed.peek())
        found = _rows(feed, delimiter)
    except LineTooLong as long:
        detail = (
            f"line {long.line} runs on for more than {MAX_LINE:,} characters without a "
            "line break, so the file is not a table"
        )
        found = [Finding(problems.UPLOAD_RAGGED_ROWS, {"detail": detail})]
    return decoded.findings + found + decoded.warning()


# Fed to the reader after the file's last line: it comes back as a row of its own,
# unless a quoted cell is still open at the end of the file and swallows it.
_END = "\ue000end of file\ue000"


class _Feed:
    """A file's lines, a line at a time for a CSV reader (the heading's sample), or
    a chunk at a time for the rest (`chunks`), which mostly needs no reader."""

    def __init__(self, chunks: Iterator[list[str]]):
        self._chunks = chunks
        self._chunk: list[str] = []
        self._at = 0
        self.ended = False  # every line was read (so a reader reading it is at its end)

    def peek(self) -> list[str]:
        """The lines of the first chunk, without reading them."""
        if not self._chunk:
            self._chunk = next(self._chunks, [])
        return self._chunk

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while self._at >= len(self._chunk):
            chunk = next(self._chunks, None)
            if chunk is None:
                self.ended = True
                raise StopIteration
            self._chunk, self._at = chunk, 0
        self._at += 1
        return self._chunk[self._at - 1]

    def chunks(self) -> Iterator[list[str]]:
        """The lines not read yet, a chunk at a time."""
        rest, self._chunk, self._at = self._chunk[self._at :], [], 0
        if rest:
            yield rest
        yield from self._chunks


@dataclass
class _ReaderAt:
    """Where a CSV reader is: the line before the row just read, the line before the
    row read earlier, and the row just read."""

    before: int = 0
    last: int = 0
    cells: list[str] = field(default_factory=list)


def _rows(feed: _Feed, delimiter: str) -> list[Finding]:
    """Find the heading row, then compare every row with it."""
    reader = csv.reader(chain(feed, [_END]), delimiter=delimiter)
    place = _ReaderAt()
    try:
        sample = _first_rows_of(reader, place)
        if not sample:
            return [
                Finding(problems.UPLOAD_EMPTY, {"detail": "it holds no text, or blank lines only"})
            ]
        found, ragged = _heading(sample, _DELIMITERS[delimiter])
        place.last, place.before = sample[-1][0] - 1, reader.line_num
        end: int = reader.line_num
        if place.cells != [_END] and not feed.ended:
            end = _rest(feed, delimiter, place, ragged)
        if place.cells != [_END]:
            found.append(_unclosed(place.last + 1, end - 1))
    except csv.Error:  # the one the reader raises here: a cell past its size limit
        detail = (
            f"line {place.before + 1} holds a cell of more than {csv.field_size_limit():,} "
            "characters: a quote opened there may never close"
        )
        return [Finding(problems.UPLOAD_RAGGED_ROWS, {"detail": detail})]
    return found + ragged.findings()


def _first_rows_of(reader: Any, place: _ReaderAt) -> Sampled:
    """The first rows that are not blank (up to SAMPLE_ROWS), with their lines."""
    sample: Sampled = []
    for place.cells in reader:
        if place.cells == [_END]:
            break
        if not _blank(place.cells):
            sample.append((place.before + 1, reader.line_num, place.cells))
            if len(sample) == SAMPLE_ROWS:
                break
        place.last, place.before = place.before, reader.line_num
    return sample


def _heading(sample: Sampled, separator: str) -> tuple[list[Finding], _Ragged]:
    """What is wrong with the heading row the sample shows, and the sample's ragged rows."""
    at = heading_index(sample)
    line, _, heading = sample[at]
    where = f"line {line}"
    found = heading_findings(heading, where)
    if at == len(sample) - 1 and len(sample) < SAMPLE_ROWS:
        found.append(Finding(problems.UPLOAD_NO_ROWS, {"where": where}))
    ragged = _Ragged(len(heading), where, separator)
    for start, end, row in sample[at + 1 :]:
        if len(row) != ragged.width:
            ragged.note(start, end, len(row))
    return found, ragged


def _rest(feed: _Feed, delimiter: str, place: _ReaderAt, ragged: _Ragged) -> int:
    """Every row after the sample, held to the heading's width; returns the number of
    the last line read (the end-of-file marker's, as a reader counts it).

    A chunk of plain lines (no quote, so each line is one row, and nothing a CSV
    reader reads differently from a split at the separator) is checked without
    the reader, a chunk at a time (most files are only that). From the first
    chunk that is not plain on, a reader reads the rest, row by row.
    """
    line = place.before  # lines read so far
    chunks = feed.chunks()
    for chunk in chunks:
        joined = "\n".join(chunk)
        if not _plain(joined, chunk):
            place.last, place.before = line - 1, line
            reader = csv.reader(
                chain(chunk, chain.from_iterable(chunks), [_END]), delimiter=delimiter
            )
            return _read_rest(reader, line, place, ragged)
        if not _all_as_wide(joined, len(chunk), delimiter, ragged.width):
            for number, text in enumerate(chunk, start=line + 1):
                cells = text.count(delimiter) + 1
                if cells != ragged.width and text.replace(delimiter, "").strip():
                    ragged.note(number, number, cells)
        line += len(chunk)
    place.cells = [_END]
    return line + 1


def _plain(joined: str, lines: list[str]) -> bool:
    """Whether a CSV reader would read each of these lines as one row, split at the
    separator: no quote, no NUL, a carriage return only at a line's end, and no
    line longer than the reader's cell limit."""
    if '"' in joined or "\x00" in joined:
        return False
    if "\r" in joined and joined.count("\r") != joined.count("\r\n") + joined.endswith("\r"):
        return False
    limit = csv.field_size_limit()
    return len(joined) <= limit or max(map(len, lines), default=0) <= limit


# Every byte but the separator's and the line break's, for bytes.translate to drop.
_ALL_BUT = {d: bytes(b for b in range(256) if b not in (ord(d), ord("\n"))) for d in _DELIMITERS}


def _all_as_wide(joined: str, count: int, delimiter: str, width: int) -> bool:
    """Whether each of `count` plain lines holds exactly `width` cells: with all but
    separators and line breaks dropped (a C loop over the bytes), the lines must
    read as `width - 1` separators each."""
    kept = joined.encode("utf-8", "replace").translate(None, _ALL_BUT[delimiter])
    one = delimiter.encode() * (width - 1)
    return kept == (one + b"\n") * (count - 1) + one


def _read_rest(reader: Any, offset: int, place: _ReaderAt, ragged: _Ragged) -> int:
    """The rows left, read by a reader that starts after line `offset`; returns the
    number of the last line it read (local names: the loop runs once a line of a
    file that may hold millions)."""
    width = ragged.width
    before, last, cells = place.before, place.last, place.cells
    try:
        for cells in reader:
            if len(cells) != width and not _blank(cells) and cells != [_END]:
                ragged.note(before + 1, offset + reader.line_num, len(cells))
            last, before = before, offset + reader.line_num
    finally:
        place.before, place.last, place.cells = before, last, cells
    return offset + int(reader.line_num)


def _unclosed(line: int, last: int) -> Finding:
    detail = (
        f"line {line} opens a quoted cell that never closes, so everything after it, to "
        f"the end of the file (line {last}), would load as one cell: close the quote"
    )
    return Finding(problems.UPLOAD_RAGGED_ROWS, {"detail": detail})


# -- workbooks -------------------------------------------------------------------------


def workbook_findings(path: Path) -> list[Finding]:
    """The first sheet of an .xlsx workbook (the one the DataStore loads): empty, or
    its heading row with blank or repeated names. Only the first rows are read."""
    try:
        first = _first_rows(path)
    except Exception:  # a workbook openpyxl cannot read; the DataStore loader may still
        return []
    if first is None:
        return []  # its headings are not looked at: its strings would fill memory
    name, sample = first
    if name is None:
        return [Finding(problems.UPLOAD_EMPTY, {"detail": "it has no sheet"})]
    if not sample:
        detail = f"its first sheet, '{quote(name)}', holds no values"
        return [Finding(problems.UPLOAD_EMPTY, {"detail": detail})]
    name = quote(name)
    width = max(max((i + 1 for i, c in enumerate(cells) if c), default=0) for _, _, cells in sample)
    at = heading_index(sample)
    where = f"row {sample[at][0]} of sheet '{name}'"
    found = heading_findings(sample[at][2][:width], where)
    if at == len(sample) - 1 and len(sample) < SAMPLE_ROWS:
        found.append(Finding(problems.UPLOAD_NO_ROWS, {"where": where}))
    return found


def _first_rows(path: Path) -> tuple[str | None, Sampled] | None:
    """The first sheet's name and its first rows that are not blank (None: not read)."""
    import openpyxl  # only workbooks need it

    with zipfile.ZipFile(path) as archive:
        parts = archive.infolist()
    if (
        sum(p.file_size for p in parts if "sharedstrings" in p.filename.lower())
        > MAX_SHARED_STRINGS
    ):
        return None
    # a stream, not the path: openpyxl judges a path by its name's ending, and the path
    # may be the open file's own name, which has none (PinnedFile.held)
    stream = path.open("rb")
    book = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    try:
        if not book.worksheets:
            return None, []
        sheet = book.worksheets[0]
        sample: Sampled = []
        for row in sheet.iter_rows():
            cells = ["" if c.value is None else str(c.value).strip() for c in row]
            number = next((c.row for c in row if getattr(c, "row", None) is not None), 0) or 0
            if not _blank(cells):
                sample.append((number, number, cells))
                if len(sample) == SAMPLE_ROWS:
                    break
        return sheet.title, sample
    finally:
        book.close()
        stream.close()


# -- JSON ------------------------------------------------------------------------------


def json_findings(path: Path, on_chunk: Callable[[bytes], object] | None = None) -> list[Finding]:
    """JSON that does not parse, with the line and column where it stops making sense.

    ijson's parser reads the file a chunk at a time with flat memory; when a chunk
    fails, the file is parsed again up to it and that chunk fed byte by byte, to
    find the exact place (a second pass, for broken files only).
    """
    import ijson

    parser = _json_parser()
    with path.open("rb") as stream:
        start = offset = _skip_bom(stream)
        try:
            while data := stream.read(CHUNK):
                if on_chunk:
                    on_chunk(data)
                parser.send(data)
                offset += len(data)
            parser.close()
        except (ijson.JSONError, ValueError):
            return [_json_finding(path, start, offset)]
    return []


def _skip_bom(stream: Any) -> int:
    if stream.read(3) == codecs.BOM_UTF8:
        return 3
    stream.seek(0)
    return 0


def _json_parser() -> Any:
    """A push parser (send bytes, then close) that only says whether the JSON parses."""
    import ijson

    try:
        backend: Any = ijson.get_backend("yajl2_c")
    except ImportError:  # no compiled parser on this machine: the default one
        backend = ijson
    return backend.basic_parse_coro(_Discard())


class _Discard:
    """Where the parser's events go: nowhere."""

    def send(self, value: object) -> None:
        pass


def _json_finding(path: Path, start: int, failed: int) -> Finding:
    """Where the JSON stops parsing, found by feeding the chunk from `failed` byte by byte."""
    import ijson

    parser = _json_parser()
    lines = 0
    line = b""  # the current line's bytes before the failing chunk (its last KEPT_LINE)
    whole = True  # whether `line` holds all of them
    with path.open("rb") as stream:
        stream.seek(start)
        while stream.tell() < failed:  # parsed once already: it cannot fail here
            data = stream.read(min(CHUNK, failed - stream.tell()))
            parser.send(data)
            lines += data.count(NEWLINE)
            cut = data.rfind(NEWLINE)
            line = data[cut + 1 :] if cut >= 0 else line + data
            whole = (cut >= 0 or whole) and len(line) <= KEPT_LINE
            line = line[-KEPT_LINE:]
        chunk = stream.read(CHUNK)
    message = ""
    at = None
    try:
        for at in range(len(chunk)):  # noqa: B007 (the place where it fails is wanted)
            parser.send(chunk[at : at + 1])
        at = None
        parser.close()
    except (ijson.JSONError, ValueError) as error:
        message = str(error).split("\n", 1)[0]
    if at is None:
        values = {"where": "at the end of the file", "reason": _reason(message, b"", 0)}
        return Finding(problems.UPLOAD_INVALID_JSON, values)
    lines += chunk.count(NEWLINE, 0, at)
    data, at = line + chunk, at + len(line)  # the failing line, as far as it is known
    line_start = data.rfind(NEWLINE, 0, at) + 1
    if data[at : at + 1] == b'"' and "parse error" in message:  # a string, seen at its end
        at = max(line_start, data.rfind(b'"', line_start, at))
    where = f"line {lines + 1}"
    if line_start or whole:
        column = len(data[line_start:at].decode("utf-8", errors="replace")) + 1
        where += f", column {column:,}"
    else:  # a line longer than a chunk: say where it is in bytes
        where += f", {failed + at - len(line) - start:,} bytes into the file"
    values = {"where": where, "reason": _reason(message, data, at)}
    return Finding(problems.UPLOAD_INVALID_JSON, values)


def _reason(message: str, data: bytes, at: int) -> str:
    """The parser's complaint in an editor's words."""
    if not data or "premature EOF" in message or "Incomplete" in message:
        return "the file ends before the JSON does (cut short, or a bracket never closed)"
    shown = _sample(data, at, at + 1)
    if "trailing garbage" in message:
        return f"more follows the end of the JSON, from '{shown}' (two JSON texts in one file?)"
    if "UTF8" in message or "utf-8" in message.lower():
        line_start = data.rfind(b"\n", 0, at) + 1
        odd = next((b for b in reversed(data[line_start : at + 1]) if b >= 0x80), data[at])
        return (
            f"'{shown}' holds bytes that are not UTF-8 ({_hex(bytes([odd]))}); JSON must be UTF-8"
        )
    if "inside string" in message:
        return f"a line break or control character inside quotes, in '{shown}'"
    char = quote(data[at : at + 1].decode("utf-8", errors="backslashreplace"))
    hint = next((words for mark, words in _JSON_HINTS if mark in message), "")
    return f"'{char}' is not allowed there{hint}, in '{shown}'"


# What the parser's complaints usually mean.
_JSON_HINTS = (
    ("expect ',' or '}'", " (a comma or a closing brace missing before it?)"),
    ("expect ',' or ']'", " (a comma or a closing bracket missing before it?)"),
    ("separated by a colon", " (a colon missing after a name?)"),
    ("must be a string", " (a name not in double quotes?)"),
    ("unallowed token", " (a comma before a closing bracket?)"),
    ("invalid char", " (text not in double quotes, or single quotes?)"),
)


# -- one file, and every file of a batch ---------------------------------------------------


def how_to_read(kind: str, declared: str) -> str:
    """Which deeper read a file gets: table, json, workbook, or none."""
    if kind == "text" and declared in TABLE_FORMATS:
        return "table"
    if kind in ("json", "text") and declared in JSON_FORMATS:
        return "json"
    if kind == "xlsx" and declared == "xlsx":
        return "workbook"
    return ""


def read_findings(
    path: Path, how: str, on_chunk: Callable[[bytes], object] | None = None
) -> list[Finding]:
    """The findings of one deeper read of the file."""
    if path.stat().st_size == 0:
        return [Finding(problems.UPLOAD_EMPTY, {"detail": "0 bytes"})]
    if how == "table":
        return table_findings(path, on_chunk)
    if how == "json":
        return json_findings(path, on_chunk)
    if how == "workbook":
        return workbook_findings(path)
    return []


def look_inside(
    path: Path, format_cell: str | None = None, on_chunk: Callable[[bytes], object] | None = None
) -> list[Finding]:
    """Everything wrong with one file a row would upload with this `format`.

    `on_chunk` is handed every byte read, in order, when the whole file is read
    (text and JSON), e.g. to hash it in the same pass.
    """
    declared, said = declared_format(format_cell, path)
    kind = kind_of_file(path)
    return format_findings(kind, declared, said) + read_findings(
        path, how_to_read(kind, declared), on_chunk
    )


class Contents:
    """The files a batch uploads, each looked inside once, for validation.

    `trusted` names files the editor knows are fine: they are not looked inside.
    """

    def __init__(self, trusted: Iterable[Path | str] = ()):
        self.trusted = {Path(p).expanduser().resolve() for p in trusted}
        self.kinds: dict[Path, str] = {}
        self.reads: dict[tuple[Path, str], list[Finding]] = {}

    def check(self, pinned: PinnedFile, text: str, format_cell: str | None) -> list[Found]:
        """What is wrong with the file `pinned` (written `text` in the row) for a
        row whose format cell is `format_cell`. Only the very file pinned is read:
        another one put at its path meanwhile is refused, not looked inside."""
        path = pinned.path
        if path in self.trusted:
            return []
        try:
            declared, said = declared_format(format_cell, path)
            with pinned.held() as reading:
                if path not in self.kinds:
                    self.kinds[path] = kind_of_file(reading)
                kind = self.kinds[path]
                how = how_to_read(kind, declared)
                if (path, how) not in self.reads:
                    self.reads[path, how] = read_findings(reading, how)
            found = format_findings(kind, declared, said) + self.reads[path, how]
        except Altered as altered:
            problem = problems.FILE_REPLACED if altered.replaced else problems.FILE_CHANGED
            return [(problem.code, "upload", problem.message(detail=altered.message))]
        except OSError as error:  # gone or locked since its path was checked
            reason = error.strerror or str(error)
            return [
                (
                    problems.UPLOAD_UNREADABLE.code,
                    "upload",
                    problems.UPLOAD_UNREADABLE.message(text=text, reason=reason),
                )
            ]
        return [finding.found(text) for finding in found]
