"""Rows an earlier run sent without getting an answer: did they land?

On `--resume`, a row whose request was under way when the earlier run ended
is looked up before it is planned again: a create whose resource is now in
its dataset, or a delete whose resource is gone, was done, and is planned as
"no change". Changed values need no such look: planning finds them in
place. Either way the "no change" carries the resource as found, which the
journal records as how the run left it (undo compares with it). A create is
looked for a few more times before it is called missing, since a catalogue
may still be saving it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from loader import problems
from loader.client import CatalogueAPI
from loader.model import MAKING_OPS, CheckedRow, Op
from loader.pipeline.operations import Action, Operation, RowFailure
from loader.pipeline.plan.state import DatasetState, ResourceState
from loader.pipeline.settle import settle

# Failures that mean the resource is not there (any more).
_GONE = (problems.NO_SUCH_RESOURCE.code, problems.NOT_IN_DATASET.code, problems.NOT_FOUND.code)

# Where a row's dataset and resource are now: (dataset, the resource it targets or None).
Locate = Callable[[], tuple[DatasetState, ResourceState | None]]


def found_saved(row: CheckedRow, locate: Locate, catalogue: CatalogueAPI) -> Operation | None:
    """The row as done ("no change") when the catalogue shows it saved; None when
    it must be planned as usual."""
    try:
        state, target = locate()
    except RowFailure as failure:
        if row.op == Op.DELETE and failure.code in _GONE:
            return Operation(
                row.number, Action.NOOP, "", row.package or "", "dataset", row.resource_id,
                row.name, note="deleted by the earlier run",
            )  # fmt: skip
        return None
    if target is not None and row.op != Op.CREATE:
        return None  # an upsert that finds its resource plans as an update
    name = row.cells.get("name") or row.name
    made = settle(lambda: _made(state, name, catalogue), row.op in MAKING_OPS)
    if made is None:
        return None
    return Operation(
        row.number, Action.NOOP, state.package["id"], state.name,
        state.package.get("type") or "dataset", made.id, made.name,
        before=copy.deepcopy(made.current), note="created by the earlier run",
    )  # fmt: skip


def _made(state: DatasetState, name: str | None, catalogue: CatalogueAPI) -> ResourceState | None:
    """The resource of this name in the dataset as the catalogue holds it now."""
    found = state.by_name(name)
    if found is None:
        package = catalogue.package(state.package["id"])
        for resource in package.get("resources") or []:
            if resource.get("name") == name:
                found = ResourceState(resource["id"], str(name), resource)
                state.resources.append(found)
    return found
