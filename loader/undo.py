"""Undo a run from its journal: put back every resource it changed.

`undo_run` reads the journal beside a run's result workbook
(`RESULT.journal.jsonl`) and, working back from the run's last row:

- a resource the run created is deleted;
- a resource it updated, patched or touched gets back what the journal's
  snapshot held before the run's first row on it (so a resource several rows
  changed goes back to how it was before all of them), and its file too when
  the run kept it (`run --keep-replaced`);
- a resource it deleted is created again from that snapshot, under a new id;
- a dataset whose resources it put in order gets back the order they had
  (a resource the run created goes after them until it is deleted; one it
  deleted comes back at the end).

A resource that is no longer as the run left it (someone changed it since) is
left alone unless `force`: undo never overwrites work done after the run
without being told to. What the catalogue's DataStore loader writes into a
resource once it has loaded the run's file (the file's MD5 in `hash`, the
table's state, its job's details) is not such a change. A file put back
goes with its own SHA-256 in `hash`, so that the loader loads it again (an
MD5 equal to the file's would make it skip the file and keep the rows of
the one the run sent); its load is followed as a run's are. A row that only
resubmitted a DataStore load has nothing to undo, and says so.

The undo is a plan like a run's: its operations go through the same
executor, recorder, journal and result workbook.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loader import problems
from loader.client import CatalogueAPI, CatalogueError, NotFound
from loader.datastore import loader_wrote
from loader.errors import CannotStart
from loader.model import Batch, Outcome, Row, Status
from loader.options import Listeners, UndoOptions
from loader.pinned import PinnedFile
from loader.pipeline.diff import Change, changes, same
from loader.pipeline.execute import dry_run as dry_run_plan
from loader.pipeline.execute import execute
from loader.pipeline.files import file_facts
from loader.pipeline.follow import following
from loader.pipeline.journal import Earlier, journal_path, read_journal
from loader.pipeline.keep import KEPT_FILE
from loader.pipeline.operations import Action, Operation, Placed, Plan, RowFailure, look_up
from loader.pipeline.record import Recorder
from loader.pipeline.result import RunResult, recording, starting, token_user
from loader.schema import Schema, load_schema
from loader.text import stamped_name

# What the catalogue keeps for itself: never sent back when a resource is restored.
_MANAGED = frozenset(
    {
        "id", "package_id", "position", "created", "metadata_modified", "state",
        "revision_id", "tracking_summary", "datastore_active", "cache_url",
        "cache_last_updated", KEPT_FILE,
    }
)  # fmt: skip
# The fields that say which file a resource holds.
_FILE_FIELDS = ("url", "url_type", "hash", "size")
# The actions that change a resource, as the journal writes them (a reload only asks
# the catalogue to load the file it holds again).
_WRITES = frozenset(str(a) for a in Action) - {str(Action.NOOP), str(Action.RELOAD)}
_NOTHING_TO_UNDO = (
    "nothing to undo: the run only asked the catalogue to load the file the resource "
    "already held into its DataStore again"
)
# Outcomes of rows whose request may or may not have been saved.
_IN_DOUBT = (problems.INTERRUPTED.code, problems.NO_ANSWER.code)
# The undo workbook's columns: the run's row, what it did, and to which resource.
_HEADERS = ["run row", "run action", "package", "name", "resource_id"]
_COLUMNS = ["row", "run_action", "package", "name", "resource_id"]


@dataclass
class Touched:
    """One resource the run changed, and the rows that changed it, in sheet order."""

    resource_id: str
    package_id: str
    rows: list[int] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)

    @property
    def made(self) -> bool:
        """The run created it."""
        return self.actions[0] == Action.CREATE

    @property
    def gone(self) -> bool:
        """The run left it deleted."""
        return self.actions[-1] == Action.DELETE

    @property
    def last(self) -> int:
        """The run's last row on it: the row that carries its undo."""
        return self.rows[-1]


def touched_resources(
    earlier: Earlier, dry_run: bool = False
) -> tuple[list[Touched], list[Outcome]]:
    """The resources the run changed, and an outcome for each row it could not
    tell was saved (undo does not guess about those) or that left nothing to undo
    (a DataStore load resubmitted)."""
    touched: dict[str, Touched] = {}
    doubts: list[Outcome] = []
    for number in sorted(earlier.outcomes):
        outcome = earlier.outcomes[number]
        action = earlier.actions.get(number, "")
        if action == Action.RELOAD and outcome.status == Status.DONE:
            status = Status.NOT_RUN if dry_run else Status.DONE
            doubts.append(Outcome(number, status, _NOTHING_TO_UNDO, outcome.resource_id,
                                  outcome.package_id, outcome.resource_url))  # fmt: skip
        if action not in _WRITES:
            continue
        if outcome.status == Status.FAILED and outcome.code in _IN_DOUBT:
            error = problems.IN_DOUBT.message(detail=outcome.code)
            doubts.append(_unchanged(outcome, error, problems.IN_DOUBT.code))
        elif outcome.resource_id and (
            outcome.status == Status.DONE or outcome.code == problems.PARTLY_SAVED.code
        ):
            entry = touched.setdefault(
                outcome.resource_id, Touched(outcome.resource_id, outcome.package_id or "")
            )
            entry.rows.append(number)
            entry.actions.append(action)
    return list(touched.values()), doubts


def _unchanged(outcome: Outcome, error: str, code: str) -> Outcome:
    return Outcome(
        outcome.row,
        Status.FAILED,
        resource_id=outcome.resource_id,
        package_id=outcome.package_id,
        error=error,
        code=code,
    )


@dataclass(frozen=True)
class Reordered:
    """A dataset whose resources the run put in order (its reorder row)."""

    row: int
    package_id: str
    before: list[str]  # the resources' ids in the order they had before the run
    after: list[str]  # ... and as the run left them


def reordered_datasets(earlier: Earlier) -> list[Reordered]:
    """The datasets the run put in order, each with the order before and after."""
    found = []
    for number, outcome in sorted(earlier.outcomes.items()):
        if earlier.actions.get(number) != Action.REORDER or outcome.status != Status.DONE:
            continue
        before = (earlier.before.get(number) or {}).get("order") or []
        after = (outcome.saved or {}).get("order") or []
        found.append(Reordered(number, outcome.package_id or "", list(before), list(after)))
    return found


class UndoPlanner:
    """Turns the resources a run changed into the operations that put them back.

    Reads the catalogue (each dataset once, each resource once) and writes
    nothing; a resource that cannot be undone fails on its own."""

    def __init__(self, catalogue: CatalogueAPI, schema: Schema, earlier: Earlier, force: bool):
        self.catalogue = catalogue
        self.earlier = earlier
        self.force = force
        # what tells whether someone changed a resource after the run
        # (each once: `url` is a schema field and a file field)
        self.compared = list(dict.fromkeys([*(f.name for f in schema.fields), *_FILE_FIELDS]))
        self.packages: dict[str, dict[str, Any]] = {}

    def plan(self, touched: list[Touched], reordered: Sequence[Reordered] = ()) -> Plan:
        """One operation per resource, in reverse sheet order of the run's last row on it;
        before them, the old order of each dataset the run put in order (a reorder ran
        after every other row of its dataset, so its undo comes first)."""
        operations: list[Operation] = []
        failures: list[Outcome] = []
        for dataset in reordered:
            try:
                operations.append(self._undo_order(dataset))
            except RowFailure as failure:
                failures.append(
                    Outcome(dataset.row, failure.status, package_id=dataset.package_id,
                            error=str(failure), code=failure.code)
                )  # fmt: skip
        for entry in sorted(touched, key=lambda t: t.last, reverse=True):
            try:
                operations.append(self._undo(entry))
            except RowFailure as failure:
                error, code = str(failure), failure.code
                failures.append(
                    Outcome(entry.last, failure.status, resource_id=entry.resource_id,
                            package_id=entry.package_id, error=error, code=code)
                )  # fmt: skip
        return Plan(operations, failures)

    def name(self, entry: Touched) -> str:
        """The resource's name as the run left it (or as it was, for one it deleted)."""
        last = self.earlier.outcomes[entry.last].saved or {}
        first = self.earlier.before.get(entry.rows[0]) or {}
        return str(last.get("name") or first.get("name") or "")

    def package_name(self, package_id: str) -> str:
        return str(self.packages.get(package_id, {}).get("name") or package_id)

    def _undo(self, entry: Touched) -> Operation:
        package = self.packages.get(entry.package_id) or look_up(
            "dataset", self.catalogue.package, entry.package_id
        )
        self.packages[entry.package_id] = package
        common: dict[str, Any] = {
            "row": entry.last,
            "package_id": package["id"],
            "package_name": package["name"],
            "package_type": package.get("type") or "dataset",
            "resource_name": self.name(entry),
        }
        if entry.made:
            if entry.gone:
                note = "the run created it and deleted it again"
                return Operation(action=Action.NOOP, resource_id=None, note=note, **common)
            now = self._as_the_run_left_it(entry)
            return Operation(
                action=Action.DELETE, resource_id=entry.resource_id, before=now, **common
            )
        before = self.earlier.before.get(entry.rows[0])
        if before is None:
            raise RowFailure(problems.NO_SNAPSHOT, resource_id=entry.resource_id, row=entry.rows[0])
        common["resource_name"] = before.get("name") or common["resource_name"]
        if entry.gone:
            upload, fields = self._restored(entry, before, None)
            note = f"again, as it was before row {entry.rows[0]}; it was {entry.resource_id}"
            return Operation(action=Action.CREATE, resource_id=None, fields=fields, upload=upload,
                             note=note, **common)  # fmt: skip
        now = self._as_the_run_left_it(entry)
        upload, fields = self._restored(entry, before, now)
        note = f"back to how it was before row {entry.rows[0]}"
        if before.get("last_modified") is None and now.get("last_modified"):
            note += f"; last_modified stays {now['last_modified']}: the catalogue cannot empty it"
        return Operation(
            action=Action.UPDATE,
            resource_id=entry.resource_id,
            fields=fields,
            upload=upload,
            changes=tuple(changes(fields, now, ignored=("url_type", "hash", "size"))),
            before=now,
            note=note,
            **common,
        )

    def _undo_order(self, dataset: Reordered) -> Operation:
        """The order the dataset's resources had before the run; refused (unless forced)
        when the order is no longer as the run left it."""
        package = look_up("dataset", self.catalogue.package, dataset.package_id)
        self.packages[dataset.package_id] = package
        resources = package.get("resources") or []
        now = [str(r["id"]) for r in resources]
        if now != dataset.after and not self.force:
            raise RowFailure(problems.ORDER_CHANGED_AFTER_RUN, package=package["name"])
        names = {str(r["id"]): str(r.get("name") or r["id"]) for r in resources}
        kept = [i for i in dataset.before if i in names]
        wanted = kept + [i for i in now if i not in kept]
        common: dict[str, Any] = {
            "row": dataset.row,
            "package_id": package["id"],
            "package_name": package["name"],
            "package_type": package.get("type") or "dataset",
            "resource_id": None,
            "resource_name": None,
            "before": {"order": now},
        }
        if wanted == now:
            return Operation(action=Action.NOOP, note="the order is as it was", **common)
        return Operation(
            action=Action.REORDER,
            order=tuple(Placed(i, names[i]) for i in wanted),
            changes=(Change("order", [names[i] for i in now], [names[i] for i in wanted]),),
            note=f"back to the order before row {dataset.row}",
            **common,
        )

    def _as_the_run_left_it(self, entry: Touched) -> dict[str, Any]:
        """The resource now; a failure when it is gone, or (unless forced) when it
        is no longer as the run saved it."""
        name = self.name(entry)
        try:
            now = self.catalogue.resource(entry.resource_id)
        except NotFound:
            now = {}
        except CatalogueError as error:
            raise RowFailure(problems.LOOK_UP_FAILED, what="resource id",
                             name=entry.resource_id, detail=error.message) from None  # fmt: skip
        if not now or now.get("state") == "deleted":
            raise RowFailure(problems.GONE_AFTER_RUN, name=name, resource_id=entry.resource_id)
        saved = self.earlier.outcomes[entry.last].saved
        if self.force:
            return now
        if saved is None:
            detail = "may have changed after the run: the journal does not say how the run left it"
        else:
            differ = [
                k
                for k in self.compared
                if not same(now.get(k), saved.get(k))
                and not loader_wrote(k, saved.get(k), now.get(k))
            ]
            if not differ:
                return now
            verb = "differ" if len(differ) > 1 else "differs"
            detail = f"changed after the run ({', '.join(differ)} {verb})"
        raise RowFailure(
            problems.CHANGED_AFTER_RUN, name=name, resource_id=entry.resource_id, detail=detail
        )

    def _restored(
        self, entry: Touched, before: dict[str, Any], now: dict[str, Any] | None
    ) -> tuple[PinnedFile | None, dict[str, Any]]:
        """The file to upload again (None: none) and the fields to send, to make the
        resource what `before` shows."""
        fields = {k: v for k, v in before.items() if k not in _MANAGED}
        if before.get("last_modified") is None:
            fields.pop("last_modified", None)  # the catalogue cannot empty it (see _undo)
        # did the run change the file? (how it left it; the DataStore loader writes into
        # it later, and now checked to be as the run left it but for that)
        left = self.earlier.outcomes[entry.last].saved or now
        replaced = before.get("url_type") == "upload" and (
            left is None or not all(same(left.get(k), before.get(k)) for k in _FILE_FIELDS)
        )
        if not replaced:
            return None, fields
        kept = next(
            (snapshot[KEPT_FILE] for snapshot in self._snapshots(entry) if KEPT_FILE in snapshot),
            None,
        )
        if kept is not None and Path(kept).is_file():
            # the upload sets the URL (from the file's name), its type and size; its
            # SHA-256 in `hash` makes the DataStore load it (an MD5 would not)
            facts = file_facts(Path(kept))
            fields = {k: v for k, v in fields.items() if k not in ("url", "url_type", "size")}
            return facts.file, {**fields, "hash": facts.stored_hash}
        if now is not None and self.force:
            return None, {**fields, **{k: now.get(k) for k in _FILE_FIELDS}}
        why = "the run did not keep it (run --keep-replaced)"
        if kept is not None:
            why = f"its kept copy {kept} is missing"
        rest = "" if now is None else " (--force puts back the rest and leaves the file as it is)"
        raise RowFailure(
            problems.FILE_NOT_KEPT, name=before.get("name") or entry.resource_id,
            did="deleted" if now is None else "replaced", why=why, rest=rest,
        )  # fmt: skip

    def _snapshots(self, entry: Touched) -> list[dict[str, Any]]:
        return [self.earlier.before[n] for n in entry.rows if n in self.earlier.before]


def undo_run(
    result_path: Path | str,
    catalogue: CatalogueAPI,
    options: UndoOptions = UndoOptions(),
    *,
    undo_path: Path | str | None = None,
    listeners: Listeners = Listeners(),
    stop: threading.Event | None = None,
) -> RunResult:
    """Undo the run whose result workbook is `result_path`, from the journal beside it.

    Writes the undo's own result workbook (`undo_path`, by default
    RESULT-undo-TIME.xlsx beside the run's) and its own journal beside that.
    A dry run says what each row's undo would do and writes nothing (a
    workbook only when `undo_path` is given). `options.force` undoes
    resources changed after the run too. `listeners` hear how many rows
    follow and each outcome; setting `stop` lets the calls under way finish.
    Raises CannotStart when there is no journal, the catalogue is not the
    run's, or it does not take the token.
    """
    summary = starting("undo", catalogue.url, options.dry_run)
    result_path = Path(result_path)
    earlier = _journal_of(result_path, catalogue)
    touched, doubts = touched_resources(earlier, options.dry_run)
    reordered = reordered_datasets(earlier)
    user = token_user(catalogue)
    planner = UndoPlanner(catalogue, options.schema or load_schema(), earlier, options.force)
    plan = planner.plan(touched, reordered)
    batch = _undo_batch(result_path, touched, doubts, planner, reordered)
    if undo_path is None and not options.dry_run:
        undo_path = default_undo_path(result_path)
    undo_file = Path(undo_path) if undo_path else None
    with recording(batch, [], summary, undo_file) as undo:
        undo.user = user
        undo.begin(len(batch.rows), listeners)
        try:
            for outcome in [*plan.failures, *doubts]:
                undo.recorder.record(outcome)
            if options.dry_run:
                dry_run_plan(plan, catalogue, undo.recorder)
            else:
                with following(catalogue, undo.recorder, options.datastore_wait, stop) as loads:
                    execute(plan, catalogue, undo.recorder, stop=stop, fold=False, loads=loads)
        finally:
            _record_covered(undo.recorder, touched, options.dry_run)
    assert undo.result is not None
    return undo.result


def default_undo_path(result_path: Path | str) -> Path:
    """Where an undo's results go when not said: beside the run's, stamped with the time."""
    result_path = Path(result_path)
    return result_path.with_name(stamped_name(result_path.stem, "undo"))


def _journal_of(result_path: Path, catalogue: CatalogueAPI) -> Earlier:
    """The journal of the run to undo; it must have been a run on this catalogue."""
    journal_file = journal_path(result_path)
    if not journal_file.exists():
        raise CannotStart(f"there is no journal of the run to undo ({journal_file})")
    earlier = read_journal(journal_file)
    if earlier.target and earlier.target.rstrip("/") != catalogue.url.rstrip("/"):
        raise CannotStart(
            f"the run wrote to {earlier.target}, not {catalogue.url}: undo it there; "
            "nothing was written"
        )
    return earlier


def _undo_batch(
    result_path: Path,
    touched: list[Touched],
    doubts: list[Outcome],
    planner: UndoPlanner,
    reordered: Sequence[Reordered],
) -> Batch:
    """The rows the undo accounts for, in the order it undoes them (the run's last
    row first): each names the run's row, what it did and to which resource (or, for
    a reorder, dataset)."""
    rows: list[Row] = [
        Row(r.row, {"row": str(r.row), "run_action": Action.REORDER,
                    "package": planner.package_name(r.package_id)})
        for r in reordered
    ]  # fmt: skip
    for entry in touched:
        for number, action in zip(entry.rows, entry.actions, strict=True):
            values = {
                "row": str(number),
                "run_action": action,
                "package": planner.package_name(entry.package_id),
                "name": planner.name(entry),
                "resource_id": entry.resource_id,
            }
            rows.append(Row(number, values))
    for outcome in doubts:
        values = {"row": str(outcome.row), "run_action": planner.earlier.actions[outcome.row]}
        if outcome.resource_id:
            values["resource_id"] = outcome.resource_id
        rows.append(Row(outcome.row, values))
    rows.sort(key=lambda row: row.number, reverse=True)
    return Batch(result_path, None, list(_HEADERS), list(_COLUMNS), rows)


def _record_covered(recorder: Recorder, touched: list[Touched], dry_run: bool) -> None:
    """The earlier rows on a resource are undone with its last row: say so on each."""
    carriers = {o.row: o for o in recorder.outcomes()}
    for entry in touched:
        carrier = carriers.get(entry.last)
        if carrier is None:
            continue
        for number in entry.rows[:-1]:
            recorder.record(_covered(number, entry, carrier, dry_run))


def _covered(number: int, entry: Touched, carrier: Outcome, dry_run: bool) -> Outcome:
    common: dict[str, Any] = {
        "resource_id": carrier.resource_id,
        "package_id": carrier.package_id,
        "operation": carrier.operation,  # the carrier's operation undoes this row too
    }
    if carrier.status == Status.DONE or (dry_run and carrier.status == Status.NOT_RUN):
        verb = "would be put back" if dry_run else "put back"
        action = f"{verb} with row {entry.last}"
        return Outcome(number, carrier.status, action, resource_url=carrier.resource_url, **common)
    error = problems.UNDONE_WITH.message(
        resource_id=entry.resource_id, row=entry.last, detail=carrier.error
    )
    return Outcome(number, carrier.status, error=error, code=problems.UNDONE_WITH.code, **common)
