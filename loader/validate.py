"""Check a read batch against the schema, offline, and report every problem at once.

Each row is checked with JSON Schema (jsonschema), in two parts built once per
schema from the same rules:

- the *cell* part checks one value against its column's rules (allowed
  values, numbers and ranges, dates, URLs, JSON); its result depends only on
  the column and the text, so each distinct value is checked once;
- the *row* part checks what the operation needs (required fields, targets,
  the conditional rules, read-only fields, `<clear>`); its result depends only
  on which columns are filled and on the values the conditions look at, so
  each distinct row shape is checked once.

A 50,000-row batch thus costs a few thousand validator calls, not 50,000 x 30.
Batch-level checks (rows that collide, uploads that are missing) follow.
Nothing here talks to the catalogue: whether ids and names exist is the
planner's business.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import functools
import json
import math
import re
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import FormatChecker, ValidationError

from loader.model import CLEAR, OPS, Batch, CheckedRow, Problem, Row
from loader.schema import CONTROL_COLUMNS, Column, Field, Schema

# Stable problem codes and what they mean (the batch-format docs list them).
CODES = {
    "unknown-op": "the op cell is not create, update, patch, delete or upsert",
    "missing-value": "a required cell is blank",
    "invalid-choice": "a value is not one of the field's allowed values",
    "not-a-number": "a number field holds something else",
    "out-of-range": "a number is outside its allowed range",
    "invalid-date": "a date is not written YYYY-MM-DD (or a date-time YYYY-MM-DDTHH:MM:SS)",
    "invalid-url": "a URL does not start with http://, https:// or ftp://",
    "invalid-json": "a JSON field does not hold a JSON object",
    "conditional-required": "a field needed because of another field's value is blank",
    "not-applicable": "a field is given that the resource's kind does not take",
    "read-only": "a field the catalogue fills itself is given",
    "clear-not-allowed": "<clear> is used where it cannot be (not a patch, or a required field)",
    "missing-target": "the row does not say which resource or dataset it acts on",
    "unexpected-value": "a cell is filled that this operation does not take",
    "no-change": "a patch row changes nothing",
    "inconsistent-extent": "an extent's end lies before its beginning",
    "conflicting-target": "two rows act on the same resource in ways that collide",
    "duplicate-create": "two rows create resources of the same name in one dataset",
    "upload-missing": "the file to upload does not exist",
    "upload-not-file": "the path to upload is a folder or something else, not a file",
    "upload-and-url": "a row gives both a file to upload and a URL",
}

FULL_OPS = ("create", "update", "upsert")
TARGETING_OPS = ("update", "patch", "delete")
CLEARED = "<clear>"  # key in the row instance listing the columns a row clears

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?", re.ASCII)
_URL = re.compile(r"(?i)(?:https?|ftp)://[^\s/?#]+\S*")
_INTEGER = re.compile(r"[+-]?\d+")

FORMATS = FormatChecker(formats=())

# A property schema no value passes. (Not the boolean `false`: jsonschema drops
# the instance path from errors of boolean subschemas, and we need the column.)
FORBIDDEN: dict[str, Any] = {"not": {}}


@FORMATS.checks("bcdc-date", raises=ValueError)
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or bool(
        _DATE.fullmatch(value) and dt.date.fromisoformat(value)
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


# -- the cell part -----------------------------------------------------------------


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
    formats = {
        "date": "bcdc-date",
        "datetime": "bcdc-datetime",
        "url": "bcdc-url",
        "json": "bcdc-json-object",
    }
    if f.type in formats:
        return {"type": "string", "format": formats[f.type]}
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
    if kind == "choice_list":
        return _to_list
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
    choices = list(choices)
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


def _cell_problem(column: Column, text: str, error: ValidationError) -> tuple[str, str]:
    """(code, message body) for a cell error, in the editor's words."""
    f = column.field
    keyword = error.validator
    if keyword == "enum":
        bad = str(error.instance)
        hint = suggest(bad, f.choices)
        if column.name == "op":
            msg = f"'{bad}' is not an operation; use create, update, patch, delete or upsert"
            return "unknown-op", msg + (f" (did you mean '{hint}'?)" if hint else "")
        msg = f"'{bad}' is not one of the allowed values"
        return "invalid-choice", msg + (
            f"; did you mean '{hint}'?" if hint else f"; {_allowed(f.choices)}"
        )
    if keyword == "minItems":
        return "invalid-choice", f"'{text}' names no value; separate values with commas"
    if keyword == "type" and f.type == "integer":
        return "not-a-number", f"'{text}' is not a whole number"
    if keyword == "type":
        return "not-a-number", f"'{text}' is not a number (use a point for decimals, e.g. 49.25)"
    if keyword in ("minimum", "maximum"):
        return "out-of-range", f"{text} is out of range: it must be {_range(f)}"
    if keyword == "format":
        if f.type == "date":
            return "invalid-date", f"'{text}' is not a date written YYYY-MM-DD (e.g. 2024-01-31)"
        if f.type == "datetime":
            return "invalid-date", (
                f"'{text}' is not a date (YYYY-MM-DD) or date and time (YYYY-MM-DDTHH:MM:SS)"
            )
        if f.type == "url":
            return "invalid-url", f"'{text}' is not a web address starting with https:// or http://"
        if f.type == "json":
            detail = f" ({error.cause})" if error.cause else ""
            return "invalid-json", f"this is not a JSON object{detail}"
    return "invalid-value", error.message  # a rule this module has no words for yet


# -- the row part ------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    """One row rule: its JSON Schema and how to word its failures.

    `explain(error, instance, op)` returns (column or None, body) pairs.
    """

    code: str
    schema: dict[str, Any]
    explain: Callable[[ValidationError, dict[str, Any], str], list[tuple[str | None, str]]]


def _missing(error: ValidationError, instance: dict[str, Any]) -> list[str]:
    return [c for c in error.validator_value if c not in instance]


def _condition_text(condition: dict[str, tuple[str, ...]]) -> str:
    return " or ".join(
        f"{name} is " + " or ".join(f"'{v}'" for v in values) for name, values in condition.items()
    )


def _condition_schema(condition: dict[str, tuple[str, ...]], negate: bool = False) -> dict:
    props = {
        name: ({"not": {"enum": list(values)}} if negate else {"enum": list(values)})
        for name, values in condition.items()
    }
    return {"required": list(condition), "properties": props}


def _row_rules(schema: Schema, op: str) -> list[_Rule]:
    """The rules a row of this operation must satisfy, as JSON Schema pieces."""
    columns = [c for c in schema.columns if not c.control]
    read_only = [c.name for c in columns if c.field.read_only or (c.group and c.group.read_only)]
    writable = [c.name for c in columns if c.name not in read_only]
    required = [f.name for f in schema.fields if f.required and not f.read_only]
    rules: list[_Rule] = []

    def each_missing(body: str):
        return lambda e, inst, op_: [(c, body.format(op=op_)) for c in _missing(e, inst)]

    if op in FULL_OPS:
        rules.append(
            _Rule(
                "missing-value",
                {"required": required},
                each_missing("a value is needed: {op} rows must give every required field"),
            )
        )
        # Conditional requirements, one rule per condition (e.g. bcdc_type geographic).
        by_condition: dict[str, tuple[dict, list[str]]] = {}
        for c in columns:
            if c.field.required_when and not c.group:
                key = json.dumps(c.field.required_when, sort_keys=True)
                by_condition.setdefault(key, (dict(c.field.required_when), []))[1].append(c.name)
        for condition, names in by_condition.values():
            rules.append(
                _Rule(
                    "conditional-required",
                    {"if": _condition_schema(condition), "then": {"required": names}},
                    lambda e, inst, op_, cond=condition: [
                        (c, f"a value is needed when {_condition_text(cond)}")
                        for c in _missing(e, inst)
                    ],
                )
            )

    # Fields only some kinds of resource take (e.g. extents on geographic ones).
    if op != "delete":
        only: dict[str, tuple[dict, list[str]]] = {}
        for c in columns:
            rule = (c.group.only_when if c.group else None) or c.field.only_when
            if rule:
                key = json.dumps(rule, sort_keys=True)
                only.setdefault(key, (dict(rule), []))[1].append(c.name)
        for condition, names in only.values():
            rules.append(
                _Rule(
                    "not-applicable",
                    {
                        "if": _condition_schema(condition, negate=True),
                        "then": {"properties": {n: FORBIDDEN for n in names}},
                    },
                    lambda e, inst, op_, cond=condition: [
                        (
                            e.path[0] if e.path else None,
                            f"only taken when {_condition_text(cond)}; leave it blank",
                        )
                    ],
                )
            )

    # Which resource or dataset the row acts on.
    if op == "create":
        rules.append(
            _Rule(
                "missing-target",
                {"required": ["package"]},
                lambda e, inst, op_: [("package", "name the dataset to add the resource to")],
            )
        )
    if op == "upsert":
        rules.append(
            _Rule(
                "missing-target",
                {"required": ["package", "name"]},
                lambda e, inst, op_: [
                    (c, "upsert finds its resource by dataset (package) and name: give both")
                    for c in _missing(e, inst)
                ],
            )
        )
    if op in ("create", "upsert"):
        rules.append(
            _Rule(
                "unexpected-value",
                {"properties": {"resource_id": FORBIDDEN}},
                lambda e, inst, op_: [
                    (
                        "resource_id",
                        f"leave resource_id blank on a {op_} row; to change a resource by its "
                        "id use update or patch",
                    )
                ],
            )
        )
    if op in TARGETING_OPS:
        rules.append(
            _Rule(
                "missing-target",
                {"anyOf": [{"required": ["resource_id"]}, {"required": ["package", "name"]}]},
                lambda e, inst, op_: [
                    (
                        "resource_id",
                        "say which resource: give its resource_id, or the dataset (package) "
                        "and the resource name",
                    )
                ],
            )
        )

    if op == "patch":
        changes = [*writable, "upload"]
        by_name = [c for c in changes if c != "name"]
        rules.append(
            _Rule(
                "no-change",
                {
                    "if": {"required": ["resource_id"]},
                    "then": {"anyOf": [{"required": [c]} for c in [*changes, CLEARED]]},
                    "else": {"anyOf": [{"required": [c]} for c in [*by_name, CLEARED]]},
                },
                lambda e, inst, op_: [
                    (None, "a patch row must change at least one field (or <clear> one)")
                ],
            )
        )

    if op == "delete":
        rules.append(
            _Rule(
                "unexpected-value",
                {"properties": {c: FORBIDDEN for c in [*writable, "upload"] if c != "name"}},
                lambda e, inst, op_: [
                    (
                        e.path[0],
                        "a delete row only names the resource to delete; leave this blank",
                    )
                ],
            )
        )

    if read_only:
        rules.append(
            _Rule(
                "read-only",
                {"properties": {c: FORBIDDEN for c in read_only}},
                lambda e, inst, op_: [
                    (e.path[0], "the catalogue fills this field itself; leave it blank")
                ],
            )
        )

    rules.append(
        _Rule(
            "upload-and-url",
            {"not": {"required": ["upload", "url"]}},
            lambda e, inst, op_: [
                ("upload", "give either a file to upload or a URL, not both"),
            ],
        )
    )

    # <clear>: only on patch, only for fields that may be empty.
    if op == "patch":
        required_columns = set(required) | set(CONTROL_COLUMNS)
        clearable = [c for c in writable if c not in required_columns]
        rules.append(
            _Rule(
                "clear-not-allowed",
                {"properties": {CLEARED: {"items": {"enum": clearable}}}},
                functools.partial(_explain_clear, set(read_only)),
            )
        )
        for c in columns:
            if c.field.required_when and not c.group:
                rules.append(
                    _Rule(
                        "clear-not-allowed",
                        {
                            "if": _condition_schema(dict(c.field.required_when)),
                            "then": {
                                "properties": {CLEARED: {"items": {"not": {"const": c.name}}}}
                            },
                        },
                        lambda e, inst, op_, cond=dict(c.field.required_when): [
                            (
                                e.instance,
                                f"cannot be cleared: it is needed when {_condition_text(cond)}",
                            )
                        ],
                    )
                )
    else:
        rules.append(
            _Rule(
                "clear-not-allowed",
                {"properties": {CLEARED: FORBIDDEN}},
                lambda e, inst, op_: [
                    (
                        c,
                        f"{CLEAR} empties a field only on a patch row; "
                        f"on a {op_} row leave it blank",
                    )
                    for c in inst[CLEARED]
                ],
            )
        )
    return rules


def _explain_clear(
    read_only: set[str], error: ValidationError, instance: dict, op: str
) -> list[tuple[str | None, str]]:
    column = error.instance
    if column in read_only:
        return [(column, "the catalogue fills this field itself; it cannot be cleared")]
    if column in CONTROL_COLUMNS:
        return [(column, f"{CLEAR} empties resource fields; it cannot be used here")]
    return [(column, "this field is required, so it cannot be cleared")]


# -- compiled per schema -----------------------------------------------------------


class _Checker:
    """The compiled validators and caches for one schema."""

    def __init__(self, schema: Schema):
        self.schema = schema
        self.columns = {c.name: c for c in schema.columns}
        self.convert = {name: _converter(c) for name, c in self.columns.items()}
        self.cell_validators = {
            name: jsonschema.Draft202012Validator(cell_schema(c), format_checker=FORMATS)
            for name, c in self.columns.items()
        }
        self.rules = {op: _row_rules(schema, op) for op in OPS}
        self.row_validators = {
            op: jsonschema.Draft202012Validator({"allOf": [r.schema for r in rules]})
            for op, rules in self.rules.items()
        }
        # Fields whose values the row rules look at (e.g. bcdc_type); other values do not matter.
        self.condition_fields = sorted(
            {
                name
                for c in schema.columns
                for cond in (c.field.required_when, c.field.only_when)
                for name in cond
            }
            | {name for f in schema.fields for name in f.only_when}
        )
        self.plain = frozenset(
            name
            for name, c in self.columns.items()
            if name != "op" and cell_schema(c) == {"type": "string"}
        )
        self.cells: dict[str, dict[str, tuple[Any, list[tuple[str, str]]]]] = {}
        self._shapes: dict[tuple, list[tuple[str, str | None, str]]] = {}
        # Where each column's value goes in the API's resource dict: (group, key), or None.
        self.placement = {
            name: None if c.control else ((c.group.name, c.field.name) if c.group else (None, name))
            for name, c in self.columns.items()
        }

    def fresh(self) -> _Checker:
        """The same compiled rules with empty caches, for one batch."""
        clone = copy.copy(self)
        clone.cells = {name: {} for name in self.columns if name not in self.plain}
        clone._shapes = {}
        return clone

    def cell(self, column: str, text: str) -> tuple[Any, list[tuple[str, str]]]:
        """(converted value, [(code, body)]) for one cell, computed once per distinct text."""
        cache = self.cells[column]
        hit = cache.get(text)
        if hit is None:
            value = self.convert[column](text)
            errors = self.cell_validators[column].iter_errors(value)
            found = [_cell_problem(self.columns[column], text, e) for e in errors]
            hit = cache[text] = (value, list(dict.fromkeys(found)))
        return hit

    def shape(self, op: str, instance: dict[str, Any]) -> list[tuple[str, str | None, str]]:
        """[(code, column, body)] for the row rules, computed once per distinct row shape."""
        key = (
            op,
            frozenset(instance),
            tuple(instance.get(name) for name in self.condition_fields),
            tuple(instance.get(CLEARED, ())),
        )
        hit = self._shapes.get(key)
        if hit is None:
            found = []
            rules = self.rules[op]
            for error in self.row_validators[op].iter_errors(instance):
                rule = rules[error.relative_schema_path[1]]
                for column, body in rule.explain(error, instance, op):
                    found.append((rule.code, column, body))
            hit = self._shapes[key] = list(dict.fromkeys(found))
        return hit


_checkers: weakref.WeakKeyDictionary[Schema, _Checker] = weakref.WeakKeyDictionary()


def _checker(schema: Schema) -> _Checker:
    checker = _checkers.get(schema)
    if checker is None:
        checker = _checkers[schema] = _Checker(schema)
    return checker


# -- the batch -----------------------------------------------------------------------

# When a cell has one of these problems, the others on the same cell are noise.
_OVERRIDING = ("clear-not-allowed", "read-only")


def validate_batch(batch: Batch, schema: Schema) -> tuple[list[Problem], list[CheckedRow]]:
    """Every problem in the batch, and the rows that have none, ready for the catalogue.

    Problems come in row order, then column order; batch-level problems
    (rows that collide, uploads) are attached to the rows they concern.
    """
    checker = _checker(schema).fresh()
    base = Path(batch.path).resolve().parent
    uploads: dict[str, tuple[Path, tuple[str, str] | None]] = {}
    found: dict[int, list[tuple[str, str | None, str]]] = {}
    instances: dict[int, tuple[str, dict[str, Any], list[str]]] = {}

    cells = checker.cells
    plain = checker.plain
    for row in batch.rows:
        problems: list[tuple[str, str | None, str]] = []
        instance: dict[str, Any] = {}
        clears: list[str] = []
        for column, text in row.values.items():
            if text == CLEAR and column != "op":
                clears.append(column)
                continue
            if column in plain:  # free text: nothing to convert or check
                instance[column] = text
                continue
            cache = cells.get(column)
            if cache is None:
                problems.append(("unknown-column", column, "the schema in use has no such field"))
                continue
            # Most cells repeat a value already seen in their column: look it up inline.
            hit = cache.get(text) or checker.cell(column, text)
            instance[column] = hit[0]
            if hit[1]:
                problems.extend((code, column, body) for code, body in hit[1])
        if clears:
            instance[CLEARED] = clears
        op = instance.get("op", "")
        if not op:
            problems.append(
                ("missing-value", "op", "choose create, update, patch, delete or upsert")
            )
        elif op in OPS:
            problems.extend(checker.shape(op, instance))
            problems.extend(_extent_problems(instance))
            upload = row.values.get("upload")
            if upload and upload != CLEAR:
                if upload not in uploads:
                    uploads[upload] = _check_upload(base, upload)
                if uploads[upload][1]:
                    problems.append((uploads[upload][1][0], "upload", uploads[upload][1][1]))
            instances[row.number] = (op, instance, clears)
        found[row.number] = problems

    for number, problems in _collisions(batch.rows, instances).items():
        found[number].extend(problems)

    order = {c: i for i, c in enumerate(schema.column_names())}
    problems_out: list[Problem] = []
    checked: list[CheckedRow] = []
    for row in batch.rows:
        row_problems = _tidy(found[row.number])
        if not row_problems:
            op, instance, clears = instances[row.number]
            checked.append(_checked_row(checker, row, op, instance, clears, uploads))
            continue
        row_problems.sort(key=lambda p: order.get(p[1], -1) if p[1] else -1)
        for code, column, body in row_problems:
            problems_out.append(_problem(batch, row.number, code, column, body))
    return problems_out, checked


def _tidy(problems: list[tuple[str, str | None, str]]) -> list[tuple[str, str | None, str]]:
    """Drop duplicates, and the follow-on noise of a cell that has a worse problem."""
    if not problems:
        return problems
    problems = list(dict.fromkeys(problems))
    overriding = {column for code, column, _ in problems if code in _OVERRIDING}
    return [p for p in problems if p[0] in _OVERRIDING or p[1] is None or p[1] not in overriding]


def _problem(batch: Batch, number: int, code: str, column: str | None, body: str) -> Problem:
    if column is None:
        return Problem(code, f"Row {number}: {body}", number, None)
    header = batch.header_for(column)
    message = f"Row {number}, column '{header}': {body}"
    if column not in batch.columns:
        message += " (the batch has no such column yet: add it)"
    return Problem(code, message, number, column)


# (earlier, later, message): pairs of cells where the second must not come before the first.
EXTENT_PAIRS = (
    (
        "temporal_extent.beginning_date",
        "temporal_extent.end_date",
        "the end date is before the beginning date",
    ),
    (
        "geographic_extent.south_bound_latitude",
        "geographic_extent.north_bound_latitude",
        "the north bound latitude is south of the south bound latitude",
    ),
)


def _extent_problems(instance: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Extents that end before they begin: no single cell is wrong, the pair is."""
    out = []
    for low, high, body in EXTENT_PAIRS:
        a, b = instance.get(low), instance.get(high)
        if a is None or b is None:
            continue
        if isinstance(a, str) or isinstance(b, str):  # dates, or numbers that are not numbers
            if not (isinstance(a, str) and isinstance(b, str)):
                continue
            if not (_DATE.fullmatch(a) and _DATE.fullmatch(b)):
                continue
        if b < a:
            out.append(("inconsistent-extent", high, body))
    return out


def _check_upload(base: Path, text: str) -> tuple[Path, tuple[str, str] | None]:
    path = (base / Path(text).expanduser()).resolve()
    if not path.exists():
        return path, ("upload-missing", f"there is no file '{text}' (looked for {path})")
    if not path.is_file():
        return path, ("upload-not-file", f"'{text}' is a folder or a special file, not a file")
    return path, None


def _target(op: str, instance: dict[str, Any]) -> tuple | None:
    if instance.get("resource_id"):
        return ("resource_id", instance["resource_id"])
    if instance.get("package") and instance.get("name"):
        return ("name", instance["package"], instance["name"])
    return None


def _describe(target: tuple) -> str:
    if target[0] == "resource_id":
        return f"resource '{target[1]}'"
    return f"resource '{target[2]}' in dataset '{target[1]}'"


def _collisions(
    rows: list[Row], instances: dict[int, tuple[str, dict[str, Any], list[str]]]
) -> dict[int, list[tuple[str, str, str]]]:
    """Rows that cannot all work, given that rows of one resource run in sheet order.

    A later row may act on what an earlier row creates or changes; what cannot
    work is creating one name twice, or acting on a resource an earlier row
    deleted (unless a row in between creates it again).
    """
    by_target: dict[tuple, list[int]] = defaultdict(list)
    for number, (op, instance, _) in instances.items():
        target = _target(op, instance)
        if target is not None:
            by_target[target].append(number)
    out: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    for target, numbers in by_target.items():
        column = "resource_id" if target[0] == "resource_id" else "name"
        created_by: int | None = None
        deleted_by: int | None = None
        for n in sorted(numbers):
            op = instances[n][0]
            if op in ("create", "upsert") and deleted_by is not None:
                created_by, deleted_by = n, None  # made again after the delete
            elif op == "create":
                if created_by is not None and deleted_by is None:
                    out[n].append(
                        (
                            "duplicate-create",
                            column,
                            f"row {created_by} already creates {_describe(target)}; "
                            "a dataset should hold one resource of a name",
                        )
                    )
                created_by, deleted_by = n, None
            elif deleted_by is not None:
                out[n].append(
                    (
                        "conflicting-target",
                        column,
                        f"row {deleted_by} deletes {_describe(target)} earlier in the batch, "
                        f"so this {op} would find nothing",
                    )
                )
            elif op == "delete":
                deleted_by = n
            elif op == "upsert" and created_by is None:
                created_by = n
    return out


def _checked_row(
    checker: _Checker,
    row: Row,
    op: str,
    instance: dict[str, Any],
    clears: list[str],
    uploads: dict[str, tuple[Path, Any]],
) -> CheckedRow:
    """The row's values as the catalogue API takes them.

    Groups become a list holding one object with the parts the row gives.
    A cleared part is named in `clear` with its dotted column name
    (`temporal_extent.end_date`): on a patch the planner merges the given and
    cleared parts into the resource's current group.
    """
    fields: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    placement = checker.placement
    for name, value in instance.items():
        place = placement.get(name)
        if place is None:
            continue
        group, key = place
        if group is None:
            fields[key] = value
        else:
            groups.setdefault(group, {})[key] = value
    for name, values in groups.items():
        fields[name] = [values]
    clear = frozenset(clears)
    upload = instance.get("upload")
    return CheckedRow(
        number=row.number,
        op=op,
        package=instance.get("package"),
        organization=instance.get("organization"),
        resource_id=instance.get("resource_id"),
        name=instance.get("name"),
        upload=uploads[upload][0] if upload else None,
        fields=fields,
        clear=clear,
    )
