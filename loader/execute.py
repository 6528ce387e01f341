"""Carry out planned operations, one lane per dataset, and record an outcome for each.

Within a lane (one dataset) operations run one at a time in sheet order,
always; with `jobs` > 1 different lanes run at the same time. Every operation
ends in exactly one Outcome, handed to `on_outcome` as soon as it is known.
Setting `stop` lets calls already sent finish and marks the rest `not run`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from loader.client import Catalogue, CatalogueError, Unreachable
from loader.model import Outcome
from loader.plan import Operation, Plan

log = logging.getLogger(__name__)

OnOutcome = Callable[[Outcome], None]


def dry_run(plan: Plan, catalogue: Catalogue) -> list[Outcome]:
    """What each planned operation would do; nothing is written."""
    outcomes = []
    for op in plan.operations:
        outcomes.append(
            Outcome(
                row=op.row,
                status="not run",
                action=op.describe("would"),
                resource_id=op.resource_id,
                package_id=op.package_id,
                resource_url=_page(catalogue, op, op.resource_id),
            )
        )
    return outcomes


def execute(
    plan: Plan,
    catalogue: Catalogue,
    *,
    jobs: int = 1,
    stop: threading.Event | None = None,
    on_outcome: OnOutcome | None = None,
) -> list[Outcome]:
    """Run the plan's operations and return their outcomes, in no particular order."""
    stop = stop or threading.Event()
    lock = threading.Lock()
    outcomes: dict[int, Outcome] = {}
    in_flight: dict[int, Operation] = {}

    def record(outcome: Outcome) -> None:
        with lock:
            outcomes[outcome.row] = outcome
            in_flight.pop(outcome.row, None)
        if on_outcome:
            on_outcome(outcome)

    def starting(op: Operation) -> None:
        with lock:
            in_flight[op.row] = op

    lanes = plan.lanes()
    try:
        if jobs <= 1 or len(lanes) <= 1:
            for lane in lanes:
                _run_lane(lane, catalogue, stop, starting, record)
        else:
            with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="lane") as pool:
                futures = [
                    pool.submit(_run_lane, lane, catalogue, stop, starting, record)
                    for lane in lanes
                ]
                for future in futures:
                    future.result()
    except BaseException:
        # A hard interrupt: say plainly which calls may or may not have been saved.
        stop.set()
        for op in list(in_flight.values()):
            record(
                Outcome(
                    op.row,
                    "failed",
                    action=op.describe("tried to"),
                    resource_id=op.resource_id,
                    package_id=op.package_id,
                    error="interrupted while the request was under way: the catalogue may or "
                    "may not have saved it; check the dataset before running this row again",
                )
            )
        raise
    return list(outcomes.values())


def _run_lane(
    lane: list[Operation],
    catalogue: Catalogue,
    stop: threading.Event,
    starting: Callable[[Operation], None],
    record: OnOutcome,
) -> None:
    created: dict[int, str] = {}  # row number -> id of the resource it created
    for op in lane:
        if stop.is_set():
            record(Outcome(op.row, "not run", error="the run was stopped before this row"))
            continue
        resource_id = op.resource_id
        if op.after_row is not None:
            resource_id = created.get(op.after_row)
            if resource_id is None:
                record(
                    Outcome(
                        op.row,
                        "skipped",
                        error=f"row {op.after_row}, which creates this resource, did not succeed",
                        package_id=op.package_id,
                    )
                )
                continue
        starting(op)
        outcome = _perform(op, resource_id, catalogue)
        if op.action == "create" and outcome.status == "done" and outcome.resource_id:
            created[op.row] = outcome.resource_id
        record(outcome)


def _perform(op: Operation, resource_id: str | None, catalogue: Catalogue) -> Outcome:
    try:
        if op.action == "noop":
            resource_id_out = resource_id
        elif op.action == "delete":
            catalogue.delete_resource(resource_id)
            return Outcome(op.row, "done", op.describe("did"), resource_id, op.package_id, None)
        elif op.action == "create":
            data = {"package_id": op.package_id, **op.fields}
            resource_id_out = catalogue.write_resource("resource_create", data, op.upload)["id"]
        else:
            data = {"id": resource_id, **op.fields}
            action = "resource_update" if op.action == "update" else "resource_patch"
            resource_id_out = catalogue.write_resource(action, data, op.upload)["id"]
    except CatalogueError as error:
        partial = error.partial_resource
        message = error.message
        if isinstance(error, Unreachable) and error.maybe_saved and op.action != "noop":
            message += (
                ": the connection dropped after the request was sent, so the catalogue may "
                "or may not have saved it; check the dataset before running this row again"
            )
        if partial:
            message = (
                f"the file and text fields were saved to resource {partial['id']}, "
                f"but not the rest: {message}"
            )
        return Outcome(
            op.row,
            "failed",
            action=op.describe("tried to"),
            resource_id=(partial or {}).get("id") or resource_id,
            package_id=op.package_id,
            resource_url=_page(catalogue, op, (partial or {}).get("id") or resource_id),
            error=message,
            field_errors=error.field_errors,
        )
    except Exception as error:  # a bug must not hide what the rest of the batch did
        log.exception("row %s: unexpected error", op.row)
        return Outcome(
            op.row, "failed", package_id=op.package_id, error=f"unexpected error: {error!r}"
        )
    return Outcome(
        op.row,
        "done",
        op.describe("did"),
        resource_id_out,
        op.package_id,
        _page(catalogue, op, resource_id_out),
    )


def _page(catalogue: Catalogue, op: Operation, resource_id: str | None) -> str | None:
    if not resource_id or op.action == "delete":
        return None
    return catalogue.resource_page(op.package_type, op.package_name, resource_id)
