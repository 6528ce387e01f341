"""Small helpers shared by the integration tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import ckan_stack
import openpyxl
import pytest
from batches import write_batch

from loader.client import Catalogue
from loader.pipeline.operations import Operation

REQUIRED = ckan_stack.RESOURCE_REQUIRED
__all__ = [
    "REQUIRED",
    "create_operation",
    "editor",
    "finished_load",
    "plant_an_old_invalid_resource",
    "resources_of",
    "sheet_rows",
    "stamped_resource",
    "write_batch",
]


def editor(catalogue) -> Catalogue:
    """The loader's client, holding the editor's token."""
    return Catalogue(catalogue.url, catalogue.editor_token)


def resources_of(catalogue, package_id: str) -> list[dict]:
    return catalogue.client("admin").action.package_show(id=package_id)["resources"]


def sheet_rows(path: Path, sheet: str = "Results") -> list[dict[str, object]]:
    """A result workbook's sheet as one dict per row, keyed by heading."""
    ws = openpyxl.load_workbook(path)[sheet]
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=False)) for r in rows[1:]]


def create_operation(package: dict, **fields: Any) -> Operation:
    """A create of resource 'Bad' built by hand, bypassing the loader's own checks."""
    return Operation(
        row=2,
        action="create",
        package_id=package["id"],
        package_name=package["name"],
        package_type="bcdc_dataset",
        resource_id=None,
        resource_name="Bad",
        fields={"name": "Bad", "url": "https://example.com/b", **REQUIRED, **fields},
    )


def plant_an_old_invalid_resource(catalogue, make_package) -> tuple[dict, dict, dict]:
    """A dataset holding a resource saved under older rules (format `CSV`) and a valid one.

    The API refuses `CSV` today, so the old value is written straight into the
    catalogue's database, as years-old records hold it.
    """
    admin = catalogue.client("admin")
    package = make_package()
    old = admin.action.resource_create(
        package_id=package["id"], name="Old", url="https://example.com/old.csv", **REQUIRED
    )
    sibling = admin.action.resource_create(
        package_id=package["id"], name="Sibling", url="https://example.com/s.csv", **REQUIRED
    )
    ckan_stack.psql(
        f"UPDATE resource SET format = 'CSV' WHERE id = '{old['id']}'", catalogue.database
    )
    assert admin.action.resource_show(id=old["id"])["format"] == "CSV"
    return package, old, sibling


def stamped_resource(catalogue, make_package, **fields: Any) -> dict:
    """A link resource whose last_modified is 2025-03-01, in a dataset of its own."""
    values = {"name": "Readings", "url": "https://example.com/r.csv", **fields}
    return catalogue.client("admin").action.resource_create(
        package_id=make_package()["id"], last_modified="2025-03-01T00:00:00", **REQUIRED, **values
    )


def finished_load(client, resource_id: str, *, after: str | None = None, timeout: float = 90):
    """`xloader_status` once the resource's DataStore load (one other than job `after`)
    is complete or failed. A load writes into the resource (`hash`, `datastore_active`,
    its job's details) and touches the dataset's `metadata_modified`."""
    deadline = time.monotonic() + timeout
    while True:
        status = client.action.xloader_status(resource_id=resource_id)
        if status["status"] in ("complete", "error") and status["job_id"] != after:
            return status
        if time.monotonic() > deadline:
            pytest.fail(f"the load of {resource_id} did not finish in {timeout} s: {status}")
        time.sleep(0.2)
