"""How the loader writes text for people: values made safe to show, sizes, counts and
the time in a file's name.

A batch may hold anything: an escape sequence that recolours or retitles the
editor's terminal, a carriage return that overwrites the line it is on, a
right-to-left override that shows a name backwards, or 32,767 characters in
one cell. Messages quote such values escaped (`\\x1b`, `\\u202e`) and cut.
"""

from __future__ import annotations

import re
from datetime import datetime

# C0 and C1 control characters, DEL, the invisible marks that reorder text, and the
# zero-width space, word joiner and stray byte-order mark (which hide inside a value).
_INVISIBLE = r"\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff"
_CONTROL = re.compile(rf"[\x00-\x1f{_INVISIBLE}]")
# The same, less the tab and line breaks a cell of free text may hold.
UNSAFE_IN_CELL = re.compile(rf"[\x00-\x08\x0b\x0c\x0e-\x1f{_INVISIBLE}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

QUOTE_LIMIT = 200  # values longer than this are cut in messages
QUOTE_KEEP = 100


def escape(text: str, keep_newlines: bool = False) -> str:
    """Every control character as a visible escape (`\\x1b`); line breaks too unless kept."""

    def visible(match: re.Match[str]) -> str:
        char = match.group()
        if keep_newlines and char == "\n":
            return char
        if char in _NAMED:
            return _NAMED[char]
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _CONTROL.sub(visible, text)


def quote(text: str) -> str:
    """A value as a message quotes it: escaped, and cut when long."""
    if len(text) > QUOTE_LIMIT:
        return f"{escape(text[:QUOTE_KEEP])}... ({len(text):,} characters)"
    return escape(text)


def for_terminal(text: str) -> str:
    """A message as the command line prints it: its own line breaks kept, nothing else raw."""
    return escape(text, keep_newlines=True)


def show_size(size: int) -> str:
    """A size in bytes as an editor reads it: "151.2 MB" (MB of 1024 x 1024 bytes)."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}"
    return f"{size:,} bytes"


def plural(n: int, word: str) -> str:
    """ "1 row", "2 rows"."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


FILE_STAMP = "%Y%m%d-%H%M%S"  # the time in a file's name: 20261127-071200


def stamped_name(*words: str, suffix: str = ".xlsx") -> str:
    """A file name that says when it was made: `batch-results-20261127-071200.xlsx`."""
    return "-".join([*words, datetime.now().strftime(FILE_STAMP)]) + suffix
