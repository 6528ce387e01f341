"""The frame of a check, run or undo: its records kept, and its result written however it ends.

`recording` opens the one Recorder (and, for a run or undo that writes, the
journal beside the result workbook) and, when the work inside ends
(finished, stopped, interrupted or unable to start), closes the records so
that every row has exactly one outcome, writes the result workbook and
closes the journal. `check_batch`, `run_batch` and `undo_run` each put their
own steps inside it; the result is a `RunResult` either way.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from loader import __version__
from loader.client import CatalogueAPI, CatalogueError, NotAuthorized, NotFound
from loader.errors import CannotStart
from loader.model import (
    UNLOADED,
    Batch,
    Outcome,
    Problem,
    RunSummary,
    Status,
    in_words,
    tally,
)
from loader.options import Listeners
from loader.pipeline.journal import Journal, journal_path
from loader.pipeline.record import Recorder
from loader.pipeline.report import (
    load_counts,
    outcome_values,
    result_values,
    sheet_columns,
    write_results,
)

if TYPE_CHECKING:
    import pandas

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
# every row done, but a file sent is not (yet) data: its DataStore load failed or was
# still under way when the run stopped waiting
EXIT_NOT_LOADED = 4


@dataclass
class RunResult:
    """Everything a check, run or undo produced."""

    batch: Batch
    problems: list[Problem]
    outcomes: list[Outcome]  # one per row, in sheet order
    summary: RunSummary
    result_path: Path | None
    refused: bool  # the batch had invalid rows and nothing was written

    @property
    def exit_code(self) -> int:
        """0 when every row is done (or in a dry run would be), 1 when any row
        failed or did not run, 2 when the batch was refused as invalid, 4 when
        every row is done but a file sent did not load into the DataStore (its
        load failed, or was still under way when the run stopped waiting)."""
        if self.refused:
            return EXIT_INVALID
        unfinished = {Status.FAILED, Status.SKIPPED, Status.INVALID}
        if self.summary.mode in ("run", "undo") and not self.summary.dry_run:
            unfinished.add(Status.NOT_RUN)
        if any(o.status in unfinished for o in self.outcomes):
            return EXIT_FAILED
        return EXIT_NOT_LOADED if any(o.load in UNLOADED for o in self.outcomes) else EXIT_OK

    def counts(self) -> dict[str, int]:
        """How many rows have each status, in the order statuses first occur."""
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[str(outcome.status)] = counts.get(str(outcome.status), 0) + 1
        return counts

    def load_counts(self) -> dict[str, int]:
        """How many files sent ended in each DataStore state (only states that occur)."""
        return load_counts(self.outcomes)

    def tally(self) -> dict[str, int]:
        """How many rows have each status; in a dry run, the rows that would run are
        counted by what they would do ("397 would change nothing, 3 would be patched")."""
        return tally(self.outcomes, self.summary.dry_run)

    def in_words(self) -> str:
        """The tally, then the DataStore states: '3 done; DataStore: 2 loaded'."""
        return in_words(self.tally(), self.load_counts())

    def to_frame(self) -> pandas.DataFrame:
        """The rows and their outcomes as a pandas DataFrame, one row per batch row.

        Columns: `row` (the spreadsheet's row number), then the columns of the
        Results sheet in its order: the outcome, the batch's own columns
        (canonical names, with `resource_id` filled in), the resource's page
        and its dataset's id.
        """
        import pandas  # only this needs it: a second of import time saved elsewhere

        by_row = {o.row: o for o in self.outcomes}
        records = []
        for row in self.batch.rows:
            outcome = by_row[row.number]
            values = {**result_values(row, outcome), **outcome_values(outcome)}
            records.append({"row": row.number, **values})
        return pandas.DataFrame.from_records(
            records, columns=["row", *sheet_columns(self.batch)[1]]
        )


@dataclass
class Recording:
    """A check, run or undo under way: its recorder, and what its summary will say."""

    recorder: Recorder
    user: str = ""  # who the catalogue says the token belongs to, once asked
    unreached: str = ""  # why rows never reached did not run, when something ended them
    result: RunResult | None = None  # set once the recording is closed

    def begin(self, total: int, listeners: Listeners) -> None:
        """The rows start to run: `on_start` hears how many outcomes follow, and
        `on_outcome` hears each outcome recorded from now on."""
        if listeners.on_start:
            listeners.on_start(total)
        if listeners.on_outcome:
            self.recorder.listen(listeners.on_outcome)
        if listeners.on_load:
            self.recorder.listen_loads(listeners.on_load)

    def prove_token(self, catalogue: CatalogueAPI) -> None:
        """Ask whose the token is: the first call, so it also proves the way in. The
        journal notes the user, whom a resume must match."""
        self.user = token_user(catalogue)
        if self.recorder.journal is not None:
            self.recorder.journal.user(self.user)


def now() -> datetime:
    """This moment, with the local time zone (as the Summary sheet shows it)."""
    return datetime.now().astimezone()


def starting(mode: str, target_url: str | None = None, dry_run: bool = False) -> RunSummary:
    """The summary of work starting now ("validate", "run" or "undo")."""
    started = now()
    return RunSummary(mode, started, started, __version__, target_url, dry_run=dry_run)


@contextlib.contextmanager
def recording(
    batch: Batch,
    problems: list[Problem],
    summary: RunSummary,
    result_path: Path | None,
    *,
    resumed: bool = False,
    refused: bool = False,
) -> Iterator[Recording]:
    """Record the work inside, and write its result however it ends.

    A run or undo that writes (not a dry run) with a `result_path` keeps its
    journal beside it; `resumed` says, in the journal, that it continues an
    earlier run. Rows with `problems` are recorded as invalid at once.
    """
    journal = None
    if summary.mode != "validate" and not summary.dry_run and result_path is not None:
        journal = Journal(journal_path(result_path))
        journal.start(batch, summary.target_url or "", resumed)
    recording = Recording(Recorder((row.number for row in batch.rows), journal))
    recording.recorder.record_problems(problems)
    try:
        yield recording
    except CannotStart as error:
        recording.unreached = f"the {summary.mode} could not start: {error}"
        raise
    except BaseException:
        recording.unreached = f"the {summary.mode} was interrupted before this row"
        raise
    finally:
        outcomes = recording.recorder.close(recording.unreached)
        summary = dataclasses.replace(summary, ended=now(), user=recording.user or None)
        if result_path is not None:
            warnings = [p for p in problems if p.warning]
            write_results(result_path, batch, outcomes, summary, warnings)
        recording.result = RunResult(batch, problems, outcomes, summary, result_path, refused)
        if journal is not None:
            journal.close()


def token_user(catalogue: CatalogueAPI) -> str:
    """The token's user name; raises CannotStart when the catalogue refuses the token
    or does not answer."""
    try:
        return str(catalogue.user().get("name", ""))
    except (NotFound, NotAuthorized):
        raise CannotStart(
            f"{catalogue.url} does not accept this API token (is it current, and for this "
            "catalogue?); nothing was written"
        ) from None
    except CatalogueError as error:
        raise CannotStart(
            f"cannot reach {catalogue.url}: {error.message}; nothing was written"
        ) from None
