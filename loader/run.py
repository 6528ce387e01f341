"""Check or run a batch: the whole flow, callable from Python.

    read -> validate -> plan -> calls -> execute (or dry run) -> result workbook

`check_batch` stops after validation and touches no catalogue; `run_batch`
goes on. Each takes its options as one value (`loader.options`); both record
every row's outcome in one Recorder, return a RunResult holding one Outcome
per row, and write the result workbook however the run ends: finished,
stopped or interrupted (`loader.pipeline.result`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from loader.client import CatalogueAPI, bytes_heard_by
from loader.errors import CannotStart
from loader.model import Batch, CheckedRow, Problem, blocking
from loader.options import CheckOptions, Listeners, RunOptions
from loader.pipeline.execute import dry_run, execute_lanes
from loader.pipeline.follow import following
from loader.pipeline.journal import SUFFIX as JOURNAL_SUFFIX
from loader.pipeline.journal import Earlier, journal_path, read_journal
from loader.pipeline.operations import Operation, Plan
from loader.pipeline.plan import Planner, unmade_resources
from loader.pipeline.read import read_batch
from loader.pipeline.record import Recorder
from loader.pipeline.result import RunResult, recording, starting, token_user
from loader.pipeline.validate import validate_batch
from loader.schema import Schema, load_schema
from loader.text import stamped_name

__all__ = [
    "CheckOptions",
    "Listeners",
    "RunOptions",
    "RunResult",
    "check_batch",
    "default_result_path",
    "last_result_path",
    "run_batch",
]


def check_batch(
    path: Path | str,
    options: CheckOptions = CheckOptions(),
    *,
    result_path: Path | str | None = None,
) -> RunResult:
    """Read and validate a batch offline: every problem at once, nothing sent anywhere.

    A file to upload over `options.max_file_size` bytes makes its row invalid
    (`CheckOptions.for_target` gives a catalogue's own limit); files to upload
    must be in the batch's folder or one of `options.files_from`, and are
    looked inside unless named in `options.trusted_files` (what is found there
    may be only a warning, which leaves its row ready). With a `result_path`,
    the result workbook is written there. Raises BatchError when the file
    cannot be read.
    """
    schema = options.schema or load_schema()
    target = schema.source if schema.source.startswith(("http://", "https://")) else None
    summary = starting("validate", target)
    batch, problems, checked = _read_and_check(path, options, schema)
    result_file = Path(result_path) if result_path else None
    refused = bool(blocking(problems))
    with recording(batch, problems, summary, result_file, refused=refused) as done:
        done.recorder.record_ready(checked)
    assert done.result is not None
    return done.result


def run_batch(
    path: Path | str,
    catalogue: CatalogueAPI,
    options: RunOptions = RunOptions(),
    *,
    result_path: Path | str | None = None,
    listeners: Listeners = Listeners(),
    stop: threading.Event | None = None,
) -> RunResult:
    """Validate, plan and run one batch file against `catalogue`.

    Nothing is written when any row is invalid, unless `options.skip_invalid`;
    a dry run says what each row would do. With a `result_path`, the result
    workbook is written there and a run that writes keeps its journal beside
    it (which `options.resume` continues). `listeners` hear the number of
    operations, each outcome and upload bytes as they happen; setting `stop`
    lets the calls under way finish and runs no more. Raises BatchError
    (unreadable file) or CannotStart (no resume possible, or the catalogue
    refuses the token).
    """
    summary = starting("run", catalogue.url, options.dry_run)
    schema = options.check.schema or load_schema()
    batch, problems, checked = _read_and_check(path, options.check, schema)
    result_file = Path(result_path) if result_path else None
    earlier = _earlier_run(batch, result_file, catalogue) if options.resume else None
    refused = bool(blocking(problems)) and not options.skip_invalid
    with (
        recording(
            batch, problems, summary, result_file, resumed=options.resume, refused=refused
        ) as run,
        bytes_heard_by(catalogue, listeners.on_bytes),
    ):
        if refused:
            run.unreached = "the batch has invalid rows, so nothing was written"
        else:
            checked, in_doubt = _resumed(run.recorder, checked, earlier)
            planner = Planner(
                catalogue, schema, force_upload=options.force_upload, touch=options.touch,
                in_doubt=in_doubt, done=earlier.named() if earlier else None,
            )  # fmt: skip
            run.prove_token(catalogue)
            unmade = unmade_resources(batch.rows, _invalid_rows(problems))
            if options.dry_run:
                plan = _plan(planner, checked, unmade, run.recorder)
                run.begin(len(plan.operations), listeners)
                dry_run(plan, catalogue, run.recorder)
            else:
                run.begin(len(checked), listeners)
                _carry_out(planner, checked, unmade, catalogue, run.recorder, options, stop)
    assert run.result is not None
    return run.result


def _carry_out(
    planner: Planner,
    checked: list[CheckedRow],
    unmade: dict[tuple[str, str], int],
    catalogue: CatalogueAPI,
    recorder: Recorder,
    options: RunOptions,
    stop: threading.Event | None,
) -> None:
    """Plan and run the rows, each dataset's calls starting as soon as it is planned
    (its read back) while the other datasets are still being read; then wait for the
    DataStore loads of the files sent (at most options.datastore_wait seconds after
    each upload)."""
    with (
        following(catalogue, recorder, options.datastore_wait, stop) as loads,
        contextlib.closing(planner.by_dataset(checked, unmade)) as plans,
    ):
        execute_lanes(
            _lanes(plans, recorder), catalogue, recorder, jobs=options.jobs, stop=stop,
            fold=options.fold, keep_replaced=options.keep_replaced, loads=loads,
        )  # fmt: skip


def _lanes(plans: Iterable[Plan], recorder: Recorder) -> Iterator[list[Operation]]:
    """Each planned dataset's operations; rows that cannot be planned are recorded as
    they fail."""
    for plan in plans:
        for failure in plan.failures:
            recorder.record(failure)
        yield from plan.lanes()


def _resumed(
    recorder: Recorder, checked: list[CheckedRow], earlier: Earlier | None
) -> tuple[list[CheckedRow], set[int]]:
    """The rows still to run, and the rows in doubt. On a resume, rows an earlier run
    finished are recorded as it left them."""
    if earlier is None:
        return checked, set()
    for outcome in earlier.done().values():
        recorder.record(outcome)
    return [r for r in checked if not recorder.has(r.number)], earlier.in_doubt


def _earlier_run(batch: Batch, result_file: Path | None, catalogue: CatalogueAPI) -> Earlier:
    """What the journal of the run being resumed says. Refused before anything is
    written (the journal included): a changed batch, another catalogue, another user."""
    journal_file = journal_path(result_file) if result_file else None
    if journal_file is None or not journal_file.exists():
        where = f" ({journal_file})" if journal_file else ""
        raise CannotStart(f"there is no journal of an earlier run to resume{where}")
    earlier = read_journal(journal_file)
    if earlier.target and earlier.target.rstrip("/") != catalogue.url.rstrip("/"):
        raise CannotStart(
            f"the run being resumed wrote to {earlier.target}, not {catalogue.url}: resume "
            "it there; nothing was written"
        )
    user = token_user(catalogue) if earlier.user else ""
    if user != earlier.user:
        raise CannotStart(
            f"the run being resumed was made by {earlier.user}, and this token is {user}'s: "
            f"resume it with {earlier.user}'s token (or run the batch anew); nothing was written"
        )
    changed = earlier.changed_rows(batch)
    if changed:
        shown = ", ".join(str(n) for n in changed[:20]) + (", ..." if len(changed) > 20 else "")
        raise CannotStart(
            f"the batch has changed since the run being resumed (row {shown}); a resume "
            "must run the same batch: run it as a new batch instead"
        )
    return earlier


def _invalid_rows(problems: list[Problem]) -> set[int]:
    return {p.row for p in blocking(problems) if p.row is not None}


def _plan(
    planner: Planner,
    checked: list[CheckedRow],
    unmade: dict[tuple[str, str], int],
    recorder: Recorder,
) -> Plan:
    """Plan the valid rows whole; rows that cannot be planned are recorded as they fail."""
    plan = planner.plan(checked, unmade=unmade)
    for failure in plan.failures:
        recorder.record(failure)
    return plan


def _read_and_check(
    path: Path | str, options: CheckOptions, schema: Schema
) -> tuple[Batch, list[Problem], list[CheckedRow]]:
    """Read and validate."""
    batch = read_batch(Path(path), sheet=options.sheet, schema=schema)
    problems, checked = validate_batch(
        batch,
        schema,
        options.files_from,
        max_file_size=options.max_file_size,
        trusted_files=options.trusted_files,
    )
    return batch, problems, checked


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
    return batch_path.with_name(stamped_name(batch_path.stem, "results"))
