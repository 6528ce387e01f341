"""The loader meets production's own ways, on both CKAN lines of the local catalogue:
the `epsg26710,` spelling, `last_modified` that cannot be emptied, headings written
as the web form's labels, and a dataset an old invalid resource blocks on 2.10."""

from __future__ import annotations

import pytest

from integration.helpers import (
    REQUIRED,
    editor,
    plant_an_old_invalid_resource,
    resources_of,
    stamped_resource,
    write_batch,
)
from loader.client import Catalogue
from loader.options import CheckOptions, RunOptions
from loader.run import check_batch, run_batch
from loader.schema import schema_from_scheming

pytestmark = pytest.mark.catalogue

GEOGRAPHIC = {
    **REQUIRED,
    "bcdc_type": "geographic",
    "format": "geojson",
    "spatial_datatype": "SDO_GEOMETRY",
    "iso_topic_category": "environment",
}


def live_schema(catalogue):
    return schema_from_scheming(Catalogue(catalogue.url).dataset_schema(), catalogue.url)


@pytest.mark.parametrize("spelling", ["epsg26710", "epsg26710,"])
def test_either_spelling_of_zone_10_is_one_value_and_goes_as_the_catalogue_lists_it(
    catalogue, make_package, tmp_path, spelling
):
    package = make_package()
    row = {
        "op": "upsert",
        "package": package["name"],
        "name": "Zone 10 layer",
        "url": "https://example.com/z10",
        **GEOGRAPHIC,
        "projection_name": spelling,
    }
    batch = write_batch(tmp_path, row)

    for schema in (None, live_schema(catalogue)):
        assert check_batch(batch, CheckOptions(schema=schema)).problems == []
    first = run_batch(batch, editor(catalogue))
    (stored,) = resources_of(catalogue, package["id"])
    other = "epsg26710," if spelling == "epsg26710" else "epsg26710"
    again = run_batch(
        write_batch(tmp_path, {**row, "projection_name": other}, name="b.csv"), editor(catalogue)
    )

    assert first.exit_code == 0, first.outcomes
    assert stored["projection_name"] == "epsg26710,"  # the spelling this catalogue lists
    assert again.outcomes[0].action == "no change"


def test_an_update_that_leaves_last_modified_out_keeps_it_and_says_so(
    catalogue, make_package, tmp_path
):
    admin = catalogue.client("admin")
    resource = stamped_resource(catalogue, make_package, name="Series", url="https://example.com/s")
    row = {"op": "update", "resource_id": resource["id"], "name": "Series", **REQUIRED}
    batch = write_batch(tmp_path, {**row, "url": "https://example.com/s"})

    dry = run_batch(batch, editor(catalogue), RunOptions(dry_run=True))
    result = run_batch(batch, editor(catalogue))

    assert dry.outcomes[0].action == "no change"
    assert "last_modified" not in result.outcomes[0].action
    assert admin.action.resource_show(id=resource["id"])["last_modified"].startswith("2025-03-01")


def test_clearing_last_modified_is_refused_before_anything_is_sent(
    catalogue, make_package, tmp_path
):
    admin = catalogue.client("admin")
    resource = stamped_resource(catalogue, make_package, name="Series", url="https://example.com/s")
    batch = write_batch(
        tmp_path, {"op": "patch", "resource_id": resource["id"], "last_modified": "<clear>"}
    )

    result = run_batch(batch, editor(catalogue))

    assert result.exit_code == 2
    (problem,) = result.problems
    assert (problem.code, problem.column) == ("clear-not-allowed", "last_modified")
    assert "cannot empty this field" in problem.message
    assert admin.action.resource_show(id=resource["id"])["last_modified"].startswith("2025-03-01")


LABELS = {
    "op": "op",
    "package": "package",
    "name": "Name",
    "url": "Resource",
    "bcdc_type": "Type",
    "resource_update_cycle": "Frequency of Resource Update",
    "format": "Resource Storage Format",
    "resource_storage_location": "Resource Storage Location",
    "resource_type": "Resource Type",
    "resource_access_method": "Resource Access Method",
    "temporal_extent.beginning_date": "Data Collection Period: Beginning Date",
}


@pytest.mark.parametrize("which", ["bundled", "live"])
def test_headings_written_as_the_web_forms_labels_are_read(
    catalogue, make_package, tmp_path, which
):
    package = make_package()
    row = {
        "op": "create",
        "package": package["name"],
        "name": "Labelled",
        "url": "https://example.com/l",
        **REQUIRED,
        "temporal_extent.beginning_date": "2024-01-01",
    }
    batch = write_batch(tmp_path, {LABELS[k]: v for k, v in row.items()})
    schema = live_schema(catalogue) if which == "live" else None

    result = run_batch(batch, editor(catalogue), RunOptions(check=CheckOptions(schema=schema)))

    assert result.exit_code == 0, result.problems or result.outcomes
    (stored,) = resources_of(catalogue, package["id"])
    assert stored["temporal_extent"] == [{"beginning_date": "2024-01-01"}]


def test_a_dataset_blocked_by_an_old_invalid_resource_is_named_on_2_10_only(
    catalogue, make_package, tmp_path
):
    package, old, _sibling = plant_an_old_invalid_resource(catalogue, make_package)
    batch = write_batch(
        tmp_path,
        {
            "op": "create",
            "package": package["name"],
            "name": "New",
            "url": "https://example.com/new",
            **REQUIRED,
        },
    )

    dry = run_batch(batch, editor(catalogue), RunOptions(dry_run=True))
    result = run_batch(batch, editor(catalogue))

    if catalogue.line == "2.10":
        assert "refuses every write to such a dataset" in dry.outcomes[0].action
        assert result.outcomes[0].status == "failed"
        assert result.outcomes[0].code == "blocked-by-invalid-resource"
        error = result.outcomes[0].error
        assert f"resource 'Old' ({old['id']})" in error and "'CSV'" in error
        assert "New" not in [r["name"] for r in resources_of(catalogue, package["id"])]
    else:
        assert dry.outcomes[0].action == "would create resource 'New'"
        assert result.outcomes[0].status == "done"
