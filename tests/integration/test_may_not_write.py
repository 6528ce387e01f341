"""A dry run says, before anything is sent, which rows the token may not write."""

from __future__ import annotations

import pytest

from integration.helpers import REQUIRED, editor, resources_of, write_batch
from loader.client import Catalogue
from loader.options import RunOptions
from loader.run import run_batch

pytestmark = pytest.mark.catalogue


def test_the_editors_dry_run_names_another_organizations_dataset(catalogue, make_package, tmp_path):
    own = make_package()
    other = make_package(organization=catalogue.other_organization)
    row = {"op": "create", "name": "Stations", "url": "https://example.com/s.csv", **REQUIRED}
    batch = write_batch(
        tmp_path, {**row, "package": own["name"]}, {**row, "package": other["name"]}
    )

    dry = run_batch(batch, editor(catalogue), RunOptions(dry_run=True))

    assert [(o.status, o.code) for o in dry.outcomes] == [
        ("not run", ""),
        ("failed", "may-not-write"),
    ]
    assert dry.outcomes[0].action == "would create resource 'Stations'"
    assert dry.outcomes[1].error == (
        f"would create resource 'Stations', but your token ({catalogue.editor_name}) may not "
        f"write to dataset '{other['name']}' (organization '{catalogue.other_organization}')"
    )

    ran = run_batch(batch, editor(catalogue))  # fails that row early; the other is written

    assert [(o.status, o.code) for o in ran.outcomes] == [("done", ""), ("failed", "may-not-write")]
    assert [r["name"] for r in resources_of(catalogue, own["id"])] == ["Stations"]
    assert resources_of(catalogue, other["id"]) == []


def test_a_sysadmin_may_write_anywhere(catalogue, make_package, tmp_path):
    other = make_package(organization=catalogue.other_organization)
    row = {"op": "create", "name": "Stations", "url": "https://example.com/s.csv", **REQUIRED}
    batch = write_batch(tmp_path, {**row, "package": other["name"]})

    dry = run_batch(
        batch, Catalogue(catalogue.url, catalogue.admin_token), RunOptions(dry_run=True)
    )

    assert [(o.status, o.code) for o in dry.outcomes] == [("not run", "")]
