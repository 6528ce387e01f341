"""Turn checked rows into operations: names resolved to ids, one lane per dataset.

Planning reads the catalogue (datasets, organizations, resources) and writes
nothing. The planner goes through the rows in sheet order; beside it:

    lookup   the catalogue's answers, each read once (datasets, organizations,
             permissions, the CKAN release, how choices are spelled)
    state    each dataset's resources as the rows planned so far leave them
    changes  what a create, update or patch sends, and what that changes
    order    the order a reorder row asks for, from the batch's rows of its dataset
    rules    what the catalogue would refuse, found before anything is sent
    resume   rows an earlier run sent without an answer: did they land?
    reload   unchanged files whose last DataStore load failed: loaded again

`loader.pipeline.diff` says what each operation changes, and
`loader.pipeline.operations` holds what planning hands on. A row that cannot
be resolved (missing or ambiguous name, wrong organization, no access) fails
on its own; rows of other datasets go on.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Container, Generator, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from typing import Any

from loader import problems
from loader.client import CatalogueAPI
from loader.model import MAKING_OPS, TARGETING_OPS, CheckedRow, Op, Outcome, Row
from loader.pipeline.operations import Action, Operation, Plan, RowFailure, RowSkipped
from loader.pipeline.plan import order, rules
from loader.pipeline.plan.changes import Changes
from loader.pipeline.plan.lookup import READS_AT_ONCE, Lookups
from loader.pipeline.plan.reload import with_reloads
from loader.pipeline.plan.resume import found_saved
from loader.pipeline.plan.state import Datasets, DatasetState, ResourceState
from loader.schema import Schema

__all__ = ["Planner", "unmade_resources"]


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
        done: Mapping[int, str] | None = None,
        now: Callable[[], str] = lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
    ):
        """`force_upload` sends files the resource already holds; `touch` records a
        refresh (last_modified = `now()`) for rows whose file is unchanged.
        `in_doubt` rows were sent by an earlier run without an answer: a create
        whose resource is there, or a delete whose resource is gone, is done.
        `done` names, by row, the resources rows an earlier run did named (on a
        resume they are not planned again, but still give a reorder its order)."""
        self.catalogue = catalogue
        self.schema = schema
        self.in_doubt = in_doubt
        self.done = dict(done or {})
        self.lookups = Lookups(catalogue, schema)
        self.datasets = Datasets()
        self.changes = Changes(
            schema, self.lookups, force_upload=force_upload, touch=touch, now=now
        )
        # (dataset as written, resource name) -> a row meant to create it that will not run
        self._unmade: dict[tuple[str, str], int] = {}
        self._planned: list[Operation] = []  # the operations planned so far
        self._reordered: dict[str, int] = {}  # dataset id -> the row that reorders it

    def plan(
        self, rows: Iterable[CheckedRow], unmade: Mapping[tuple[str, str], int] | None = None
    ) -> Plan:
        """Plan every row in sheet order, reorder rows last (they follow every other row).

        `unmade` names resources that rows which will not run (invalid ones)
        were meant to create, as {(dataset as written, name): row number}, so
        that rows acting on them are skipped rather than failed.
        """
        self._unmade = dict(unmade or {})
        rows = list(rows)
        self.lookups.prefetch(row.package for row in rows if row.package)
        self.changes.files.read_ahead(row.upload for row in rows if row.upload is not None)
        return self._plan_rows(rows)

    def by_dataset(
        self,
        rows: Iterable[CheckedRow],
        unmade: Mapping[tuple[str, str], int] | None = None,
        threads: int = READS_AT_ONCE,
    ) -> Generator[Plan, None, None]:
        """Plan the rows a dataset at a time, each dataset as soon as its read is
        back, so that its calls can start while other datasets are still being read.

        Each dataset's rows are planned in sheet order, as `plan` plans them, and
        no row of one dataset depends on a row of another: the Plans together are
        `plan`'s. A dataset named by its name in some rows and by its id in others
        is one dataset, planned once. A row that names no dataset (only a resource
        id) might belong to any of them: a batch holding one is planned whole, as
        one Plan. Closing the iterator early stops the reads not yet made.
        """
        rows = list(rows)
        if any(not row.package for row in rows):
            yield self.plan(rows, unmade)
            return
        self._unmade = dict(unmade or {})
        groups: dict[str, list[CheckedRow]] = {}
        for row in rows:
            groups.setdefault(str(row.package), []).append(row)
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="look-up")
        try:
            # what every dataset's planning asks once, asked beside the first reads
            once = pool.submit(self.lookups.read_once)
            reads = {pool.submit(self._read_ahead, group): name for name, group in groups.items()}
            once.result()
            for read in as_completed(reads):
                name = reads[read]
                if name not in groups:
                    continue  # planned already, under another name of its dataset
                names = [name]
                package = read.result()
                if package is not None:
                    self.lookups.fetched(name, package)
                    names += [n for n in (package["name"], package["id"]) if n in groups]
                same = {row.number: row for n in dict.fromkeys(names) for row in groups.pop(n)}
                yield self._plan_rows([same[number] for number in sorted(same)])
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _read_ahead(self, rows: list[CheckedRow]) -> dict[str, Any] | None:
        """The dataset these rows name, read, and the files they upload, hashed (in a
        worker: each dataset is ready to plan when its read is back)."""
        for row in rows:
            if row.upload is not None:
                self.changes.files.read_one(row.upload)
        return self.lookups.fetch(str(rows[0].package))

    def _plan_rows(self, rows: list[CheckedRow]) -> Plan:
        """Plan these rows in their order; a row that cannot be planned fails alone."""
        operations: list[Operation] = []
        self._planned = operations
        failures: list[Outcome] = []
        last = [row for row in rows if row.op == Op.REORDER]
        for row in [*(row for row in rows if row.op != Op.REORDER), *last]:
            try:
                operations.append(self._plan_row(row))
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
        return Plan(with_reloads(operations, self.catalogue), failures)

    def _plan_row(self, row: CheckedRow) -> Operation:
        """One row's operation, once the catalogue's rules allow it."""
        operation = self._plan_row_as_such(row)
        if operation.action == Action.NOOP:
            return operation
        if operation.blocked_by and self.lookups.refuses_for_siblings():
            operation = rules.blocked(operation)
        state = self.datasets.get(operation.package_id)
        assert state is not None, "an operation's dataset was met while planning it"
        rules.check_may_write(operation, state.package, self.lookups.permissions())
        return operation

    def _state(self, package: dict[str, Any]) -> DatasetState:
        """The dataset's state, made when the dataset is first met."""
        state = self.datasets.get(package["id"])
        if state is None:
            failing = rules.failing_resources(self.schema, package["resources"])
            state = self.datasets.add(package, failing)
        return state

    def _dataset(self, row: CheckedRow) -> DatasetState:
        if row.package:
            state = self._state(self.lookups.package(row.package))
        elif row.resource_id:
            state = self.datasets.holding(row.resource_id) or self._state(
                self.lookups.package(self.lookups.package_of_resource(row.resource_id))
            )
        else:  # validation guarantees a target; keep the planner honest anyway
            raise RowFailure(problems.MISSING_TARGET, detail="the row names no dataset or resource")
        if row.organization:
            organization = self.lookups.organization(row.organization)
            rules.check_organization(state, organization, row.organization)
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

    def _located(self, row: CheckedRow) -> tuple[DatasetState, ResourceState | None]:
        state = self._dataset(row)
        return state, self._target(row, state)

    def _plan_row_as_such(self, row: CheckedRow) -> Operation:
        if row.op == Op.REORDER:
            return self._reorder(row)
        if row.number in self.in_doubt:
            found = found_saved(row, lambda: self._located(row), self.catalogue)
            if found is not None:
                return found
        state, target = self._located(row)
        common = {**_common(row, state), "upload": row.upload}
        if target is None:
            return self.changes.create(row, state, common)
        before = copy.deepcopy(target.current) if target.id is not None else None
        common.update(resource_id=target.id, after_row=target.created_by_row, before=before)
        common["blocked_by"] = state.failing_besides(target.id)
        if row.op == Op.DELETE:
            state.resources.remove(target)
            return Operation(action=Action.DELETE, resource_name=target.name, **common)
        return self.changes.change(row, target, common)

    def _reorder(self, row: CheckedRow) -> Operation:
        """A reorder row: its dataset's resources in the order the other rows name them."""
        state = self._dataset(row)
        earlier = self._reordered.setdefault(state.package["id"], row.number)
        if earlier != row.number:
            raise RowFailure(problems.DUPLICATE_REORDER, other=earlier, package=state.name)
        return order.reorder(state, self._planned, _common(row, state), self.done)


def _common(row: CheckedRow, state: DatasetState) -> dict[str, Any]:
    """What every operation of a row says about its dataset."""
    return {
        "row": row.number,
        "package_id": state.package["id"],
        "package_name": state.name,
        "package_type": state.package.get("type") or "dataset",
        "package_modified": state.package.get("metadata_modified"),
        "blocked_by": state.failing_besides(None),
    }


def unmade_resources(rows: Iterable[Row], invalid: Container[int]) -> dict[tuple[str, str], int]:
    """Resources that invalid create and upsert rows were meant to make, for Planner.plan."""
    unmade: dict[tuple[str, str], int] = {}
    for row in rows:
        op, package, name = (row.values.get(k, "") for k in ("op", "package", "name"))
        if row.number in invalid and op.lower() in MAKING_OPS and package and name:
            unmade.setdefault((package, name), row.number)
    return unmade
