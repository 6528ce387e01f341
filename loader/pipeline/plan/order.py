"""The order a reorder row asks for: the batch's rows of a dataset, top to bottom.

A `reorder` row puts its dataset's resources in the order in which the
batch's other rows of that dataset name them (a resource named by several
rows takes the place of the first; a row that deletes names nothing), then
the resources no row names, in the order they had. It is planned after
every other row and runs after them, so the resources the batch creates take
the places their rows give them; the whole order goes in one call.

Nothing here reads the catalogue: the dataset's state says what the other
rows leave, and the catalogue's order is the one it had when first read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from loader.pipeline.diff import Change
from loader.pipeline.operations import Action, Operation, Placed
from loader.pipeline.plan.state import DatasetState, ResourceState

# What an operation does that names no resource's place.
_NAMES_NOTHING = (Action.DELETE, Action.REORDER)


def reorder(
    state: DatasetState,
    operations: Iterable[Operation],
    common: dict[str, Any],
    done: Mapping[int, str] | None = None,
) -> Operation:
    """The reorder a row asks of the dataset `state` holds, given the batch's
    other operations (planned: `state` is as they leave it). `done` names, by row, the
    resources rows of an earlier run named (on a resume, those rows are not planned
    again). A "no change" when the resources are already in that order."""
    named: dict[int, ResourceState] = {}
    for op in operations:
        if op.package_id == state.package["id"] and op.action not in _NAMES_NOTHING:
            resource = _resource_of(state, op)
            if resource is not None:
                named.setdefault(op.row, resource)
    for row, resource_id in (done or {}).items():
        resource = next((r for r in state.resources if r.id == resource_id), None)
        if resource is not None:
            named.setdefault(row, resource)
    wanted: list[ResourceState] = []
    for _, resource in sorted(named.items()):
        if not _holds(wanted, resource):
            wanted.append(resource)
    wanted += [r for r in state.resources if not _holds(wanted, r)]
    now = list(state.resources)
    if [id(r) for r in wanted] == [id(r) for r in now]:
        note = "the resources are already in this order"
        return Operation(action=Action.NOOP, resource_id=None, resource_name=None, note=note,
                         **common)  # fmt: skip
    state.resources[:] = wanted
    # the order before the run (for undo), as the catalogue held it when first read
    before = {"order": [r["id"] for r in state.package.get("resources") or []]}
    return Operation(
        action=Action.REORDER,
        resource_id=None,
        resource_name=None,
        order=tuple(Placed(r.id, r.name, r.created_by_row) for r in wanted),
        changes=(Change("order", [r.name for r in now], [r.name for r in wanted]),),
        before=before,
        **common,
    )


def _resource_of(state: DatasetState, op: Operation) -> ResourceState | None:
    """The resource (as the batch leaves it) an operation names."""
    if op.resource_id is not None:
        return next((r for r in state.resources if r.id == op.resource_id), None)
    maker = op.row if op.action == Action.CREATE else op.after_row
    return next((r for r in state.resources if r.id is None and r.created_by_row == maker), None)


def _holds(resources: list[ResourceState], resource: ResourceState) -> bool:
    return any(r is resource for r in resources)
