"""The local catalogue behaves like the BC Data Catalogue where the loader cares."""

from __future__ import annotations

import json
from importlib.resources import files

import ckanapi
import pytest
import requests

from integration.helpers import REQUIRED

pytestmark = pytest.mark.catalogue


def test_upload_is_stored_and_downloads_the_same_bytes(catalogue, make_package, tmp_path):
    package = make_package()
    data = b"station,ph\nA1,7.2\nB2,6.9\n" + bytes(range(256))
    path = tmp_path / "readings.csv"
    path.write_bytes(data)

    with path.open("rb") as upload:
        resource = catalogue.client("editor").action.resource_create(
            package_id=package["id"], name="Readings", upload=upload, **REQUIRED
        )

    assert resource["url_type"] == "upload"
    assert resource["url"].startswith(catalogue.url)
    response = requests.get(resource["url"], timeout=30)
    assert response.status_code == 200
    assert response.content == data


def test_server_refuses_a_bad_format_naming_the_field(catalogue, make_package):
    package = make_package()
    with pytest.raises(ckanapi.ValidationError) as refused:
        catalogue.client("editor").action.resource_create(
            package_id=package["id"],
            name="Bad",
            url="https://example.com/a.csv",
            **{**REQUIRED, "format": "CSV"},
        )
    assert "format" in refused.value.error_dict
    assert "Value must be one of" in refused.value.error_dict["format"][0]


def test_editor_token_is_refused_on_another_organizations_dataset(catalogue, make_package):
    package = make_package(organization=catalogue.other_organization)
    with pytest.raises(ckanapi.NotAuthorized):
        catalogue.client("editor").action.resource_create(
            package_id=package["id"],
            name="Not mine",
            url="https://example.com/a.csv",
            **REQUIRED,
        )
    assert catalogue.client("admin").action.package_show(id=package["id"])["resources"] == []


def test_package_search_filters_by_owner_org(catalogue, make_package):
    admin = catalogue.client("admin")
    mine = make_package()
    other = make_package(organization=catalogue.other_organization)
    org = admin.action.organization_show(id=catalogue.editor_organization)

    found = admin.action.package_search(fq=f"owner_org:{org['id']}", rows=1000)

    names = {p["name"] for p in found["results"]}
    assert mine["name"] in names
    assert other["name"] not in names
    assert found["count"] == len(found["results"])


# The local catalogue imitates production's schema, which differs from the loader's
# bundled copy in documented ways only; labels differ too, but are not compared here.
PRODUCTION_SPELLINGS = {("projection_name", "epsg26710"): "epsg26710,"}


def test_live_schema_matches_the_bundled_schema(catalogue):
    """The local catalogue's schema and the loader's bundled copy must not drift."""
    live = catalogue.client("admin").action.scheming_dataset_schema_show(type="bcdc_dataset")
    bundled = json.loads(files("loader").joinpath("schema/bcdc_resource.json").read_text())

    def summary(fields, spellings=None):
        spellings = spellings or {}
        return {
            f["field_name"]: (
                bool(f.get("required")),
                [
                    spellings.get((f["field_name"], value), value)
                    for value in (
                        c["value"] if isinstance(c, dict) else c for c in f.get("choices") or []
                    )
                ],
                [s["field_name"] for s in f.get("repeating_subfields") or f.get("subfields") or []],
            )
            for f in fields
        }

    assert summary(live["resource_fields"]) == summary(
        bundled["resource_fields"], PRODUCTION_SPELLINGS
    )
