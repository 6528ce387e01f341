"""CSV files as the loader writes them, safe to open in a spreadsheet, and read back whole.

A spreadsheet program opening a CSV file takes a cell that starts with `=`,
`+`, `-` or `@` for a formula and runs it: `=HYPERLINK(...)` becomes a link,
`=cmd|' /C calc'!A0` asks to start a program, `+1+1` shows 2. A tab or a
carriage return before one can hide it. The loader writes text that comes
from the catalogue, which may start so; every such cell is written with an
apostrophe before it, which makes a spreadsheet show the text instead.

The loader's own reader takes that apostrophe off again, so an export (or a
due report) edited and run back gives the catalogue's values exactly. The
rule both ways:

- written: an apostrophe goes before a text that starts with `=`, `@`, a
  tab, a carriage return, an apostrophe (so that a text that really starts
  with one comes back whole), or `+` or `-` when the text is not a plain
  number;
- read: one apostrophe is taken off a cell that starts with an apostrophe
  followed by one of those characters.

Reading what was written gives back what was written, whatever the text.
A plain number (`-139.06`, `+5`, `-.5`) is written as it is: a spreadsheet
reads it as that number, which runs nothing, and an apostrophe would turn a
longitude into text with a mark the editor sees. Anything else after a sign
(`-1+1`, `+A1`, `-cmd|...`, `-`) is a possible formula and is escaped.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable

ESCAPE = "'"
# What makes a spreadsheet read a cell as a formula, or hides what follows.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def escape(text: str) -> str:
    """The cell text to write for `text`: as it is, or with an apostrophe before it."""
    if not text.startswith((*_FORMULA_START, ESCAPE)):
        return text
    if text[0] in "+-" and _PLAIN_NUMBER.fullmatch(text):
        return text
    return ESCAPE + text


def unescape(text: str) -> str:
    """The text a cell written by `escape` stands for (any other cell as it is)."""
    if text.startswith(ESCAPE) and text[1:2] and text[1] in (*_FORMULA_START, ESCAPE):
        return text[1:]
    return text


def csv_bytes(rows: Iterable[Iterable[object]]) -> bytes:
    """Rows as a CSV file, the way Excel saves 'CSV UTF-8' (a BOM, CRLF line ends),
    every text cell escaped."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([escape(c) if isinstance(c, str) else c for c in row] for row in rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")
