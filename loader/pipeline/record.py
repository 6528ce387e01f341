"""The one recorder of outcomes: every row's outcome during a validate or a run.

Validation, planning and execution all record into one `Recorder`; it also
knows which requests are under way, so that however a run ends (finished,
stopped, interrupted at once, unable to start) `close` leaves every row with
exactly one true outcome. The result workbook, the console summary and any
listener (a progress bar, a journal) are views of its records.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from loader import problems
from loader.model import CheckedRow, LoadState, Outcome, Problem, Status, blocking

if TYPE_CHECKING:
    from loader.pipeline.journal import Journal
    from loader.pipeline.operations import Operation

Listener = Callable[[Outcome], None]


class Recorder:
    """Holds one outcome per row; safe to record into from several threads."""

    def __init__(self, rows: Iterable[int], journal: Journal | None = None):
        self.rows = list(rows)  # spreadsheet row numbers, sheet order
        self.journal = journal
        self._outcomes: dict[int, Outcome] = {}
        self._in_flight: dict[int, Operation] = {}
        self._listeners: list[Listener] = []
        self._load_listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._closed = False

    def listen(self, listener: Listener) -> None:
        """Call `listener` with every outcome recorded from now on."""
        self._listeners.append(listener)

    def listen_loads(self, listener: Listener) -> None:
        """Call `listener` with each outcome whose DataStore state changes from now on
        (after the row's own outcome was heard)."""
        self._load_listeners.append(listener)

    def record(self, outcome: Outcome) -> None:
        """Record (or replace) a row's outcome; the row's request, if any, is answered.

        The journal has it on disk before anyone else hears of it. Once the records
        are closed (the result workbook written), a late answer goes to the journal
        only, where a resume finds it."""
        if self.journal is not None:
            self.journal.outcome(outcome)
        with self._lock:
            if self._closed:
                return
            self._outcomes[outcome.row] = outcome
            self._in_flight.pop(outcome.row, None)
        for listener in self._listeners:
            listener(outcome)

    def record_load(self, row: int, load: LoadState, words: str, detail: str = "") -> None:
        """The DataStore state of the file a row sent: its outcome gets the words (and
        the loader's own text, `detail`, in its error); nothing else of it changes.
        The journal has it first; once the records are closed, only the journal."""
        with self._lock:
            outcome = self._outcomes.get(row)
            if outcome is None:
                return
            error = "\n".join(filter(None, [outcome.error, detail]))
            outcome = dataclasses.replace(outcome, datastore=words, load=load, error=error)
            if not self._closed:
                self._outcomes[row] = outcome
        if self.journal is not None:
            self.journal.outcome(outcome)
        if not self._closed:
            for listener in self._load_listeners:
                listener(outcome)

    def record_problems(self, found: Iterable[Problem]) -> None:
        """Rows with problems are invalid, each with all its messages (a row with
        warnings only is not: it still runs)."""
        by_row: dict[int, list[Problem]] = {}
        for problem in found:
            if problem.row is not None:
                by_row.setdefault(problem.row, []).append(problem)
        for number, row_problems in by_row.items():
            if all(p.warning for p in row_problems):
                continue
            field_errors: dict[str, str] = {}
            for p in blocking(row_problems):  # warnings are marked as such, apart
                if p.column is not None:
                    field_errors[p.column] = "\n".join(
                        filter(None, [field_errors.get(p.column), p.message])
                    )
            self.record(
                Outcome(
                    number,
                    Status.INVALID,
                    error="\n".join(p.message for p in row_problems),
                    field_errors=field_errors,
                    code=blocking(row_problems)[0].code,
                )
            )

    def record_ready(self, checked: Iterable[CheckedRow]) -> None:
        """Rows that passed validation and go no further (validate only)."""
        for row in checked:
            action = f"{row.op} from file {row.upload}" if row.upload else str(row.op)
            self.record(Outcome(row.number, Status.NOT_RUN, action=action))

    def sending(self, operations: Iterable[Operation]) -> None:
        """These operations' request is about to leave (the journal says so first)."""
        ops = list(operations)
        if self.journal is not None:
            self.journal.sent(ops)
        with self._lock:
            for op in ops:
                self._in_flight[op.row] = op

    def has(self, row: int) -> bool:
        with self._lock:
            return row in self._outcomes

    def interrupt(self) -> None:
        """A hard stop: say plainly that requests under way may or may not have been saved."""
        with self._lock:
            in_flight = list(self._in_flight.values())
        for op in in_flight:
            self.record(
                Outcome(
                    op.row,
                    Status.FAILED,
                    action=op.describe("tried to"),
                    resource_id=op.resource_id,
                    package_id=op.package_id,
                    error=problems.INTERRUPTED.message(),
                    code=problems.INTERRUPTED.code,
                    operation=op.action,
                )
            )

    def close(self, reason: str) -> list[Outcome]:
        """End the records: requests under way are in doubt, rows never reached did
        not run (for `reason`). Returns one outcome per row, in sheet order."""
        self.interrupt()
        self.close_unreached(problems.NOT_REACHED.message(reason=reason) if reason else "")
        outcomes = self.outcomes()
        with self._lock:
            self._closed = True
        if self.journal is not None:
            self.journal.end(dict(Counter(str(o.status) for o in outcomes)))
        return outcomes

    def close_unreached(self, error: str) -> None:
        """Rows with no outcome yet (none under way) did not run, for the reason `error`."""
        code = problems.NOT_REACHED.code if error else ""
        for row in self.rows:
            if not self.has(row):
                self.record(Outcome(row, Status.NOT_RUN, error=error, code=code))

    def outcomes(self) -> list[Outcome]:
        """The outcomes recorded so far, in sheet order."""
        with self._lock:
            return [self._outcomes[row] for row in self.rows if row in self._outcomes]

    def counts(self) -> Counter[str]:
        """How many rows have each status."""
        return Counter(str(o.status) for o in self.outcomes())
