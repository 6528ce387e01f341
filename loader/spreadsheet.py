"""Writing spreadsheets safely: what the result workbook, the template and export share.

Text from a batch or a catalogue is written as text, never as a formula
(openpyxl makes any string starting with "=" one), cut to what a cell holds
and rid of the control characters a workbook cannot hold; a file is replaced
in one step, so a reader never sees half of it. A file the loader writes is
named .xlsx or .csv.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell, MergedCell
from openpyxl.styles import Font

OUTPUT_SUFFIXES = (".xlsx", ".csv")  # what the loader writes: a workbook, or CSV
CELL_LIMIT = 32_767  # characters Excel holds in a cell; a longer one makes it "repair" the file
BOLD = Font(bold=True)

# What the loader writes into a cell.
CellValue = str | int | float | bool | None
# openpyxl's write-only sheet (its type stubs lack column_dimensions and auto_filter).
WriteOnlyWorksheet = Any


def output_path(path: Path | str) -> Path:
    """`path` as a file the loader may write: ValueError unless it is named .xlsx or .csv."""
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"{path}: use a .xlsx or .csv name")
    return path


def put(cell: Cell | MergedCell, value: CellValue) -> None:
    """Write a value so that Excel shows it and never evaluates it.

    openpyxl stores any string starting with "=" as a formula; text from the
    batch or the catalogue must stay text, whatever it starts with.
    """
    if isinstance(value, str):
        cell.value = fit(ILLEGAL_CHARACTERS_RE.sub("", value))
        cell.data_type = "s"
    else:
        cell.value = value


def fit(text: str) -> str:
    """Text cut to what a cell holds, saying so."""
    if len(text) <= CELL_LIMIT:
        return text
    note = f"... (cut: {len(text):,} characters)"
    return text[: CELL_LIMIT - len(note)] + note


def text_cell(ws: WriteOnlyWorksheet, value: CellValue, **style: object) -> object:
    """A value for ws.append: plain when that is safe, else a text cell with its style.

    openpyxl turns a plain string starting with "=" into a formula and refuses
    control characters; such strings go through `put`.
    """
    if isinstance(value, str):
        value = str(value)  # a status is a str subclass; the file wants plain text
    plain = not isinstance(value, str) or (
        not value.startswith("=")
        and len(value) <= CELL_LIMIT
        and not ILLEGAL_CHARACTERS_RE.search(value)
    )
    if plain and not style:
        return value
    cell = WriteOnlyCell(ws)
    put(cell, value)
    for name, setting in style.items():
        setattr(cell, name, setting)
    return cell


def save_atomically(wb: Workbook, path: Path) -> Path:
    """Save beside the target, then move into place: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        wb.save(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; results are not
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        for ws in wb.worksheets:  # release a streamed sheet's scratch file
            if getattr(ws, "closed", True) is False:
                with contextlib.suppress(Exception):
                    ws.close()
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
