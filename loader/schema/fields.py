"""Fields, columns and the rules between them: what a `Schema` knows.

A field's rules (required, choices, ranges, read-only, the conditions under
which it is needed or taken) are stated here once; validation, planning and
the template's instructions all ask the schema rather than restate them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from loader.model import Op

FIELD_TYPES = (
    "text",
    "url",
    "choice",
    "choice_list",
    "date",
    "datetime",
    "json",
    "group",
    "number",
    "integer",
)


@dataclass(frozen=True)
class Field:
    """One resource field (or one subfield of a group) and its rules."""

    name: str
    label: str
    type: str = "text"
    required: bool = False
    choices: tuple[str, ...] = ()
    # {controlling field: values}: required when that field holds one of the values
    required_when: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # {controlling field: values}: may be given only when that field holds one of them
    only_when: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    read_only: bool = False
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""
    subfields: tuple[Field, ...] = ()
    # other headings the field is known by (the catalogue's web form, another schema)
    aliases: tuple[str, ...] = ()
    # False: the catalogue keeps the value when an update leaves it out, and cannot
    # empty it (last_modified: "" is refused by the database)
    clearable: bool = True

    @property
    def headings(self) -> tuple[str, ...]:
        """Every heading that names this field: its name, label and aliases."""
        return (self.name, self.label, *self.aliases)


@dataclass(frozen=True)
class Column:
    """One batch column: a control column, a field, or a subfield of a group.

    `name` is canonical: the API's spelling, dotted for a subfield
    (`temporal_extent.beginning_date`). `field` holds the rules for the cell;
    `group` is the group field a dotted column belongs to.
    """

    name: str
    label: str
    field: Field
    group: Field | None = None
    control: bool = False

    @property
    def read_only(self) -> bool:
        """Whether the catalogue fills this column's field itself (a batch leaves it blank)."""
        return self.field.read_only or (self.group is not None and self.group.read_only)

    @property
    def required(self) -> bool:
        """Whether create, update and upsert rows must fill this column (`op`: every row)."""
        return self.field.required and self.group is None


@dataclass(frozen=True)
class Condition:
    """A rule that applies when a field holds one of some values.

    `when` is {controlling field: values}; `columns` are the columns the rule
    is about (fields needed, or columns taken only then).
    """

    when: Mapping[str, tuple[str, ...]]
    columns: tuple[str, ...]

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Whether the condition is met by a row's or resource's values."""
        return any(values.get(name) in allowed for name, allowed in self.when.items())

    def describe(self) -> str:
        """The condition in words: "bcdc_type is 'geographic'"."""
        return " or ".join(
            f"{name} is " + " or ".join(f"'{v}'" for v in allowed)
            for name, allowed in self.when.items()
        )


# Columns that steer the loader rather than hold resource fields.
CONTROL_FIELDS = (
    Field(
        "op",
        "Operation",
        "choice",
        required=True,
        choices=tuple(Op),
        help=(
            "What to do with the resource: create a new one; update (replace all its fields); "
            "patch (change only the filled-in fields); delete it; upsert (update the "
            "resource of this name in the dataset, or create it if there is none); or "
            "reorder (put the dataset's resources in the order this batch's rows name them)."
        ),
    ),
    Field(
        "package",
        "Dataset",
        help=(
            "The dataset's name (as in its catalogue address) or id. Needed for create and "
            "upsert, and to find a resource by its name."
        ),
    ),
    Field(
        "organization",
        "Organization",
        help=(
            "Optional check: the organization (name or id) the dataset must belong to. "
            "The row fails if the dataset belongs to another one."
        ),
    ),
    Field(
        "resource_id",
        "Resource id",
        help=(
            "The id of an existing resource to update, patch or delete. Leave blank to find "
            "the resource by dataset and name instead."
        ),
    ),
    Field(
        "upload",
        "File to upload",
        help=(
            "Path of a local file to upload, relative to the folder holding this batch file. "
            "Give either this or the URL, not both."
        ),
    ),
)
CONTROL_COLUMNS = tuple(f.name for f in CONTROL_FIELDS)


@dataclass(frozen=True, eq=False)
class Schema:
    """The resource fields the loader knows, and the batch columns made from them."""

    fields: tuple[Field, ...]
    source: str = "bundled"

    @cached_property
    def columns(self) -> tuple[Column, ...]:
        """Every column a batch may hold, in template order.

        Control columns first, `upload` just before `url`, then the resource
        fields in schema order with groups spread over dotted columns.
        Read-only fields are included (a batch may carry them, blank).
        """
        control = {f.name: Column(f.name, f.label, f, control=True) for f in CONTROL_FIELDS}
        out = [control[n] for n in ("op", "package", "organization", "resource_id")]
        for f in self.fields:
            if f.name == "url":
                out.append(control["upload"])
            if f.type == "group":
                for sub in f.subfields:
                    out.append(Column(f"{f.name}.{sub.name}", f"{f.label}: {sub.label}", sub, f))
            else:
                out.append(Column(f.name, f.label, f))
        if control["upload"] not in out:
            out.insert(4, control["upload"])
        return tuple(out)

    @cached_property
    def _columns_by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    @cached_property
    def _fields_by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    def column(self, name: str) -> Column:
        """The column with this canonical name (KeyError if there is none)."""
        return self._columns_by_name[name]

    def field(self, name: str) -> Field:
        """The top-level resource field with this name (KeyError if there is none)."""
        return self._fields_by_name[name]

    def column_names(self, *, writable_only: bool = False) -> list[str]:
        """Canonical column names, dotted for group subfields, in template order."""
        return [c.name for c in self.columns if not (writable_only and c.read_only)]

    @cached_property
    def required_fields(self) -> tuple[str, ...]:
        """The fields every create, update and upsert row must give."""
        return tuple(f.name for f in self.fields if f.required and not f.read_only)

    @cached_property
    def requirements(self) -> tuple[Condition, ...]:
        """Fields needed only under a condition (geographic needs a projection...)."""
        return _conditions((c.name, c.field.required_when) for c in self.columns if not c.group)

    @cached_property
    def restrictions(self) -> tuple[Condition, ...]:
        """Columns taken only under a condition (extents on geographic resources...)."""
        return _conditions(
            (c.name, (c.group.only_when if c.group else None) or c.field.only_when)
            for c in self.columns
        )

    @cached_property
    def condition_fields(self) -> tuple[str, ...]:
        """Fields whose values decide a condition (e.g. bcdc_type)."""
        conditions = (*self.requirements, *self.restrictions)
        return tuple(sorted({name for c in conditions for name in c.when}))

    def unmet(self, values: Mapping[str, Any]) -> list[str]:
        """Fields the conditions call for that `values` (a whole resource) leave empty."""
        needed = {name for c in self.requirements if c.holds(values) for name in c.columns}
        return [
            c.name
            for c in self.columns
            if c.name in needed and values.get(c.name) in (None, "", [])
        ]

    def needs_by_value(self) -> dict[tuple[str, str], list[str]]:
        """{(field, value): fields it calls for, in column order}, for the instructions."""
        order = {c.name: i for i, c in enumerate(self.columns)}
        out: dict[tuple[str, str], list[str]] = {}
        for condition in self.requirements:
            for name, allowed in condition.when.items():
                for value in allowed:
                    out.setdefault((name, value), []).extend(condition.columns)
        return {key: sorted(names, key=order.__getitem__) for key, names in out.items()}

    @cached_property
    def _header_index(self) -> dict[str, str]:
        """Normalised header text -> canonical column name.

        Names win over labels; a subfield's bare name or label is accepted
        only when no other column claims it.
        """
        index: dict[str, str] = {}
        loose: dict[str, set[str]] = {}
        for c in self.columns:
            index.setdefault(header_key(c.name), c.name)
        for c in self.columns:
            index.setdefault(header_key(c.label), c.name)
            if not c.group:
                for text in c.field.aliases:
                    index.setdefault(header_key(text), c.name)
                continue
            for group in c.group.headings:
                for part in c.field.headings:
                    index.setdefault(header_key(f"{group}.{part}"), c.name)
            for text in c.field.headings:
                loose.setdefault(header_key(text), set()).add(c.name)
        for key, names in loose.items():
            if len(names) == 1:
                index.setdefault(key, next(iter(names)))
        index.pop("", None)
        return index

    def match_header(self, text: str) -> str | None:
        """The canonical column a header cell means, or None.

        Accepts the API name, the label, and case, space, hyphen and
        underscore variants of either; `.` or `:` separates group and subfield.
        """
        return self._header_index.get(header_key(text))

    def suggest_header(self, text: str) -> str | None:
        """The canonical column an unknown header was most likely meant to be."""
        key = header_key(text)
        if not key:
            return None
        close = difflib.get_close_matches(key, list(self._header_index), n=1, cutoff=0.75)
        return self._header_index[close[0]] if close else None


def _conditions(
    rules: Iterable[tuple[str, Mapping[str, tuple[str, ...]] | None]],
) -> tuple[Condition, ...]:
    """Group (column, {field: values}) pairs by condition, in column order."""
    grouped: dict[tuple[tuple[str, tuple[str, ...]], ...], list[str]] = {}
    for column, when in rules:
        if when:
            key = tuple(sorted((name, tuple(values)) for name, values in when.items()))
            grouped.setdefault(key, []).append(column)
    return tuple(Condition(dict(key), tuple(columns)) for key, columns in grouped.items())


def choice_key(value: str) -> str:
    """What makes two spellings of a choice one value: the catalogue's own list holds
    `epsg26710,` (with a comma) where every other zone is plain, and its web form
    stores that spelling; a trailing comma or space does not make another value."""
    return value.strip().rstrip(",").strip()


def header_key(text: str) -> str:
    """Normalise header text for matching: lower case, words joined by `_`, `.` between parts."""
    key = text.strip().lower()
    key = re.sub(r"\s*[.:]\s*", ".", key)
    key = re.sub(r"[^a-z0-9.]+", "_", key)
    key = re.sub(r"_*\._*", ".", key)
    return key.strip("_.")
