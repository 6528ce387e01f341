"""The schema as data: the bundled file, header matching, the catalogue's own schema."""

import json

import pytest

from loader.errors import SchemaError
from loader.schema import header_key, load_schema, schema_from_data, schema_from_scheming


@pytest.fixture(scope="module")
def schema():
    return load_schema()


def test_bundled_schema_is_read_once(schema):
    assert load_schema() is schema
    assert load_schema("bundled") is schema


def test_columns_are_api_names_with_dotted_groups(schema):
    names = schema.column_names()
    assert names[:7] == ["op", "package", "organization", "resource_id", "name", "upload", "url"]
    assert "temporal_extent.beginning_date" in names
    assert "geographic_extent.north_bound_latitude" in names
    assert "iso_topic_category" in names
    assert "temporal_extent" not in names  # a group is only its subfields


def test_writable_columns_leave_out_what_the_warehouse_fills(schema):
    writable = schema.column_names(writable_only=True)
    assert "object_short_name" not in writable
    assert not [n for n in writable if n.startswith("details.")]
    assert "object_short_name" in schema.column_names()


def test_required_fields_and_choices_come_from_the_file(schema):
    required = {f.name for f in schema.fields if f.required}
    assert required == {
        "name",
        "bcdc_type",
        "resource_update_cycle",
        "format",
        "resource_storage_location",
        "resource_type",
        "resource_access_method",
    }
    assert "wfs" not in schema.field("format").choices
    assert "utilitiesCommuncation" in schema.field("iso_topic_category").choices
    assert schema.field("projection_name").required_when == {
        "bcdc_type": ("geographic", "webservice")
    }
    lat = schema.column("geographic_extent.north_bound_latitude").field
    assert (lat.minimum, lat.maximum) == (-90, 90)


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("format", "format"),
        ("  Format ", "format"),
        ("FORMAT", "format"),
        ("Update cycle", "resource_update_cycle"),
        ("Resource Update Cycle", "resource_update_cycle"),
        ("resource-update-cycle", "resource_update_cycle"),
        ("bcdc type", "bcdc_type"),
        ("Temporal extent: Beginning date", "temporal_extent.beginning_date"),
        ("temporal_extent . end_date", "temporal_extent.end_date"),
        ("north_bound_latitude", "geographic_extent.north_bound_latitude"),
        ("OP", "op"),
        ("Dataset", "package"),
        ("Table schema (JSON)", "json_table_schema"),
    ],
)
def test_headers_match_names_labels_and_variants(schema, header, column):
    assert schema.match_header(header) == column


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("fromat", "format"),
        ("resource_updte_cycle", "resource_update_cycle"),
        ("temporal_extent.begining_date", "temporal_extent.beginning_date"),
    ],
)
def test_unknown_headers_get_a_suggestion(schema, typo, meant):
    assert schema.match_header(typo) is None
    assert schema.suggest_header(typo) == meant


def test_nonsense_header_gets_no_suggestion(schema):
    assert schema.suggest_header("colour of the sky") is None


def test_header_key_normalises_spacing_and_case():
    assert header_key(" Geographic Extent :  North bound latitude ") == (
        "geographic_extent.north_bound_latitude"
    )


def test_a_broken_schema_file_is_refused_with_its_location(tmp_path):
    data = {"resource_fields": [{"field_name": "format", "label": "Format", "type": "choice"}]}
    with pytest.raises(SchemaError, match="resource_fields/0"):
        schema_from_data(data, "test")
    path = tmp_path / "schema.json"
    path.write_text("{not json")
    with pytest.raises(SchemaError, match="Cannot read the schema file"):
        load_schema(path)


def test_a_schema_file_in_the_same_format_can_be_loaded(tmp_path):
    data = {"resource_fields": [{"field_name": "name", "label": "Name", "type": "text"}]}
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(data))
    assert [f.name for f in load_schema(path).fields] == ["name"]


SCHEMING = {
    "scheming_version": 2,
    "dataset_type": "bcdc_dataset",
    "resource_fields": [
        {"field_name": "name", "label": "Name", "preset": "title", "required": True},
        {"field_name": "url", "label": "Resource", "preset": "resource_url_upload"},
        {
            "field_name": "bcdc_type",
            "label": "Type",
            "preset": "select",
            "required": True,
            "choices": [
                {"value": "document", "label": "Document/Tabular Data"},
                {"value": "geographic", "label": "Geographic Data"},
            ],
        },
        {
            "field_name": "format",
            "label": {"en": "Format", "fr": "Format"},
            "preset": "select",
            "required": True,
            "choices": [{"value": "csv", "label": "csv"}, {"value": "wfs", "label": "wfs"}],
        },
        {
            "field_name": "projection_name",
            "label": "Projection Name",
            "preset": "select",
            "choices": [{"value": "epsg3005", "label": "EPSG 3005"}, {"value": "utm"}],
        },
        {
            "field_name": "iso_topic_category",
            "label": "ISO Topic Category",
            "preset": "multiple_select",
            "choices": [{"value": "biota"}, {"value": "oceans"}],
        },
        {"field_name": "json_table_schema", "label": "JSON", "preset": "json_object"},
        {"field_name": "last_modified", "label": "Last Modified", "preset": "datetime"},
        {
            "field_name": "temporal_extent",
            "label": "Temporal Extent",
            "repeating_subfields": [
                {"field_name": "beginning_date", "label": "Beginning", "preset": "date"},
                {"field_name": "end_date", "label": "End", "preset": "date"},
            ],
        },
        {
            "field_name": "geographic_extent",
            "label": "Geographic Extent",
            "repeating_subfields": [
                {"field_name": "north_bound_latitude", "label": "North"},
            ],
        },
        {
            "field_name": "new_field",
            "label": "Something new",
            "preset": "select",
            "choices": [{"value": "a"}, {"value": "b"}],
            "conditional_field": "bcdc_type",
            "conditional_values": ["geographic"],
            "validators": "conditional_required",
        },
    ],
}


def test_scheming_schema_maps_presets_to_field_types():
    live = schema_from_scheming(SCHEMING)
    types = {f.name: f.type for f in live.fields}
    assert types == {
        "name": "text",
        "url": "url",
        "bcdc_type": "choice",
        "format": "choice",
        "projection_name": "choice",
        "iso_topic_category": "choice_list",
        "json_table_schema": "json",
        "last_modified": "datetime",
        "temporal_extent": "group",
        "geographic_extent": "group",
        "new_field": "choice",
    }
    assert live.column("temporal_extent.end_date").field.type == "date"
    assert live.source == "live"


def test_scheming_choices_and_labels_come_from_the_catalogue():
    live = schema_from_scheming(SCHEMING)
    assert live.field("format").choices == ("csv", "wfs")
    assert live.field("format").label == "Format"
    assert live.field("projection_name").choices == ("epsg3005", "utm")


def test_scheming_keeps_the_loaders_own_rules_for_known_fields():
    live = schema_from_scheming(SCHEMING)
    # conditionals, ranges and read-only flags are not in the scheming output
    assert live.field("projection_name").required_when == {
        "bcdc_type": ("geographic", "webservice")
    }
    lat = live.column("geographic_extent.north_bound_latitude").field
    assert (lat.type, lat.minimum, lat.maximum) == ("number", -90, 90)
    assert live.field("geographic_extent").only_when == {"bcdc_type": ("geographic",)}
    # a field only the catalogue knows takes its conditional rule from scheming
    assert live.field("new_field").required_when == {"bcdc_type": ("geographic",)}


def test_scheming_result_without_resource_fields_is_refused():
    with pytest.raises(SchemaError, match="does not describe resources"):
        schema_from_scheming({"dataset_fields": []})


# -- the mapping both ways ------------------------------------------------------------

STORED = {
    "id": "3f1c",
    "name": "Sites (map)",
    "url": "https://example.com/sites.geojson",
    "bcdc_type": "geographic",
    "resource_update_cycle": "monthly",
    "format": "geojson",
    "resource_storage_location": "web or ftp site",
    "resource_type": "data",
    "resource_access_method": "direct access",
    "spatial_datatype": "SDO_GEOMETRY",
    "projection_name": "epsg4326",
    "iso_topic_category": ["environment", "inlandWaters"],
    "last_modified": "2025-01-31T00:00:00",
    "json_table_schema": '{"fields": [{"name": "site"}]}',
    "temporal_extent": [{"beginning_date": "2024-01-01", "end_date": "2024-12-31"}],
    "geographic_extent": [{"north_bound_latitude": 60, "south_bound_latitude": 48.3}],
    "preview_info": [{"preview_zoom_level": "7"}],
    "object_short_name": "SITES",  # read-only: filled by the warehouse
    "description": "",
}


def test_a_resource_becomes_the_cells_a_row_would_hold():
    from loader.schema import resource_cells

    cells = resource_cells(load_schema(), STORED)

    assert cells["iso_topic_category"] == "environment,inlandWaters"
    assert cells["temporal_extent.end_date"] == "2024-12-31"
    assert cells["geographic_extent.north_bound_latitude"] == "60"
    assert cells["preview_info.preview_zoom_level"] == "7"
    assert cells["last_modified"] == "2025-01-31T00:00:00"
    assert "object_short_name" not in cells and "description" not in cells
    assert "id" not in cells


def test_a_resource_read_back_from_its_cells_is_the_same_resource(tmp_path):
    """resource -> cells -> batch row -> validation -> payload: nothing changes on the way."""
    from batches import write_batch

    from loader.pipeline.diff import same
    from loader.pipeline.read import read_batch
    from loader.pipeline.validate import validate_batch
    from loader.schema import payload, resource_cells

    schema = load_schema()
    cells = resource_cells(schema, STORED)
    path = write_batch(tmp_path, {"op": "update", "resource_id": STORED["id"], **cells})

    problems, (row,) = validate_batch(read_batch(path), schema)
    sent = payload(schema, row.cells)

    assert problems == []
    writable = {k: v for k, v in STORED.items() if k not in ("id", "object_short_name")}
    assert set(sent) == {k for k, v in writable.items() if not same(v, None)}
    assert all(same(sent[k], writable[k]) for k in sent), sent


def test_a_patch_payload_clears_and_merges_groups():
    from loader.schema import patch_payload

    sent = patch_payload(
        load_schema(),
        STORED,
        {"temporal_extent.end_date": "2025-12-31", "format": "csv"},
        {"iso_topic_category", "supplemental_info", "geographic_extent.south_bound_latitude"},
    )

    assert sent == {
        "format": "csv",
        "temporal_extent": [{"beginning_date": "2024-01-01", "end_date": "2025-12-31"}],
        "iso_topic_category": [],
        "supplemental_info": "",
        "geographic_extent": [{"north_bound_latitude": 60}],
    }
