"""The BCDC resource schema as data: its fields and columns, and the mapping
between a sheet row and the catalogue's resources, both ways.

The template, the validator, the planner and the docs all read their rules
from a `Schema`, so a field's rules live in one place:

- `fields`: Field, Column, Condition and Schema (the rules, header matching);
- `sources`: the bundled file, a schema file, or the catalogue's own schema;
- `mapping`: sheet cells to an API payload (lists, groups, `<clear>`), and an
  API resource back to sheet cells.
"""

from loader.schema.fields import (
    CONTROL_COLUMNS,
    CONTROL_FIELDS,
    FIELD_TYPES,
    Column,
    Condition,
    Field,
    Schema,
    choice_key,
    header_key,
)
from loader.schema.mapping import empty_value, patch_payload, payload, resource_cells
from loader.schema.sources import load_schema, schema_from_data, schema_from_scheming

__all__ = [
    "CONTROL_COLUMNS",
    "CONTROL_FIELDS",
    "FIELD_TYPES",
    "Column",
    "Condition",
    "Field",
    "Schema",
    "choice_key",
    "empty_value",
    "header_key",
    "load_schema",
    "patch_payload",
    "payload",
    "resource_cells",
    "schema_from_data",
    "schema_from_scheming",
]
