"""Look before sending again: did a write whose answer was lost land?

A request can reach the catalogue, be saved, and still lose its answer (a
dropped connection, a gateway's 502 or 504). Sending it again could make a
second resource or undo a change made since, so the executor first asks the
catalogue what it holds now and resends only what did not land.
"""

from __future__ import annotations

from typing import Any

from loader.client import CatalogueAPI, NotFound
from loader.pipeline.diff import same
from loader.pipeline.operations import Action, Operation

# Fields the catalogue sets itself on an upload; the file's hash stands for them.
_SET_BY_UPLOAD = ("url", "url_type", "size")


def landed(
    op: Operation, resource_id: str | None, catalogue: CatalogueAPI
) -> dict[str, Any] | None:
    """The resource as saved when the operation's change is in the catalogue ({} for a
    delete), None when it is not. Raises CatalogueError when the catalogue cannot tell."""
    if op.action == Action.CREATE:
        for resource in catalogue.package(op.package_id).get("resources") or []:
            if resource.get("name") == op.resource_name and _holds(resource, op):
                return dict(resource)
        return None
    if resource_id is None:
        return None
    try:
        stored = catalogue.resource(resource_id)
    except NotFound:
        return {} if op.action == Action.DELETE else None
    if op.action == Action.DELETE:
        return {} if stored.get("state") == "deleted" else None
    return stored if _holds(stored, op) else None


def _holds(stored: dict[str, Any], op: Operation) -> bool:
    """Whether the stored resource carries every value the operation sent."""
    ignored = _SET_BY_UPLOAD if op.upload is not None else ()
    return all(same(stored.get(k), v) for k, v in op.fields.items() if k not in ignored)
