"""Turn checked rows into operations: names resolved to ids, one lane per dataset.

Planning reads the catalogue (datasets, organizations, resources) and writes
nothing. `state` keeps a picture of each dataset's resources as the batch will
leave them, row by row; `diff` says what each operation changes. A row that
cannot be resolved (missing or ambiguous name, wrong organization, no access)
fails on its own; rows of other datasets go on.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from loader import problems
from loader.client import CatalogueAPI, CatalogueError, Permissions
from loader.model import MAKING_OPS, TARGETING_OPS, CheckedRow, Op, Outcome, Row
from loader.pipeline.plan.diff import Change, changes, same
from loader.pipeline.plan.state import (
    Datasets,
    DatasetState,
    ResourceState,
    RowFailure,
    RowSkipped,
)
from loader.schema import Schema, patch_payload, payload

__all__ = [
    "Action",
    "Change",
    "Operation",
    "Plan",
    "Planner",
    "RowFailure",
    "same",
    "unmade_resources",
]


class Action(StrEnum):
    """What an operation does (an upsert becomes a create or an update)."""

    CREATE = "create"
    UPDATE = "update"
    PATCH = "patch"
    DELETE = "delete"
    NOOP = "noop"  # nothing to send: the row asks for what is already there


_PAST = {
    Action.CREATE: "created",
    Action.UPDATE: "updated",
    Action.PATCH: "patched",
    Action.DELETE: "deleted",
}


@dataclass(frozen=True)
class Operation:
    """What one row does to one resource, with everything the call needs."""

    row: int
    action: Action
    package_id: str
    package_name: str
    package_type: str
    resource_id: str | None  # None for a create, or when `after_row` creates the target
    resource_name: str | None
    after_row: int | None = None  # the earlier row of this batch that creates the target
    fields: dict[str, Any] = field(default_factory=dict)  # what the API call sends
    upload: Path | None = None
    changes: tuple[Change, ...] = ()

    def describe(self, tense: str = "would") -> str:
        """What the operation does, in words: tense is "would", "did" or "tried"."""
        if self.action == Action.NOOP:
            return "no change"
        verb = _PAST[self.action] if tense == "did" else f"{tense} {self.action}"
        words = f"{verb} resource '{self.resource_name}'"
        # the file's full path: the editor sees exactly which file would be published
        if self.action == Action.CREATE and self.upload:
            words += f" from file {self.upload}"
        elif self.action in (Action.UPDATE, Action.PATCH):
            parts = [c.describe() for c in self.changes]
            if self.upload:
                parts.insert(0, f"new file {self.upload}")
            if parts:
                words += ": " + "; ".join(parts)
        return words


@dataclass
class Plan:
    """Operations in sheet order, and the rows that could not be planned."""

    operations: list[Operation]
    failures: list[Outcome]

    def lanes(self) -> list[list[Operation]]:
        """One list per dataset, each in sheet order."""
        lanes: dict[str, list[Operation]] = {}
        for operation in self.operations:
            lanes.setdefault(operation.package_id, []).append(operation)
        return list(lanes.values())


class Planner:
    """Resolves rows against the catalogue, remembering what earlier rows do."""

    def __init__(self, catalogue: CatalogueAPI, schema: Schema):
        self.schema = schema
        self.catalogue = catalogue
        self.datasets = Datasets(catalogue)
        self._permissions: Permissions | None = None
        # (dataset as written, resource name) -> a row meant to create it that will not run
        self._unmade: dict[tuple[str, str], int] = {}

    def plan(
        self, rows: Iterable[CheckedRow], unmade: Mapping[tuple[str, str], int] | None = None
    ) -> Plan:
        """Plan every row in sheet order.

        `unmade` names resources that rows which will not run (invalid ones)
        were meant to create, as {(dataset as written, name): row number}, so
        that rows acting on them are skipped rather than failed.
        """
        self._unmade = dict(unmade or {})
        operations: list[Operation] = []
        failures: list[Outcome] = []
        for row in rows:
            try:
                operation = self._plan_row(row)
                self._check_may_write(operation)
                operations.append(operation)
            except RowFailure as failure:
                if row.op in MAKING_OPS and row.package and row.name:
                    self._unmade.setdefault((row.package, row.name), row.number)
                failures.append(
                    Outcome(
                        row.number,
                        failure.status,
                        action=failure.action,
                        error=str(failure),
                        code=failure.code,
                    )
                )
        return Plan(operations, failures)

    def _check_may_write(self, operation: Operation) -> None:
        """Fail, before anything is sent, a write the token's user may not make."""
        if operation.action == Action.NOOP:
            return
        if self._permissions is None:
            try:
                self._permissions = self.catalogue.permissions()
            except CatalogueError:  # unknown: the catalogue will decide when the row runs
                self._permissions = Permissions("", anywhere=True)
        package = self.datasets.get(operation.package_id).package
        if self._permissions.may_write(package):
            return
        failure = RowFailure(
            problems.MAY_NOT_WRITE,
            action=operation.action,
            name=operation.resource_name or "",
            user=self._permissions.user,
            package=operation.package_name,
            organization=(package.get("organization") or {}).get("name", package.get("owner_org")),
        )
        failure.action = operation.describe("would")
        raise failure

    def _dataset(self, row: CheckedRow) -> DatasetState:
        if row.package:
            state = self.datasets.get(row.package)
        elif row.resource_id:
            state = self.datasets.of_resource(row.resource_id)
        else:  # validation guarantees a target; keep the planner honest anyway
            raise RowFailure(problems.MISSING_TARGET, detail="the row names no dataset or resource")
        if row.organization:
            self.datasets.check_organization(state, row.organization)
        return state

    def _target(self, row: CheckedRow, state: DatasetState) -> ResourceState | None:
        """The existing (or earlier-created) resource the row names, if any."""
        if row.op == Op.CREATE:
            return None
        target = state.by_id(row.resource_id) if row.resource_id else state.by_name(row.name)
        if target is None and row.op in TARGETING_OPS:
            for (written, name), maker in self._unmade.items():
                if name == row.name and written in (state.name, state.package["id"]):
                    raise RowSkipped(problems.MAKER_NOT_RUN, row=maker)
            raise RowFailure(problems.NO_SUCH_RESOURCE, name=row.name, package=state.name)
        return target

    def _plan_row(self, row: CheckedRow) -> Operation:
        state = self._dataset(row)
        target = self._target(row, state)
        common: dict[str, Any] = {
            "row": row.number,
            "package_id": state.package["id"],
            "package_name": state.name,
            "package_type": state.package.get("type") or "dataset",
            "upload": row.upload,
        }
        if target is None:
            return self._create(row, state, common)
        common.update(resource_id=target.id, after_row=target.created_by_row)
        if row.op == Op.DELETE:
            state.resources.remove(target)
            return Operation(action=Action.DELETE, resource_name=target.name, **common)
        return self._change(row, target, common)

    def _create(self, row: CheckedRow, state: DatasetState, common: dict[str, Any]) -> Operation:
        fields = payload(self.schema, row.cells)
        name = fields.get("name") or row.name or ""
        if not fields.get("url") and row.upload is None:
            # an upsert that creates: without either the resource's link would be empty
            detail = f"dataset '{state.name}' has no resource named '{name}', so this upsert "
            detail += "would create one: give it a url, or a file to upload"
            raise RowFailure(problems.MISSING_VALUE, detail=detail)
        if row.op == Op.CREATE and any(r.name == name for r in state.resources):
            # a second resource of one name makes every later look-up by name ambiguous
            raise RowFailure(problems.NAME_TAKEN, package=state.name, name=name)
        state.resources.append(ResourceState(None, name, fields, created_by_row=row.number))
        return Operation(
            action=Action.CREATE, resource_id=None, resource_name=name, fields=fields, **common
        )

    def _change(self, row: CheckedRow, target: ResourceState, common: dict[str, Any]) -> Operation:
        """An update or a patch (an upsert of an existing resource is an update)."""
        current = target.current
        if row.op == Op.PATCH:
            action = Action.PATCH
            fields = patch_payload(self.schema, current, row.cells, row.clear)
            self._check_whole({**current, **fields})
            replaced: list[str] = []
        else:
            action = Action.UPDATE
            fields = self._update_payload(row, current)
            # an upload sets the URL, and the catalogue stamps last_modified itself
            managed = {"url", "last_modified"} if row.upload is not None else set()
            replaced = [f.name for f in self.schema.fields if f.name not in managed]
        ignored = {"url_type"} | ({"url"} if row.upload is not None else set())
        found = changes(fields, current, ignored=ignored, replaced=replaced)
        if not found and row.upload is None:
            return Operation(action=Action.NOOP, resource_name=target.name, **common)
        target.current = {**current, **fields}
        target.name = target.current.get("name") or target.name
        return Operation(
            action=action,
            resource_name=target.name,
            fields=fields,
            changes=tuple(found),
            **common,
        )

    def _update_payload(self, row: CheckedRow, current: dict[str, Any]) -> dict[str, Any]:
        """An update replaces the resource; without a new file or URL it keeps its file."""
        fields = payload(self.schema, row.cells)
        if row.upload is None and "url" not in fields and current.get("url"):
            # without this the catalogue points an uploaded file's URL at nothing
            fields["url"] = current["url"]
            if current.get("url_type"):
                fields["url_type"] = current["url_type"]
        return fields

    def _check_whole(self, patched: dict[str, Any]) -> None:
        """A patch must leave the resource whole: the rules the web form applies
        (geographic needs a projection...) hold for the resource as patched."""
        missing = [name for name in self.schema.unmet(patched) if same(patched.get(name), None)]
        if missing:
            raise RowFailure(
                problems.INCOMPLETE_AFTER_PATCH,
                kind=patched.get("bcdc_type", ""),
                fields=", ".join(dict.fromkeys(missing)),
                them="it" if len(missing) == 1 else "them",
            )


def unmade_resources(rows: Iterable[Row], invalid: Container[int]) -> dict[tuple[str, str], int]:
    """Resources that invalid create and upsert rows were meant to make, for Planner.plan."""
    unmade: dict[tuple[str, str], int] = {}
    for row in rows:
        op, package, name = (row.values.get(k, "") for k in ("op", "package", "name"))
        if row.number in invalid and op.lower() in MAKING_OPS and package and name:
            unmade.setdefault((package, name), row.number)
    return unmade
