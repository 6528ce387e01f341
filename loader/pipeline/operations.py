"""What planning hands on to every later stage, and to undo: the shared vocabulary.

An `Operation` is what one row does to one resource, with everything its
call needs; a `Plan` holds a batch's operations in sheet order and the rows
that could not be planned; `RowFailure` says why a row could not be planned,
in the editor's words. The calls, the executor, the journal, the recorder,
verification and undo all speak these, without importing the planner that
makes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from loader import problems
from loader.client import CatalogueError, LoadStatus, NotAuthorized, NotFound
from loader.datastore import when
from loader.model import Outcome, Status
from loader.pinned import PinnedFile
from loader.pipeline.diff import Change, show
from loader.problems import ProblemType
from loader.text import quote


class Action(StrEnum):
    """What an operation does (an upsert becomes a create or an update)."""

    CREATE = "create"
    UPDATE = "update"
    PATCH = "patch"
    DELETE = "delete"
    TOUCH = "touch"  # only last_modified: the file is unchanged, the refresh is recorded
    RELOAD = "reload"  # the file is unchanged and its last DataStore load failed: load again
    REORDER = "reorder"  # the dataset's resources put in an order (one call a dataset)
    NOOP = "noop"  # nothing to send: the row asks for what is already there


_PAST = {
    Action.CREATE: "created",
    Action.UPDATE: "updated",
    Action.PATCH: "patched",
    Action.DELETE: "deleted",
    Action.TOUCH: "touched",
}


@dataclass(frozen=True)
class Placed:
    """One resource in the order a reorder asks for: by id, or (not made yet) by the row
    of this batch that creates it."""

    resource_id: str | None
    name: str
    made_by_row: int | None = None


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
    upload: PinnedFile | None = None  # pinned with its hash: sent only as those bytes
    changes: tuple[Change, ...] = ()
    file_unchanged: bool = False  # the row names a file the resource already holds
    package_modified: str | None = None  # the dataset's metadata_modified when planned
    # the resource as it was before this row, for the journal (None: made by this run);
    # a row that sends nothing leaves it so, and its outcome records it as saved
    before: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    note: str = ""  # said after what the operation does (e.g. what a resume found)
    # other resources of the dataset that break today's rules (see DatasetState.failing)
    blocked_by: tuple[str, ...] = ()
    # the resource's last DataStore load, when planning read it (an unchanged file's)
    last_load: LoadStatus | None = field(default=None, repr=False, compare=False)
    # a reorder: every resource of the dataset, in the order asked for
    order: tuple[Placed, ...] = ()

    def describe(self, tense: str = "would") -> str:
        """What the operation does, in words: tense is "would", "did" or "tried"."""
        unchanged = " (file unchanged)" if self.file_unchanged else ""
        unchanged += f" ({self.note})" if self.note else ""
        if self.action == Action.NOOP:
            return "no change" + unchanged
        if self.action == Action.RELOAD:
            verb = {"would": "would resubmit", "did": "resubmitted"}.get(tense, "tried to resubmit")
            failed = when(self.last_load.updated) if self.last_load else ""
            return f"no change{unchanged}; its last DataStore load failed ({failed}): {verb} it"
        if self.action == Action.REORDER:
            verb = "put" if tense == "did" else f"{tense} put"
            words = f"{verb} the resources of dataset '{self.package_name}' in order"
            moves = [_names(c.old) + " -> " + _names(c.new) for c in self.changes]
            return words + "".join(f": {m}" for m in moves) + unchanged
        verb = _PAST[self.action] if tense == "did" else f"{tense} {self.action}"
        # a name of 10,000 characters is cut, as values are: the action stays readable
        words = f"{verb} resource '{quote(self.resource_name or '')}'"
        # the file's full path: the editor sees exactly which file would be published
        if self.action == Action.CREATE and self.upload:
            words += f" from file {self.upload}"
        elif self.action in (Action.UPDATE, Action.PATCH, Action.TOUCH):
            parts = [c.describe() for c in self.changes]
            if self.upload:
                parts.insert(0, f"new file {self.upload}")
            if parts:
                words += ": " + "; ".join(parts)
        return words + unchanged


def placed_ids(order: tuple[Placed, ...], created: Mapping[int, str]) -> tuple[Placed, ...]:
    """A reorder's order with the ids of the resources its batch created (`created`: by
    the row that created each); a resource whose row did not create it is left out,
    since it is not there."""
    out = []
    for placed in order:
        resource_id = placed.resource_id
        if resource_id is None and placed.made_by_row is not None:
            resource_id = created.get(placed.made_by_row)
        if resource_id is not None:
            out.append(Placed(resource_id, placed.name, placed.made_by_row))
    return tuple(out)


def _names(names: list[str]) -> str:
    """Resource names as an order shows them: 'Data', 'Docs', 'Old'."""
    return ", ".join(show(name) for name in names)


@dataclass
class Plan:
    """Operations in sheet order (reorders last: each follows its dataset's other rows),
    and the rows that could not be planned."""

    operations: list[Operation]
    failures: list[Outcome]

    def lanes(self) -> list[list[Operation]]:
        """One list per dataset, each in sheet order."""
        lanes: dict[str, list[Operation]] = {}
        for operation in self.operations:
            lanes.setdefault(operation.package_id, []).append(operation)
        return list(lanes.values())


class RowFailure(Exception):
    """This row cannot be planned; the message says why, in the editor's words."""

    status = Status.FAILED
    action = ""  # what the row would have done, when that is known

    def __init__(self, problem: ProblemType, **values: Any):
        super().__init__(problem.message(**values))
        self.code = problem.code


class RowSkipped(RowFailure):
    """This row depends on a row that will not run."""

    status = Status.SKIPPED


def look_up(what: str, show: Callable[[str], dict[str, Any]], name: str) -> dict[str, Any]:
    """A catalogue look-up whose failure fails the row, in the editor's words."""
    try:
        return show(name)
    except NotFound:
        raise RowFailure(problems.NOT_FOUND, what=what, name=name) from None
    except NotAuthorized:
        raise RowFailure(problems.NOT_VISIBLE, what=what, name=name) from None
    except CatalogueError as error:
        raise RowFailure(
            problems.LOOK_UP_FAILED, what=what, name=name, detail=error.message
        ) from None
