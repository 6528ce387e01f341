"""Check or run a batch: the whole flow, callable from Python.

    read -> validate -> plan -> calls -> execute (or dry run) -> result workbook

`check_batch` stops after validation and touches no catalogue; `run_batch`
goes on. Both record every row's outcome in one Recorder, return a RunResult
holding one Outcome per row, and write the result workbook however the run
ends: finished, stopped or interrupted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from loader import __version__
from loader.client import CatalogueAPI, CatalogueError, NotAuthorized, NotFound
from loader.errors import CannotStart
from loader.model import Batch, CheckedRow, Outcome, Problem, RunSummary, Status
from loader.pipeline.execute import dry_run, execute
from loader.pipeline.plan import Planner, unmade_resources
from loader.pipeline.read import read_batch
from loader.pipeline.record import Recorder
from loader.pipeline.report import RESULT_COLUMNS, write_results
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
        if self.summary.mode == "run" and not self.summary.dry_run:
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
        (canonical names), then the result workbook's columns and `code`.
        """
        import pandas  # only this needs it: a second of import time saved elsewhere

        by_row = {o.row: o for o in self.outcomes}
        records = []
        for row in self.batch.rows:
            outcome = by_row[row.number]
            result = {name: getattr(outcome, name) for name in RESULT_COLUMNS}
            result["status"] = str(outcome.status)
            records.append({"row": row.number, **row.values, **result, "code": outcome.code})
        columns = ["row", *self.batch.columns, *RESULT_COLUMNS, "code"]
        return pandas.DataFrame.from_records(records, columns=columns)


def check_batch(
    path: Path | str,
    *,
    sheet: str | None = None,
    schema: Schema | None = None,
    result_path: Path | str | None = None,
    files_from: Iterable[Path | str] = (),
) -> RunResult:
    """Read and validate a batch offline: every problem at once, nothing sent anywhere.

    Files to upload must be in the batch's folder or one of `files_from`.
    Raises BatchError when the file cannot be read.
    """
    started = _now()
    schema = schema or load_schema()
    batch, problems, checked, recorder = _read_and_check(path, sheet, schema, files_from)
    recorder.record_ready(checked)
    target = schema.source if schema.source.startswith(("http://", "https://")) else None
    summary = RunSummary("validate", started, _now(), __version__, target_url=target)
    return _finish(batch, problems, recorder.close(""), summary, result_path, bool(problems))


def run_batch(
    path: Path | str,
    catalogue: CatalogueAPI,
    *,
    sheet: str | None = None,
    schema: Schema | None = None,
    dry_run_only: bool = False,
    skip_invalid: bool = False,
    jobs: int = 1,
    result_path: Path | str | None = None,
    stop: threading.Event | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    files_from: Iterable[Path | str] = (),
) -> RunResult:
    """Validate, plan and run one batch file against `catalogue`.

    Nothing is written when any row is invalid, unless `skip_invalid`. With
    `dry_run_only`, names are resolved and each row says what it would do.
    `on_start` receives the number of operations about to run (for a progress
    bar); `on_outcome` each of their outcomes as it happens. Files to upload
    must be in the batch's folder or one of `files_from`. Raises BatchError
    when the file cannot be read.
    """
    started = _now()
    schema = schema or load_schema()
    batch, problems, checked, recorder = _read_and_check(path, sheet, schema, files_from)
    user = ""
    refused = bool(problems) and not skip_invalid
    unreached = "the batch has invalid rows, so nothing was written" if refused else ""
    try:
        if not refused:
            user = _who(catalogue)
            invalid = {p.row for p in problems if p.row is not None}
            plan = Planner(catalogue, schema).plan(
                checked, unmade=unmade_resources(batch.rows, invalid)
            )
            for failure in plan.failures:
                recorder.record(failure)
            if on_start:
                on_start(len(plan.operations))
            if on_outcome:
                recorder.listen(on_outcome)
            if dry_run_only:
                dry_run(plan, catalogue, recorder)
            else:
                execute(plan, catalogue, recorder, jobs=jobs, stop=stop)
    except KeyboardInterrupt:
        unreached = "the run was interrupted before this row"
        raise
    except CannotStart as error:
        unreached = f"the run could not start: {error}"
        raise
    finally:
        outcomes = recorder.close(unreached)
        summary = RunSummary(
            "run", started, _now(), __version__, catalogue.url, user, dry_run=dry_run_only
        )
        result = _finish(batch, problems, outcomes, summary, result_path, refused)
    return result


def _read_and_check(
    path: Path | str, sheet: str | None, schema: Schema, files_from: Iterable[Path | str]
) -> tuple[Batch, list[Problem], list[CheckedRow], Recorder]:
    """Read and validate; the recorder starts with the invalid rows."""
    batch = read_batch(Path(path), sheet=sheet, schema=schema)
    problems, checked = validate_batch(batch, schema, files_from)
    recorder = Recorder(row.number for row in batch.rows)
    recorder.record_problems(problems)
    return batch, problems, checked, recorder


def _finish(
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


def _who(catalogue: CatalogueAPI) -> str:
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


def default_result_path(batch_path: Path | str) -> Path:
    """Where results go when no -o is given: beside the batch, stamped with the time."""
    batch_path = Path(batch_path)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return batch_path.with_name(f"{batch_path.stem}-results-{stamp}.xlsx")
