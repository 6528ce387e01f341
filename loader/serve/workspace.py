"""What the page's server holds between requests, in memory only.

One server serves one editor: a Workspace holds the batches it knows (from
the folder it was started on, or dropped on the page), the way into the
catalogue with the editor's token (`access`), the previews and runs under
way (`jobs`), and the due reports asked for.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from werkzeug.datastructures import FileStorage

from loader.serve import library
from loader.serve.access import CatalogueAccess
from loader.serve.jobs import Job
from loader.serve.library import CheckedBatch, DueRow
from loader.text import plural, stamped_name


@dataclass
class BatchEntry:
    """A batch the page knows: where it is, how to read it, and its last check."""

    id: str
    path: Path
    dropped: bool
    checked: CheckedBatch | None = None
    unreadable: str = ""  # why the file could not be read at all
    checked_workbook: Path | None = None
    checked_at: datetime | None = None
    made: str = ""  # how the page made it (an export, a due report), in a sentence
    # the command line's --sheet, --schema and --jobs, as the editor chose them on the page
    sheet: str | None = None  # None: 'Batch', else the first
    schema: str = "bundled"  # or "live": the catalogue's own
    jobs: int = library.JOBS_DEFAULT
    sheets: list[str] = field(default_factory=list)  # the workbook's sheets, to choose from

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def ready(self) -> bool:
        """Checked, readable, and without a problem."""
        return self.checked is not None and not self.checked.problems and not self.unreadable


@dataclass
class DueReport:
    """A due report asked for on the page: what is overdue, and its workbook as a batch."""

    id: str
    organizations: list[str]
    made_at: datetime
    rows: list[DueRow]
    entry: BatchEntry | None  # the due workbook (None when nothing is due)


class Workspace:
    """The batches, catalogue access and jobs of one server."""

    def __init__(
        self,
        folder: Path,
        catalogue_url: str | None,
        api_key: str | None = None,
        token_source: str = "$CKAN_API_KEY",
    ):
        self.folder = folder.resolve()
        self.access = CatalogueAccess(catalogue_url, api_key, token_source)
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
        self._live_schema: library.Schema | None = None  # read once, when first asked for

    @property
    def catalogue_url(self) -> str | None:
        return self.access.url

    @property
    def production(self) -> bool:
        return self.access.production

    # -- batches -----------------------------------------------------------------

    def folder_batches(self) -> list[BatchEntry]:
        """The batch files in the folder the server was started on, by name."""
        found = []
        for path in sorted(self.folder.iterdir()):
            if (
                path.is_file()
                and path.suffix.lower() in library.BATCH_SUFFIXES
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
        return entry

    def _place_named_files(self, checked: CheckedBatch) -> bool:
        placed = False
        for _number, values in checked.rows:
            named = values.get("upload", "")
            if not named or named == library.CLEAR:
                continue
            target = library.upload_path(self.dropped_folder, named).resolve()
            source = self.dropped_folder / target.name
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
        """Read and validate a batch again, with the options chosen for it; keep the
        checked workbook for download."""
        workbook = self.output_folder / f"{entry.id}-{entry.path.stem}-checked.xlsx"
        entry.checked_at = datetime.now().astimezone()
        entry.sheets = library.sheet_names(entry.path)
        try:
            options = self.options_for(entry)
            entry.checked = library.check(entry.path, options, result_path=workbook)
            # a dropped batch: the files dropped with it go where its rows look for them
            if entry.dropped and self._place_named_files(entry.checked):
                entry.checked = library.check(entry.path, options, result_path=workbook)
            entry.unreadable = ""
            entry.checked_workbook = workbook
        except library.LoaderError as error:
            entry.checked = None
            entry.unreadable = error.message
            entry.checked_workbook = None

    def options_for(self, entry: BatchEntry) -> library.CheckOptions:
        """How a batch is read and checked: the target's limits, and the sheet and schema
        chosen for it. Raises LoaderError when the live schema cannot be read."""
        schema = None
        if entry.schema == "live":
            if self._live_schema is None:
                self._live_schema = library.live_schema(self.access.catalogue())
            schema = self._live_schema
        return replace(self.options, sheet=entry.sheet, schema=schema)

    def choose(self, entry: BatchEntry, sheet: str, schema: str) -> str:
        """Read the batch from `sheet` ("" for the default) against the `schema` named
        ("bundled" or "live"), as --sheet and --schema do, and check it again; says why
        not ("" when done)."""
        if schema not in ("bundled", "live"):
            return "Choose the loader's schema or the catalogue's live one."
        if schema == "live" and not self.catalogue_url:
            return (
                "The live schema is the catalogue's: start bcdc-loader serve with "
                "--ckan URL|test|prod to use it."
            )
        entry.sheet, entry.schema = sheet or None, schema
        self.check(entry)
        return ""

    # -- from the catalogue: export and the due report -------------------------------

    def export(self, organizations: list[str], packages: list[str]) -> BatchEntry:
        """Export into the session's folder; the batch written, checked, as the page knows it.

        Uses the token when there is one (private datasets need it). Raises
        library.LoaderError when a name is not found or the catalogue does not answer.
        """
        assert self.catalogue_url
        path = self.dropped_folder / _made_name("export", [*organizations, *packages])
        catalogue = self.access.catalogue()
        done = library.export(catalogue, path, organizations=organizations, packages=packages)
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
        catalogue = self.access.catalogue()
        rows = library.due(catalogue, path, organizations=organizations)
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
        """Start a preview or run (with the batch's options: its sheet, its schema, its
        workers) in a thread of its own; the page polls the job."""
        assert entry.checked is not None and self.access.has_token
        suffix = "preview" if kind == "preview" else "results"
        result_path = self.output_folder / stamped_name(entry.path.stem, suffix)
        preview = kind == "preview"
        options = library.RunOptions(
            self.options_for(entry), dry_run=preview, jobs=1 if preview else entry.jobs
        )
        job = Job(
            kind,
            entry.id,
            rows=[number for number, _ in entry.checked.rows],
            sizes=library.upload_sizes(entry.checked, entry.path) if kind == "run" else {},
            result_path=result_path,
            told=_told(options),
        )
        self.jobs[(entry.id, kind)] = job
        catalogue = self.access.catalogue()
        thread = threading.Thread(
            target=self._work, args=(job, entry.path, catalogue, options, result_path), daemon=True
        )
        thread.start()
        return job

    def _work(
        self,
        job: Job,
        path: Path,
        catalogue: library.Catalogue,
        options: library.RunOptions,
        result_path: Path,
    ) -> None:
        """Carry out the job in its thread; forget `result_path` when nothing was written there."""
        try:
            outcomes, counts, _code = library.run(path, catalogue, options, job, result_path)
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
        """Stop what runs, close the catalogue clients and remove the scratch folder
        (dropped files and results)."""
        for job in self.jobs.values():
            job.stop.set()
        self.access.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _told(options: library.RunOptions) -> str:
    """The options a job runs with that are not the command line's defaults, in words."""
    told = []
    if options.jobs != library.JOBS_DEFAULT:
        told.append(f"{options.jobs} workers")
    if options.check.sheet:
        told.append(f"sheet '{options.check.sheet}'")
    if options.check.schema is not None:
        told.append("the catalogue's live schema")
    return ", ".join(told)


def _made_name(kind: str, names: list[str]) -> str:
    """A file name for a batch the page makes: `export-water-quality-20261127-071200.xlsx`.

    Only letters, digits, `-` and `_` of the names typed are kept, so the name
    stays in the session's folder whatever was typed.
    """
    words = "_".join(re.sub(r"[^A-Za-z0-9_-]+", "", name) for name in names).strip("_")
    return stamped_name(kind, words[:60] or "batch")


def _file_name(sent: str | None) -> str | None:
    """A dropped file's own name, as the batch names it (spaces and accents kept), or None.

    Only the last part of what the browser sends is used, so a name can never
    reach outside the folder it is saved in.
    """
    name = (sent or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name.startswith(".") or "\x00" in name:
        return None
    return name
