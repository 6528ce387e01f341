"""The local catalogue keeps the production catalogue's own ways, on each CKAN line.

Each test calls the catalogue directly (ckanapi, or plain HTTP where the status
code is the point), never through the loader: these are the facts the loader
has to live with. See dev/ckan/README.md for how the local catalogue imitates
them.
"""

from __future__ import annotations

import ckanapi
import pytest
import requests

from integration.helpers import REQUIRED, plant_an_old_invalid_resource, stamped_resource

pytestmark = pytest.mark.catalogue

GEOGRAPHIC = {**REQUIRED, "bcdc_type": "geographic", "format": "shp"}

# The web form's labels on the production catalogue (groups: the group, then its parts).
PRODUCTION_LABELS = {
    "name": "Name",
    "url": "Resource",
    "bcdc_type": "Type",
    "description": "Resource Description",
    "supplemental_info": "Supplemental Information",
    "resource_update_cycle": "Frequency of Resource Update",
    "last_modified": "Resource Data Last Updated",
    "temporal_extent": ("Data Collection Period", ["Beginning Date", "End Date"]),
    "format": "Resource Storage Format",
    "resource_storage_location": "Resource Storage Location",
    "spatial_datatype": "Spatial Datatype",
    "object_name": "Object Name",
    "object_short_name": "Object Short Name",
    "object_table_comments": "Object Table Comments",
    "details": (
        "Details",
        ["Column Name", "Short Name", "Data Type", "Data Precision", "Column Comments"],
    ),
    "projection_name": "Spatial Reference System",
    "json_table_schema": "JSON Table Schema",
    "iso_topic_category": "ISO Topic Category",
    "resource_type": "Resource Type",
    "resource_access_method": "Resource Access Method",
    "preview_info": (
        "Preview Information",
        [
            "Layer Name",
            "Preview Latitude",
            "Preview Longitude",
            "Preview Map Service URL",
            "Preview Zoom Level",
            "Image URL",
            "Link to iMap",
        ],
    ),
    "geographic_extent": ("Geographic Extent", ["North", "South", "East", "West"]),
}


def resource_fields(catalogue) -> dict[str, dict]:
    schema = catalogue.client("admin").action.scheming_dataset_schema_show(type="bcdc_dataset")
    return {f["field_name"]: f for f in schema["resource_fields"]}


def post(catalogue, action: str, **data) -> requests.Response:
    """One action over plain HTTP, for tests about the status code and the body."""
    return requests.post(
        f"{catalogue.url}/api/3/action/{action}",
        json=data,
        headers={"Authorization": catalogue.admin_token},
        timeout=60,
    )


def test_the_web_form_shows_productions_labels(catalogue):
    labels = {}
    for name, field in resource_fields(catalogue).items():
        parts = field.get("repeating_subfields")
        labels[name] = (field["label"], [p["label"] for p in parts]) if parts else field["label"]

    assert labels == PRODUCTION_LABELS


def test_projection_list_spells_one_zone_with_a_comma_and_the_server_keeps_either(
    catalogue, make_package
):
    choices = [c["value"] for c in resource_fields(catalogue)["projection_name"]["choices"]]
    assert "epsg26710," in choices
    assert "epsg26710" not in choices
    assert {"epsg26709", "epsg26711", "epsg26910"} <= set(choices)

    admin = catalogue.client("admin")
    package = make_package()
    layer = admin.action.resource_create(
        package_id=package["id"],
        name="Layer",
        url="https://example.com/l",
        projection_name="epsg26710",
        spatial_datatype="SDO_GEOMETRY",
        iso_topic_category=["boundaries"],
        **GEOGRAPHIC,
    )
    assert layer["projection_name"] == "epsg26710"
    as_the_form_stores_it = admin.action.resource_patch(
        id=layer["id"], projection_name="epsg26710,"
    )
    assert as_the_form_stores_it["projection_name"] == "epsg26710,"


def test_last_modified_stays_when_an_update_leaves_it_out(catalogue, make_package):
    admin = catalogue.client("admin")
    original = stamped_resource(catalogue, make_package, description="will be cleared")

    admin.action.resource_update(
        id=original["id"], name="Readings", url="https://example.com/r.csv", **REQUIRED
    )

    after = admin.action.resource_show(id=original["id"])
    assert after["last_modified"] == "2025-03-01T00:00:00"
    assert not after.get("description")  # other optional fields are cleared


@pytest.mark.parametrize("action", ["resource_update", "resource_patch"])
def test_last_modified_sent_empty_is_an_internal_server_error(catalogue, make_package, action):
    admin = catalogue.client("admin")
    package = make_package()
    original = admin.action.resource_create(
        package_id=package["id"],
        name="Readings",
        url="https://example.com/r.csv",
        last_modified="2025-03-01T00:00:00",
        **REQUIRED,
    )
    whole = {"name": "Readings", "url": "https://example.com/r.csv", **REQUIRED}

    response = post(
        catalogue,
        action,
        id=original["id"],
        last_modified="",
        **(whole if action == "resource_update" else {}),
    )

    assert response.status_code == 500
    assert response.json()["error"]["__type"] == "Internal Server Error"
    assert admin.action.resource_show(id=original["id"])["last_modified"] == "2025-03-01T00:00:00"


def test_a_resource_that_is_not_geographic_stores_empty_spatial_fields(catalogue, make_package):
    package = make_package()

    created = catalogue.client("editor").action.resource_create(
        package_id=package["id"], name="Table", url="https://example.com/t.csv", **REQUIRED
    )

    stored = catalogue.client("admin").action.resource_show(id=created["id"])
    assert stored["spatial_datatype"] == ""
    assert stored["projection_name"] == ""
    assert stored["iso_topic_category"] == []


def test_group_values_sent_as_strings_come_back_as_strings(catalogue, make_package):
    package = make_package()
    preview = {"layer_name": "WHSE.SITES", "preview_zoom_level": "60", "preview_latitude": "49.2"}
    extent = {"north_bound_latitude": "60", "south_bound_latitude": "48.3"}

    created = catalogue.client("editor").action.resource_create(
        package_id=package["id"],
        name="Sites",
        url="https://example.com/s",
        spatial_datatype="NA",
        projection_name="epsg3005",
        iso_topic_category=["location"],
        preview_info=[preview],
        geographic_extent=[extent],
        **GEOGRAPHIC,
    )

    stored = catalogue.client("admin").action.resource_show(id=created["id"])
    assert stored["preview_info"] == [preview]
    assert stored["geographic_extent"] == [extent]


def test_iso_topic_categories_come_back_in_the_choice_lists_order(catalogue, make_package):
    package = make_package()

    created = catalogue.client("editor").action.resource_create(
        package_id=package["id"],
        name="Sites",
        url="https://example.com/s",
        spatial_datatype="NA",
        projection_name="epsg3005",
        iso_topic_category=["utilitiesCommuncation", "biota", "inlandWaters"],
        **GEOGRAPHIC,
    )

    stored = catalogue.client("admin").action.resource_show(id=created["id"])
    assert stored["iso_topic_category"] == ["biota", "inlandWaters", "utilitiesCommuncation"]


WRITES = {
    "resource_create": lambda package, sibling: {
        "package_id": package["id"],
        "name": "New",
        "url": "https://example.com/new.csv",
        **REQUIRED,
    },
    "resource_update": lambda package, sibling: {
        "id": sibling["id"],
        "name": "Sibling",
        "url": "https://example.com/s2.csv",
        **REQUIRED,
    },
    "resource_patch": lambda package, sibling: {"id": sibling["id"], "description": "new text"},
    "update_resource_refresh_timestamp": lambda package, sibling: {
        "id": sibling["id"],
        "timestamp": "2026-01-31 08:00:00",
    },
}


@pytest.mark.parametrize("action", list(WRITES))
def test_an_old_invalid_resource_makes_2_10_refuse_every_write_with_an_empty_error(
    catalogue, make_package, action
):
    """On CKAN 2.10 the whole dataset is revalidated and the new resource's (empty)
    errors are all the answer says; 2.12 validates only what changed."""
    package, _old, sibling = plant_an_old_invalid_resource(catalogue, make_package)
    admin = catalogue.client("admin")
    before = admin.action.package_show(id=package["id"])["resources"]

    response = post(catalogue, action, **WRITES[action](package, sibling))

    if catalogue.line == "2.10":
        assert response.status_code == 409
        assert response.json()["error"] == {"__type": "Validation Error"}
        with pytest.raises(ckanapi.ValidationError) as refused:
            getattr(admin.action, action)(**WRITES[action](package, sibling))
        assert refused.value.error_dict == {"__type": "Validation Error"}
        assert admin.action.package_show(id=package["id"])["resources"] == before
    else:
        assert response.status_code == 200, response.text
        assert admin.action.package_show(id=package["id"])["resources"] != before


def test_refresh_timestamp_sets_last_modified_and_nothing_else(catalogue, make_package):
    """Production's custom action, imitated by the test plugin (a plain CKAN lacks it)."""
    admin = catalogue.client("admin")
    original = stamped_resource(catalogue, make_package, description="stays")

    answer = catalogue.client("editor").action.update_resource_refresh_timestamp(
        id=original["id"], timestamp="2026-01-31 08:00:00"
    )

    stored = admin.action.resource_show(id=original["id"])
    assert answer["last_modified"] == stored["last_modified"] == "2026-01-31T08:00:00"
    unchanged = {k: v for k, v in stored.items() if k not in ("last_modified", "metadata_modified")}
    assert unchanged == {
        k: v for k, v in original.items() if k not in ("last_modified", "metadata_modified")
    }


def test_an_old_invalid_resource_makes_2_10_refuse_a_delete_too(catalogue, make_package):
    """A delete is refused on 2.10 as well, but the answer carries the errors of the
    last resource left, here the old one's: unlike other writes, it names a field."""
    package, old, sibling = plant_an_old_invalid_resource(catalogue, make_package)

    response = post(catalogue, "resource_delete", id=sibling["id"])

    remaining = [
        r["id"]
        for r in catalogue.client("admin").action.package_show(id=package["id"])["resources"]
    ]
    if catalogue.line == "2.10":
        assert response.status_code == 409
        assert set(response.json()["error"]) == {"__type", "format"}
        assert remaining == [old["id"], sibling["id"]]
    else:
        assert response.status_code == 200, response.text
        assert remaining == [old["id"]]
