"""The planner's picture of the catalogue: datasets as the batch will leave them.

`Datasets` looks datasets, resources and organizations up in the catalogue
(each once) and keeps, per dataset, its resources as the rows planned so far
will leave them, so that a later row can target a resource an earlier row
creates, renames or deletes.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from loader import problems
from loader.client import CatalogueAPI, CatalogueError
from loader.pipeline.operations import RowFailure, look_up
from loader.pipeline.validate import resource_problems
from loader.schema import Schema


@dataclass
class ResourceState:
    """A resource as the batch will have left it so far."""

    id: str | None  # None until the row that creates it has run
    name: str
    current: dict[str, Any]
    created_by_row: int | None = None


@dataclass
class DatasetState:
    """A dataset and its resources as the batch will have left them so far."""

    package: dict[str, Any]
    resources: list[ResourceState]
    # resources it already held that break today's rules, described: on CKAN 2.10
    # they make the catalogue refuse every resource write to the dataset
    failing: tuple[tuple[str, str], ...] = ()  # (resource id, what is wrong with it)

    def failing_besides(self, resource_id: str | None) -> tuple[str, ...]:
        """What is wrong with the dataset's other resources, resource by resource."""
        return tuple(text for rid, text in self.failing if rid != resource_id)

    @property
    def name(self) -> str:
        return str(self.package["name"])

    def by_id(self, resource_id: str) -> ResourceState:
        for resource in self.resources:
            if resource.id == resource_id:
                return resource
        raise RowFailure(problems.NOT_IN_DATASET, resource_id=resource_id, package=self.name)

    def by_name(self, name: str | None) -> ResourceState | None:
        """The one resource of this name, None when there is none; a failure when several."""
        matches = [r for r in self.resources if r.name == name]
        if len(matches) > 1:
            ids = ", ".join(r.id or f"created by row {r.created_by_row}" for r in matches)
            raise RowFailure(
                problems.AMBIGUOUS_NAME, count=len(matches), package=self.name, name=name, ids=ids
            )
        return matches[0] if matches else None


class Datasets:
    """Look-ups against the catalogue, each made once, and the datasets' states."""

    def __init__(self, catalogue: CatalogueAPI, schema: Schema):
        self.catalogue = catalogue
        self.schema = schema
        self._states: dict[str, DatasetState] = {}  # by package id
        self._aliases: dict[str, str] = {}  # name or id as written -> package id
        self._organizations: dict[str, dict[str, Any]] = {}
        self._fetched: dict[str, dict[str, Any]] = {}  # looked up ahead, not yet used

    def prefetch(self, names: Iterable[str], threads: int = 4) -> None:
        """Look several datasets up at once (reads only, so lanes do not matter);
        a name that cannot be looked up is left for its row to fail on."""
        wanted = [n for n in dict.fromkeys(names) if n not in self._aliases]
        if len(wanted) < 2:
            return
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="look-up") as pool:
            found = list(pool.map(self._fetch, wanted))
        for name, package in zip(wanted, found, strict=True):
            if package is not None:
                self._fetched[name] = package

    def _fetch(self, name: str) -> dict[str, Any] | None:
        try:
            return self.catalogue.package(name)
        except CatalogueError:
            return None

    def get(self, name_or_id: str) -> DatasetState:
        """The dataset a row names (by name or id)."""
        package_id = self._aliases.get(name_or_id)
        if package_id is None:
            package = self._fetched.pop(name_or_id, None) or look_up(
                "dataset", self.catalogue.package, name_or_id
            )
            package_id = package["id"]
            if package_id not in self._states:
                resources = [
                    ResourceState(r["id"], r.get("name") or "", r) for r in package["resources"]
                ]
                failing = tuple(self._failing(package["resources"]))
                self._states[package_id] = DatasetState(package, resources, failing)
            for alias in (name_or_id, package["name"], package_id):
                self._aliases[alias] = package_id
        return self._states[package_id]

    def _failing(self, resources: list[dict[str, Any]]) -> list[tuple[str, str]]:
        out = []
        for resource in resources:
            found = resource_problems(self.schema, resource)
            if found:
                name = resource.get("name") or resource["id"]
                text = f"resource '{name}' ({resource['id']}): " + "; ".join(found)
                out.append((str(resource["id"]), text))
        return out

    def of_resource(self, resource_id: str) -> DatasetState:
        """The dataset holding a resource, found by the resource's id."""
        for state in self._states.values():
            if any(r.id == resource_id for r in state.resources):
                return state
        resource = look_up("resource id", self.catalogue.resource, resource_id)
        return self.get(resource["package_id"])

    def check_organization(self, state: DatasetState, organization: str) -> None:
        """Fail the row when the dataset belongs to another organization."""
        org = self._organizations.get(organization)
        if org is None:
            org = look_up("organization", self.catalogue.organization, organization)
            self._organizations[organization] = org
        owner = state.package.get("owner_org")
        if owner != org["id"]:
            owner_name = (state.package.get("organization") or {}).get("name", owner)
            raise RowFailure(
                problems.WRONG_ORGANIZATION,
                package=state.name,
                owner=owner_name,
                organization=organization,
            )
