"""Validation: every rule, each problem located by row and column, valid rows converted."""

from pathlib import Path

import pytest
from batches import DOCUMENT, GEOGRAPHIC, write_batch

from loader.model import CLEAR
from loader.pipeline.read import read_batch
from loader.pipeline.validate import validate_batch
from loader.schema import load_schema, payload

SCHEMA = load_schema()


def check(tmp_path: Path, *rows: dict):
    """Problems and checked rows for a CSV batch holding these rows (rows start at 2)."""
    return validate_batch(read_batch(write_batch(tmp_path, *rows)), SCHEMA)


def codes(problems):
    return [(p.code, p.row, p.column) for p in problems]


def test_a_complete_create_row_is_clean_and_converted(tmp_path):
    problems, checked = check(tmp_path, DOCUMENT)
    assert problems == []
    (row,) = checked
    assert (row.number, row.op, row.package, row.name) == (
        2,
        "create",
        "water-quality-monitoring",
        "Sampling sites 2024",
    )
    assert row.cells["format"] == "csv"
    assert "op" not in row.cells and "package" not in row.cells
    assert row.upload is None and row.clear == frozenset()


def test_values_are_converted_to_what_the_api_takes(tmp_path):
    problems, checked = check(
        tmp_path,
        {
            **GEOGRAPHIC,
            "iso_topic_category": "inlandWaters, environment,inlandWaters",
            "temporal_extent.beginning_date": "2024-01-01",
            "temporal_extent.end_date": "2024-12-31",
            "geographic_extent.north_bound_latitude": "60",
            "geographic_extent.south_bound_latitude": "48.3",
            "preview_info.preview_zoom_level": "7",
            "json_table_schema": '{"fields": [{"name": "site", "type": "string"}]}',
            "last_modified": "2024-03-01 10:00:00",
        },
    )
    assert problems == []
    fields = payload(SCHEMA, checked[0].cells)
    assert fields["iso_topic_category"] == ["inlandWaters", "environment"]
    assert fields["temporal_extent"] == [{"beginning_date": "2024-01-01", "end_date": "2024-12-31"}]
    assert fields["geographic_extent"] == [
        {"north_bound_latitude": 60, "south_bound_latitude": 48.3}
    ]
    assert fields["preview_info"] == [{"preview_zoom_level": 7}]
    assert fields["json_table_schema"] == '{"fields": [{"name": "site", "type": "string"}]}'
    assert fields["last_modified"] == "2024-03-01T10:00:00"


def test_a_json_list_is_accepted_for_topic_categories(tmp_path):
    _, checked = check(tmp_path, {**GEOGRAPHIC, "iso_topic_category": '["biota", "oceans"]'})
    assert checked[0].cells["iso_topic_category"] == ["biota", "oceans"]


# -- per operation -------------------------------------------------------------


@pytest.mark.parametrize("op", ["create", "update", "upsert"])
def test_full_operations_need_every_required_field(tmp_path, op):
    row = {**DOCUMENT, "op": op, "format": "", "resource_type": ""}
    if op == "update":
        row["resource_id"] = "3f1c"
        row.pop("package")
    problems, checked = check(tmp_path, row)
    assert checked == []
    assert codes(problems) == [
        ("missing-value", 2, "format"),
        ("missing-value", 2, "resource_type"),
    ]
    assert problems[0].message == (
        f"Row 2, column 'format': a value is needed: {op} rows must give every required field"
    )


def test_create_needs_a_dataset_and_no_resource_id(tmp_path):
    problems, _ = check(tmp_path, {**DOCUMENT, "package": "", "resource_id": "abc"})
    assert codes(problems) == [
        ("missing-target", 2, "package"),
        ("unexpected-value", 2, "resource_id"),
    ]


def test_upsert_needs_dataset_and_name(tmp_path):
    problems, _ = check(tmp_path, {**DOCUMENT, "op": "upsert", "package": ""})
    assert codes(problems) == [("missing-target", 2, "package")]
    assert "upsert finds its resource by dataset (package) and name" in problems[0].message


@pytest.mark.parametrize("op", ["update", "patch", "delete"])
def test_targeting_operations_need_an_id_or_dataset_and_name(tmp_path, op):
    row = {"op": op, "package": "water-quality-monitoring", "description": "x"}
    if op == "update":
        row = {**DOCUMENT, "op": "update", "name": ""}
    if op == "delete":
        row.pop("description")
    problems, _ = check(tmp_path, row)
    assert ("missing-target", 2, "resource_id") in codes(problems)


def test_patch_by_id_or_by_name_needs_a_change(tmp_path):
    problems, checked = check(
        tmp_path,
        {"op": "patch", "package": "water-quality-monitoring", "name": "Sites", "resource_id": ""},
        {"op": "patch", "resource_id": "3f1c", "name": "", "package": ""},
        {"op": "patch", "resource_id": "3f1c", "name": "New name", "package": ""},
        {"op": "patch", "package": "water-quality-monitoring", "name": "Sites", "format": "txt"},
    )
    assert codes(problems) == [("no-change", 2, None), ("no-change", 3, None)]
    assert problems[0].message == (
        "Row 2: a patch row must change at least one field (or <clear> one)"
    )
    assert [c.number for c in checked] == [4, 5]
    assert checked[0].cells == {"name": "New name"}  # renaming by id is a change


def test_delete_takes_only_a_target(tmp_path):
    problems, checked = check(
        tmp_path,
        {"op": "delete", "resource_id": "3f1c", "format": "", "package": "", "name": ""},
        {"op": "delete", "package": "air-quality-stations", "name": "Old", "format": "csv"},
    )
    assert codes(problems) == [("unexpected-value", 3, "format")]
    assert [c.number for c in checked] == [2]


def test_unknown_and_missing_operations(tmp_path):
    problems, _ = check(
        tmp_path,
        {**DOCUMENT, "op": "crate"},
        {**DOCUMENT, "op": "", "name": "Other"},
        {**DOCUMENT, "op": "Create", "name": "Third"},
    )
    assert codes(problems) == [("unknown-op", 2, "op"), ("missing-value", 3, "op")]
    assert "did you mean 'create'?" in problems[0].message


# -- cell rules -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "code", "words"),
    [
        (
            "format",
            "CSV",
            "invalid-choice",
            "'CSV' is not one of the allowed values; did you mean 'csv'?",
        ),
        ("format", "wfs", "invalid-choice", "'wfs' is not one of the allowed values"),
        ("resource_update_cycle", "Monthly", "invalid-choice", "did you mean 'monthly'?"),
        ("bcdc_type", "spreadsheet", "invalid-choice", "allowed values are 'document'"),
        ("temporal_extent.beginning_date", "31/01/2024", "invalid-date", "YYYY-MM-DD"),
        ("temporal_extent.end_date", "2024-02-30", "invalid-date", "'2024-02-30' is not a date"),
        ("last_modified", "yesterday", "invalid-date", "date and time"),
        ("url", "www.example.com/x.csv", "invalid-url", "not a web address"),
        ("json_table_schema", "{fields: 1}", "invalid-json", "not a JSON object"),
        ("json_table_schema", "[1, 2]", "invalid-json", "not a JSON object"),
        ("description", "ok", None, None),
    ],
)
def test_cell_rules(tmp_path, column, value, code, words):
    problems, _ = check(tmp_path, {**DOCUMENT, column: value})
    if code is None:
        assert problems == []
        return
    assert codes(problems) == [(code, 2, column)]
    assert words in problems[0].message
    assert problems[0].message.startswith(f"Row 2, column '{column}': ")


@pytest.mark.parametrize(
    ("column", "value", "code"),
    [
        ("geographic_extent.north_bound_latitude", "91", "out-of-range"),
        ("geographic_extent.south_bound_latitude", "-90.5", "out-of-range"),
        ("geographic_extent.east_bound_longitude", "181", "out-of-range"),
        ("geographic_extent.west_bound_longitude", "-180.01", "out-of-range"),
        ("preview_info.preview_latitude", "100", "out-of-range"),
        ("preview_info.preview_longitude", "-200", "out-of-range"),
        ("preview_info.preview_zoom_level", "-1", "out-of-range"),
        ("geographic_extent.north_bound_latitude", "49,5", "not-a-number"),
        ("geographic_extent.north_bound_latitude", "nan", "not-a-number"),
        ("preview_info.preview_zoom_level", "3.5", "not-a-number"),
        ("geographic_extent.north_bound_latitude", "90", None),
        ("geographic_extent.west_bound_longitude", "-180", None),
    ],
)
def test_latitude_longitude_and_number_rules(tmp_path, column, value, code):
    problems, _ = check(tmp_path, {**GEOGRAPHIC, column: value})
    assert codes(problems) == ([(code, 2, column)] if code else [])


def test_out_of_range_message_gives_the_range(tmp_path):
    problems, _ = check(tmp_path, {**GEOGRAPHIC, "geographic_extent.north_bound_latitude": "91"})
    assert problems[0].message.endswith("91 is out of range: it must be between -90 and 90")


def test_topic_categories_are_checked_one_by_one(tmp_path):
    problems, _ = check(tmp_path, {**GEOGRAPHIC, "iso_topic_category": "biota,Oceans,weather"})
    assert codes(problems) == [
        ("invalid-choice", 2, "iso_topic_category"),
        ("invalid-choice", 2, "iso_topic_category"),
    ]
    assert (
        "'Oceans' is not one of the allowed values; did you mean 'oceans'?" in problems[0].message
    )
    assert "'weather'" in problems[1].message


def test_extents_must_not_end_before_they_begin(tmp_path):
    problems, _ = check(
        tmp_path,
        {
            **GEOGRAPHIC,
            "temporal_extent.beginning_date": "2024-12-31",
            "temporal_extent.end_date": "2024-01-01",
            "geographic_extent.north_bound_latitude": "48",
            "geographic_extent.south_bound_latitude": "60",
        },
    )
    assert codes(problems) == [
        ("inconsistent-extent", 2, "temporal_extent.end_date"),
        ("inconsistent-extent", 2, "geographic_extent.north_bound_latitude"),
    ]


# -- conditional rules ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "blank", "needed"),
    [
        ("geographic", "spatial_datatype", True),
        ("geographic", "projection_name", True),
        ("geographic", "iso_topic_category", True),
        ("webservice", "projection_name", True),
        ("webservice", "spatial_datatype", False),
        ("webservice", "iso_topic_category", False),
        ("document", "projection_name", False),
        ("application", "spatial_datatype", False),
    ],
)
def test_conditional_requirements(tmp_path, kind, blank, needed):
    row = {**GEOGRAPHIC, "bcdc_type": kind, blank: ""}
    if kind != "geographic":  # keep only what the kind takes, minus the blanked field
        row = {**row, "spatial_datatype": "", "iso_topic_category": ""}
        row["projection_name"] = (
            "" if blank == "projection_name" or kind != "webservice" else "epsg3005"
        )
    problems, _ = check(tmp_path, row)
    expected = [("conditional-required", 2, blank)] if needed else []
    assert codes(problems) == expected
    if needed:
        assert f"a value is needed when bcdc_type is '{kind}'" in problems[0].message or (
            "bcdc_type is 'geographic' or 'webservice'" in problems[0].message
        )


def test_missing_conditional_column_is_reported_even_when_absent_from_the_batch(tmp_path):
    row = {k: v for k, v in GEOGRAPHIC.items() if k != "spatial_datatype"}
    problems, _ = check(tmp_path, row)
    assert codes(problems) == [("conditional-required", 2, "spatial_datatype")]
    assert "(the batch has no such column yet: add it)" in problems[0].message


@pytest.mark.parametrize(
    "column", ["geographic_extent.north_bound_latitude", "preview_info.layer_name"]
)
def test_geographic_only_fields_on_other_kinds(tmp_path, column):
    value = "50" if "latitude" in column else "layer"
    problems, _ = check(tmp_path, {**DOCUMENT, column: value})
    assert codes(problems) == [("not-applicable", 2, column)]
    assert "only taken when bcdc_type is 'geographic'" in problems[0].message


def test_patch_checks_conditions_only_on_what_it_sets(tmp_path):
    problems, _ = check(
        tmp_path,
        # sets geographic, the rest may already be on the resource
        {"op": "patch", "resource_id": "a1", "bcdc_type": "geographic"},
        # clears a field its own bcdc_type needs
        {"op": "patch", "resource_id": "b2", "bcdc_type": "geographic", "projection_name": CLEAR},
        # extent on a resource the patch makes a document
        {
            "op": "patch",
            "resource_id": "c3",
            "bcdc_type": "document",
            "geographic_extent.north_bound_latitude": "50",
        },
    )
    assert codes(problems) == [
        ("clear-not-allowed", 3, "projection_name"),
        ("not-applicable", 4, "geographic_extent.north_bound_latitude"),
    ]


def test_read_only_fields_cannot_be_set(tmp_path):
    problems, _ = check(
        tmp_path, {**DOCUMENT, "object_short_name": "WQ_SITES", "details.column_name": "X"}
    )
    assert codes(problems) == [
        ("read-only", 2, "object_short_name"),
        ("read-only", 2, "details.column_name"),
    ]


# -- <clear> -------------------------------------------------------------------------


def test_clear_on_patch_empties_fields_and_groups(tmp_path):
    problems, checked = check(
        tmp_path,
        {
            "op": "patch",
            "resource_id": "a1",
            "description": CLEAR,
            "temporal_extent.beginning_date": CLEAR,
            "temporal_extent.end_date": CLEAR,
            "geographic_extent.north_bound_latitude": "",
        },
        {
            "op": "patch",
            "resource_id": "b2",
            "temporal_extent.beginning_date": "2024-01-01",
            "temporal_extent.end_date": CLEAR,
        },
    )
    assert problems == []
    assert checked[0].clear == {
        "description",
        "temporal_extent.beginning_date",
        "temporal_extent.end_date",
    }
    assert checked[0].cells == {}
    # a group carries the parts given; cleared parts are named for the planner to merge
    assert payload(SCHEMA, checked[1].cells) == {
        "temporal_extent": [{"beginning_date": "2024-01-01"}]
    }
    assert checked[1].clear == {"temporal_extent.end_date"}


def test_clear_is_refused_on_required_fields_and_outside_patch(tmp_path):
    problems, _ = check(
        tmp_path,
        {"op": "patch", "resource_id": "a1", "format": CLEAR},
        {**DOCUMENT, "description": CLEAR},
        {"op": "patch", "resource_id": "b2", "package": CLEAR, "description": "x"},
        {"op": "patch", "resource_id": "c3", "object_short_name": CLEAR},
    )
    assert codes(problems) == [
        ("clear-not-allowed", 2, "format"),
        ("clear-not-allowed", 3, "description"),
        ("clear-not-allowed", 4, "package"),
        ("clear-not-allowed", 5, "object_short_name"),
    ]
    assert problems[0].message == (
        "Row 2, column 'format': this field is required, so it cannot be cleared"
    )
    assert "only on a patch row; on a create row leave it blank" in problems[1].message


def test_clear_of_a_required_field_on_create_is_one_problem_not_two(tmp_path):
    problems, _ = check(tmp_path, {**DOCUMENT, "format": CLEAR})
    assert codes(problems) == [("clear-not-allowed", 2, "format")]


# -- uploads and the batch as a whole ------------------------------------------------


def test_uploads_resolve_against_the_batch_folder(tmp_path):
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "sites.csv").write_text("a,b\n1,2\n")
    row = {**DOCUMENT, "url": "", "upload": "files/sites.csv"}
    problems, checked = check(tmp_path, row)
    assert problems == []
    assert checked[0].upload.path == (tmp_path / "files" / "sites.csv").resolve()
    assert checked[0].upload.path.is_absolute()


def test_upload_problems(tmp_path):
    (tmp_path / "files").mkdir()
    (tmp_path / "here.csv").write_text("x\n1\n")
    problems, _ = check(
        tmp_path,
        {**DOCUMENT, "url": "", "upload": "files/missing.csv"},
        {**DOCUMENT, "url": "", "upload": "files", "name": "B"},
        {**DOCUMENT, "upload": "here.csv", "name": "C"},
    )
    assert codes(problems) == [
        ("upload-missing", 2, "upload"),
        ("upload-not-file", 3, "upload"),
        ("upload-and-url", 4, "upload"),
    ]
    assert "there is no file 'files/missing.csv'" in problems[0].message


def test_two_creates_of_one_name_in_one_dataset(tmp_path):
    problems, checked = check(tmp_path, DOCUMENT, {**DOCUMENT, "url": "https://e.org/x"})
    assert codes(problems) == [("duplicate-create", 3, "name")]
    assert "row 2 already creates resource 'Sampling sites 2024'" in problems[0].message
    assert [c.number for c in checked] == [2]


def test_a_resource_deleted_earlier_in_the_batch_cannot_be_acted_on(tmp_path):
    problems, _ = check(
        tmp_path,
        {"op": "delete", "resource_id": "a1"},
        {"op": "patch", "resource_id": "a1", "description": "one"},
        {"op": "delete", "resource_id": "a1"},
        {"op": "delete", "package": DOCUMENT["package"], "name": DOCUMENT["name"]},
        {**DOCUMENT, "op": "upsert"},
        {"op": "patch", "package": DOCUMENT["package"], "name": DOCUMENT["name"], "format": "txt"},
    )
    assert [(p.code, p.row) for p in problems] == [
        ("conflicting-target", 3),
        ("conflicting-target", 4),
    ]
    assert "row 2 deletes resource 'a1' earlier in the batch" in problems[0].message


def test_later_rows_may_act_on_what_earlier_rows_create_or_change(tmp_path):
    problems, checked = check(
        tmp_path,
        DOCUMENT,
        {"op": "patch", "package": DOCUMENT["package"], "name": DOCUMENT["name"], "format": "txt"},
        {"op": "patch", "resource_id": "a1", "description": "one"},
        {"op": "patch", "resource_id": "a1", "description": "two"},
        {"op": "delete", "package": DOCUMENT["package"], "name": DOCUMENT["name"]},
        {**DOCUMENT, "op": "create"},
    )
    assert problems == [] and len(checked) == 6


def test_all_problems_are_found_at_once_in_row_order(tmp_path):
    problems, checked = check(
        tmp_path,
        {**DOCUMENT, "format": "CSV"},
        DOCUMENT | {"name": "fine"},
        {**DOCUMENT, "name": "x", "resource_type": "", "bcdc_type": "geographic"},
    )
    assert [p.row for p in problems] == [2, 4, 4, 4, 4]
    assert [c.number for c in checked] == [3]


def test_a_create_row_of_a_result_carrying_its_resource_id_acts_on_that_resource(tmp_path):
    result_columns = {k: "" for k in ("status", "action", "package_id", "resource_url", "error")}
    row = {**DOCUMENT, "resource_id": "res-1", **result_columns}
    problems, checked = check(tmp_path, row)
    assert problems == []
    assert checked[0].op == "update" and checked[0].resource_id == "res-1"

    plain = write_batch(tmp_path, {**DOCUMENT, "resource_id": "res-1"}, name="plain.csv")
    problems, _ = validate_batch(read_batch(plain), load_schema())
    assert [p.code for p in problems] == ["unexpected-value"]
