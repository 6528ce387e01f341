"""Between a sheet row and a catalogue resource, both ways.

Sheet to catalogue: a row's cells (canonical column names, values already
converted by validation) become the fields an API call sends: a group's
dotted columns (`temporal_extent.end_date`) become a list holding one object,
a `<clear>` becomes the field's empty value, and a patch's group parts are
merged into the resource's current group (the catalogue stores a group whole).

Catalogue to sheet: a resource as the API returns it becomes the cells a
batch row would hold to say the same thing, as text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from loader.schema.fields import Field, Schema


def empty_value(field: Field) -> Any:
    """What the catalogue takes to mean "empty" for this field."""
    return [] if field.type in ("choice_list", "group") else ""


def payload(schema: Schema, cells: Mapping[str, Any]) -> dict[str, Any]:
    """The resource fields that a row's cells give (control columns are left out)."""
    fields: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    for name, value in cells.items():
        column = schema.column(name)
        if column.control:
            continue
        if column.group is None:
            fields[name] = value
        else:
            groups.setdefault(column.group.name, {})[column.field.name] = value
    for name, parts in groups.items():
        fields[name] = [parts]
    return fields


def patch_payload(
    schema: Schema, current: Mapping[str, Any], cells: Mapping[str, Any], clear: Iterable[str]
) -> dict[str, Any]:
    """What a patch sends: the fields given, the fields cleared set empty, and
    every group it touches whole (current parts, then given, less cleared)."""
    fields = payload(schema, cells)
    clear = list(clear)
    touched: set[str] = set()
    for name in [*cells, *clear]:
        column = schema.column(name)
        if column.group is not None:
            touched.add(column.group.name)
        elif name in clear:
            fields[name] = empty_value(column.field)
    for group in touched:
        entry = dict(_first_entry(current.get(group)))
        entry.update(_first_entry(fields.get(group)))
        for name in clear:
            column = schema.column(name)
            if column.group is not None and column.group.name == group:
                entry.pop(column.field.name, None)
        entry = {k: v for k, v in entry.items() if v not in ("", None)}
        fields[group] = [entry] if entry else []
    return fields


def _first_entry(value: Any) -> Mapping[str, Any]:
    """A group's one entry (groups are lists holding one object); {} when empty."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        return value[0]
    if isinstance(value, Mapping):
        return value
    return {}


def resource_cells(schema: Schema, resource: Mapping[str, Any]) -> dict[str, str]:
    """A resource as a batch row's cells: {column: text} for every writable field it holds."""
    cells: dict[str, str] = {}
    for column in schema.columns:
        if column.control or column.read_only:
            continue
        if column.group is not None:
            value = _first_entry(resource.get(column.group.name)).get(column.field.name)
        else:
            value = resource.get(column.name)
        text = _cell_text(column.field, value)
        if text:
            cells[column.name] = text
    return cells


def _cell_text(field: Field, value: Any) -> str:
    """One field's value as an editor would type it."""
    if value is None:
        return ""
    listed = _choices_text(value) if field.type == "choice_list" else None
    if listed is not None:
        return listed
    if field.type == "date" and isinstance(value, str) and value.endswith("T00:00:00"):
        return value[:10]  # a date the catalogue keeps as midnight of that day
    if field.type == "json" and isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value).strip()


def _choices_text(value: Any) -> str | None:
    """Several choices as typed in one cell, separated by commas (the catalogue may
    keep them as a list, or as the JSON text of one); None when `value` is neither."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value).strip()
    if isinstance(value, list):
        return ",".join(str(v) for v in value if v not in (None, ""))
    return None
