"""Turn checked rows into operations: names resolved to ids, one lane per dataset.

Planning reads the catalogue (datasets, organizations, resources) and writes
nothing. `state` keeps a picture of each dataset's resources as the batch will
leave them, row by row; `loader.pipeline.diff` says what each operation
changes, and `loader.pipeline.operations` holds what planning hands on. A row that
cannot be resolved (missing or ambiguous name, wrong organization, no access)
fails on its own; rows of other datasets go on.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Callable, Container, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loader import problems
from loader.client import CatalogueAPI, CatalogueError, Permissions
from loader.errors import SchemaError
from loader.model import MAKING_OPS, TARGETING_OPS, CheckedRow, Op, Outcome, Row
from loader.pipeline.diff import changes, same
from loader.pipeline.files import FileFacts, file_facts
from loader.pipeline.operations import Action, Operation, Plan, RowFailure, RowSkipped
from loader.pipeline.plan.state import Datasets, DatasetState, ResourceState
from loader.pipeline.settle import settle
from loader.schema import Schema, choice_key, patch_payload, payload, schema_from_scheming

__all__ = ["Planner", "unmade_resources"]


# Failures that mean the resource is not there (any more).
_GONE = (problems.NO_SUCH_RESOURCE.code, problems.NOT_IN_DATASET.code, problems.NOT_FOUND.code)


class Planner:
    """Resolves rows against the catalogue, remembering what earlier rows do."""

    def __init__(
        self,
        catalogue: CatalogueAPI,
        schema: Schema,
        *,
        force_upload: bool = False,
        touch: bool = False,
        in_doubt: Container[int] = (),
        now: Callable[[], str] = lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
    ):
        """`force_upload` sends files the resource already holds; `touch` records a
        refresh (last_modified = `now()`) for rows whose file is unchanged.
        `in_doubt` rows were sent by an earlier run without an answer: a create
        whose resource is there, or a delete whose resource is gone, is done."""
        self.schema = schema
        self.force_upload = force_upload
        self.touch = touch
        self.in_doubt = in_doubt
        self.now = now
        self.catalogue = catalogue
        self.datasets = Datasets(catalogue, schema)
        self._spellings: dict[str, dict[str, str]] | None = None
        self._old_ckan: bool | None = None
        self._file_facts: dict[Path, FileFacts] = {}
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
        rows = list(rows)
        self.datasets.prefetch(row.package for row in rows if row.package)
        self._read_files(row.upload for row in rows if row.upload is not None)
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
        op = self._plan_row_as_such(row)
        if op.blocked_by and op.action != Action.NOOP and self._refuses_for_siblings():
            warning = problems.BLOCKED_BY_INVALID.message(
                package=op.package_name, resources="; ".join(op.blocked_by)
            )
            op = dataclasses.replace(op, note=f"but {warning}")
        return op

    def _refuses_for_siblings(self) -> bool:
        """Whether the catalogue refuses every write to a dataset holding a resource that
        breaks today's rules: CKAN before 2.11 revalidates the whole dataset."""
        if self._old_ckan is None:
            try:
                version = str(self.catalogue.version())
                self._old_ckan = tuple(int(p) for p in version.split(".")[:2]) < (2, 11)
            except (CatalogueError, ValueError):
                self._old_ckan = True  # say so rather than be surprised
        return self._old_ckan

    def _plan_row_as_such(self, row: CheckedRow) -> Operation:
        if row.number in self.in_doubt:
            found = self._found_saved(row)
            if found is not None:
                return found
        state = self._dataset(row)
        target = self._target(row, state)
        common: dict[str, Any] = {
            "row": row.number,
            "package_id": state.package["id"],
            "package_name": state.name,
            "package_type": state.package.get("type") or "dataset",
            "package_modified": state.package.get("metadata_modified"),
            "blocked_by": state.failing_besides(None),
            "upload": row.upload,
        }
        if target is None:
            return self._create(row, state, common)
        before = copy.deepcopy(target.current) if target.id is not None else None
        common.update(resource_id=target.id, after_row=target.created_by_row, before=before)
        common["blocked_by"] = state.failing_besides(target.id)
        if row.op == Op.DELETE:
            state.resources.remove(target)
            return Operation(action=Action.DELETE, resource_name=target.name, **common)
        return self._change(row, target, common)

    def _found_saved(self, row: CheckedRow) -> Operation | None:
        """A row an earlier run sent without an answer, when the catalogue shows it
        saved: its resource made, or gone. (Changed values need no such look:
        planning finds them in place, and the row comes out "no change".)"""
        try:
            state = self._dataset(row)
            target = None if row.op == Op.CREATE else self._target(row, state)
        except RowFailure as failure:
            if row.op == Op.DELETE and failure.code in _GONE:
                return Operation(
                    row.number, Action.NOOP, "", row.package or "", "dataset", row.resource_id,
                    row.name, note="deleted by the earlier run",
                )  # fmt: skip
            return None
        name = row.cells.get("name") or row.name
        if target is not None and row.op != Op.CREATE:
            return None  # an upsert that finds its resource plans as an update
        made = settle(lambda: self._made(state, name), row.op in MAKING_OPS)
        if made is None:
            return None
        return Operation(
            row.number, Action.NOOP, state.package["id"], state.name,
            state.package.get("type") or "dataset", made.id, made.name,
            note="created by the earlier run",
        )  # fmt: skip

    def _made(self, state: DatasetState, name: str | None) -> ResourceState | None:
        """The resource of this name in the dataset as the catalogue holds it now."""
        found = state.by_name(name)
        if found is None:
            package = self.catalogue.package(state.package["id"])
            for resource in package.get("resources") or []:
                if resource.get("name") == name:
                    found = ResourceState(resource["id"], str(name), resource)
                    state.resources.append(found)
        return found

    def _spell(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Choice values in the spelling the target catalogue lists (`epsg26710,` on
        the BC Data Catalogue), whichever spelling the row used."""
        if self._spellings is None:
            live = self.schema
            if self.schema.source != self.catalogue.url:  # not already read from it
                # no schema to read: keep the spelling given
                with contextlib.suppress(CatalogueError, SchemaError):
                    live = schema_from_scheming(self.catalogue.dataset_schema())
            self._spellings = {
                f.name: {choice_key(c): c for c in f.choices} for f in live.fields if f.choices
            }
        for name, value in fields.items():
            table = self._spellings.get(name)
            if table and isinstance(value, str):
                fields[name] = table.get(choice_key(value), value)
            elif table and isinstance(value, list):
                fields[name] = [
                    table.get(choice_key(v), v) if isinstance(v, str) else v for v in value
                ]
        return fields

    def _create(self, row: CheckedRow, state: DatasetState, common: dict[str, Any]) -> Operation:
        fields = self._spell(payload(self.schema, row.cells))
        if row.upload is not None:
            fields["hash"] = self._facts(row.upload).stored_hash
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
        # the stored values, with choices in the spelling the catalogue lists (a
        # record may hold `epsg26710` where the list says `epsg26710,`): one value
        current = {**target.current, **self._spell(dict(target.current))}
        upload, new_hash = self._file_to_send(row.upload, current)
        common["upload"] = upload
        unchanged = row.upload is not None and upload is None
        if row.op == Op.PATCH:
            action = Action.PATCH
            fields = self._spell(patch_payload(self.schema, current, row.cells, row.clear))
            self._check_whole({**current, **fields})
            # A patch sends only what differs: a value the catalogue holds in
            # another form (CRLF line ends, spacing) is not rewritten by a patch
            # of some other field, as it would be when an exported row is edited.
            fields = {k: v for k, v in fields.items() if not same(current.get(k), v)}
            replaced: list[str] = []
        else:
            action = Action.UPDATE
            fields = self._spell(self._update_payload(upload, row, current))
            # an upload sets the URL, and the catalogue stamps last_modified itself;
            # a field the catalogue cannot empty keeps its value when left out
            managed = {"url", "last_modified"} if row.upload is not None else set()
            replaced = [f.name for f in self.schema.fields if f.name not in managed and f.clearable]
        if unchanged and self.touch and "last_modified" not in row.cells:
            fields["last_modified"] = self.now()
        ignored = {"url_type", "hash", "size"} | ({"url"} if upload is not None else set())
        found = changes(fields, current, ignored=ignored, replaced=replaced)
        if new_hash:
            fields["hash"] = new_hash
        if unchanged and all(c.field == "last_modified" for c in found):
            action = Action.TOUCH if found else Action.NOOP
            fields = {"last_modified": fields["last_modified"]} if found else {}
        elif not found and upload is None:
            action = Action.NOOP
        if action == Action.NOOP:
            return Operation(
                action=action, resource_name=target.name, file_unchanged=unchanged, **common
            )
        target.current = {**current, **fields}
        target.name = target.current.get("name") or target.name
        return Operation(
            action=action,
            resource_name=target.name,
            fields=fields,
            changes=tuple(found),
            file_unchanged=unchanged,
            **common,
        )

    def _read_files(self, paths: Iterable[Path], threads: int = 2) -> None:
        """Hash the batch's files ahead, two at a time (hashing leaves the other core free)."""
        wanted = [p for p in dict.fromkeys(paths) if p not in self._file_facts]
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hash") as pool:
            for path, facts in zip(wanted, pool.map(_facts_or_none, wanted), strict=True):
                if facts is not None:
                    self._file_facts[path] = facts

    def _facts(self, path: Path) -> FileFacts:
        if path not in self._file_facts:
            try:
                self._file_facts[path] = file_facts(path)
            except OSError as error:  # gone or locked since the batch was checked
                reason = error.strerror or str(error)
                raise RowFailure(
                    problems.UPLOAD_UNREADABLE, text=str(path), reason=reason
                ) from None
        return self._file_facts[path]

    def _file_to_send(
        self, upload: Path | None, current: dict[str, Any]
    ) -> tuple[Path | None, str | None]:
        """The file to send (None when the resource already holds it) and its hash."""
        if upload is None:
            return None, None
        facts = self._facts(upload)
        if facts.matches(current) and not self.force_upload:
            return None, None
        return upload, facts.stored_hash

    def _update_payload(
        self, upload: Path | None, row: CheckedRow, current: dict[str, Any]
    ) -> dict[str, Any]:
        """An update replaces the resource; without a new file or URL it keeps its file."""
        fields = payload(self.schema, row.cells)
        if upload is None and "url" not in fields and current.get("url"):
            # without this the catalogue points an uploaded file's URL at nothing,
            # and forgets what it knows of the file
            kept = ["url", "url_type", "hash", "size"]
            if row.upload is not None:  # a refresh whose file is unchanged
                kept.append("last_modified")
            for name in kept:
                if name not in fields and current.get(name) not in (None, ""):
                    fields[name] = current[name]
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


def _facts_or_none(path: Path) -> FileFacts | None:
    """A file's facts, or None when it cannot be read now (its row will say why)."""
    try:
        return file_facts(path)
    except OSError:
        return None


def unmade_resources(rows: Iterable[Row], invalid: Container[int]) -> dict[tuple[str, str], int]:
    """Resources that invalid create and upsert rows were meant to make, for Planner.plan."""
    unmade: dict[tuple[str, str], int] = {}
    for row in rows:
        op, package, name = (row.values.get(k, "") for k in ("op", "package", "name"))
        if row.number in invalid and op.lower() in MAKING_OPS and package and name:
            unmade.setdefault((package, name), row.number)
    return unmade
