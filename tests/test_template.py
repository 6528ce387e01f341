"""The template: made from the schema, with dropdowns, and the committed copies up to date."""

from pathlib import Path

import openpyxl
import pytest

from loader.model import CLEAR, Op
from loader.pipeline.read import read_batch
from loader.pipeline.validate import validate_batch
from loader.schema import load_schema
from loader.template import csv_template, write_template

ROOT = Path(__file__).resolve().parent.parent
COMMITTED_XLSX = ROOT / "templates" / "bcdc-loader-template.xlsx"
COMMITTED_CSV = ROOT / "templates" / "bcdc-loader-template.csv"
SCHEMA = load_schema()


def content(path: Path) -> dict:
    """What an editor would see in a workbook: values, dropdowns, help, layout."""
    wb = openpyxl.load_workbook(path)
    out = {}
    for ws in wb.worksheets:
        out[ws.title] = {
            "state": ws.sheet_state,
            "values": [[c.value for c in row] for row in ws.iter_rows()],
            "comments": {
                c.coordinate: c.comment.text for row in ws.iter_rows() for c in row if c.comment
            },
            "fills": [c.fill.fgColor.rgb for c in ws[1]] if ws.max_row else [],
            "freeze": ws.freeze_panes,
            "validations": sorted(
                (str(dv.sqref), dv.type, dv.formula1, dv.prompt, dv.showErrorMessage)
                for dv in ws.data_validations.dataValidation
            ),
        }
    return out


def dropdowns(path: Path, sheet: str = "Batch") -> dict[str, list[str]]:
    """Column heading -> the values its dropdown offers, read back from the file."""
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    headings = {c.column_letter: c.value for c in ws[1]}
    out = {}
    for dv in ws.data_validations.dataValidation:
        if dv.type != "list":
            continue
        column = str(dv.sqref).split(":")[0].rstrip("0123456789")
        assert str(dv.sqref) == f"{column}2:{column}1048576"
        sheet_name, cells = dv.formula1.split("!")
        first, last = cells.replace("$", "").split(":")
        source = wb[sheet_name]
        out[headings[column]] = [c.value for (c,) in source[first:last]]
    return out


def test_committed_template_matches_the_schema(tmp_path):
    fresh = write_template(tmp_path / "t.xlsx", SCHEMA)
    assert content(fresh) == content(COMMITTED_XLSX), (
        "templates/ is out of date: run bcdc-loader template "
        "templates/bcdc-loader-template.xlsx templates/bcdc-loader-template.csv"
    )


def test_committed_csv_template_matches_the_schema():
    assert COMMITTED_CSV.read_bytes() == csv_template(SCHEMA)


def test_committed_template_carries_its_dropdowns():
    found = dropdowns(COMMITTED_XLSX)
    assert found["op"] == list(tuple(Op))
    assert found["format"] == list(SCHEMA.field("format").choices)  # required: no <clear>
    assert found["projection_name"] == [*SCHEMA.field("projection_name").choices, CLEAR]
    choice_columns = {c.name for c in SCHEMA.columns if c.field.type in ("choice", "choice_list")}
    assert set(found) == choice_columns


def test_every_column_has_help_and_required_ones_are_marked():
    wb = openpyxl.load_workbook(COMMITTED_XLSX)
    ws = wb["Batch"]
    prompts = {
        str(dv.sqref).split(":")[0][:-1]: dv.prompt for dv in ws.data_validations.dataValidation
    }
    for cell in ws[1]:
        assert cell.comment is not None and cell.comment.text
        assert prompts[cell.column_letter]
    marked = {c.value for c in ws[1] if "(required)" in c.comment.text}
    assert marked == {"op", *(f.name for f in SCHEMA.fields if f.required)}
    assert ws.freeze_panes == "A2"
    assert wb["Lists"].sheet_state == "hidden"
    assert "Instructions" in wb.sheetnames


def test_headings_are_api_names_without_read_only_fields():
    header = [c.value for c in openpyxl.load_workbook(COMMITTED_XLSX)["Batch"][1]]
    assert header == SCHEMA.column_names(writable_only=True)
    assert "temporal_extent.beginning_date" in header
    assert "object_short_name" not in header


def test_the_examples_are_valid_apart_from_the_file_they_upload(tmp_path):
    batch = read_batch(COMMITTED_XLSX, sheet="Examples")
    problems, checked = validate_batch(batch, SCHEMA)
    assert [p.code for p in problems] == ["upload-missing"]
    assert {c.op for c in checked} == {"upsert", "patch", "delete"}


def test_the_csv_template_reads_as_an_empty_batch_heading(tmp_path):
    path = tmp_path / "t.csv"
    write_template(path, SCHEMA)
    path.write_bytes(path.read_bytes() + b"delete,water,,,Old\r\n")
    batch = read_batch(path)
    assert batch.columns == SCHEMA.column_names(writable_only=True)
    assert batch.rows[0].values == {"op": "delete", "package": "water", "name": "Old"}


def test_other_suffixes_are_refused(tmp_path):
    with pytest.raises(ValueError, match=".xlsx or .csv"):
        write_template(tmp_path / "t.ods", SCHEMA)


def test_the_drift_check_notices_a_changed_schema(tmp_path):
    import dataclasses

    from loader.schema import Schema

    fields = tuple(
        dataclasses.replace(f, choices=(*f.choices, "wfs")) if f.name == "format" else f
        for f in SCHEMA.fields
    )
    changed = write_template(tmp_path / "t.xlsx", Schema(fields))
    assert content(changed) != content(COMMITTED_XLSX)
    assert dropdowns(changed)["format"][-1] == "wfs"
