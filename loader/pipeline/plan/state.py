"""The planner's picture of the catalogue: datasets as the batch will leave them.

Per dataset, its resources as the rows planned so far will leave them, so
that a later row can target a resource an earlier row creates, renames or
deletes. Nothing here reads the catalogue: the look-ups give the datasets,
and the rules say which of their resources break today's rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loader import problems
from loader.pipeline.operations import RowFailure


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
    """Every dataset the batch touches, as the rows planned so far leave it, by id."""

    def __init__(self) -> None:
        self._states: dict[str, DatasetState] = {}

    def get(self, package_id: str) -> DatasetState | None:
        return self._states.get(package_id)

    def add(self, package: dict[str, Any], failing: tuple[tuple[str, str], ...]) -> DatasetState:
        """A dataset met for the first time, with its resources as the catalogue holds them."""
        resources = [ResourceState(r["id"], r.get("name") or "", r) for r in package["resources"]]
        state = self._states[package["id"]] = DatasetState(package, resources, failing)
        return state

    def holding(self, resource_id: str) -> DatasetState | None:
        """The dataset already met that holds this resource."""
        for state in self._states.values():
            if any(r.id == resource_id for r in state.resources):
                return state
        return None
