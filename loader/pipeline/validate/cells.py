"""The cell checks: one value against its column's rules.

A cell's result depends only on its column and its text, so each distinct
text of a column is converted and checked once per batch (`CellChecker`).
Conversion turns text into what the catalogue takes (numbers, lists,
date-times); text that cannot be converted stays text and fails its check.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

import jsonschema
from jsonschema import FormatChecker, ValidationError

from loader import problems
from loader.model import Op
from loader.schema import Column, Field, Schema, choice_key

DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?", re.ASCII)
_URL = re.compile(r"(?i)(?:https?|ftp)://[^\s/?#]+\S*")
_INTEGER = re.compile(r"[+-]?\d+")

FORMATS = FormatChecker(formats=())

# (problem code, message body) for one cell
Found = tuple[str, str]


@FORMATS.checks("bcdc-date", raises=ValueError)
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or bool(
        DATE.fullmatch(value) and dt.date.fromisoformat(value)
    )


@FORMATS.checks("bcdc-datetime", raises=ValueError)
def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or bool(
        _DATETIME.fullmatch(value) and dt.datetime.fromisoformat(value)
    )


@FORMATS.checks("bcdc-url")
def _is_url(value: object) -> bool:
    return not isinstance(value, str) or bool(_URL.fullmatch(value))


@FORMATS.checks("bcdc-json-object", raises=ValueError)
def _is_json_object(value: object) -> bool:
    return not isinstance(value, str) or isinstance(json.loads(value), dict)


_FORMAT_NAMES = {
    "date": "bcdc-date",
    "datetime": "bcdc-datetime",
    "url": "bcdc-url",
    "json": "bcdc-json-object",
}


def cell_schema(column: Column) -> dict[str, Any]:
    """The JSON Schema one cell of this column must satisfy (after conversion)."""
    f = column.field
    if f.type == "choice":
        return {"enum": list(f.choices)}
    if f.type == "choice_list":
        return {"type": "array", "minItems": 1, "items": {"enum": list(f.choices)}}
    if f.type in ("number", "integer"):
        out: dict[str, Any] = {"type": f.type}
        if f.minimum is not None:
            out["minimum"] = f.minimum
        if f.maximum is not None:
            out["maximum"] = f.maximum
        return out
    if f.type in _FORMAT_NAMES:
        return {"type": "string", "format": _FORMAT_NAMES[f.type]}
    return {"type": "string"}


def _converter(column: Column) -> Callable[[str], Any]:
    """Turn cell text into the value the catalogue takes; text it cannot convert stays text."""
    kind = column.field.type
    if column.name == "op":
        return str.lower
    if kind == "number":
        return _to_number
    if kind == "integer":
        return _to_integer
    if kind in ("choice", "choice_list"):
        spelled = {choice_key(c): c for c in column.field.choices}

        def spell(text: str) -> str:
            return text if text in column.field.choices else spelled.get(choice_key(text), text)

        if kind == "choice":
            return spell
        return lambda text: [spell(item) for item in _to_list(text)]
    if kind == "datetime":
        return lambda text: text.replace(" ", "T", 1) if _DATETIME.fullmatch(text) else text
    return lambda text: text


def _to_number(text: str) -> Any:
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    return int(number) if _INTEGER.fullmatch(text) else number


def _to_integer(text: str) -> Any:
    if _INTEGER.fullmatch(text):
        return int(text)
    number = _to_number(text)
    return int(number) if isinstance(number, float) and number.is_integer() else text


def _to_list(text: str) -> list[str]:
    items: Any = None
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            items = None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        items = text.split(",")
    return list(dict.fromkeys(i.strip() for i in items if i.strip()))


def suggest(value: str, choices: Iterable[str]) -> str | None:
    """The allowed value an editor most likely meant, or None."""
    by_case = {c.lower(): c for c in choices}
    if value.lower() in by_case:
        return by_case[value.lower()]
    close = difflib.get_close_matches(value.lower(), list(by_case), n=1, cutoff=0.6)
    return by_case[close[0]] if close else None


def _allowed(choices: tuple[str, ...]) -> str:
    if len(choices) <= 8:
        return "allowed values are " + ", ".join(f"'{c}'" for c in choices)
    return "pick one from the template's dropdown list"


def _range(f: Field) -> str:
    if f.minimum is not None and f.maximum is not None:
        return f"between {f.minimum:g} and {f.maximum:g}"
    if f.minimum is not None:
        return f"at least {f.minimum:g}"
    return f"at most {f.maximum:g}"


def _choice_problem(column: Column, value: str) -> Found:
    hint = suggest(value, column.field.choices)
    if column.name == "op":
        meant = f" (did you mean '{hint}'?)" if hint else ""
        return problems.UNKNOWN_OP.code, problems.UNKNOWN_OP.message(value=value, hint=meant)
    words = f"did you mean '{hint}'?" if hint else _allowed(column.field.choices)
    return problems.INVALID_CHOICE.code, problems.INVALID_CHOICE.message(value=value, hint=words)


_FORMAT_PROBLEMS = {
    "date": (problems.INVALID_DATE, "a date written YYYY-MM-DD (e.g. 2024-01-31)"),
    "datetime": (
        problems.INVALID_DATE,
        "a date (YYYY-MM-DD) or date and time (YYYY-MM-DDTHH:MM:SS)",
    ),
    "url": (problems.INVALID_URL, ""),
}


def cell_problem(column: Column, text: str, error: ValidationError) -> Found:
    """(code, message body) for a cell error, in the editor's words."""
    f = column.field
    keyword = error.validator
    if keyword == "enum":
        return _choice_problem(column, str(error.instance))
    if keyword == "minItems":
        body = f"'{text}' names no value; separate values with commas"
        return problems.INVALID_CHOICE.code, body
    if keyword == "type":
        kind = (
            "a whole number"
            if f.type == "integer"
            else "a number (use a point for decimals, e.g. 49.25)"
        )
        return problems.NOT_A_NUMBER.code, problems.NOT_A_NUMBER.message(value=text, kind=kind)
    if keyword in ("minimum", "maximum"):
        body = problems.OUT_OF_RANGE.message(value=text, range=_range(f))
        return problems.OUT_OF_RANGE.code, body
    if keyword == "format" and f.type in _FORMAT_PROBLEMS:
        problem, kind = _FORMAT_PROBLEMS[f.type]
        return problem.code, problem.message(value=text, kind=kind)
    if keyword == "format" and f.type == "json":
        detail = f" ({error.cause})" if error.cause else ""
        return problems.INVALID_JSON.code, problems.INVALID_JSON.message(detail=detail)
    return problems.INVALID_VALUE.code, problems.INVALID_VALUE.message(detail=error.message)


class CellChecker:
    """Compiled cell validators for one schema; `fresh()` gives one with empty caches."""

    def __init__(self, schema: Schema):
        self.columns = {c.name: c for c in schema.columns}
        self.convert = {name: _converter(c) for name, c in self.columns.items()}
        self.validators = {
            name: jsonschema.Draft202012Validator(cell_schema(c), format_checker=FORMATS)
            for name, c in self.columns.items()
        }
        # Free-text columns: nothing to convert or check.
        self.plain = frozenset(
            name
            for name, c in self.columns.items()
            if name != "op" and cell_schema(c) == {"type": "string"}
        )
        self.cache: dict[str, dict[str, tuple[Any, list[Found]]]] = {}

    def fresh(self) -> CellChecker:
        """The same validators with empty caches, for one batch."""
        clone = object.__new__(CellChecker)
        clone.__dict__.update(self.__dict__)
        clone.cache = {name: {} for name in self.columns if name not in self.plain}
        return clone

    def check(self, column: str, text: str) -> tuple[Any, list[Found]]:
        """(converted value, problems) for one cell, computed once per distinct text."""
        cache = self.cache[column]
        hit = cache.get(text)
        if hit is None:
            value = self.convert[column](text)
            errors = self.validators[column].iter_errors(value)
            found = [cell_problem(self.columns[column], text, e) for e in errors]
            hit = cache[text] = (value, list(dict.fromkeys(found)))
        return hit


def is_op(value: Any) -> bool:
    """Whether a converted op cell names an operation."""
    return value in tuple(Op)
