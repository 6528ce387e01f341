"""Turn checked rows into operations: names resolved to ids, one lane per dataset.

Planning reads the catalogue (datasets, organizations, resources) and writes
nothing. It keeps a picture of each dataset's resources as the batch will
leave them, row by row, so that a later row can target a resource an earlier
row creates, renames or deletes. A row that cannot be resolved (missing or
ambiguous name, wrong organization, no access) fails on its own; rows of other
datasets go on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from loader.client import Catalogue, CatalogueError, NotAuthorized, NotFound
from loader.model import CheckedRow, Outcome, Row
from loader.schema import Schema


@dataclass(frozen=True)
class Change:
    """One field an operation changes: from `old` to `new` (None when empty)."""

    field: str
    old: Any
    new: Any

    def describe(self) -> str:
        if self.new is None:
            return f"{self.field}: {_show(self.old)} -> (cleared)"
        return f"{self.field}: {_show(self.old)} -> {_show(self.new)}"


@dataclass(frozen=True)
class Operation:
    """One call (or none, for `noop`) the executor makes for one row."""

    row: int
    action: str  # create | update | patch | delete | noop (an upsert becomes create or update)
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
        if self.action == "noop":
            return "no change"
        verb = _PAST[self.action] if tense == "did" else f"{tense} {self.action}"
        words = f"{verb} resource '{self.resource_name}'"
        if self.action == "create" and self.upload:
            words += f" from file {self.upload.name}"
        elif self.action in ("update", "patch"):
            parts = [c.describe() for c in self.changes]
            if self.upload:
                parts.insert(0, f"new file {self.upload.name}")
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


_PAST = {"create": "created", "update": "updated", "patch": "patched", "delete": "deleted"}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]|$)")


class RowFailure(Exception):
    """This row cannot be planned; the message says why, in the editor's words."""

    status = "failed"


class RowSkipped(RowFailure):
    """This row depends on a row that will not run."""

    status = "skipped"


@dataclass
class _Resource:
    """A resource as the batch will have left it so far."""

    id: str | None
    name: str
    current: dict[str, Any]
    created_by_row: int | None = None


@dataclass
class _Dataset:
    package: dict[str, Any]
    resources: list[_Resource]


class Planner:
    """Resolves rows against the catalogue, remembering what earlier rows do."""

    def __init__(self, catalogue: Catalogue, schema: Schema):
        self.catalogue = catalogue
        self.resource_fields = [f.name for f in schema.fields]
        # (field, {controlling field: values}): the field is needed when the other holds one
        self._required_when = [(f.name, f.required_when) for f in schema.fields if f.required_when]
        self._datasets: dict[str, _Dataset] = {}  # by package id
        self._aliases: dict[str, str] = {}  # name or id as written -> package id
        self._organizations: dict[str, dict[str, Any]] = {}
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
                operations.append(self._plan_row(row))
            except RowFailure as failure:
                if row.op in ("create", "upsert") and row.package and row.name:
                    self._unmade.setdefault((row.package, row.name), row.number)
                failures.append(Outcome(row.number, failure.status, error=str(failure)))
        return Plan(operations, failures)

    # --- look-ups ---------------------------------------------------------------

    def _dataset(self, name_or_id: str) -> _Dataset:
        package_id = self._aliases.get(name_or_id)
        if package_id is None:
            package = _look_up("dataset", self.catalogue.package, name_or_id)
            package_id = package["id"]
            if package_id not in self._datasets:
                resources = [
                    _Resource(r["id"], r.get("name") or "", r) for r in package["resources"]
                ]
                self._datasets[package_id] = _Dataset(package, resources)
            for alias in (name_or_id, package["name"], package_id):
                self._aliases[alias] = package_id
        return self._datasets[package_id]

    def _dataset_of_resource(self, resource_id: str) -> _Dataset:
        for dataset in self._datasets.values():
            if any(r.id == resource_id for r in dataset.resources):
                return dataset
        resource = _look_up("resource id", self.catalogue.resource, resource_id)
        return self._dataset(resource["package_id"])

    def _check_organization(self, dataset: _Dataset, organization: str) -> None:
        org = self._organizations.get(organization)
        if org is None:
            org = _look_up("organization", self.catalogue.organization, organization)
            self._organizations[organization] = org
        owner = dataset.package.get("owner_org")
        if owner != org["id"]:
            owner_name = (dataset.package.get("organization") or {}).get("name", owner)
            raise RowFailure(
                f"dataset '{dataset.package['name']}' belongs to organization "
                f"'{owner_name}', not '{organization}'"
            )

    def _target(self, row: CheckedRow, dataset: _Dataset) -> _Resource | None:
        """The existing (or earlier-created) resource the row names, if any."""
        if row.resource_id:
            for resource in dataset.resources:
                if resource.id == row.resource_id:
                    return resource
            raise RowFailure(
                f"resource id '{row.resource_id}' is not in dataset '{dataset.package['name']}'"
            )
        matches = [r for r in dataset.resources if r.name == row.name]
        if len(matches) > 1:
            ids = ", ".join(r.id or f"created by row {r.created_by_row}" for r in matches)
            raise RowFailure(
                f"{len(matches)} resources in dataset '{dataset.package['name']}' are named "
                f"'{row.name}' ({ids}); give resource_id to say which one"
            )
        return matches[0] if matches else None

    # --- one row ------------------------------------------------------------------

    def _plan_row(self, row: CheckedRow) -> Operation:
        if row.package:
            dataset = self._dataset(row.package)
        elif row.resource_id:
            dataset = self._dataset_of_resource(row.resource_id)
        else:  # validation guarantees a target; keep the planner honest anyway
            raise RowFailure("the row names neither a dataset nor a resource_id")
        if row.organization:
            self._check_organization(dataset, row.organization)

        target = None if row.op == "create" else self._target(row, dataset)
        if target is None and row.op in ("update", "patch", "delete"):
            package = dataset.package
            for (written, name), maker in self._unmade.items():
                if name == row.name and written in (package["name"], package["id"]):
                    raise RowSkipped(f"row {maker}, which creates this resource, does not run")
            raise RowFailure(f"no resource named '{row.name}' in dataset '{package['name']}'")

        action = row.op
        if row.op == "upsert":
            action = "update" if target else "create"
        package = dataset.package
        common = {
            "row": row.number,
            "package_id": package["id"],
            "package_name": package["name"],
            "package_type": package.get("type") or "dataset",
            "upload": row.upload,
        }

        if action == "create":
            fields = dict(row.fields)
            name = fields.get("name") or row.name
            if row.op == "create" and any(r.name == name for r in dataset.resources):
                # a second resource of one name makes every later look-up by name ambiguous
                raise RowFailure(
                    f"dataset '{package['name']}' already has a resource named '{name}'; "
                    "use upsert or update to change it, or give the new one another name"
                )
            dataset.resources.append(_Resource(None, name, fields, created_by_row=row.number))
            return Operation(
                action="create", resource_id=None, resource_name=name, fields=fields, **common
            )

        assert target is not None
        ids = {"resource_id": target.id, "after_row": target.created_by_row}
        if action == "delete":
            dataset.resources.remove(target)
            return Operation(action="delete", resource_name=target.name, **ids, **common)

        fields, changes = self._changes(action, row, target.current)
        if action == "patch":
            self._check_conditions(target.current, fields, row.clear)
        if not changes and row.upload is None:
            return Operation(action="noop", resource_name=target.name, **ids, **common)
        target.current = {**target.current, **fields}
        target.name = target.current.get("name") or target.name
        return Operation(
            action=action,
            resource_name=target.name,
            fields=fields,
            changes=tuple(changes),
            **ids,
            **common,
        )

    def _check_conditions(
        self, current: dict[str, Any], fields: dict[str, Any], clear: frozenset[str]
    ) -> None:
        """A patch must leave the resource whole: the rules the web form applies
        (geographic needs a projection...) hold for the resource as patched."""
        patched = {**current, **fields}
        missing = []
        for name, condition in self._required_when:
            applies = any(patched.get(other) in values for other, values in condition.items())
            if applies and same(patched.get(name), None):
                missing.append(name)
        if missing:
            kind = patched.get("bcdc_type", "")
            raise RowFailure(
                f"after this patch the resource ({kind}) would have no "
                + ", ".join(missing)
                + "; give "
                + ("it" if len(missing) == 1 else "them")
                + " in the same row"
            )

    def _changes(
        self, action: str, row: CheckedRow, current: dict[str, Any]
    ) -> tuple[dict[str, Any], list[Change]]:
        """The fields to send and what they change compared with `current`."""
        fields = dict(row.fields)
        if action == "patch":
            for name in row.clear:
                if "." not in name:
                    fields[name] = [] if isinstance(current.get(name), list) else ""
            for group in _groups(fields) | {n.split(".")[0] for n in row.clear if "." in n}:
                fields[group] = _merged_group(
                    group, current.get(group), fields.get(group), row.clear
                )
        else:  # update replaces the resource: anything not given is cleared
            keep_file = row.upload is None and "url" not in fields
            if keep_file and current.get("url"):
                # without this the catalogue points an uploaded file's URL at nothing
                fields["url"] = current["url"]
                if current.get("url_type"):
                    fields["url_type"] = current["url_type"]
        changes = []
        for name, new in fields.items():
            if name == "url_type" or (name == "url" and row.upload is not None):
                continue
            if not same(current.get(name), new):
                changes.append(Change(name, _empty_to_none(current.get(name)), _empty_to_none(new)))
        if action == "update":
            # an upload sets the URL and the catalogue stamps last_modified itself
            managed = {"url", "last_modified"} if row.upload is not None else set()
            for name in self.resource_fields:
                if name in fields or name in managed:
                    continue
                if not same(current.get(name), None):
                    changes.append(Change(name, current.get(name), None))
        return fields, changes


def unmade_resources(rows: Iterable[Row], invalid: Container[int]) -> dict[tuple[str, str], int]:
    """Resources that invalid create and upsert rows were meant to make, for Planner.plan."""
    unmade: dict[tuple[str, str], int] = {}
    for row in rows:
        op, package, name = (row.values.get(k, "") for k in ("op", "package", "name"))
        if row.number in invalid and op.lower() in ("create", "upsert") and package and name:
            unmade.setdefault((package, name), row.number)
    return unmade


def _look_up(what: str, show: Callable[[str], dict[str, Any]], name: str) -> dict[str, Any]:
    """A catalogue look-up whose failure fails the row, in the editor's words."""
    try:
        return show(name)
    except NotFound:
        raise RowFailure(f"{what} '{name}' was not found") from None
    except NotAuthorized:
        raise RowFailure(f"you may not see {what} '{name}'") from None
    except CatalogueError as error:
        raise RowFailure(f"{what} '{name}': {error.message}") from None


def _groups(fields: dict[str, Any]) -> set[str]:
    """Grouped fields: a list holding one object."""
    return {
        name
        for name, value in fields.items()
        if isinstance(value, list) and value and isinstance(value[0], dict)
    }


def _merged_group(
    group: str, current: Any, given: list[dict[str, Any]] | None, clear: frozenset[str]
) -> list[dict[str, Any]]:
    """A patch's group: the current parts, then the parts given, less the parts cleared.

    The catalogue stores a group whole, so a patch that sent only the parts in
    the row would lose the others.
    """
    entry = dict(current[0]) if isinstance(current, list) and current else {}
    entry.update((given or [{}])[0])
    for name in clear:
        if name.startswith(group + "."):
            entry.pop(name.split(".", 1)[1], None)
    entry = {k: v for k, v in entry.items() if v not in ("", None)}
    return [entry] if entry else []


def same(a: Any, b: Any) -> bool:
    """Whether two field values mean the same to the catalogue."""
    return _normal(a) == _normal(b)


def _normal(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "[{":
            try:
                return _normal(json.loads(text))
            except ValueError:
                pass
        try:
            return float(text)
        except ValueError:
            pass
        if _ISO_DATE.match(text):
            try:  # the catalogue turns a date into midnight of that day
                return datetime.fromisoformat(text).replace(tzinfo=None)
            except ValueError:
                pass
        return text or None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):
        items = {k: _normal(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v is not None} or None
    if isinstance(value, list):
        items = [_normal(v) for v in value]
        items = [v for v in items if v is not None]
        # the catalogue keeps multiple choices in its own order: order does not matter
        if all(isinstance(v, (str, float)) for v in items):
            items.sort(key=str)
        return items or None
    return value


def _empty_to_none(value: Any) -> Any:
    return None if _normal(value) is None else value


def _show(value: Any) -> str:
    if value is None:
        return "(empty)"
    structured = isinstance(value, (list, dict))
    text = json.dumps(value, ensure_ascii=False) if structured else str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")
