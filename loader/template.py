"""Write the batch template, as a workbook or a CSV file, from the schema.

The workbook has a "Batch" sheet to fill in (API names as headings,
required columns marked, help shown when a cell is selected, a dropdown on
every choice column, frozen heading row), an "Examples" sheet, an
"Instructions" sheet and a hidden "Lists" sheet holding the dropdown values.
The CSV template is the heading row alone.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from loader.csvtext import csv_bytes
from loader.model import CLEAR
from loader.schema import Column, Schema, load_schema
from loader.spreadsheet import BOLD, output_path, put, save_atomically

LAST_ROW = 1048576  # dropdowns and help reach the bottom of the sheet
REQUIRED_FILL = PatternFill("solid", fgColor="F8CBAD")
OPTIONAL_FILL = PatternFill("solid", fgColor="DDEBF7")
# Fixed document dates keep the generated file the same from one run to the next.
STAMP = dt.datetime(2025, 1, 1)

KIND_WORDS = {
    "text": "text",
    "url": "web address (https://...)",
    "choice": "one value from the list",
    "choice_list": "one or more values from the list, separated by commas",
    "date": "date, YYYY-MM-DD",
    "datetime": "date YYYY-MM-DD, or date and time YYYY-MM-DDTHH:MM:SS",
    "json": "a JSON object",
    "number": "number",
    "integer": "whole number",
}

EXAMPLES = [
    {
        "op": "upsert",
        "package": "water-quality-monitoring",
        "name": "Monitoring sites (CSV)",
        "url": "https://example.gov.bc.ca/water/monitoring-sites.csv",
        "bcdc_type": "document",
        "description": "Every active water quality monitoring site, one row per site.",
        "resource_update_cycle": "monthly",
        "format": "csv",
        "resource_storage_location": "web or ftp site",
        "resource_type": "data",
        "resource_access_method": "direct access",
        "temporal_extent.beginning_date": "2020-01-01",
        "temporal_extent.end_date": "2024-12-31",
    },
    {
        "op": "create",
        "package": "water-quality-monitoring",
        "name": "Monitoring sites (map layer)",
        "upload": "files/monitoring-sites.geojson",
        "bcdc_type": "geographic",
        "resource_update_cycle": "quarterly",
        "format": "geojson",
        "resource_storage_location": "catalogue data store",
        "resource_type": "data",
        "resource_access_method": "direct access",
        "spatial_datatype": "SDO_GEOMETRY",
        "projection_name": "epsg4326",
        "iso_topic_category": "inlandWaters,environment",
        "geographic_extent.north_bound_latitude": "60",
        "geographic_extent.south_bound_latitude": "48.3",
        "geographic_extent.east_bound_longitude": "-114.03",
        "geographic_extent.west_bound_longitude": "-139.06",
    },
    {
        "op": "patch",
        "package": "air-quality-stations",
        "name": "Station list",
        "description": "Stations reporting hourly readings.",
        "supplemental_info": CLEAR,
    },
    {
        "op": "delete",
        "package": "air-quality-stations",
        "name": "Station list (old)",
    },
]

INSTRUCTIONS_TOP = [
    "How to fill in a bcdc-loader batch",
    "",
    "One row on the Batch sheet is one thing to do to one resource. The headings are the "
    "field names the catalogue uses; keep them as they are (labels and spacing variants "
    "are accepted too).",
    "The 'op' column says what to do: create (a new resource), update (replace every field "
    "of a resource), patch (change only the cells you fill in), delete, or upsert (update the "
    "resource of this name in the dataset, or create it when there is none).",
    "A reorder row names only a dataset (package): its resources are put in the order in "
    "which this batch's rows name them, the ones no row names after them as they were.",
    "Say which resource a row is about with its resource_id, or with the dataset (package) "
    "and the resource name. create needs the dataset; upsert needs the dataset and the name.",
    "create, update and upsert rows need every column with an orange heading.",
]
INSTRUCTIONS_BOTTOM = [
    "A blank cell means 'not given': a patch leaves that field as it is. To empty a field "
    f"with a patch, type {CLEAR} in the cell (not allowed for required fields).",
    "Give either a file to upload (a path relative to the folder of the batch file) or a URL, "
    "not both.",
    "Grouped fields (temporal_extent, geographic_extent, preview_info) have one column per "
    "part. A patch changes only the parts it fills in (or clears with <clear>).",
    "iso_topic_category takes one or more values separated by commas; the dropdown offers "
    "one at a time.",
    "Check the batch before loading it: bcdc-loader validate BATCH.xlsx -o result.xlsx; "
    "then see what it would do: bcdc-loader run BATCH.xlsx --ckan test --dry-run",
    "The Examples sheet shows filled-in rows; copy rows from there to the Batch sheet.",
    "",
    "Columns",
]


def instructions(schema: Schema) -> list[str]:
    """The Instructions sheet's text; the conditional rules come from the schema."""
    rules = [
        f"Where {field} is {value}, a row also needs " + _and(names) + "."
        for (field, value), names in schema.needs_by_value().items()
    ]
    for condition in schema.restrictions:
        groups = list(dict.fromkeys(name.split(".")[0] for name in condition.columns))
        rules.append(f"{_and(groups)} are taken only when {condition.describe()}.")
    return [*INSTRUCTIONS_TOP, *rules, *INSTRUCTIONS_BOTTOM]


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def template_columns(schema: Schema) -> list[Column]:
    """The columns a template offers: every column but the read-only ones."""
    return [schema.column(name) for name in schema.column_names(writable_only=True)]


def write_template(path: Path, schema: Schema | None = None) -> Path:
    """Write the template to `path`: a workbook for .xlsx, the heading row for .csv
    (ValueError for any other name)."""
    schema = schema or load_schema()
    path = output_path(path)
    if path.suffix.lower() == ".csv":
        path.write_bytes(csv_template(schema))
        return path
    return save_atomically(template_workbook(schema), path)


def csv_template(schema: Schema) -> bytes:
    """The CSV template: the heading row, as Excel saves 'CSV UTF-8' (BOM, CRLF)."""
    return csv_bytes([[c.name for c in template_columns(schema)]])


def help_text(column: Column) -> str:
    """What the editor needs to know to fill in a cell of this column."""
    parts = [column.label + (" (required)" if column.required else "")]
    if column.field.help:
        parts.append(column.field.help)
    if column.field.type != "text" and not column.control:
        parts.append(f"Format: {KIND_WORDS.get(column.field.type, column.field.type)}.")
    return " ".join(parts)


def template_workbook(schema: Schema) -> Workbook:
    """The template workbook, built in memory."""
    columns = template_columns(schema)
    wb = Workbook()
    wb.properties.creator = "bcdc-loader"
    wb.properties.created = wb.properties.modified = STAMP
    batch = wb.active
    assert isinstance(batch, Worksheet)  # a new workbook starts with one worksheet
    batch.title = "Batch"
    examples = wb.create_sheet("Examples")
    notes = wb.create_sheet("Instructions")
    lists = wb.create_sheet("Lists")
    lists.sheet_state = "hidden"

    ranges = _write_lists(lists, columns)
    for ws in (batch, examples):
        _write_heading(ws, columns, ranges)
    for number, example in enumerate(EXAMPLES, start=2):
        for index, column in enumerate(columns, start=1):
            if column.name in example:
                put(examples.cell(row=number, column=index), example[column.name])
    _write_instructions(notes, columns, instructions(schema))
    return wb


def _write_lists(ws: Worksheet, columns: list[Column]) -> dict[str, str]:
    """One column of allowed values per choice column; returns the formula for each."""
    ranges = {}
    index = 0
    for column in columns:
        if column.field.type not in ("choice", "choice_list"):
            continue
        index += 1
        values = list(column.field.choices)
        if not column.required and not column.control:
            values.append(CLEAR)  # patch rows may empty an optional field
        letter = get_column_letter(index)
        put(ws.cell(row=1, column=index), column.name)
        for number, value in enumerate(values, start=2):
            put(ws.cell(row=number, column=index), value)
        ranges[column.name] = f"Lists!${letter}$2:${letter}${len(values) + 1}"
    return ranges


def _write_heading(ws: Worksheet, columns: list[Column], ranges: dict[str, str]) -> None:
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        cell = ws.cell(row=1, column=index)
        put(cell, column.name)
        cell.font = BOLD
        cell.fill = REQUIRED_FILL if column.required else OPTIONAL_FILL
        cell.comment = Comment(help_text(column), "bcdc-loader", 160, 360)
        ws.column_dimensions[letter].width = min(max(len(column.name) + 3, 14), 42)

        kind = column.field.type
        if column.name in ranges:
            rule = DataValidation(type="list", formula1=ranges[column.name], allow_blank=True)
            if kind == "choice_list":
                rule.showErrorMessage = False  # several values, separated by commas
            else:
                rule.showErrorMessage = True
                rule.errorTitle = "Not an allowed value"
                rule.error = "Pick a value from the list (values are case-sensitive)."
        else:
            rule = DataValidation(allow_blank=True)
        rule.showInputMessage = True
        rule.promptTitle = column.name[:32]
        rule.prompt = _shorten(help_text(column), 255)
        rule.add(f"{letter}2:{letter}{LAST_ROW}")
        ws.add_data_validation(rule)
    ws.freeze_panes = "A2"


def _write_instructions(ws: Worksheet, columns: list[Column], text: list[str]) -> None:
    wrap = Alignment(wrap_text=True, vertical="top")
    for number, line in enumerate(text, start=1):
        put(ws.cell(row=number, column=1), line)
        ws.cell(row=number, column=1).alignment = wrap
        if line:
            ws.merge_cells(start_row=number, start_column=1, end_row=number, end_column=6)
            ws.row_dimensions[number].height = 15 * (1 + len(line) // 180)
    ws["A1"].font = Font(bold=True, size=14)
    top = len(text) + 1
    ws.cell(row=top - 1, column=1).font = Font(bold=True, size=12)
    heading = ("column", "label", "required", "format", "allowed values", "help")
    for index, title in enumerate(heading, start=1):
        put(ws.cell(row=top, column=index), title)
        ws.cell(row=top, column=index).font = BOLD
    widths = (40, 30, 10, 30, 50, 70)
    for number, column in enumerate(columns, start=top + 1):
        values = [
            column.name,
            column.label,
            "yes" if column.required else "",
            KIND_WORDS.get(column.field.type, column.field.type),
            ", ".join(column.field.choices),
            column.field.help,
        ]
        for index, value in enumerate(values, start=1):
            put(ws.cell(row=number, column=index), value)
            ws.cell(row=number, column=index).alignment = wrap
        # not every spreadsheet program grows a row to fit wrapped text by itself
        lines = max(1 + len(v) // w for v, w in zip(values, widths, strict=True))
        ws.row_dimensions[number].height = 15 * lines
    for letter, width in zip("ABCDEF", widths, strict=True):
        ws.column_dimensions[letter].width = width


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
