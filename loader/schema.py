"""The BCDC resource schema as data: fields, columns and header matching.

The bundled file `schema/bcdc_resource.json` is the default and works offline;
`schema_from_scheming` builds the same `Schema` from the catalogue's own
`scheming_dataset_schema_show` result. The template, the validator and the
docs all read their rules from a `Schema`, so a field's rules live in one place.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from loader.errors import SchemaError
from loader.model import OPS

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


# Columns that steer the loader rather than hold resource fields.
CONTROL_FIELDS = (
    Field(
        "op",
        "Operation",
        "choice",
        required=True,
        choices=OPS,
        help=(
            "What to do with the resource: create a new one; update (replace all its fields); "
            "patch (change only the filled-in fields); delete it; or upsert (update the "
            "resource of this name in the dataset, or create it if there is none)."
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
        return [
            c.name
            for c in self.columns
            if not (writable_only and (c.field.read_only or (c.group and c.group.read_only)))
        ]

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
            if c.group:
                index.setdefault(header_key(f"{c.group.name}.{c.field.label}"), c.name)
                index.setdefault(header_key(f"{c.group.label}.{c.field.name}"), c.name)
                for text in (c.field.name, c.field.label):
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


def header_key(text: str) -> str:
    """Normalise header text for matching: lower case, words joined by `_`, `.` between parts."""
    key = text.strip().lower()
    key = re.sub(r"\s*[.:]\s*", ".", key)
    key = re.sub(r"[^a-z0-9.]+", "_", key)
    key = re.sub(r"_*\._*", ".", key)
    return key.strip("_.")


# -- loading ---------------------------------------------------------------

BUNDLED_FILE = "bcdc_resource.json"


@functools.cache
def _format_validator() -> Any:
    text = resources.files("loader").joinpath("schema", "schema-format.json").read_text("utf-8")
    meta = json.loads(text)
    cls = jsonschema.validators.validator_for(meta)
    return cls(meta)


def _check_format(data: Any, source: str) -> None:
    errors = sorted(_format_validator().iter_errors(data), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "top level"
        raise SchemaError(f"The schema {source} is not usable: at {where}: {errors[0].message}")


def _field_from_data(data: Mapping[str, Any]) -> Field:
    return Field(
        name=data["field_name"],
        label=data["label"],
        type=data["type"],
        required=bool(data.get("required", False)),
        choices=tuple(data.get("choices", ())),
        required_when={k: tuple(v) for k, v in data.get("required_when", {}).items()},
        only_when={k: tuple(v) for k, v in data.get("only_when", {}).items()},
        read_only=bool(data.get("read_only", False)),
        minimum=data.get("minimum"),
        maximum=data.get("maximum"),
        help=data.get("help", ""),
        subfields=tuple(_field_from_data(s) for s in data.get("subfields", ())),
    )


def schema_from_data(data: Mapping[str, Any], source: str = "bundled") -> Schema:
    """Build a Schema from data in the bundled file's format, checking the format first."""
    _check_format(data, source)
    fields = tuple(_field_from_data(f) for f in data["resource_fields"])
    clash = sorted({f.name for f in fields} & set(CONTROL_COLUMNS))
    if clash:
        raise SchemaError(f"The schema {source} defines fields the loader uses as columns: {clash}")
    return Schema(fields, source)


@functools.cache
def _bundled() -> Schema:
    text = resources.files("loader").joinpath("schema", BUNDLED_FILE).read_text("utf-8")
    return schema_from_data(json.loads(text), "bundled")


def load_schema(source: str | Path | None = None) -> Schema:
    """The schema to check batches against.

    None or "bundled" gives the schema shipped with the loader (read once).
    Any other value is the path of a JSON file in the same format.
    """
    if source is None or source == "bundled":
        return _bundled()
    path = Path(source)
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaError(f"Cannot read the schema file {path}: {exc}") from None
    return schema_from_data(data, str(path))


# -- the catalogue's own schema ---------------------------------------------

# ckanext-scheming presets and what they mean for a batch cell.
PRESET_TYPES = {
    "select": "choice",
    "radio": "choice",
    "multiple_select": "choice_list",
    "multiple_checkbox": "choice_list",
    "date": "date",
    "datetime": "datetime",
    "datetime_tz": "datetime",
    "json_object": "json",
    "repeating_subfields": "group",
    "composite": "group",
    "composite_repeating": "group",
    "resource_url_upload": "url",
    "markdown": "text",
    "title": "text",
}

_SCHEMING_SHAPE = {
    "type": "object",
    "required": ["resource_fields"],
    "properties": {
        "resource_fields": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["field_name"],
                "properties": {
                    "field_name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                    "choices": {
                        "type": "array",
                        "items": {"type": "object", "required": ["value"]},
                    },
                },
            },
        }
    },
}


def _text(value: Any, default: str = "") -> str:
    """A scheming label or help text: a string, or a {language: text} mapping."""
    if isinstance(value, Mapping):
        value = value.get("en") or next(iter(value.values()), "")
    return str(value) if value else default


def _scheming_field(data: Mapping[str, Any], bundled: Field | None) -> Field:
    name = data["field_name"]
    subfield_data = data.get("repeating_subfields") or data.get("subfields")
    preset = data.get("preset")
    if subfield_data:
        type_ = "group"
    elif preset in PRESET_TYPES and PRESET_TYPES[preset] != "group":
        type_ = PRESET_TYPES[preset]
    elif bundled is not None:
        type_ = bundled.type  # e.g. numbers and choice lists scheming leaves as text
    elif data.get("choices"):
        type_ = "choice"
    else:
        type_ = "text"
    if type_ == "text" and bundled is not None and bundled.type in ("choice_list", "number"):
        type_ = bundled.type

    choices: tuple[str, ...] = ()
    if type_ in ("choice", "choice_list"):
        live = tuple(str(c["value"]) for c in data.get("choices") or ())
        choices = live or (bundled.choices if bundled else ())
        if not choices:
            type_ = "text"  # choices come from a helper on the server; nothing to check here

    subfields: tuple[Field, ...] = ()
    if type_ == "group":
        known = {s.name: s for s in bundled.subfields} if bundled else {}
        subfields = tuple(
            _scheming_field(s, known.get(s.get("field_name"))) for s in subfield_data or ()
        )

    required_when: dict[str, tuple[str, ...]] = {}
    validators = str(data.get("validators") or "")
    if data.get("conditional_field") and "conditional_required" in validators:
        required_when = {data["conditional_field"]: tuple(data.get("conditional_values") or ())}

    if bundled is not None:
        # The loader's own rules stay for fields both schemas know.
        return Field(
            name=name,
            label=_text(data.get("label"), bundled.label),
            type=type_,
            required=bool(data.get("required", False)),
            choices=choices,
            required_when=bundled.required_when or required_when,
            only_when=bundled.only_when,
            read_only=bundled.read_only,
            minimum=bundled.minimum,
            maximum=bundled.maximum,
            help=bundled.help or _text(data.get("help_text")),
            subfields=subfields,
        )
    return Field(
        name=name,
        label=_text(data.get("label"), name),
        type=type_,
        required=bool(data.get("required", False)),
        choices=choices,
        required_when=required_when,
        read_only="form_snippet" in data and data["form_snippet"] is None,
        help=_text(data.get("help_text")),
        subfields=subfields,
    )


def schema_from_scheming(schema_show_result: Mapping[str, Any], source: str = "live") -> Schema:
    """Turn the result of `scheming_dataset_schema_show` into a Schema.

    Field names, labels, required flags and choices come from the catalogue;
    conditional rules, ranges and read-only flags come from the bundled
    schema for the fields both know.
    """
    errors = list(jsonschema.Draft202012Validator(_SCHEMING_SHAPE).iter_errors(schema_show_result))
    if errors:
        raise SchemaError(
            f"The catalogue's schema ({source}) does not describe resources: {errors[0].message}"
        )
    bundled = {f.name: f for f in load_schema().fields}
    fields = tuple(
        _scheming_field(f, bundled.get(f["field_name"]))
        for f in schema_show_result["resource_fields"]
        if f["field_name"] not in CONTROL_COLUMNS
    )
    return Schema(fields, source)
