"""The row rules: what each operation needs of a row, as JSON Schema pieces.

A row is checked as an *instance*: {column: converted value} for the cells it
fills, plus CLEARED listing the columns it sets to `<clear>`. The rules look
only at which columns are filled and at the values the schema's conditions
name (e.g. bcdc_type), so `RowChecker` checks each distinct row *shape* once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema import ValidationError

from loader import problems
from loader.model import CLEAR, FULL_OPS, MAKING_OPS, TARGETING_OPS, Op
from loader.problems import ProblemType
from loader.schema import CONTROL_COLUMNS, Condition, Schema

CLEARED = CLEAR  # key in a row instance listing the columns a row clears

# A property schema no value passes. (Not the boolean `false`: jsonschema drops
# the instance path from errors of boolean subschemas, and we need the column.)
FORBIDDEN: dict[str, Any] = {"not": {}}

Instance = dict[str, Any]
Located = list[tuple[str | None, str]]  # (column or None, message body)
# (code, column or None, message body)
Found = tuple[str, str | None, str]


@dataclass(frozen=True)
class Rule:
    """One row rule: its JSON Schema and how to word its failures."""

    problem: ProblemType
    schema: dict[str, Any]
    explain: Callable[[ValidationError, Instance, Op], Located]


def _missing(error: ValidationError, instance: Instance) -> list[str]:
    required: list[str] = list(error.validator_value)  # type: ignore[arg-type]
    return [c for c in required if c not in instance]


def _each_missing(body: str) -> Callable[[ValidationError, Instance, Op], Located]:
    """Explain a failed `required` on each column the row lacks."""
    return lambda e, inst, _op: [(c, body) for c in _missing(e, inst)]


def _at_path(body: str) -> Callable[[ValidationError, Instance, Op], Located]:
    """Explain a failure on the column the error points at."""
    return lambda e, _inst, _op: [(str(e.path[0]) if e.path else None, body)]


def _on(column: str, body: str) -> Callable[[ValidationError, Instance, Op], Located]:
    """Explain a failure on one fixed column."""
    return lambda _e, _inst, _op: [(column, body)]


def _on_value(body: str) -> Callable[[ValidationError, Instance, Op], Located]:
    """Explain a failure on the column the failing value names (a cleared column)."""
    return lambda e, _inst, _op: [(str(e.instance), body)]


def _condition_schema(condition: Condition, negate: bool = False) -> dict[str, Any]:
    props = {
        name: ({"not": {"enum": list(values)}} if negate else {"enum": list(values)})
        for name, values in condition.when.items()
    }
    return {"required": list(condition.when), "properties": props}


@dataclass(frozen=True)
class _Columns:
    """The schema's resource columns, sorted the ways the rules need."""

    read_only: list[str]
    writable: list[str]
    required: list[str]
    kept: list[str]  # fields the catalogue cannot empty

    @classmethod
    def of(cls, schema: Schema) -> _Columns:
        columns = [c for c in schema.columns if not c.control]
        return cls(
            read_only=[c.name for c in columns if c.read_only],
            writable=[c.name for c in columns if not c.read_only],
            required=list(schema.required_fields),
            kept=[c.name for c in columns if not c.field.clearable],
        )


def row_rules(schema: Schema, op: Op) -> list[Rule]:
    """The rules a row of this operation must satisfy."""
    columns = _Columns.of(schema)
    rules: list[Rule] = []
    if op in FULL_OPS:
        rules += _required_rules(schema, columns)
    if op not in (Op.DELETE, Op.REORDER):
        rules += _applicability_rules(schema)
    rules += _target_rules(op)
    if op == Op.PATCH:
        rules += _patch_rules(columns)
    if op == Op.DELETE:
        body = "a delete row only names the resource to delete; leave this blank"
        forbidden = {c: FORBIDDEN for c in [*columns.writable, "upload"] if c != "name"}
        rules.append(
            Rule(problems.UNEXPECTED_VALUE, {"properties": forbidden}, _at_path(body)),
        )
    if op == Op.REORDER:
        body = (
            "a reorder row only names the dataset (package): the order comes from the "
            "batch's other rows of that dataset; leave this blank"
        )
        forbidden = {c: FORBIDDEN for c in [*columns.writable, "upload", "resource_id"]}
        rules.append(
            Rule(problems.UNEXPECTED_VALUE, {"properties": forbidden}, _at_path(body)),
        )
    if columns.read_only:
        body = problems.READ_ONLY.message(detail="leave it blank")
        forbidden = {c: FORBIDDEN for c in columns.read_only}
        rules.append(Rule(problems.READ_ONLY, {"properties": forbidden}, _at_path(body)))
    rules.append(
        Rule(
            problems.UPLOAD_AND_URL,
            {"not": {"required": ["upload", "url"]}},
            _on("upload", problems.UPLOAD_AND_URL.message()),
        )
    )
    rules += _clear_rules(schema, op, columns)
    return rules


def _required_rules(schema: Schema, columns: _Columns) -> list[Rule]:
    """Every required field, and the fields a condition calls for (geographic...)."""
    rules = [
        Rule(
            problems.MISSING_VALUE,
            {"required": columns.required},
            lambda e, inst, op: [
                (c, f"a value is needed: {op} rows must give every required field")
                for c in _missing(e, inst)
            ],
        )
    ]
    for condition in schema.requirements:
        body = problems.CONDITIONAL_REQUIRED.message(condition=condition.describe())
        rules.append(
            Rule(
                problems.CONDITIONAL_REQUIRED,
                {"if": _condition_schema(condition), "then": {"required": list(condition.columns)}},
                _each_missing(body),
            )
        )
    return rules


def _applicability_rules(schema: Schema) -> list[Rule]:
    """Columns only some kinds of resource take (e.g. extents on geographic ones)."""
    return [
        Rule(
            problems.NOT_APPLICABLE,
            {
                "if": _condition_schema(condition, negate=True),
                "then": {"properties": {n: FORBIDDEN for n in condition.columns}},
            },
            _at_path(problems.NOT_APPLICABLE.message(condition=condition.describe())),
        )
        for condition in schema.restrictions
    ]


def _target_rules(op: Op) -> list[Rule]:
    """Which resource or dataset the row acts on."""
    target = problems.MISSING_TARGET
    rules = []
    if op == Op.CREATE:
        body = "name the dataset to add the resource to"
        rules.append(Rule(target, {"required": ["package"]}, _on("package", body)))
    if op == Op.REORDER:
        body = "name the dataset (package) whose resources to put in order"
        rules.append(Rule(target, {"required": ["package"]}, _on("package", body)))
    if op == Op.UPSERT:
        body = "upsert finds its resource by dataset (package) and name: give both"
        rules.append(
            Rule(
                target,
                {"required": ["package", "name"]},
                _each_missing(body),
            )
        )
    if op == Op.CREATE:
        # Without either the resource's link is empty (a cell of spaces reads as blank).
        body = "a create row needs a url, or a file to upload; this cell is blank"
        needs_data: dict[str, Any] = {"anyOf": [{"required": ["url"]}, {"required": ["upload"]}]}
        rules.append(Rule(problems.MISSING_VALUE, needs_data, _on("url", body)))
    if op in MAKING_OPS:
        body = (
            f"leave resource_id blank on a {op} row; to change a resource by its id "
            "use update or patch"
        )
        forbidden: dict[str, Any] = {"properties": {"resource_id": FORBIDDEN}}
        rules.append(Rule(problems.UNEXPECTED_VALUE, forbidden, _on("resource_id", body)))
    if op in TARGETING_OPS:
        body = (
            "say which resource: give its resource_id, or the dataset (package) and the "
            "resource name"
        )
        either: dict[str, Any] = {
            "anyOf": [{"required": ["resource_id"]}, {"required": ["package", "name"]}]
        }
        rules.append(Rule(target, either, _on("resource_id", body)))
    return rules


def _patch_rules(columns: _Columns) -> list[Rule]:
    """A patch must change something (the name finds the resource unless an id does)."""
    changes = [*columns.writable, "upload"]
    by_name = [c for c in changes if c != "name"]
    return [
        Rule(
            problems.NO_CHANGE,
            {
                "if": {"required": ["resource_id"]},
                "then": {"anyOf": [{"required": [c]} for c in [*changes, CLEARED]]},
                "else": {"anyOf": [{"required": [c]} for c in [*by_name, CLEARED]]},
            },
            lambda _e, _inst, _op: [(None, problems.NO_CHANGE.message())],
        )
    ]


def _clear_rules(schema: Schema, op: Op, columns: _Columns) -> list[Rule]:
    """<clear>: only on patch rows, only for fields that may be empty."""
    problem = problems.CLEAR_NOT_ALLOWED
    if op != Op.PATCH:
        body = f"{CLEAR} empties a field only on a patch row; on a {op} row leave it blank"
        return [
            Rule(
                problem,
                {"properties": {CLEARED: FORBIDDEN}},
                lambda _e, inst, _op: [(c, body) for c in inst[CLEARED]],
            )
        ]
    not_clearable = set(columns.required) | set(CONTROL_COLUMNS) | set(columns.kept)
    clearable = [c for c in columns.writable if c not in not_clearable]
    rules = [
        Rule(
            problem,
            {"properties": {CLEARED: {"items": {"enum": clearable}}}},
            functools.partial(_explain_clear, set(columns.read_only), set(columns.kept)),
        )
    ]
    for condition in schema.requirements:
        body = f"cannot be cleared: it is needed when {condition.describe()}"
        for name in condition.columns:
            rules.append(
                Rule(
                    problem,
                    {
                        "if": _condition_schema(condition),
                        "then": {"properties": {CLEARED: {"items": {"not": {"const": name}}}}},
                    },
                    _on_value(body),
                )
            )
    return rules


def _explain_clear(
    read_only: set[str], kept: set[str], error: ValidationError, _instance: Instance, _op: Op
) -> Located:
    column = str(error.instance)
    if column in kept:
        body = (
            "the catalogue cannot empty this field (it keeps the value when an update "
            "leaves it blank); leave the cell blank to keep it, or give a new value"
        )
        return [(column, body)]
    if column in read_only:
        return [(column, problems.READ_ONLY.message(detail="it cannot be cleared"))]
    if column in CONTROL_COLUMNS:
        return [(column, f"{CLEAR} empties resource fields; it cannot be used here")]
    return [(column, "this field is required, so it cannot be cleared")]


class RowChecker:
    """Compiled row rules for one schema, with a cache of row shapes for one batch."""

    def __init__(self, schema: Schema):
        self.rules = {op: row_rules(schema, op) for op in Op}
        self.validators = {
            op: jsonschema.Draft202012Validator({"allOf": [r.schema for r in rules]})
            for op, rules in self.rules.items()
        }
        # Fields whose values the row rules look at (e.g. bcdc_type); other values do not matter.
        self.condition_fields = schema.condition_fields
        self.shapes: dict[tuple[Any, ...], list[Found]] = {}

    def fresh(self) -> RowChecker:
        """The same rules with an empty cache, for one batch."""
        clone = object.__new__(RowChecker)
        clone.__dict__.update(self.__dict__)
        clone.shapes = {}
        return clone

    def check(self, op: Op, instance: Instance) -> list[Found]:
        """Every rule the row breaks, computed once per distinct row shape."""
        key = (
            op,
            frozenset(instance),
            tuple(instance.get(name) for name in self.condition_fields),
            tuple(instance.get(CLEARED, ())),
        )
        hit = self.shapes.get(key)
        if hit is None:
            found = []
            rules = self.rules[op]
            for error in self.validators[op].iter_errors(instance):
                rule = rules[error.relative_schema_path[1]]
                for column, body in rule.explain(error, instance, op):
                    found.append((rule.problem.code, column, body))
            hit = self.shapes[key] = list(dict.fromkeys(found))
        return hit
