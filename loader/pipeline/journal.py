"""The journal: every row's outcome on disk the moment it is known.

A run writes JSON lines beside its result workbook (`RESULT.journal.jsonl`),
each handed to the operating system (written and flushed) before the loader
goes on:

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

What survives what. A line the loader has written is in the kernel once the
write returns, so killing the loader (kill -9, a crash) loses none of it. A
power cut or an operating system crash loses what the kernel had not yet put
on the disk, so the one record that must be on the disk is synced before the
loader goes on: a `sent` record, before its request leaves (else a resume
after a power cut could send again a create that landed, and make the
resource twice). Outcomes are not synced one by one: the next `sent` record's
sync, or the end of the run, carries them to the disk. A power cut can thus
lose the outcomes of the last requests, whose `sent` records are on the disk:
a resume finds those rows in doubt and looks them up before sending anything.
A row that sends nothing writes no `sent` record; if its outcome is lost, a
resume plans it again and again finds nothing to send. Several lanes share
one sync: a sync covers every line written before it began, so a lane whose
line an earlier sync already covered does not sync again.
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


# Syncs a file's contents to the disk; fdatasync skips the times the file's
# metadata holds, which a reader of the journal does not need (not on every system).
_sync_to_disk = getattr(os, "fdatasync", os.fsync)


class Journal:
    """An append-only journal file; safe to write from several threads."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()  # one line at a time, whole
        self._sync_lock = threading.Lock()  # one sync at a time
        self._written = 0  # lines handed to the operating system
        self._synced = 0  # lines known to be on the disk
        self.bytes = 0
        self.syncs = 0

    def write(self, record: dict[str, Any], *, durable: bool = False) -> None:
        """Append one line, in the kernel when this returns (safe against a kill);
        `durable` also waits until it is on the disk (safe against a power cut)."""
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line)
            self._file.flush()
            self._written += 1
            mine = self._written
            self.bytes += len(line.encode("utf-8"))
        if durable:
            self._sync(mine)

    def _sync(self, line: int) -> None:
        """Put every line up to `line` on the disk, unless a sync already did."""
        with self._sync_lock:
            if self._synced >= line:
                return
            with self._lock:
                if self._file.closed:
                    return
                upto = self._written  # lines written meanwhile ride along
                descriptor = self._file.fileno()
            _sync_to_disk(descriptor)
            self._synced = upto
            self.syncs += 1

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
            },
            durable=True,
        )

    def user(self, name: str) -> None:
        """Whose token the run writes with (a resume must use the same user's)."""
        self.write({"kind": "user", "at": _now(), "name": name})

    def sent(self, operations: Iterable[Operation]) -> None:
        """A request covering these operations is about to leave: on the disk first."""
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
            },
            durable=True,
        )

    def outcome(self, outcome: Outcome) -> None:
        record = dataclasses.asdict(outcome)
        record["status"] = str(outcome.status)
        self.write({"kind": "outcome", "at": _now(), **record})

    def end(self, counts: dict[str, int]) -> None:
        self.write({"kind": "end", "at": _now(), "counts": counts}, durable=True)

    def close(self) -> None:
        with self._sync_lock, self._lock:
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

    def named(self) -> dict[int, str]:
        """The resources the finished rows name, by row (a delete names none): where a
        reorder row, run on a resume, finds their places."""
        return {
            n: o.resource_id
            for n, o in self.done().items()
            if o.resource_id and self.actions.get(n) not in ("delete", "reorder")
        }


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
_ACTIONS = frozenset({"create", "update", "patch", "delete", "touch", "reload", "reorder", "noop"})


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
