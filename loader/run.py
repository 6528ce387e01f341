"""Check or run a batch: the whole flow, callable from Python.

    read -> validate -> plan -> execute (or dry run) -> result workbook

`check_batch` stops after validation and touches no catalogue; `run_batch`
goes on. Both return a RunResult holding one Outcome per row, and write the
result workbook however the run ends: finished, stopped or interrupted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from loader import __version__
from loader.client import Catalogue, CatalogueError, NotAuthorized, NotFound
from loader.errors import CannotStart
from loader.execute import dry_run, execute
from loader.model import Batch, Outcome, Problem, RunSummary
from loader.plan import Planner, unmade_resources
from loader.read import read_batch
from loader.report import validation_outcomes, write_results
from loader.schema import Schema, load_schema
from loader.validate import validate_batch

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
        unfinished = {"failed", "skipped", "invalid"}
        if self.summary.mode == "run" and not self.summary.dry_run:
            unfinished.add("not run")
        return EXIT_FAILED if any(o.status in unfinished for o in self.outcomes) else EXIT_OK

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return counts


def check_batch(
    path: Path | str,
    *,
    sheet: str | None = None,
    schema: Schema | None = None,
    result_path: Path | str | None = None,
) -> RunResult:
    """Read and validate a batch offline: every problem at once, nothing sent anywhere.

    Raises BatchError when the file cannot be read.
    """
    started = _now()
    schema = schema or load_schema()
    batch = read_batch(Path(path), sheet=sheet, schema=schema)
    problems, checked = validate_batch(batch, schema)
    outcomes = validation_outcomes(batch, problems, checked)
    target = schema.source if schema.source.startswith(("http://", "https://")) else None
    summary = RunSummary("validate", started, _now(), __version__, target_url=target)
    return _finish(batch, problems, outcomes, summary, result_path, refused=bool(problems))


def run_batch(
    path: Path | str,
    catalogue: Catalogue,
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
) -> RunResult:
    """Validate, plan and run one batch file against `catalogue`.

    Nothing is written when any row is invalid, unless `skip_invalid`. With
    `dry_run_only`, names are resolved and each row says what it would do.
    `on_start` receives the number of operations about to run (for a progress
    bar); `on_outcome` each outcome as it happens. Raises BatchError when the
    file cannot be read.
    """
    started = _now()
    schema = schema or load_schema()
    batch = read_batch(Path(path), sheet=sheet, schema=schema)
    problems, checked = validate_batch(batch, schema)
    outcomes: dict[int, Outcome] = {
        o.row: o for o in validation_outcomes(batch, problems, checked) if o.status == "invalid"
    }
    user = ""
    refused = bool(problems) and not skip_invalid
    unreached = "the batch has invalid rows, so nothing was written" if refused else ""

    try:
        if not refused:
            user = _who(catalogue)
            planner = Planner(catalogue, schema)
            plan = planner.plan(checked, unmade=unmade_resources(batch.rows, outcomes))
            outcomes.update({o.row: o for o in plan.failures})
            if on_start:
                on_start(len(plan.operations))
            if dry_run_only:
                done = dry_run(plan, catalogue)
                for outcome in done:
                    if on_outcome:
                        on_outcome(outcome)
            else:
                done = execute(plan, catalogue, jobs=jobs, stop=stop, on_outcome=on_outcome)
            outcomes.update({o.row: o for o in done})
    except KeyboardInterrupt:
        unreached = "the run was interrupted before this row"
        raise
    except CannotStart as error:
        unreached = f"the run could not start: {error}"
        raise
    finally:
        for row in batch.rows:
            outcomes.setdefault(row.number, Outcome(row.number, "not run", error=unreached))
        summary = RunSummary(
            "run", started, _now(), __version__, catalogue.url, user, dry_run=dry_run_only
        )
        result = _finish(batch, problems, list(outcomes.values()), summary, result_path, refused)
    return result


def _finish(
    batch: Batch,
    problems: list[Problem],
    outcomes: list[Outcome],
    summary: RunSummary,
    result_path: Path | str | None,
    refused: bool,
) -> RunResult:
    """Order the outcomes as the sheet is, and write the result workbook if asked."""
    by_row = {o.row: o for o in outcomes}
    ordered = [by_row[row.number] for row in batch.rows]
    result = Path(result_path) if result_path else None
    if result is not None:
        write_results(result, batch, ordered, summary)
    return RunResult(batch, problems, ordered, summary, result, refused)


def _now() -> datetime:
    return datetime.now().astimezone()


def _who(catalogue: Catalogue) -> str:
    """The token's user name; the first call of a run, so it also proves the way in."""
    try:
        return catalogue.user().get("name", "")
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
