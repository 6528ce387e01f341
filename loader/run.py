"""Check or run a batch: the whole flow, callable from Python.

    read -> validate -> plan -> calls -> execute (or dry run) -> result workbook

`check_batch` stops after validation and touches no catalogue; `run_batch`
goes on. Both record every row's outcome in one Recorder, return a RunResult
holding one Outcome per row, and write the result workbook however the run
ends: finished, stopped or interrupted.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from loader import __version__
from loader.client import BytesListener, CatalogueAPI, CatalogueError, NotAuthorized, NotFound
from loader.errors import CannotStart
from loader.model import (
    RESULT_COLUMNS,
    Batch,
    CheckedRow,
    Outcome,
    Problem,
    RunSummary,
    Status,
    blocking,
)
from loader.pipeline.execute import dry_run, execute
from loader.pipeline.journal import SUFFIX as JOURNAL_SUFFIX
from loader.pipeline.journal import Earlier, Journal, journal_path, read_journal
from loader.pipeline.plan import Plan, Planner, unmade_resources
from loader.pipeline.read import read_batch
from loader.pipeline.record import Recorder
from loader.pipeline.report import result_columns, result_values, write_results
from loader.pipeline.validate import validate_batch
from loader.schema import Schema, load_schema

if TYPE_CHECKING:
    import pandas

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


@dataclass
class RunResult:
    """Everything a run produced."""

    batch: Batch
    problems: list[Problem]
    outcomes: list[Outcome]  # one per row, in sheet order
    summary: RunSummary
    result_path: Path | None
    refused: bool  # the batch had invalid rows and nothing was written

    @property
    def exit_code(self) -> int:
        """0 when every row is done (or in a dry run would be), 1 when any row
        failed or did not run, 2 when the batch was refused as invalid."""
        if self.refused:
            return EXIT_INVALID
        unfinished = {Status.FAILED, Status.SKIPPED, Status.INVALID}
        if self.summary.mode in ("run", "undo") and not self.summary.dry_run:
            unfinished.add(Status.NOT_RUN)
        return EXIT_FAILED if any(o.status in unfinished for o in self.outcomes) else EXIT_OK

    def counts(self) -> dict[str, int]:
        """How many rows have each status, in the order statuses first occur."""
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[str(outcome.status)] = counts.get(str(outcome.status), 0) + 1
        return counts

    def to_frame(self) -> pandas.DataFrame:
        """The rows and their outcomes as a pandas DataFrame, one row per batch row.

        Columns: `row` (the spreadsheet's row number), the batch's own columns
        (canonical names, with `resource_id` filled in), then the result
        workbook's columns, as on its Results sheet.
        """
        import pandas  # only this needs it: a second of import time saved elsewhere

        by_row = {o.row: o for o in self.outcomes}
        records = []
        for row in self.batch.rows:
            outcome = by_row[row.number]
            result = {name: getattr(outcome, name) for name in RESULT_COLUMNS}
            result["status"] = str(outcome.status)
            records.append({"row": row.number, **result_values(row, outcome), **result})
        columns = ["row", *result_columns(self.batch)[1], *RESULT_COLUMNS]
        return pandas.DataFrame.from_records(records, columns=columns)


def check_batch(
    path: Path | str,
    *,
    sheet: str | None = None,
    schema: Schema | None = None,
    result_path: Path | str | None = None,
    max_file_size: int | None = None,
    files_from: Iterable[Path | str] = (),
    trusted_files: Iterable[Path | str] = (),
) -> RunResult:
    """Read and validate a batch offline: every problem at once, nothing sent anywhere.

    A file to upload over `max_file_size` bytes makes its row invalid
    (`client.upload_limit` gives the limit of the BCDC hosts); files to upload
    must be in the batch's folder or one of `files_from`, and are looked inside
    unless named in `trusted_files`. Raises BatchError when the file cannot be read.
    """
    started = _now()
    schema = schema or load_schema()
    batch, problems, checked = _read_and_check(
        path, sheet, schema, max_file_size, files_from, trusted_files
    )
    recorder = Recorder(row.number for row in batch.rows)
    recorder.record_problems(problems)
    recorder.record_ready(checked)
    target = schema.source if schema.source.startswith(("http://", "https://")) else None
    summary = RunSummary("validate", started, _now(), __version__, target_url=target)
    refused = bool(blocking(problems))
    return finish(batch, problems, recorder.close(""), summary, result_path, refused)


def run_batch(
    path: Path | str,
    catalogue: CatalogueAPI,
    *,
    sheet: str | None = None,
    schema: Schema | None = None,
    dry_run_only: bool = False,
    skip_invalid: bool = False,
    jobs: int = 1,
    fold: bool = True,
    force_upload: bool = False,
    touch: bool = False,
    resume: bool = False,
    journal: bool = True,
    result_path: Path | str | None = None,
    keep_replaced: Path | None = None,
    stop: threading.Event | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_bytes: BytesListener | None = None,
    max_file_size: int | None = None,
    files_from: Iterable[Path | str] = (),
    trusted_files: Iterable[Path | str] = (),
) -> RunResult:
    """Validate, plan and run one batch file against `catalogue`.

    Nothing is written when any row is invalid, unless `skip_invalid`;
    `dry_run_only` says what each row would do. `fold` sends consecutive rows
    of a dataset that move no file as one call; a file the resource holds is
    not sent again unless `force_upload` (`touch` then records the refresh);
    a file over `max_file_size` bytes, or outside the batch's folder and
    `files_from`, makes its row invalid; so does what is inside a file, unless
    a warning or the file is one of `trusted_files`. With a
    `result_path` a journal is kept beside it (unless not `journal`), and
    `resume` continues the run it records. `on_start`, `on_outcome` and
    `on_bytes` hear the number of operations, each outcome, and upload bytes.
    `keep_replaced`: a folder to keep each uploaded file a row replaces in (undo).
    Raises BatchError (unreadable file) or CannotStart (no resume possible).
    """
    started = _now()
    schema = schema or load_schema()
    batch, problems, checked = _read_and_check(
        path, sheet, schema, max_file_size, files_from, trusted_files
    )
    result_file = Path(result_path) if result_path else None
    keep_journal = journal and not dry_run_only and result_file is not None
    recorder, checked, in_doubt = _records(
        batch, problems, checked, catalogue.url, result_file, resume, keep_journal
    )
    listening, catalogue.on_bytes = catalogue.on_bytes, on_bytes or catalogue.on_bytes
    user = ""
    refused = bool(blocking(problems)) and not skip_invalid
    unreached = "the batch has invalid rows, so nothing was written" if refused else ""
    planner = Planner(catalogue, schema, force_upload=force_upload, touch=touch, in_doubt=in_doubt)
    try:
        if not refused:
            user = token_user(catalogue)
            plan = _plan(planner, batch, problems, checked, recorder)
            if on_start:
                on_start(len(plan.operations))
            if on_outcome:
                recorder.listen(on_outcome)
            if dry_run_only:
                dry_run(plan, catalogue, recorder)
            else:
                execute(
                    plan, catalogue, recorder, jobs=jobs, stop=stop, fold=fold,
                    keep_replaced=keep_replaced,
                )  # fmt: skip
    except KeyboardInterrupt:
        unreached = "the run was interrupted before this row"
        raise
    except CannotStart as error:
        unreached = f"the run could not start: {error}"
        raise
    finally:
        catalogue.on_bytes = listening
        summary = RunSummary("run", started, _now(), __version__, catalogue.url, user)
        summary = dataclasses.replace(summary, dry_run=dry_run_only)
        result = finish(batch, problems, recorder.close(unreached), summary, result_file, refused)
        if recorder.journal is not None:
            recorder.journal.close()
    return result


def _records(
    batch: Batch,
    problems: list[Problem],
    checked: list[CheckedRow],
    target: str,
    result_file: Path | None,
    resume: bool,
    keep_journal: bool,
) -> tuple[Recorder, list[CheckedRow], set[int]]:
    """The run's recorder (with its journal), the rows still to run, and the rows in
    doubt. On a resume, rows an earlier run finished are recorded as it left them."""
    earlier = _earlier_run(batch, result_file) if resume else None
    journal = open_journal(batch, target, result_file, resume) if keep_journal else None
    recorder = Recorder((row.number for row in batch.rows), journal)
    recorder.record_problems(problems)
    if earlier is None:
        return recorder, checked, set()
    for outcome in earlier.done().values():
        recorder.record(outcome)
    return recorder, [r for r in checked if not recorder.has(r.number)], earlier.in_doubt


def _earlier_run(batch: Batch, result_file: Path | None) -> Earlier:
    """What the journal of the run being resumed says; refuses a changed batch."""
    journal_file = journal_path(result_file) if result_file else None
    if journal_file is None or not journal_file.exists():
        where = f" ({journal_file})" if journal_file else ""
        raise CannotStart(f"there is no journal of an earlier run to resume{where}")
    earlier = read_journal(journal_file)
    changed = earlier.changed_rows(batch)
    if changed:
        shown = ", ".join(str(n) for n in changed[:20]) + (", ..." if len(changed) > 20 else "")
        raise CannotStart(
            f"the batch has changed since the run being resumed (row {shown}); a resume "
            "must run the same batch: run it as a new batch instead"
        )
    return earlier


def open_journal(batch: Batch, target: str, result_file: Path | None, resumed: bool) -> Journal:
    """The journal beside `result_file`, opened for appending, its run record written."""
    assert result_file is not None
    journal = Journal(journal_path(result_file))
    journal.start(batch, target, resumed)
    return journal


def _plan(
    planner: Planner,
    batch: Batch,
    problems: list[Problem],
    checked: list[CheckedRow],
    recorder: Recorder,
) -> Plan:
    """Plan the valid rows; rows that cannot be planned are recorded as they fail."""
    invalid = {p.row for p in blocking(problems) if p.row is not None}
    plan = planner.plan(checked, unmade=unmade_resources(batch.rows, invalid))
    for failure in plan.failures:
        recorder.record(failure)
    return plan


def _read_and_check(
    path: Path | str,
    sheet: str | None,
    schema: Schema,
    max_file_size: int | None,
    files_from: Iterable[Path | str],
    trusted_files: Iterable[Path | str],
) -> tuple[Batch, list[Problem], list[CheckedRow]]:
    """Read and validate."""
    batch = read_batch(Path(path), sheet=sheet, schema=schema)
    problems, checked = validate_batch(
        batch, schema, files_from, max_file_size=max_file_size, trusted_files=trusted_files
    )
    return batch, problems, checked


def finish(
    batch: Batch,
    problems: list[Problem],
    outcomes: list[Outcome],
    summary: RunSummary,
    result_path: Path | str | None,
    refused: bool,
) -> RunResult:
    """Write the result workbook if asked, and hand back the result."""
    result = Path(result_path) if result_path else None
    if result is not None:
        write_results(result, batch, outcomes, summary)
    return RunResult(batch, problems, outcomes, summary, result, refused)


def _now() -> datetime:
    return datetime.now().astimezone()


def token_user(catalogue: CatalogueAPI) -> str:
    """The token's user name; the first call of a run, so it also proves the way in."""
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


def last_result_path(batch_path: Path | str) -> Path:
    """The result workbook of the newest run of this batch that kept a journal (for
    --resume without -o); raises CannotStart when there is none."""
    batch_path = Path(batch_path)
    journals = sorted(
        batch_path.parent.glob(f"{batch_path.stem}-results-*{JOURNAL_SUFFIX}"),
        key=lambda p: p.stat().st_mtime,
    )
    if not journals:
        raise CannotStart(f"there is no journal of an earlier run of {batch_path.name} to resume")
    return journals[-1].with_name(journals[-1].name.removesuffix(JOURNAL_SUFFIX) + ".xlsx")


def default_result_path(batch_path: Path | str) -> Path:
    """Where results go when no -o is given: beside the batch, stamped with the time."""
    batch_path = Path(batch_path)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return batch_path.with_name(f"{batch_path.stem}-results-{stamp}.xlsx")
