"""An in-memory catalogue for unit tests: the loader's CatalogueAPI, no server.

It keeps datasets, their resources and organizations in dicts, answers the
look-ups the planner makes and the writes the executor makes, and records
every call. Faults are injected by resource name: `faults["Sites"] = error`
makes any write of a resource named "Sites" raise `error`. It is a stand-in
for unit tests only; integration tests use the real local catalogue.

Its DataStore: with `loader` set ("xloader" or "datapusher"), every upload of a
csv, tsv, xls or xlsx resource queues a load, which ends at once (`complete`,
a table of the file's lines less its heading) unless `load_failures` names
the resource (`error`, with that reason) or `hold_loads` is set (`pending`
until `end_load`). `load_statuses` and `tables` hold the state by resource id.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loader.client import (
    BytesListener,
    CatalogueAPI,
    FileAltered,
    Invalid,
    LoadStatus,
    NotFound,
    Permissions,
)
from loader.datastore import LOADABLE_FORMATS
from loader.pinned import Altered, PinnedFile


class FakeCatalogue:
    """Datasets, resources and organizations in memory."""

    url = "https://catalogue.example"

    def __init__(self) -> None:
        self.packages: dict[str, dict[str, Any]] = {}  # by id
        self.organizations: dict[str, dict[str, Any]] = {}  # by id
        self.faults: dict[str, BaseException] = {}  # resource name -> raised on write
        self.calls: list[tuple[str, str]] = []  # (action, resource name or id)
        self.files: dict[str, bytes] = {}  # download URL -> the file uploaded there
        self.reads = 0
        self.closed = 0
        self.ckan_version = "2.12.0"
        self.on_bytes: BytesListener | None = None
        # where the token may write: anywhere, unless a test narrows it
        self.granted = Permissions("fake-editor", anywhere=True)
        # the DataStore (see the module's docstring)
        self.loader: str | None = None
        self.load_statuses: dict[str, LoadStatus] = {}
        self.tables: dict[str, int] = {}  # rows loaded, by resource id
        self.load_failures: dict[str, str] = {}  # resource name -> why its load fails
        self.hold_loads = False
        self.submitted: list[str] = []  # resource ids of loads submitted again
        self._ids = itertools.count(1)
        self._clock = itertools.count(1)
        self._lock = threading.RLock()

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
            "metadata_modified": self._stamp(),
            "resources": [],
        }
        self.packages[package["id"]] = package
        for resource in resources:
            package["resources"].append({"id": f"res-{next(self._ids)}", **resource})
        return package

    def close(self) -> None:
        """Nothing to close but the count: the page closes its clients when it stops."""
        self.closed += 1

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

    def organization_packages(self, organization_id: str) -> list[dict[str, Any]]:
        self.reads += 1
        owned = [p for p in self.packages.values() if p["owner_org"] == organization_id]
        return copy.deepcopy(sorted(owned, key=lambda p: p["name"]))

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

    def version(self) -> str:
        return self.ckan_version

    def dataset_schema(self, dataset_type: str = "bcdc_dataset") -> dict[str, Any]:
        raise NotFound("scheming_dataset_schema_show: not found")

    def resource_page(self, package_type: str, package_name: str, resource_id: str) -> str:
        return f"{self.url}/{package_type}/{package_name}/resource/{resource_id}"

    # -- writes ----------------------------------------------------------------------

    def write_resource(
        self, action: str, data: dict[str, Any], upload: PinnedFile | Path | None = None
    ) -> dict[str, Any]:
        if isinstance(upload, PinnedFile):
            try:  # the real client sends a pinned file only if it still is that file
                upload.open().close()
            except Altered as altered:
                raise FileAltered(altered.message, altered.replaced) from None
            upload = upload.path
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
                if self.on_bytes is not None:
                    self.on_bytes(upload.stat().st_size)
                resource.update(
                    url=f"{self.url}/resource/{resource['id']}/download/{upload.name}",
                    url_type="upload",
                    size=upload.stat().st_size,
                )
                self.files[resource["url"]] = upload.read_bytes()
            self._find(resource["id"])[0]["metadata_modified"] = self._stamp()
            if upload is not None:
                self._queue_load(resource)
            return copy.deepcopy(resource)

    def delete_resource(self, resource_id: str) -> None:
        with self._lock:
            package, resource = self._find(resource_id)
            self._call("resource_delete", resource.get("name", ""), resource)
            package["resources"].remove(resource)
            package["metadata_modified"] = self._stamp()

    def touch_resource(self, resource_id: str, timestamp: str) -> dict[str, Any]:
        with self._lock:
            package, resource = self._find(resource_id)
            self._call("update_resource_refresh_timestamp", resource.get("name", ""), resource)
            resource["last_modified"] = timestamp
            return copy.deepcopy(resource)

    def revise_package(self, data: dict[str, Any]) -> dict[str, Any]:
        """package_revise, for the keys the loader sends: match on id and
        metadata_modified; filter, update__resources__ID and extend."""
        with self._lock:
            package = self.packages[data["match"]["id"]]
            if data["match"].get("metadata_modified") != package["metadata_modified"]:
                raise Invalid("match: metadata_modified", {"match": "metadata_modified"})
            revised = copy.deepcopy(package["resources"])
            for pattern in data.get("filter", []):
                _filter(revised, pattern)
            for key, value in data.items():
                if key.startswith("update__resources__") and not key.endswith("extend"):
                    resource = next(r for r in revised if r["id"] == key.rsplit("__", 1)[1])
                    resource.update(value)
            for fields in data.get("update__resources__extend", []):
                revised.append({**fields, "id": f"res-{next(self._ids)}"})
            for resource in revised:  # one transaction: any fault refuses the whole call
                self._call("package_revise", resource.get("name", ""), resource)
            package["resources"] = revised
            package["metadata_modified"] = self._stamp()
            return copy.deepcopy(package)

    def reorder_resources(self, package_id: str, order: list[str]) -> list[str]:
        """package_resource_reorder: these first, in this order, the rest after."""
        with self._lock:
            package = self.packages[self.package(package_id)["id"]]
            self.calls.append(("package_resource_reorder", package["name"]))
            by_id = {r["id"]: r for r in package["resources"]}
            missing = [i for i in order if i not in by_id]
            if missing or len(set(order)) != len(order):
                raise Invalid("order: resource_id can not be found", {"order": "not found"})
            rest = [r for r in package["resources"] if r["id"] not in order]
            package["resources"] = [by_id[i] for i in order] + rest
            package["metadata_modified"] = self._stamp()
            return [r["id"] for r in package["resources"]]

    def download(self, url: str, path: Path) -> int:
        self.calls.append(("download", url))
        if url not in self.files:
            raise NotFound(f"download of {url}: HTTP 404")
        path.write_bytes(self.files[url])
        return len(self.files[url])

    # -- the DataStore -------------------------------------------------------------

    def datastore_loader(self) -> str | None:
        return self.loader

    def load_status(self, resource_id: str) -> LoadStatus | None:
        self.calls.append(("load_status", resource_id))
        return self.load_statuses.get(resource_id)

    def submit_load(self, resource_id: str) -> bool:
        with self._lock:
            self.calls.append(("submit_load", resource_id))
            self.submitted.append(resource_id)
            self._queue_load(self._find(resource_id)[1])
            return True

    def datastore_total(self, resource_id: str) -> int | None:
        return self.tables.get(resource_id)

    def end_load(self, resource_id: str, error: str = "") -> None:
        """Finish a held load: complete (the file's rows), or failed with `error`."""
        with self._lock:
            queued = self.load_statuses[resource_id]
            resource = self._find(resource_id)[1]
            stamp = self._stamp()
            if error:
                self.load_statuses[resource_id] = LoadStatus(
                    "error", queued.job_id, queued.submitted, stamp, error
                )
                return
            content = self.files.get(resource.get("url", ""), b"")
            self.tables[resource_id] = max(content.count(b"\n") - 1, 0)
            resource["datastore_active"] = True
            self.load_statuses[resource_id] = LoadStatus(
                "complete", queued.job_id, queued.submitted, stamp
            )

    def _queue_load(self, resource: dict[str, Any]) -> None:
        if self.loader is None or str(resource.get("format", "")).lower() not in LOADABLE_FORMATS:
            return
        resource_id = resource["id"]
        stamp = self._stamp()
        job = f"job-{next(self._ids)}"
        self.load_statuses[resource_id] = LoadStatus("pending", job, stamp, stamp)
        if not self.hold_loads:
            self.end_load(resource_id, self.load_failures.get(resource.get("name", ""), ""))

    def _stamp(self) -> str:
        return f"2026-01-01T00:{next(self._clock):05d}"  # ordered, and read as no date

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


def _filter(resources: list[dict[str, Any]], pattern: str) -> None:
    """package_revise's filter for the patterns the loader sends."""
    keep, path = pattern[0] == "+", pattern[1:].split("__")[1:]
    resource = next((r for r in resources if r["id"] == path[0]), None)
    if resource is None or keep:
        return
    if len(path) == 1:
        resources.remove(resource)
    elif path[1] == "*":
        kept = resource["id"]
        resource.clear()
        resource["id"] = kept


_: type[CatalogueAPI] = FakeCatalogue  # the fake keeps the real client's contract
