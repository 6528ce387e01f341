"""Carry out planned operations, one lane per dataset, recording an outcome for each.

Within a lane (one dataset) calls run one at a time in sheet order, always;
with `jobs` > 1 different lanes run at the same time. Every operation ends in
exactly one Outcome, recorded the moment it is known. Setting `stop` lets
calls already sent finish and marks the rest `not run`; a hard interrupt
(KeyboardInterrupt) marks the calls under way as possibly saved.

A folded call refused because the dataset changed since the lane saw it is
looked at again before its rows are failed: the dataset now is compared
with the dataset as the lane saw it, and when the only changes are the
DataStore loader's own bookkeeping on resources this lane set loading (a
load that finished meanwhile writes the file's MD5 and the table's state,
moving the dataset's metadata_modified), the call is sent once more against
the dataset as it is now. (Timestamps cannot tell this: CKAN 2.10 stamps a
resource after its dataset in the same write.)
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from loader import problems
from loader.client import (
    CatalogueAPI,
    CatalogueError,
    FileAltered,
    Invalid,
    NotAuthorized,
    ServerFault,
    Unreachable,
    UploadFailed,
)
from loader.datastore import loader_wrote
from loader.model import Outcome, Status
from loader.pipeline.calls import API_ACTIONS, REVISE, Answer, Call, calls_for, single
from loader.pipeline.diff import same
from loader.pipeline.follow import Follower
from loader.pipeline.keep import keep_file, replaces_file
from loader.pipeline.operations import Action, Operation, Plan, placed_ids
from loader.pipeline.record import Recorder
from loader.pipeline.settle import settle
from loader.pipeline.verify import landed

log = logging.getLogger(__name__)


def dry_run(plan: Plan, catalogue: CatalogueAPI, recorder: Recorder) -> None:
    """Record what each planned operation would do; nothing is written."""
    for op in plan.operations:
        recorder.record(
            Outcome(
                row=op.row,
                status=Status.NOT_RUN,
                action=op.describe("would"),
                resource_id=op.resource_id,
                package_id=op.package_id,
                resource_url=_page(catalogue, op, op.resource_id),
                operation=op.action,
            )
        )


def execute(
    plan: Plan,
    catalogue: CatalogueAPI,
    recorder: Recorder | None = None,
    *,
    jobs: int = 1,
    stop: threading.Event | None = None,
    fold: bool = True,
    keep_replaced: Path | None = None,
    loads: Follower | None = None,
) -> list[Outcome]:
    """Run the plan's operations into `recorder`; returns their outcomes, in sheet order.

    With `fold`, consecutive rows of a dataset that move no file go as one
    package_revise call (see calls.py). With `keep_replaced`, each uploaded
    file a row replaces or deletes is first downloaded into that folder (see
    keep.py); a row whose file cannot be kept fails, and nothing of it is sent.
    With `loads`, the DataStore load of each file sent is followed (follow.py).
    """
    recorder = recorder or Recorder(op.row for op in plan.operations)
    execute_lanes(
        plan.lanes(), catalogue, recorder, jobs=jobs, stop=stop, fold=fold,
        keep_replaced=keep_replaced, loads=loads,
    )  # fmt: skip
    rows = {op.row for op in plan.operations}
    return [o for o in recorder.outcomes() if o.row in rows]


def execute_lanes(
    lanes: Iterable[list[Operation]],
    catalogue: CatalogueAPI,
    recorder: Recorder,
    *,
    jobs: int = 1,
    stop: threading.Event | None = None,
    fold: bool = True,
    keep_replaced: Path | None = None,
    loads: Follower | None = None,
) -> None:
    """Run each lane (one dataset's operations, in sheet order) as it comes.

    The lanes may still be being planned: each starts as soon as it is handed
    over (and a worker is free), so that one dataset's calls go while others
    are read. Once the run stops (asked to, or the catalogue stopped
    answering), no more lanes are taken, and the rows no lane brought are
    recorded not run, with the reason.
    """
    health = _Health(stop or threading.Event())

    def runner(lane: list[Operation]) -> _Lane:
        return _Lane(catalogue, recorder, health, calls_for(lane, fold), keep_replaced, loads)

    try:
        if jobs <= 1:
            for lane in _until_stopped(lanes, health):
                runner(lane).run()
        else:
            with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="lane") as pool:
                running = [pool.submit(runner(lane).run) for lane in _until_stopped(lanes, health)]
                for future in running:
                    future.result()
    except BaseException:
        health.stop.set()
        recorder.interrupt()
        raise
    if health.stop.is_set():
        recorder.close_unreached(problems.NOT_REACHED.message(reason=health.reason))


def _until_stopped(lanes: Iterable[list[Operation]], health: _Health) -> Iterator[list[Operation]]:
    """The lanes, until the run stops."""
    for lane in lanes:
        if health.stop.is_set():
            return
        yield lane


class _Health:
    """Whether to go on sending: the stop asked for, or a catalogue that stopped answering."""

    GIVE_UP_AFTER = 3  # calls in a row that got no answer (each already tried again)

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.reason = "the run was stopped before this row"
        self._silent = 0
        self._lock = threading.Lock()

    def answered(self, error: CatalogueError | None) -> None:
        with self._lock:
            self._silent = self._silent + 1 if isinstance(error, Unreachable) else 0
            if self._silent >= self.GIVE_UP_AFTER and not self.stop.is_set():
                self.reason = (
                    f"the catalogue stopped answering ({self._silent} calls in a row got no "
                    "answer), so the run stopped before this row"
                )
                self.stop.set()


class _Lane:
    """One dataset's calls, run one at a time in sheet order."""

    def __init__(
        self,
        catalogue: CatalogueAPI,
        recorder: Recorder,
        health: _Health,
        calls: list[Call],
        keep_replaced: Path | None = None,
        loads: Follower | None = None,
    ):
        self.catalogue = catalogue
        self.keep_replaced = keep_replaced
        self.loads = loads
        self.recorder = recorder
        self.health = health
        self.calls = calls
        self.created: dict[int, str] = {}  # row number -> id of the resource it created
        # resources whose DataStore load this lane set going (or found under way)
        self.loading: set[str] = set()
        # the dataset's metadata_modified as this lane last saw it (None: look again)
        ops = [op for call in calls for op in call.operations]
        self.guard: str | None = ops[0].package_modified if ops else None
        self.seen: dict[str, Any] | None = None  # the dataset the guard was read from

    def run(self) -> None:
        for call in self.calls:
            if self.health.stop.is_set():
                reason = problems.NOT_REACHED.message(reason=self.health.reason)
                for op in call.operations:
                    self.recorder.record(
                        Outcome(
                            op.row, Status.NOT_RUN, error=reason, code=problems.NOT_REACHED.code
                        )
                    )
                continue
            self.run_call(call)

    def run_call(self, call: Call, again: bool = False) -> None:
        """Send one call and record its rows' outcomes (`again`: a fold sent once more)."""
        if call.action == API_ACTIONS[Action.REORDER]:  # with the ids of what the lane created
            (op,) = call.operations
            call = single(dataclasses.replace(op, order=placed_ids(op.order, self.created)))
        ids, skipped = _resolve(call, self.created)
        if not skipped and self.keep_replaced is not None:
            call, skipped = self._keep_files(call, self.keep_replaced)
        if skipped:
            self._run_without(call, skipped)
            return
        if call.writes:  # a row that sends nothing has no request to account for
            self.recorder.sending(call.operations)
        began = time.monotonic()
        guard = self._guard(call)
        outcomes, answer, error = _perform(call, ids, self.catalogue, guard)
        took = time.monotonic() - began
        self.health.answered(error)
        if not again and _changed_meanwhile_refusal(call, error) and self._loads_only(ids):
            self.run_call(call, again=True)
            return
        if isinstance(error, Unreachable) and call.writes:
            outcomes = self._after_silence(call, ids, error, outcomes)
        if call.folded and isinstance(error, Invalid) and "match" not in error.field_errors:
            # One bad row refuses the whole transaction: send each row alone, so each
            # gets its own outcome and its field errors on its own columns.
            self.guard = None
            for op in call.operations:
                self.run_call(single(op))
            return
        if call.writes:
            self.guard = answer.package_modified if answer else None
            self.seen = answer.package if answer else None
        self._record(call, outcomes, took)

    def _record(self, call: Call, outcomes: list[Outcome], took: float) -> None:
        """Record the call's outcomes (with the DataStore load of each file sent)."""
        for outcome in outcomes:
            op = next(o for o in call.operations if o.row == outcome.row)
            if op.action == Action.CREATE and outcome.status == Status.DONE and outcome.resource_id:
                self.created[op.row] = outcome.resource_id
            self._note_load(op, outcome)
            if self.loads is not None:
                self.loads.record(op, outcome, took)
            else:
                self.recorder.record(outcome)

    def _note_load(self, op: Operation, outcome: Outcome) -> None:
        """Remember a resource whose DataStore load this row set going: a file sent, a
        load resubmitted, or one found under way."""
        loads = op.upload is not None or op.action == Action.RELOAD or op.last_load is not None
        if loads and outcome.resource_id and outcome.status == Status.DONE:
            self.loading.add(outcome.resource_id)

    def _loads_only(self, ids: dict[int, str | None]) -> bool:
        """Whether the dataset changed since the lane saw it only by the DataStore
        loader's own bookkeeping on resources this lane set loading (none added, none
        gone); if so the lane's guard becomes the dataset's now. The dataset's own
        fields are not compared: a folded call changes resources only, and sends
        nothing of the dataset's."""
        then = {str(r.get("id")): r for r in (self.seen or {}).get("resources") or []}
        if self.seen is None:
            return False  # the guard came from planning: nothing to compare with
        try:
            package = self.catalogue.package(self.calls[0].operations[0].package_id)
        except CatalogueError:
            return False
        now = {str(r.get("id")): r for r in package.get("resources") or []}
        if now.keys() != then.keys() or any(i is not None and i not in now for i in ids.values()):
            return False
        for resource_id, resource in now.items():
            before, ours = then[resource_id], resource_id in self.loading
            for key in before.keys() | resource.keys():
                old, new = before.get(key), resource.get(key)
                if not same(old, new) and not (ours and loader_wrote(key, old, new)):
                    return False
        self.guard = str(package.get("metadata_modified") or "")
        self.seen = package
        return True

    def _run_without(self, call: Call, skipped: list[Outcome]) -> None:
        """Record the rows that cannot go, and send the call's other rows."""
        for outcome in skipped:
            self.recorder.record(outcome)
        gone = {o.row for o in skipped}
        rest = [op for op in call.operations if op.row not in gone]
        if rest:
            self.run_call(Call(REVISE, tuple(rest)) if len(rest) > 1 else single(rest[0]))

    def _keep_files(self, call: Call, folder: Path) -> tuple[Call, list[Outcome]]:
        """Download the files the call's rows replace; a row whose file cannot be kept
        fails before anything of it is sent."""
        kept: list[Operation] = []
        failed: list[Outcome] = []
        for op in call.operations:
            try:
                kept.append(keep_file(op, self.catalogue, folder) if replaces_file(op) else op)
            except (CatalogueError, OSError) as error:
                detail = error.message if isinstance(error, CatalogueError) else str(error)
                message = problems.NOT_KEPT.message(folder=folder, detail=detail)
                failed.append(_unsent(op, Status.FAILED, message, problems.NOT_KEPT.code))
        return Call(call.action, tuple(kept)), failed

    def _after_silence(
        self, call: Call, ids: dict[int, str | None], error: Unreachable, outcomes: list[Outcome]
    ) -> list[Outcome]:
        """A call that got no answer (or a server's failure on the way): never sent
        means not run; otherwise look at what landed, and send once more only what
        did not."""
        if not error.maybe_saved:
            return [_not_sent(op, error) for op in call.operations]
        self.guard = None
        checked = []
        for op, failed in zip(call.operations, outcomes, strict=True):
            try:
                saved = self._look(op, ids.get(op.row))
            except CatalogueError:
                checked.append(failed)  # cannot tell: it stays "may or may not have saved"
                continue
            self.health.answered(None)  # it answered the look: it is not gone
            if saved is not None:
                checked.append(_done(op, ids.get(op.row), Answer({op.row: saved}), self.catalogue))
                continue
            again, answer, _ = _perform(single(op), ids, self.catalogue, None)
            checked.extend(again)
        return checked

    def _look(self, op: Operation, resource_id: str | None) -> dict[str, Any] | None:
        """What landed of an operation whose answer was lost (a create is given time)."""
        return settle(lambda: landed(op, resource_id, self.catalogue), op.action == Action.CREATE)

    def _guard(self, call: Call) -> str | None:
        """What a folded call must find as the dataset's metadata_modified."""
        if call.folded and self.guard is None:
            self.seen = self.catalogue.package(call.operations[0].package_id)
            self.guard = str(self.seen.get("metadata_modified", ""))
        return self.guard


def _changed_meanwhile_refusal(call: Call, error: CatalogueError | None) -> bool:
    """Whether a folded call was refused because the dataset changed since it was read."""
    return call.folded and isinstance(error, Invalid) and "match" in error.field_errors


def _resolve(call: Call, created: dict[int, str]) -> tuple[dict[int, str | None], list[Outcome]]:
    """Each row's resource id, taking ids from rows of this lane that created them.

    A row whose creator did not succeed is skipped (with the whole call)."""
    ids: dict[int, str | None] = {}
    skipped: list[Outcome] = []
    for op in call.operations:
        ids[op.row] = op.resource_id
        if op.after_row is None:
            continue
        ids[op.row] = created.get(op.after_row)
        if ids[op.row] is None:
            error = problems.MAKER_FAILED.message(row=op.after_row)
            skipped.append(
                Outcome(
                    op.row,
                    Status.SKIPPED,
                    error=error,
                    package_id=op.package_id,
                    code=problems.MAKER_FAILED.code,
                )
            )
    return ids, skipped


def _perform(
    call: Call, ids: dict[int, str | None], catalogue: CatalogueAPI, guard: str | None
) -> tuple[list[Outcome], Answer | None, CatalogueError | None]:
    """Send one call and spread its answer (or its failure) over the rows it covers."""
    try:
        answer = call.send(catalogue, ids, guard)
    except CatalogueError as error:
        if call.folded and isinstance(error, Invalid) and "match" in error.field_errors:
            return [_changed_meanwhile(op, guard) for op in call.operations], None, error
        return (
            [_failed(op, ids.get(op.row), error, catalogue) for op in call.operations],
            None,
            error,
        )
    except Exception as error:  # a bug must not hide what the rest of the batch did
        log.exception("rows %s: unexpected error", [op.row for op in call.operations])
        detail = problems.UNEXPECTED_ERROR.message(detail=repr(error))
        outcomes = [
            Outcome(
                op.row,
                Status.FAILED,
                package_id=op.package_id,
                error=detail,
                code=problems.UNEXPECTED_ERROR.code,
            )
            for op in call.operations
        ]
        return outcomes, None, None
    return [_done(op, ids.get(op.row), answer, catalogue) for op in call.operations], answer, None


def _unsent(op: Operation, status: Status, error: str, code: str) -> Outcome:
    """A row whose request did not reach the catalogue: nothing of it was saved."""
    tense = "would" if status == Status.NOT_RUN else "tried to"
    return Outcome(
        op.row,
        status,
        action=op.describe(tense),
        resource_id=op.resource_id,
        package_id=op.package_id,
        error=error,
        code=code,
        operation=op.action,
    )


def _not_sent(op: Operation, error: Unreachable) -> Outcome:
    """No connection could be made: nothing was sent, so the row did not run."""
    message = f"{error.message}: nothing was sent"
    return _unsent(op, Status.NOT_RUN, message, problems.NO_ANSWER.code)


def _changed_meanwhile(op: Operation, guard: str | None) -> Outcome:
    """The dataset changed after the run read it: nothing of this row was sent."""
    message = problems.DATASET_CHANGED.message(package=op.package_name, seen=guard)
    return _unsent(op, Status.FAILED, message, problems.DATASET_CHANGED.code)


def _done(
    op: Operation, resource_id: str | None, answer: Answer, catalogue: CatalogueAPI
) -> Outcome:
    if op.action == Action.DELETE:
        resource_id_out = resource_id
    else:
        resource_id_out = answer.resources.get(op.row, {}).get("id") or resource_id
    # a row with nothing to send leaves the resource as planning read it; for a row an
    # earlier run sent (found on --resume), that is how the run left it, which undo needs
    saved = answer.resources.get(op.row) if op.action != Action.NOOP else op.before
    return Outcome(
        op.row,
        Status.DONE,
        op.describe("did"),
        resource_id_out,
        op.package_id,
        _page(catalogue, op, resource_id_out),
        saved=saved,
        operation=op.action,
    )


def _failed(
    op: Operation, resource_id: str | None, error: CatalogueError, catalogue: CatalogueAPI
) -> Outcome:
    """A refused or unanswered call, in the editor's words, with the fields it names."""
    partial = error.partial_resource
    message = error.message
    problem = _problem_of(error)
    if isinstance(error, Unreachable) and error.maybe_saved and op.action != Action.NOOP:
        why = (
            "it failed while handling the request"
            if isinstance(error, ServerFault)
            else "the connection dropped after the request was sent"
        )
        message += (
            f": {why}, so the catalogue may or may not have saved it; check the dataset "
            "before running this row again"
        )
    if isinstance(error, Invalid) and not error.field_errors and op.blocked_by:
        problem = problems.BLOCKED_BY_INVALID
        message = problem.message(package=op.package_name, resources="; ".join(op.blocked_by))
    if partial:
        problem = problems.PARTLY_SAVED
        message = problem.message(resource_id=partial["id"], detail=message)
    saved_id = (partial or {}).get("id") or resource_id
    return Outcome(
        op.row,
        Status.FAILED,
        action=op.describe("tried to"),
        resource_id=saved_id,
        package_id=op.package_id,
        resource_url=_page(catalogue, op, saved_id),
        error=message,
        field_errors=error.field_errors,
        code=problem.code,
        saved=partial,
        operation=op.action,
    )


def _problem_of(error: CatalogueError) -> problems.ProblemType:
    if isinstance(error, FileAltered):
        return problems.FILE_REPLACED if error.replaced else problems.FILE_CHANGED
    kinds: list[tuple[type[CatalogueError], problems.ProblemType]] = [
        (Invalid, problems.REFUSED),
        (NotAuthorized, problems.NOT_AUTHORIZED),
        (Unreachable, problems.NO_ANSWER),
        (UploadFailed, problems.UPLOAD_UNREADABLE),
    ]
    return next((p for kind, p in kinds if isinstance(error, kind)), problems.CATALOGUE_ERROR)


def _page(catalogue: CatalogueAPI, op: Operation, resource_id: str | None) -> str | None:
    if not resource_id or op.action == Action.DELETE:
        return None
    return catalogue.resource_page(op.package_type, op.package_name, resource_id)
