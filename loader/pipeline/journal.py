"""The journal: every row's outcome on disk the moment it is known.

A run writes JSON lines beside its result workbook (`RESULT.journal.jsonl`),
each flushed and synced before the loader goes on:

- `run`: what was run (the batch, a digest of each row, the catalogue);
- `sent`: a request is about to leave, with the rows it covers, what each
  does and, for each row that changes or deletes a resource, the resource as
  it was before (with `_kept_file`, where `run --keep-replaced` kept its file);
- `outcome`: a row's outcome (and the resource as the catalogue saved it);
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

from loader.model import Batch, Outcome, Row, Status

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

    def sent(self, operations: Iterable[Operation]) -> None:
        ops = list(operations)
        self.write(
            {
                "kind": "sent",
                "at": _now(),
                "rows": [op.row for op in ops],
                "actions": {str(op.row): str(op.action) for op in ops},
                "before": {str(op.row): op.before for op in ops if op.before is not None},
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
    """Read a journal; a line cut short by a crash (the last one) is ignored."""
    earlier = Earlier()
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            _apply(earlier, record)
    return earlier


def _apply(earlier: Earlier, record: dict[str, Any]) -> None:
    kind = record.get("kind")
    if kind == "run":
        earlier.target = str(record.get("target") or "")
        earlier.rows = {int(n): d for n, d in record["rows"].items()}
    elif kind == "sent":
        earlier.in_doubt.update(record["rows"])
        for number, action in record.get("actions", {}).items():
            # a resume that finds a row's write landed sends nothing for it ("noop");
            # the row still did what it first sent
            if action != "noop" or int(number) not in earlier.actions:
                earlier.actions[int(number)] = action
        for number, snapshot in record.get("before", {}).items():
            earlier.before.setdefault(int(number), snapshot)
    elif kind == "outcome":
        values = {k: v for k, v in record.items() if k in _OUTCOME_FIELDS}
        outcome = Outcome(**{**values, "status": Status(values["status"])})
        earlier.outcomes[outcome.row] = outcome
        # a row whose request never left (not run) is not in doubt, whatever its code
        if outcome.status != Status.FAILED or outcome.code not in _IN_DOUBT_CODES:
            earlier.in_doubt.discard(outcome.row)


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds")
