"""Export: the catalogue's resources as a batch that runs back as "no change" (fake catalogue)."""

from __future__ import annotations

import openpyxl
import pytest
from fake_catalogue import FakeCatalogue

from loader.errors import CatalogueReadError
from loader.export import export_batch
from loader.pipeline.read import read_batch
from loader.run import run_batch

STORED = {
    "bcdc_type": "geographic",
    "resource_update_cycle": "monthly",
    "format": "geojson",
    "resource_storage_location": "catalogue data store",
    "resource_type": "data",
    "resource_access_method": "direct access",
    "spatial_datatype": "SDO_GEOMETRY",
    "projection_name": "epsg4326",
    # as the catalogue keeps them: its own order, a date as midnight, numbers as numbers
    "iso_topic_category": ["biota", "oceans"],
    "temporal_extent": [{"beginning_date": "2024-01-01T00:00:00", "end_date": "2024-12-31"}],
    "geographic_extent": [
        {
            "north_bound_latitude": 60,
            "south_bound_latitude": 48.3,
            "east_bound_longitude": -114.03,
            "west_bound_longitude": -139.06,
        }
    ],
    "preview_info": [{"preview_zoom_level": "6", "layer_name": "sites"}],
    "json_table_schema": {"fields": [{"name": "site"}]},
    "last_modified": "2026-01-15T10:00:00.123456",
    "description": "Line one\r\nLine two  ",
}
DOCUMENT = {
    **{k: STORED[k] for k in list(STORED)[:6]},
    "format": "csv",
    "bcdc_type": "document",
    "spatial_datatype": "",
    "projection_name": "",
    "iso_topic_category": [],
}


@pytest.fixture
def catalogue():
    fake = FakeCatalogue()
    fake.add_package(
        "sites",
        resources=[
            {"name": "Map", "url": "https://example.com/sites.geojson", **STORED},
            {"name": "Table", "url": "https://f/t.csv", "url_type": "upload", **DOCUMENT},
        ],
    )
    fake.add_package("other", organization="forests", resources=[{"name": "X", **DOCUMENT}])
    return fake


def test_export_writes_one_patch_row_per_resource_in_the_template_layout(catalogue, tmp_path):
    result = export_batch(catalogue, tmp_path / "e.xlsx", organizations=["water"])

    assert result.packages == 1 and result.problems == []
    wb = openpyxl.load_workbook(result.path)
    assert {"Batch", "Instructions", "Lists"} <= set(wb.sheetnames)
    assert wb["Batch"].data_validations.dataValidation  # the dropdowns came along
    batch = read_batch(result.path)
    geo, table = (row.values for row in batch.rows)
    assert geo["op"] == "patch" and geo["package"] == "sites" and geo["organization"] == "water"
    assert geo["resource_id"] == catalogue.package("sites")["resources"][0]["id"]
    assert geo["url"] == "https://example.com/sites.geojson"
    assert geo["iso_topic_category"] == "biota,oceans"
    assert geo["temporal_extent.beginning_date"] == "2024-01-01"
    assert geo["geographic_extent.south_bound_latitude"] == "48.3"
    assert geo["json_table_schema"] == '{"fields": [{"name": "site"}]}'
    assert "url" not in table  # an upload's URL is the catalogue's own
    assert "spatial_datatype" not in table and "iso_topic_category" not in table


def test_run_back_unchanged_every_row_is_no_change(catalogue, tmp_path):
    exported = export_batch(catalogue, tmp_path / "e.csv", packages=["sites", "other"])

    result = run_batch(exported.path, catalogue)

    assert result.problems == []
    assert [o.action for o in result.outcomes] == ["no change"] * 3
    assert catalogue.calls == []


def test_one_edited_cell_changes_only_that_field(catalogue, tmp_path):
    exported = export_batch(catalogue, tmp_path / "e.xlsx", packages=["sites"])
    before = catalogue.package("sites")["resources"][0]
    wb = openpyxl.load_workbook(exported.path)
    ws = wb["Batch"]
    column = [c.value for c in ws[1]].index("resource_update_cycle") + 1
    ws.cell(row=2, column=column).value = "weekly"
    wb.save(exported.path)

    result = run_batch(exported.path, catalogue)

    assert [o.action for o in result.outcomes] == [
        "patched resource 'Map': resource_update_cycle: 'monthly' -> 'weekly'",
        "no change",
    ]
    assert catalogue.calls == [("resource_patch", "Map")]
    after = catalogue.package("sites")["resources"][0]
    assert after == {**before, "resource_update_cycle": "weekly"}


def test_values_that_break_todays_rules_are_named(catalogue, tmp_path):
    catalogue.add_package("old", resources=[{"name": "Legacy", **DOCUMENT, "format": "CSV"}])

    result = export_batch(catalogue, tmp_path / "e.xlsx", packages=["old"])

    assert [p.code for p in result.problems] == ["invalid-choice"]
    assert "did you mean 'csv'?" in result.problems[0].message


def test_a_name_not_found_ends_the_export(catalogue, tmp_path):
    with pytest.raises(CatalogueReadError, match="dataset 'nope' was not found"):
        export_batch(catalogue, tmp_path / "e.xlsx", packages=["nope"])
    assert not (tmp_path / "e.xlsx").exists()


def test_datasets_without_a_resource_leave_nothing_to_export(tmp_path):
    """Said in so many words, and no batch without rows is written (no reader takes one)."""
    empty = FakeCatalogue()
    empty.add_package("bare")
    with pytest.raises(CatalogueReadError, match="These datasets hold no resource"):
        export_batch(empty, tmp_path / "e.xlsx", packages=["bare"])
    empty.add_organization("nobody")
    with pytest.raises(CatalogueReadError, match="These organizations hold no dataset"):
        export_batch(empty, tmp_path / "e.xlsx", organizations=["nobody"])
    assert not (tmp_path / "e.xlsx").exists()
