"""A preview or run the page started: filled in as rows finish, shown as the page polls.

A Job hears the run as it goes (its rows, the bytes of its uploads), is
stopped from the page, and says where it is in a sentence and a snapshot
the page's script reads. It holds no token and no catalogue: the workspace
starts it, and `library.run` fills it in.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from loader.serve.library import RowOutcome, in_words, tally_key
from loader.text import plural, show_size


class RowSnapshot(TypedDict):
    """One finished row, as the page's script fills it in."""

    row: int
    status: str
    action: str
    error: str
    link: str | None  # the resource's page, only when it is an http(s) address
    datastore: str  # the file it sent, in the catalogue's DataStore


class JobSnapshot(TypedDict):
    """A job as the page shows it (see Job.snapshot)."""

    state: str
    running: bool
    summary: str
    total: int
    finished: int
    rows_text: str
    bytes_total: int
    bytes_done: int
    bytes_text: str
    has_workbook: bool
    rows: list[RowSnapshot]
    next: int


@dataclass
class Job:
    """One preview or run of a batch, filled in as rows finish."""

    kind: str  # "preview" or "run"
    batch_id: str
    rows: list[int]  # every row number of the batch, sheet order
    sizes: dict[int, int]  # bytes each row uploads
    stop: threading.Event = field(default_factory=threading.Event)
    # Guards `state`, so that a Stop and the job's end cannot cross (see request_stop),
    # and the byte counts, which the worker writes while the page reads them.
    lock: threading.Lock = field(default_factory=threading.Lock)
    state: str = "starting"  # starting, running, stopping, finished, could not start
    total: int | None = None  # operations the run carries out (from on_start)
    outcomes: dict[int, RowOutcome] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)  # rows in the order they finished
    counts: dict[str, int] = field(default_factory=dict)
    message: str = ""
    result_path: Path | None = None
    started: float = field(default_factory=time.monotonic)
    seconds: float | None = None
    # Bytes: of files of finished rows that went up whole, of files that did not
    # go (unchanged, failed, not run), and streamed since the last file finished.
    bytes_sent: int = 0
    bytes_unsent: int = 0
    bytes_streaming: int = 0
    told: str = ""  # the options it runs with that are not the defaults, in words

    @property
    def running(self) -> bool:
        return self.state in ("starting", "running", "stopping")

    def request_stop(self) -> bool:
        """Ask a job under way to stop; False (and nothing changed) once it has ended.

        Under the lock the worker's last change of state also takes, so a job
        that ends meanwhile is never left "stopping" (which would refuse every
        later preview or run).
        """
        with self.lock:
            if not self.running:
                return False
            self.stop.set()
            self.state = "stopping"
            return True

    def begin(self, total: int) -> None:
        """The run has planned `total` operations and starts sending."""
        with self.lock:
            self.total = total
            self.state = "stopping" if self.stop.is_set() else "running"

    def end(self, state: str, message: str = "") -> None:
        """The job's last change of state ("finished" or "could not start")."""
        with self.lock:
            self.state = state
            self.message = message
            self.seconds = time.monotonic() - self.started

    @property
    def bytes_total(self) -> int:
        return sum(self.sizes.values())

    @property
    def bytes_done(self) -> int:
        """Bytes of the batch's files uploaded so far, as they stream.

        The page runs one call at a time, so the bytes heard since the last
        file finished belong to the file going up now. They count up to that
        file's size at most: what streams also carries the form around the
        file, which is no part of the batch's files.
        """
        with self.lock:
            pending = [size for row, size in self.sizes.items() if row not in self.outcomes]
            return self.bytes_sent + min(self.bytes_streaming, max(pending, default=0))

    def heard_bytes(self, count: int) -> None:
        """Upload bytes just sent (from run_batch's on_bytes)."""
        with self.lock:
            self.bytes_streaming += count

    def finished_row(self, outcome: RowOutcome) -> None:
        """A row's outcome; a row with a file settles that file's bytes."""
        with self.lock:
            self.outcomes[outcome.row] = outcome
            self.order.append(outcome.row)
            size = self.sizes.get(outcome.row)
            if size is None:
                return
            if outcome.status == "done" and self.bytes_streaming:
                self.bytes_sent += size
            else:  # its file did not go: unchanged in the catalogue, failed, or not run
                self.bytes_unsent += size
            self.bytes_streaming = 0

    def load_changed(self, outcome: RowOutcome) -> None:
        """A row's file finished loading into the DataStore (or failed to): the row is
        shown again at the next poll."""
        with self.lock:
            self.outcomes[outcome.row] = outcome
            self.order.append(outcome.row)

    def shown_status(self, outcome: RowOutcome) -> str:
        """A row's status in the page's words: a previewed row that would run is "ready"."""
        if self.kind == "preview" and outcome.status == "not run" and not outcome.error:
            return "ready"
        return outcome.status

    def snapshot(self, since: int = 0, first: int = 0, last: int | None = None) -> JobSnapshot:
        """The job as the page shows it, and as its script reads it (text only).

        While it runs, `rows` holds only the rows finished after the first
        `since` (the script asks for what is new, so a long batch costs each
        poll little); `next` is the `since` of the next poll. Once finished,
        every row is there. Either way, only rows numbered `first` to `last`
        (the page of rows drawn), when given.
        """
        running = self.running
        outcomes = dict(self.outcomes)
        order = list(self.order)
        shown = order[since:] if running else self.rows
        if first or last is not None:
            shown = [r for r in shown if first <= r and (last is None or r <= last)]
        total = self.total if self.total is not None and running else len(self.rows)
        finished = len(outcomes) if running else len(self.rows)
        counts: dict[str, int] = {}
        for outcome in outcomes.values():  # a preview's rows, by what they would do
            key = tally_key(outcome.status, outcome.operation, self.kind == "preview")
            counts[key] = counts.get(key, 0) + 1
        bytes_done = self.bytes_done
        return {
            "state": self.state,
            "running": running,
            "summary": self._summary(finished, total, counts),
            "total": total,
            "finished": finished,
            "rows_text": f"{finished} of {total} rows",
            "bytes_total": self.bytes_total,
            "bytes_done": bytes_done,
            "bytes_text": self._bytes_text(bytes_done, running),
            "has_workbook": not running and self.result_path is not None,
            "rows": [
                {
                    "row": o.row,
                    "status": self.shown_status(o),
                    "action": o.action.replace(" -> ", " \u2192 "),
                    "error": o.error,
                    "link": o.resource_url if _is_web_address(o.resource_url) else None,
                    "datastore": o.datastore,
                }
                for o in (outcomes[r] for r in shown if r in outcomes)
            ],
            "next": len(order) if running else len(self.rows),
        }

    def _bytes_text(self, done: int, running: bool) -> str:
        """How much of the batch's files went up; once ended, what did not and why."""
        text = f"{show_size(done)} of {show_size(self.bytes_total)} uploaded"
        if not running and self.bytes_unsent:
            text += (
                f"; {show_size(self.bytes_unsent)} not sent (a file the catalogue already "
                "holds, or a row not done)"
            )
        return text

    def _summary(self, finished: int, total: int, counts: dict[str, int]) -> str:
        """The job's state in a sentence."""
        what = "Preview" if self.kind == "preview" else "Run"
        what += f" ({self.told})" if self.told else ""
        if self.state == "starting":
            return f"{what}: looking up the datasets and resources the batch names..."
        if self.state == "running":
            loading = sum(o.loading for o in self.outcomes.values())
            if finished >= total and loading:
                return (
                    f"{what} under way: every row finished; waiting for the catalogue to load "
                    f"{plural(loading, 'file')} into its DataStore."
                )
            return f"{what} under way: {finished} of {total} rows finished."
        if self.state == "stopping":
            return "Stopping: calls under way finish; the rows after them will not run."
        if self.state == "finished":
            loads = Counter(o.load for o in self.outcomes.values() if o.load)
            return f"{what} finished in {self.seconds or 0:.1f} s: {in_words(counts, loads)}."
        return f"The {self.kind} could not start: {self.message}"


def _is_web_address(url: str | None) -> bool:
    return url is not None and url.lower().startswith(("http://", "https://"))
