"""What the page's server holds between requests, in memory only.

One server serves one editor: a Workspace holds the batches it knows (from
the folder it was started on, or dropped on the page), the token, and the
previews and runs under way. The token lives in this object and nowhere
else: not in a file, a cookie, a log or a page.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypedDict

from werkzeug.datastructures import FileStorage

from loader.serve import library
from loader.serve.library import CheckedBatch, DueRow, RowOutcome
from loader.text import plural, show_size

BATCH_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".csv")


class RowSnapshot(TypedDict):
    """One finished row, as the page's script fills it in."""

    row: int
    status: str
    action: str
    error: str
    link: str | None  # the resource's page, only when it is an http(s) address


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
class BatchEntry:
    """A batch the page knows: where it is, and its last check."""

    id: str
    path: Path
    dropped: bool
    checked: CheckedBatch | None = None
    unreadable: str = ""  # why the file could not be read at all
    checked_workbook: Path | None = None
    checked_at: datetime | None = None
    made: str = ""  # how the page made it (an export, a due report), in a sentence

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def ready(self) -> bool:
        """Checked, readable, and without a problem."""
        return self.checked is not None and not self.checked.problems and not self.unreadable


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

    def shown_status(self, outcome: RowOutcome) -> str:
        """A row's status in the page's words: a previewed row that would run is "ready"."""
        if self.kind == "preview" and outcome.status == "not run" and not outcome.error:
            return "ready"
        return outcome.status

    def snapshot(self, since: int = 0) -> JobSnapshot:
        """The job as the page shows it, and as its script reads it (text only).

        While it runs, `rows` holds only the rows finished after the first
        `since` (the script asks for what is new, so a long batch costs each
        poll little); `next` is the `since` of the next poll. Once finished,
        every row is there.
        """
        running = self.running
        outcomes = dict(self.outcomes)
        order = list(self.order)
        shown = order[since:] if running else self.rows
        total = self.total if self.total is not None and running else len(self.rows)
        finished = len(outcomes) if running else len(self.rows)
        counts: dict[str, int] = {}
        for outcome in outcomes.values():
            status = self.shown_status(outcome)
            counts[status] = counts.get(status, 0) + 1
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
        if self.state == "starting":
            return f"{what}: looking up the datasets and resources the batch names..."
        if self.state == "running":
            return f"{what} under way: {finished} of {total} rows finished."
        if self.state == "stopping":
            return "Stopping: calls under way finish; the rows after them will not run."
        if self.state == "finished":
            told = ", ".join(f"{n} {status}" for status, n in counts.items())
            return f"{what} finished in {self.seconds or 0:.1f} s: {told}."
        return f"The {what.lower()} could not start: {self.message}"


@dataclass
class DueReport:
    """A due report asked for on the page: what is overdue, and its workbook as a batch."""

    id: str
    organizations: list[str]
    made_at: datetime
    rows: list[DueRow]
    entry: BatchEntry | None  # the due workbook (None when nothing is due)


class Workspace:
    """The batches, token and jobs of one server."""

    def __init__(self, folder: Path, catalogue_url: str | None, api_key: str | None = None):
        self.folder = folder.resolve()
        self.catalogue_url = catalogue_url
        self.production = catalogue_url is not None and library.is_production(catalogue_url)
        # how batches are checked, and previewed and run: the target's limits, built once
        self.options = library.check_options(catalogue_url)
        self.scratch = Path(tempfile.mkdtemp(prefix="bcdc-loader-serve-"))
        self.dropped_folder = self.scratch / "dropped"
        self.dropped_folder.mkdir()
        self.output_folder = self.scratch / "results"
        self.output_folder.mkdir()
        self.batches: dict[str, BatchEntry] = {}
        self.jobs: dict[tuple[str, str], Job] = {}
        self.due_reports: dict[str, DueReport] = {}
        self.lock = threading.Lock()
        self._api_key = api_key or None
        self.user = ""
        self.token_from_environment = bool(api_key)
        self.token_problem = ""

    # -- the token ---------------------------------------------------------------

    @property
    def has_token(self) -> bool:
        return bool(self._api_key)

    def set_token(self, api_key: str) -> None:
        """Hold a token after the catalogue accepts it; remember why when it does not."""
        api_key = api_key.strip()
        self.token_problem = ""
        if not api_key:
            self.token_problem = "The token field was empty."
            return
        if self.catalogue_url:
            try:
                self.user = library.who(self.catalogue_url, api_key)
            except library.CatalogueError:
                self.token_problem = (
                    f"{self.catalogue_url} does not accept this token (is it current, and "
                    "for this catalogue?). It was not kept."
                )
                return
        self._api_key = api_key
        self.token_from_environment = False

    def forget_token(self) -> None:
        self._api_key = None
        self.user = ""
        self.token_from_environment = False

    def check_user(self) -> None:
        """Name the user of a token taken from the environment (once)."""
        if self._api_key and not self.user and self.catalogue_url:
            try:
                self.user = library.who(self.catalogue_url, self._api_key)
            except library.CatalogueError as error:
                self._api_key = None  # asked once; the editor can enter another on the page
                self.token_problem = (
                    f"The token from CKAN_API_KEY was not accepted ({error.message}); "
                    "enter one here."
                )

    # -- batches -----------------------------------------------------------------

    def folder_batches(self) -> list[BatchEntry]:
        """The batch files in the folder the server was started on, by name."""
        found = []
        for path in sorted(self.folder.iterdir()):
            if (
                path.is_file()
                and path.suffix.lower() in BATCH_SUFFIXES
                and not path.name.startswith(("~$", "."))
                and "-results" not in path.stem
            ):
                found.append(self._entry(path, dropped=False))
        return found

    def dropped_batches(self) -> list[BatchEntry]:
        return [b for b in self.batches.values() if b.dropped]

    def _entry(self, path: Path, dropped: bool) -> BatchEntry:
        batch_id = hashlib.sha256(str(path).encode()).hexdigest()[:10]
        entry = self.batches.get(batch_id)
        if entry is None:
            entry = self.batches[batch_id] = BatchEntry(batch_id, path, dropped)
        return entry

    def get(self, batch_id: str) -> BatchEntry | None:
        entry = self.batches.get(batch_id)
        if entry is None:
            self.folder_batches()  # the folder may have gained files since the list was shown
            entry = self.batches.get(batch_id)
        return entry

    def drop(self, batch: FileStorage, files: list[FileStorage]) -> BatchEntry:
        """Save a dropped batch and the files it names; check it.

        Files land beside the batch under their own names, and again at the
        relative path the batch gives for them (so `files/a.csv` finds a
        dropped `a.csv`). A batch dropped again under the same name replaces
        the first; files dropped earlier stay.
        """
        name = _file_name(batch.filename) or "batch.xlsx"
        for upload in files:
            file_name = _file_name(upload.filename)
            if file_name:
                upload.save(self.dropped_folder / file_name)
        path = self.dropped_folder / name
        batch.save(path)
        entry = self._entry(path, dropped=True)
        self.check(entry)
        if entry.checked and self._place_named_files(entry.checked):
            self.check(entry)
        return entry

    def _place_named_files(self, checked: CheckedBatch) -> bool:
        placed = False
        for _number, values in checked.rows:
            named = values.get("upload", "")
            if not named or named == library.CLEAR:
                continue
            target = (self.dropped_folder / named).resolve()
            source = self.dropped_folder / Path(named).name
            if (
                target != source
                and not target.exists()
                and source.is_file()
                and target.is_relative_to(self.dropped_folder)
            ):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                placed = True
        return placed

    def check(self, entry: BatchEntry) -> None:
        """Read and validate a batch again; keep the checked workbook for download."""
        workbook = self.output_folder / f"{entry.id}-{entry.path.stem}-checked.xlsx"
        entry.checked_at = datetime.now().astimezone()
        try:
            entry.checked = library.check(entry.path, self.options, result_path=workbook)
            entry.unreadable = ""
            entry.checked_workbook = workbook
        except library.LoaderError as error:
            entry.checked = None
            entry.unreadable = error.message
            entry.checked_workbook = None

    # -- from the catalogue: export and the due report -------------------------------

    def export(self, organizations: list[str], packages: list[str]) -> BatchEntry:
        """Export into the session's folder; the batch written, checked, as the page knows it.

        Uses the token when there is one (private datasets need it). Raises
        library.LoaderError when a name is not found or the catalogue does not answer.
        """
        assert self.catalogue_url
        path = self.dropped_folder / _made_name("export", [*organizations, *packages])
        done = library.export(
            self.catalogue_url,
            self._api_key,
            path,
            organizations=organizations,
            packages=packages,
        )
        entry = self._entry(path, dropped=True)
        entry.made = (
            f"Exported from {self.catalogue_url} at {datetime.now():%H:%M}: "
            f"{plural(done.resources, 'resource')} of {plural(done.packages, 'dataset')}."
        )
        self.check(entry)
        return entry

    def due(self, organizations: list[str]) -> DueReport:
        """The due report of these organizations; its workbook, when anything is due,
        is saved in the session's folder as a batch. Raises library.LoaderError."""
        assert self.catalogue_url
        path = self.dropped_folder / _made_name("due", organizations)
        rows = library.due(self.catalogue_url, self._api_key, path, organizations=organizations)
        made_at = datetime.now().astimezone()
        entry = None
        if rows:
            entry = self._entry(path, dropped=True)
            entry.made = (
                f"The due report of {', '.join(organizations)} at {made_at:%H:%M}: "
                f"{plural(len(rows), 'overdue resource')}, a row each, ready for the new files."
            )
            self.check(entry)
        report_id = hashlib.sha256(f"{path}{made_at}".encode()).hexdigest()[:10]
        report = DueReport(report_id, organizations, made_at, rows, entry)
        self.due_reports[report_id] = report
        return report

    # -- previews and runs ----------------------------------------------------------

    def job(self, batch_id: str, kind: str) -> Job | None:
        return self.jobs.get((batch_id, kind))

    def busy(self) -> Job | None:
        return next((j for j in self.jobs.values() if j.running), None)

    def start(self, entry: BatchEntry, kind: str) -> Job:
        """Start a preview or run in a thread of its own; the page polls the job."""
        assert entry.checked is not None and self.catalogue_url and self._api_key
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        suffix = "preview" if kind == "preview" else "results"
        result_path = self.output_folder / f"{entry.path.stem}-{suffix}-{stamp}.xlsx"
        job = Job(
            kind,
            entry.id,
            rows=[number for number, _ in entry.checked.rows],
            sizes=library.upload_sizes(entry.checked, entry.path) if kind == "run" else {},
            result_path=result_path,
        )
        self.jobs[(entry.id, kind)] = job
        url, api_key = self.catalogue_url, self._api_key
        thread = threading.Thread(
            target=self._work, args=(job, entry.path, url, api_key, result_path), daemon=True
        )
        thread.start()
        return job

    def _work(self, job: Job, path: Path, url: str, api_key: str, result_path: Path) -> None:
        """Carry out the job in its thread; forget `result_path` when nothing was written there."""
        try:
            options = library.RunOptions(self.options, dry_run=job.kind == "preview")
            outcomes, counts, _code = library.run(path, url, api_key, options, job, result_path)
            for outcome in outcomes:  # rows refused before the run began, files and all
                if outcome.row not in job.outcomes:
                    job.finished_row(outcome)
            job.outcomes = {o.row: o for o in outcomes}
            job.counts = counts
            job.end("finished")
        except library.LoaderError as error:
            if not result_path.exists():
                job.result_path = None  # a batch that cannot be read leaves no workbook
            job.end("could not start", error.message)
        except Exception as error:  # noqa: BLE001  (the page must say something, not hang)
            job.result_path = None
            job.end("could not start", f"unexpected error: {error!r}")

    def close(self) -> None:
        """Stop what runs and remove the scratch folder (dropped files and results)."""
        for job in self.jobs.values():
            job.stop.set()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _made_name(kind: str, names: list[str]) -> str:
    """A file name for a batch the page makes: `export-water-quality-20261127-0712.xlsx`.

    Only letters, digits, `-` and `_` of the names typed are kept, so the name
    stays in the session's folder whatever was typed.
    """
    words = "_".join(re.sub(r"[^A-Za-z0-9_-]+", "", name) for name in names).strip("_")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{kind}-{words[:60] or 'batch'}-{stamp}.xlsx"


def _file_name(sent: str | None) -> str | None:
    """A dropped file's own name, as the batch names it (spaces and accents kept), or None.

    Only the last part of what the browser sends is used, so a name can never
    reach outside the folder it is saved in.
    """
    name = (sent or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name.startswith(".") or "\x00" in name:
        return None
    return name


def _is_web_address(url: str | None) -> bool:
    return url is not None and url.lower().startswith(("http://", "https://"))
