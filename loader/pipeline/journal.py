"""The journal: every row's outcome on disk the moment it is known.

A run writes JSON lines beside its result workbook (`RESULT.journal.jsonl`),
each flushed and synced before the loader goes on:

- `run`: what was run (the batch, a digest of each row, the catalogue);
- `user`: whose token the run writes with, once the catalogue has said;
- `sent`: a request is about to leave, with the rows it covers, what each
  does and, for each row that changes or deletes a resource, the resource as
  it was before (with `_kept_file`, where `run --keep-replaced` kept its file);
- `outcome`: a row's outcome (and the resource as the catalogue saved it); a
  row whose file the DataStore then loads (or fails to) gets a later `outcome`
  saying so, which replaces the first;
- `end`: the run ended, with its counts.

A kill leaves at most a `sent` without its outcomes: those rows are in doubt,
and `--resume` looks them up in the catalogue before sending anything. The
token is never written: nothing here holds it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loader.errors import CannotStart
from loader.model import Batch, LoadState, Outcome, Row, Status

if TYPE_CHECKING:
    from loader.pipeline.operations import Operation

SUFFIX = ".journal.jsonl"


def journal_path(result_path: Path) -> Path:
    """Where the journal of a run whose result workbook is `result_path` goes."""
    return result_path.with_name(result_path.stem + SUFFIX)


def row_digest(row: Row) -> str:
    """A digest of what a row says, to tell whether a batch changed between runs."""
    text = json.dumps(row.values, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class Journal:
    """An append-only journal file; safe to write from several threads."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self.bytes = 0

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())
            self.bytes += len(line.encode("utf-8"))

    def start(self, batch: Batch, target: str, resumed: bool) -> None:
        self.write(
            {
                "kind": "run",
                "at": _now(),
                "batch": str(batch.path),
                "sheet": batch.sheet,
                "target": target,
                "resumed": resumed,
                "rows": {str(row.number): row_digest(row) for row in batch.rows},
            }
        )

    def user(self, name: str) -> None:
        """Whose token the run writes with (a resume must use the same user's)."""
        self.write({"kind": "user", "at": _now(), "name": name})

    def sent(self, operations: Iterable[Operation]) -> None:
        ops = list(operations)
        self.write(
            {
                "kind": "sent",
                "at": _now(),
                "rows": [op.row for op in ops],
                "actions": {str(op.row): str(op.action) for op in ops},
                # a row that sends nothing changes nothing: it has no "before" to undo
                "before": {
                    str(op.row): op.before
                    for op in ops
                    if op.before is not None and op.action != "noop"
                },
            }
        )

    def outcome(self, outcome: Outcome) -> None:
        record = dataclasses.asdict(outcome)
        record["status"] = str(outcome.status)
        self.write({"kind": "outcome", "at": _now(), **record})

    def end(self, counts: dict[str, int]) -> None:
        self.write({"kind": "end", "at": _now(), "counts": counts})

    def close(self) -> None:
        with self._lock:
            self._file.close()


@dataclass
class Earlier:
    """What the journal says an earlier run (or runs) of a batch did."""

    target: str = ""  # the catalogue the run wrote to
    user: str = ""  # whose token it wrote with ("" when the journal does not say)
    rows: dict[int, str] = field(default_factory=dict)  # row number -> digest
    outcomes: dict[int, Outcome] = field(default_factory=dict)  # the last outcome of each row
    in_doubt: set[int] = field(default_factory=set)  # sent, and no answer recorded
    before: dict[int, dict[str, Any]] = field(default_factory=dict)  # first snapshot of each row
    actions: dict[int, str] = field(default_factory=dict)  # what each row's request does

    def changed_rows(self, batch: Batch) -> list[int]:
        """Rows whose contents differ from what the journal recorded (or are new or gone)."""
        now = {row.number: row_digest(row) for row in batch.rows}
        return sorted(n for n in now.keys() | self.rows.keys() if now.get(n) != self.rows.get(n))

    def done(self) -> dict[int, Outcome]:
        """Rows the earlier runs finished: they are not run again."""
        return {n: o for n, o in self.outcomes.items() if o.status == Status.DONE}


_OUTCOME_FIELDS = {f.name for f in dataclasses.fields(Outcome)}
# outcomes that leave a row in doubt: its request may or may not have been saved
_IN_DOUBT_CODES = ("interrupted", "no-answer")


def read_journal(path: Path) -> Earlier:
    """Read a journal; a line cut short by a crash (the last one) is ignored. Raises
    CannotStart when a line is not as the loader writes it (edited by hand, or
    another file): a resume or an undo must not act on a journal it cannot trust."""
    earlier = Earlier()
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            try:
                _apply(earlier, record)
            except (AttributeError, KeyError, TypeError, ValueError):
                raise CannotStart(
                    f"the journal {path} is damaged at line {number}: it is not as the loader "
                    "writes it, so it cannot be trusted to say what the run did; nothing "
                    "was written"
                ) from None
    return earlier


def _apply(earlier: Earlier, record: dict[str, Any]) -> None:
    """Take one journal line into `earlier`; TypeError or ValueError when it is not
    of the shape the loader writes."""
    kind = record.get("kind")
    if kind == "run":
        earlier.target = str(record.get("target") or "")
        earlier.rows = {_row(n): str(d) for n, d in _mapping(record["rows"]).items()}
    elif kind == "user":
        earlier.user = str(record.get("name") or "")
    elif kind == "sent":
        _apply_sent(earlier, record)
    elif kind == "outcome":
        _apply_outcome(earlier, record)


def _apply_sent(earlier: Earlier, record: dict[str, Any]) -> None:
    earlier.in_doubt.update(_row(n) for n in _listed(record["rows"]))
    for number, action in _mapping(record.get("actions", {})).items():
        if action not in _ACTIONS:
            raise ValueError(f"no operation is called {action!r}")
        # a resume that finds a row's write landed sends nothing for it ("noop");
        # the row still did what it first sent
        if action != "noop" or _row(number) not in earlier.actions:
            earlier.actions[_row(number)] = action
    for number, snapshot in _mapping(record.get("before", {})).items():
        earlier.before.setdefault(_row(number), _mapping(snapshot))


def _apply_outcome(earlier: Earlier, record: dict[str, Any]) -> None:
    values = {k: v for k, v in record.items() if k in _OUTCOME_FIELDS}
    load = LoadState(values["load"]) if values.get("load") else None
    outcome = Outcome(
        **{**values, "row": _row(values["row"]), "status": Status(values["status"]), "load": load}
    )
    if outcome.saved is not None:
        _mapping(outcome.saved)
    earlier.outcomes[outcome.row] = outcome
    # a row whose request never left (not run) is not in doubt, whatever its code
    if outcome.status != Status.FAILED or outcome.code not in _IN_DOUBT_CODES:
        earlier.in_doubt.discard(outcome.row)


# what a `sent` record may say a row does (the planner's actions, by their values)
_ACTIONS = frozenset({"create", "update", "patch", "delete", "touch", "reload", "noop"})


def _row(value: object) -> int:
    """A row number as the journal writes it (a number, or a key of digits)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise ValueError(f"{value!r} is no row number")
    return int(value)


def _mapping(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{value!r} is not a mapping")
    return value


def _listed(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"{value!r} is not a list")
    return value


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds")
