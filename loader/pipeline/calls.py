"""Between plan and execute: the requests that carry out a dataset's operations.

`calls_for` turns one lane (one dataset's operations, in sheet order) into
calls; a call covers one or more operations and is one request to the
catalogue. `Call.send` makes the request and spreads the answer back over the
operations it covers: for each row, the resource as the catalogue now holds
it. Today every operation is its own call; folding several rows of a dataset
into one request changes `calls_for` and adds a kind of call here, and
nothing in `execute`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loader.client import CatalogueAPI
from loader.pipeline.plan import Action, Operation

# The API action for each kind of operation ("" sends nothing).
API_ACTIONS = {
    Action.CREATE: "resource_create",
    Action.UPDATE: "resource_update",
    Action.PATCH: "resource_patch",
    Action.DELETE: "resource_delete",
    Action.NOOP: "",
}

# {row number: the resource as the catalogue holds it after the call ({} once deleted)}
Answer = dict[int, dict[str, Any]]


@dataclass(frozen=True)
class Call:
    """One request to the catalogue, covering one or more operations of one dataset."""

    action: str  # the API action; "" when nothing needs sending
    operations: tuple[Operation, ...]

    @property
    def writes(self) -> bool:
        """Whether the call changes anything in the catalogue."""
        return bool(self.action)

    def send(self, catalogue: CatalogueAPI, ids: Mapping[int, str | None]) -> Answer:
        """Make the request; `ids` holds each row's resource id as known now.

        Raises CatalogueError when the catalogue refuses or does not answer.
        """
        (op,) = self.operations
        resource_id = ids.get(op.row)
        if not self.writes:
            return {op.row: {"id": resource_id}}
        if op.action == Action.DELETE:
            assert resource_id is not None
            catalogue.delete_resource(resource_id)
            return {op.row: {}}
        if op.action == Action.CREATE:
            data = {"package_id": op.package_id, **op.fields}
        else:
            data = {"id": resource_id, **op.fields}
        return {op.row: catalogue.write_resource(self.action, data, op.upload)}


def calls_for(lane: Sequence[Operation]) -> list[Call]:
    """The calls that carry out one dataset's operations, in sheet order."""
    return [Call(API_ACTIONS[op.action], (op,)) for op in lane]
