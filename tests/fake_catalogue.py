"""An in-memory catalogue for unit tests: the loader's CatalogueAPI, no server.

It keeps datasets, their resources and organizations in dicts, answers the
look-ups the planner makes and the writes the executor makes, and records
every call. Faults are injected by resource name: `faults["Sites"] = error`
makes any write of a resource named "Sites" raise `error`. It is a stand-in
for unit tests only; integration tests use the real local catalogue.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loader.client import CatalogueAPI, NotFound, Permissions


class FakeCatalogue:
    """Datasets, resources and organizations in memory."""

    url = "https://catalogue.example"

    def __init__(self) -> None:
        self.packages: dict[str, dict[str, Any]] = {}  # by id
        self.organizations: dict[str, dict[str, Any]] = {}  # by id
        self.faults: dict[str, BaseException] = {}  # resource name -> raised on write
        self.calls: list[tuple[str, str]] = []  # (action, resource name or id)
        self.reads = 0
        # where the token may write: anywhere, unless a test narrows it
        self.granted = Permissions("fake-editor", anywhere=True)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- building the catalogue's contents -------------------------------------------

    def add_organization(self, name: str) -> dict[str, Any]:
        org = {"id": f"org-{name}", "name": name}
        self.organizations[org["id"]] = org
        return org

    def add_package(
        self, name: str, organization: str = "water", resources: Sequence[dict[str, Any]] = ()
    ) -> dict[str, Any]:
        org = next((o for o in self.organizations.values() if o["name"] == organization), None)
        org = org or self.add_organization(organization)
        package = {
            "id": f"pkg-{name}",
            "name": name,
            "type": "bcdc_dataset",
            "owner_org": org["id"],
            "organization": {"name": org["name"]},
            "resources": [],
        }
        self.packages[package["id"]] = package
        for resource in resources:
            package["resources"].append({"id": f"res-{next(self._ids)}", **resource})
        return package

    # -- reads ---------------------------------------------------------------------

    def user(self) -> dict[str, Any]:
        return {"name": "fake-editor"}

    def permissions(self) -> Permissions:
        return self.granted

    def package(self, name_or_id: str) -> dict[str, Any]:
        self.reads += 1
        for package in self.packages.values():
            if name_or_id in (package["id"], package["name"]):
                return copy.deepcopy(package)
        raise NotFound("package_show: not found")

    def resource(self, resource_id: str) -> dict[str, Any]:
        self.reads += 1
        package, resource = self._find(resource_id)
        return {**copy.deepcopy(resource), "package_id": package["id"]}

    def organization(self, name_or_id: str) -> dict[str, Any]:
        self.reads += 1
        for org in self.organizations.values():
            if name_or_id in (org["id"], org["name"]):
                return dict(org)
        raise NotFound("organization_show: not found")

    def dataset_schema(self, dataset_type: str = "bcdc_dataset") -> dict[str, Any]:
        raise NotFound("scheming_dataset_schema_show: not found")

    def resource_page(self, package_type: str, package_name: str, resource_id: str) -> str:
        return f"{self.url}/{package_type}/{package_name}/resource/{resource_id}"

    # -- writes ----------------------------------------------------------------------

    def write_resource(
        self, action: str, data: dict[str, Any], upload: Path | None = None
    ) -> dict[str, Any]:
        with self._lock:
            if action == "resource_create":
                package = self.packages[self.package(data["package_id"])["id"]]
                resource = {k: v for k, v in data.items() if k != "package_id"}
                self._call(action, resource.get("name", ""), resource)
                resource["id"] = f"res-{next(self._ids)}"
                package["resources"].append(resource)
            else:
                _, resource = self._find(data["id"])
                self._call(action, resource.get("name", ""), {**resource, **data})
                if action == "resource_update":
                    kept = {k: resource[k] for k in ("id",)}
                    resource.clear()
                    resource.update(kept)
                resource.update(data)
            if upload is not None:
                resource.update(url=f"{self.url}/download/{upload.name}", url_type="upload")
            return copy.deepcopy(resource)

    def delete_resource(self, resource_id: str) -> None:
        with self._lock:
            package, resource = self._find(resource_id)
            self._call("resource_delete", resource.get("name", ""), resource)
            package["resources"].remove(resource)

    def _call(self, action: str, name: str, resource: dict[str, Any]) -> None:
        self.calls.append((action, name or resource.get("id", "")))
        fault = self.faults.get(name)
        if fault is not None:
            raise fault

    def _find(self, resource_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        for package in self.packages.values():
            for resource in package["resources"]:
                if resource["id"] == resource_id:
                    return package, resource
        raise NotFound("resource_show: not found")


_: type[CatalogueAPI] = FakeCatalogue  # the fake keeps the real client's contract
