"""Between plan and execute: the requests that carry out a dataset's operations.

`calls_for` turns one lane (one dataset's operations, in sheet order) into
calls; a call is one request to the catalogue and covers one or more
operations. `Call.send` makes the request and spreads the answer back over the
operations it covers: for each row, the resource as the catalogue now holds it.

Folding: consecutive operations that move no file become one `package_revise`
call, a single transaction on the dataset instead of one full-dataset write per
row. It is guarded by the dataset's `metadata_modified`, so a change someone
else made in between is never overwritten. Uploads, refreshes of
`last_modified` and rows that act on what the fold itself creates each end a
fold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loader.client import CatalogueAPI
from loader.pipeline.operations import Action, Operation

REVISE = "package_revise"

# The API action for each kind of operation on its own ("" sends nothing).
API_ACTIONS = {
    Action.CREATE: "resource_create",
    Action.UPDATE: "resource_update",
    Action.PATCH: "resource_patch",
    Action.DELETE: "resource_delete",
    Action.TOUCH: "update_resource_refresh_timestamp",
    Action.RELOAD: "xloader_submit",  # or datapusher_submit: the client asks the catalogue's
    Action.REORDER: "package_resource_reorder",
    Action.NOOP: "",
}
_FOLDABLE = (Action.CREATE, Action.UPDATE, Action.PATCH, Action.DELETE)


@dataclass
class Answer:
    """What a call left in the catalogue."""

    # {row number: the resource as the catalogue holds it after the call ({} once deleted)}
    resources: dict[int, dict[str, Any]] = field(default_factory=dict)
    # the dataset's metadata_modified after the call, when the answer says it
    package_modified: str | None = None
    # the dataset as the call left it, when the answer holds it (a folded call's)
    package: dict[str, Any] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Call:
    """One request to the catalogue, covering one or more operations of one dataset."""

    action: str  # the API action; "" when nothing needs sending
    operations: tuple[Operation, ...]

    @property
    def writes(self) -> bool:
        """Whether the call changes anything in the catalogue."""
        return bool(self.action)

    @property
    def folded(self) -> bool:
        return self.action == REVISE

    def send(
        self, catalogue: CatalogueAPI, ids: Mapping[int, str | None], guard: str | None = None
    ) -> Answer:
        """Make the request; `ids` holds each row's resource id as known now, and
        `guard` the dataset's metadata_modified a folded call must find.

        Raises CatalogueError when the catalogue refuses or does not answer.
        """
        if self.folded:
            return self._revise(catalogue, ids, guard)
        (op,) = self.operations
        resource_id = ids.get(op.row)
        if not self.writes:
            return Answer({op.row: {"id": resource_id}})
        if op.action == Action.CREATE:
            data = {"package_id": op.package_id, **op.fields}
            return Answer({op.row: catalogue.write_resource(self.action, data, op.upload)})
        if op.action == Action.REORDER:  # the order's ids, as the lane knows them now
            saved = catalogue.reorder_resources(
                op.package_id, [str(p.resource_id) for p in op.order]
            )
            return Answer({op.row: {"order": saved}})
        assert resource_id is not None, "a call on an existing resource needs its id"
        if op.action == Action.DELETE:
            catalogue.delete_resource(resource_id)
            return Answer({op.row: {}})
        if op.action == Action.TOUCH:
            stamp = str(op.fields["last_modified"])
            return Answer({op.row: catalogue.touch_resource(resource_id, stamp)})
        if op.action == Action.RELOAD:
            catalogue.submit_load(resource_id)  # False: a load is queued already, as good
            return Answer({op.row: {"id": resource_id}})
        data = {"id": resource_id, **op.fields}
        return Answer({op.row: catalogue.write_resource(self.action, data, op.upload)})

    def _revise(
        self, catalogue: CatalogueAPI, ids: Mapping[int, str | None], guard: str | None
    ) -> Answer:
        package_id = self.operations[0].package_id
        data: dict[str, Any] = {"match": {"id": package_id, "metadata_modified": guard}}
        keep: list[str] = []
        drop: list[str] = []
        created: list[Operation] = []
        for op in self.operations:
            key = f"resources__{ids.get(op.row)}"
            if op.action == Action.CREATE:
                created.append(op)
            elif op.action == Action.DELETE:
                drop.append(f"-{key}")
            else:
                if op.action == Action.UPDATE:  # replaces the resource: only its id stays
                    keep.append(f"+{key}__id")
                    drop.append(f"-{key}__*")
                data[f"update__{key}"] = op.fields
        if created:
            data["update__resources__extend"] = [op.fields for op in created]
        if keep or drop:
            data["filter"] = keep + drop
        package = catalogue.revise_package(data)
        return _spread(package, self.operations, ids, created)


def _spread(
    package: dict[str, Any],
    operations: Sequence[Operation],
    ids: Mapping[int, str | None],
    created: list[Operation],
) -> Answer:
    """Each row's resource in the dataset a folded call saved."""
    resources: list[dict[str, Any]] = package.get("resources") or []
    by_id = {r.get("id"): r for r in resources}
    # extended resources are appended in order, after the ones kept
    new = resources[len(resources) - len(created) :] if created else []
    made = {op.row: r for op, r in zip(created, new, strict=True)}
    answer = Answer(package_modified=package.get("metadata_modified"), package=package)
    for op in operations:
        if op.action == Action.DELETE:
            answer.resources[op.row] = {}
        elif op.action == Action.CREATE:
            answer.resources[op.row] = made[op.row]
        else:
            answer.resources[op.row] = by_id.get(ids.get(op.row), {})
    return answer


def single(op: Operation) -> Call:
    """The call that carries out one operation alone."""
    return Call(API_ACTIONS[op.action], (op,))


def calls_for(lane: Sequence[Operation], fold: bool = True) -> list[Call]:
    """The calls that carry out one dataset's operations, in sheet order."""
    calls: list[Call] = []
    pending: list[Operation] = []
    waiting: list[Operation] = []  # no-change rows on what the pending fold creates

    def flush() -> None:
        if len(pending) > 1:
            calls.append(Call(REVISE, tuple(pending)))
        elif pending:
            calls.append(single(pending[0]))
        pending.clear()
        calls.extend(single(op) for op in waiting)
        waiting.clear()

    for op in lane:
        if op.action == Action.NOOP:
            # sends nothing, so it need not end a fold; but one on a resource the fold
            # creates needs that resource's id, known once the fold has been sent
            if _depends(op, pending):
                waiting.append(op)
            else:
                calls.append(single(op))
        elif fold and op.action in _FOLDABLE and op.upload is None:
            if _depends(op, pending):
                flush()
            pending.append(op)
        else:
            flush()
            calls.append(single(op))
    flush()
    return calls


def _depends(op: Operation, pending: Sequence[Operation]) -> bool:
    """Whether `op` acts on what a pending operation creates or changes."""
    rows = {p.row for p in pending}
    resource_ids = {p.resource_id for p in pending if p.resource_id}
    makers = {p.after_row for p in pending if p.after_row is not None}
    if op.after_row is not None:
        return op.after_row in rows or op.after_row in makers
    return op.resource_id is not None and op.resource_id in resource_ids
