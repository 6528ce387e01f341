"""Where a Schema comes from: the bundled file, a file given, or the catalogue itself.

The bundled file `schema/bcdc_resource.json` is the default and works offline;
`schema_from_scheming` builds the same `Schema` from the catalogue's own
`scheming_dataset_schema_show` result.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from loader.errors import SchemaError
from loader.schema.fields import CONTROL_COLUMNS, Field, Schema

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
        aliases=tuple(data.get("labels", ())),
        clearable=bool(data.get("clearable", True)),
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


def _scheming_type(data: Mapping[str, Any], bundled: Field | None) -> str:
    """The loader's field type for a scheming field (numbers and lists scheming
    leaves as text keep the bundled schema's type)."""
    preset = data.get("preset")
    if data.get("repeating_subfields") or data.get("subfields"):
        type_ = "group"
    elif preset in PRESET_TYPES and PRESET_TYPES[preset] != "group":
        type_ = PRESET_TYPES[preset]
    elif bundled is not None:
        type_ = bundled.type
    elif data.get("choices"):
        type_ = "choice"
    else:
        type_ = "text"
    if type_ == "text" and bundled is not None and bundled.type in ("choice_list", "number"):
        type_ = bundled.type
    return type_


def _scheming_field(data: Mapping[str, Any], bundled: Field | None) -> Field:
    name = data["field_name"]
    type_ = _scheming_type(data, bundled)
    choices: tuple[str, ...] = ()
    if type_ in ("choice", "choice_list"):
        live = tuple(str(c["value"]) for c in data.get("choices") or ())
        choices = live or (bundled.choices if bundled else ())
        if not choices:
            type_ = "text"  # choices come from a helper on the server; nothing to check here

    subfields: tuple[Field, ...] = ()
    if type_ == "group":
        known = {s.name: s for s in bundled.subfields} if bundled else {}
        subfield_data = data.get("repeating_subfields") or data.get("subfields") or ()
        subfields = tuple(_scheming_field(s, known.get(s.get("field_name"))) for s in subfield_data)

    required_when: dict[str, tuple[str, ...]] = {}
    validators = str(data.get("validators") or "")
    if data.get("conditional_field") and "conditional_required" in validators:
        required_when = {data["conditional_field"]: tuple(data.get("conditional_values") or ())}

    common = {
        "name": name,
        "type": type_,
        "required": bool(data.get("required", False)),
        "choices": choices,
        "subfields": subfields,
    }
    if bundled is not None:
        # The loader's own rules stay for fields both schemas know, and the bundled
        # headings keep naming the field.
        label = _text(data.get("label"), bundled.label)
        return Field(
            label=label,
            aliases=tuple(h for h in (bundled.label, *bundled.aliases) if h != label),
            clearable=bundled.clearable,
            required_when=bundled.required_when or required_when,
            only_when=bundled.only_when,
            read_only=bundled.read_only,
            minimum=bundled.minimum,
            maximum=bundled.maximum,
            help=bundled.help or _text(data.get("help_text")),
            **common,
        )
    return Field(
        label=_text(data.get("label"), name),
        required_when=required_when,
        read_only="form_snippet" in data and data["form_snippet"] is None,
        help=_text(data.get("help_text")),
        **common,
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
