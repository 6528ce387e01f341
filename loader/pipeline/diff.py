"""What an operation changes: values compared as the catalogue stores them.

The catalogue gives back what it was sent in its own forms (a date as
midnight of that day, numbers as numbers, multiple choices in its own order,
a group's empty parts dropped), so values are normalised before comparing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]|$)")


@dataclass(frozen=True)
class Change:
    """One field an operation changes: from `old` to `new` (None when empty)."""

    field: str
    old: Any
    new: Any

    def describe(self) -> str:
        if self.new is None:
            return f"{self.field}: {show(self.old)} -> (cleared)"
        return f"{self.field}: {show(self.old)} -> {show(self.new)}"


def changes(
    sent: Mapping[str, Any],
    current: Mapping[str, Any],
    *,
    ignored: Iterable[str] = (),
    replaced: Iterable[str] = (),
) -> list[Change]:
    """What sending `sent` does to `current`.

    `ignored` fields are not compared (e.g. the URL an upload replaces);
    `replaced` lists the fields a full replacement empties when not sent.
    """
    ignored = set(ignored)
    out = [
        Change(name, empty_to_none(current.get(name)), empty_to_none(new))
        for name, new in sent.items()
        if name not in ignored and not same(current.get(name), new)
    ]
    for name in replaced:
        if name not in sent and name not in ignored and not same(current.get(name), None):
            out.append(Change(name, current.get(name), None))
    return out


def same(a: Any, b: Any) -> bool:
    """Whether two field values mean the same to the catalogue."""
    return bool(_normal(a) == _normal(b))


def _normal(value: Any) -> Any:
    if isinstance(value, str):
        return _normal_text(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):
        items = {k: _normal(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v is not None} or None
    if isinstance(value, list):
        listed = [v for v in (_normal(v) for v in value) if v is not None]
        # the catalogue keeps multiple choices in its own order: order does not matter
        if all(isinstance(v, (str, float)) for v in listed):
            listed.sort(key=str)
        return listed or None
    return value


def _normal_text(value: str) -> Any:
    # the web form sends line ends as CRLF; a spreadsheet cell gives back LF
    text = value.replace("\r\n", "\n").strip()
    if text[:1] in "[{":
        try:
            return _normal(json.loads(text))
        except ValueError:
            pass
    try:
        return float(text)
    except ValueError:
        pass
    if _ISO_DATE.match(text):
        try:  # the catalogue turns a date into midnight of that day
            return datetime.fromisoformat(text).replace(tzinfo=None)
        except ValueError:
            pass
    return text or None


def empty_to_none(value: Any) -> Any:
    """None for any value that means "empty"; the value otherwise."""
    return None if _normal(value) is None else value


def show(value: Any) -> str:
    """A value as the dry run and the result quote it (long ones cut)."""
    if value is None:
        return "(empty)"
    structured = isinstance(value, (list, dict))
    text = json.dumps(value, ensure_ascii=False) if structured else str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")
