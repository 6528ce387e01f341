"""The bcdc-loader command line: a thin layer over the library.

Every command parses its options, calls the library, prints and exits with
the right code. A LoaderError becomes one message on stderr and its exit
code (2 for an unusable batch or schema); nothing shows a traceback.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import click

from loader import __version__
from loader.errors import LoaderError, SchemaError
from loader.schema import Schema, load_schema, schema_from_scheming
from loader.template import write_template
from loader.text import for_terminal, plural

if TYPE_CHECKING:
    from loader.model import Outcome
    from loader.run import RunResult

F = TypeVar("F", bound=Callable[..., Any])


def say(text: object, err: bool = False) -> None:
    """Print a line; text from a batch or a catalogue never reaches the terminal raw
    (an escape sequence in a cell could rewrite what the editor sees)."""
    click.echo(for_terminal(str(text)), err=err)


class LoaderGroup(click.Group):
    """A click group that turns the loader's own errors into a message and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LoaderError as exc:
            say(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=LoaderGroup)
@click.version_option(__version__, prog_name="bcdc-loader")
def main() -> None:
    """Load resources into the BC Data Catalogue from a spreadsheet: one row per resource."""


# -- options shared by commands -------------------------------------------------


def schema_options(command: F) -> F:
    """--schema bundled|live and --ckan URL."""
    command = click.option(
        "--ckan",
        "ckan_url",
        metavar="URL|test|prod",
        help="The catalogue to read the live schema from (with --schema live).",
    )(command)
    return schema_option(command)


schema_option = click.option(
    "--schema",
    "schema_source",
    type=click.Choice(["bundled", "live"]),
    default="bundled",
    show_default=True,
    help="Check against the schema shipped with the loader, or the catalogue's own.",
)


sheet_option = click.option(
    "--sheet", help="The workbook sheet holding the batch (default: 'Batch', else the first)."
)
files_from_option = click.option(
    "--files-from",
    "files_from",
    multiple=True,
    metavar="DIR",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="A folder files to upload may also come from (repeatable); by default only the "
    "batch's own folder.",
)


trust_file_option = click.option(
    "--trust-file",
    "trusted_files",
    multiple=True,
    metavar="FILE",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A file to upload that you know is fine: do not look inside it for problems (repeatable).",
)


def _output_to(help_text: str) -> Callable[[F], F]:
    """-o/--output FILE, with its own help."""
    return click.option(
        "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help=help_text
    )


output_option = _output_to("Also write the result workbook (.xlsx) here.")
api_key_file_option = click.option(
    "--api-key-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A file holding the API token (otherwise $CKAN_API_KEY, or a prompt).",
)
yes_option = click.option(
    "--yes", is_flag=True, help="Do not ask before writing to the production catalogue."
)
allow_http_option = click.option(
    "--allow-http",
    is_flag=True,
    help="Send the token over plain http to a host other than this machine (unencrypted).",
)


max_file_size_option = click.option(
    "--max-file-size",
    metavar="SIZE",
    help="Refuse rows whose file to upload is larger: e.g. 150MB, 2GB, or none "
    "(MB = 1024 x 1024 bytes; default: 150MB for prod and test, none for other URLs).",
)
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:([kmg])i?b?|b)?", re.IGNORECASE)


def _max_file_size(text: str | None, url: str | None) -> int | None:
    """--max-file-size as bytes; without it, the known limit of the catalogue at url."""
    from loader.client import upload_limit

    if text is None:
        return upload_limit(url) if url else None
    if text.strip().lower() == "none":
        return None
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise click.BadParameter(
            f"'{text}' is not a size such as 150MB, 2GB or none", param_hint="--max-file-size"
        )
    power = " kmg".index((match.group(2) or " ").lower())
    return int(float(match.group(1)) * 1024**power)


def resolve_schema(source: str, ckan_url: str | None) -> Schema:
    """The bundled schema, or the live one read from the catalogue at ckan_url."""
    if source == "bundled":
        return load_schema()
    if not ckan_url:
        raise click.UsageError("--schema live needs the catalogue's address: --ckan URL|test|prod")
    from loader.client import Catalogue, CatalogueError  # only live use needs it

    url = _catalogue_url(ckan_url)
    try:
        return schema_from_scheming(Catalogue(url).dataset_schema(), source=url)
    except CatalogueError as error:
        raise SchemaError(f"cannot read the schema of {url}: {error.message}") from None


def _catalogue_url(target: str) -> str:
    """A --ckan value (URL, test or prod) as the catalogue's address."""
    from loader.client import catalogue_url

    try:
        return catalogue_url(target)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--ckan") from None


# -- commands ---------------------------------------------------------------------


@main.command()
@click.argument(
    "paths", nargs=-1, type=click.Path(dir_okay=False, path_type=Path), metavar="[PATH]..."
)
@schema_options
def template(paths: tuple[Path, ...], schema_source: str, ckan_url: str | None) -> None:
    """Write the batch template: a workbook (.xlsx) or a heading row (.csv).

    Without PATH, writes bcdc-loader-template.xlsx in the current folder.
    """
    for path in paths:
        if path.suffix.lower() not in (".xlsx", ".csv"):
            raise click.BadParameter(f"{path}: use a .xlsx or .csv name", param_hint="PATH")
    schema = resolve_schema(schema_source, ckan_url)
    for path in paths or (Path("bcdc-loader-template.xlsx"),):
        write_template(path, schema)
        say(f"Wrote {path}")


@main.command()
@click.argument("batch_path", metavar="BATCH", type=click.Path(path_type=Path))
@sheet_option
@output_option
@files_from_option
@schema_options
@max_file_size_option
@trust_file_option
def validate(
    batch_path: Path,
    sheet: str | None,
    output: Path | None,
    files_from: tuple[Path, ...],
    schema_source: str,
    ckan_url: str | None,
    max_file_size: str | None,
    trusted_files: tuple[Path, ...],
) -> None:
    """Check a batch without touching the catalogue; list every problem.

    Exits 0 when the batch is clean, 2 when it has problems or cannot be read.
    """
    from loader.run import check_batch

    schema = resolve_schema(schema_source, ckan_url)
    limit = _max_file_size(max_file_size, _catalogue_url(ckan_url) if ckan_url else None)
    result = check_batch(
        batch_path,
        sheet=sheet,
        schema=schema,
        result_path=output,
        max_file_size=limit,
        files_from=files_from,
        trusted_files=trusted_files,
    )
    for problem in result.problems:
        say(problem.message)
    bad_rows = result.counts().get("invalid", 0)
    ready = len(result.outcomes) - bad_rows
    warnings = sum(p.warning for p in result.problems)
    found = plural(len(result.problems) - warnings, "problem")
    say(
        f"{batch_path.name}: {plural(len(result.outcomes), 'row')}, {ready} ready, "
        f"{bad_rows} with problems ({found})"
        + (f"; {plural(warnings, 'warning')}." if warnings else ".")
    )
    if output is not None:
        say(f"Results written to {output}")
    sys.exit(result.exit_code)


@main.command()
@click.argument("batch_path", metavar="BATCH", type=click.Path(path_type=Path))
@click.option(
    "--ckan",
    "target",
    envvar="CKAN_URL",
    metavar="URL|test|prod",
    help="The catalogue to write to: a URL, or test / prod for the BCDC hosts "
    "(default: $CKAN_URL).",
)
@api_key_file_option
@sheet_option
@output_option
@files_from_option
@schema_option
@click.option(
    "--dry-run", is_flag=True, help="Resolve every row and say what it would do; write nothing."
)
@click.option(
    "--skip-invalid", is_flag=True, help="Run the valid rows even when some rows are invalid."
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="Datasets worked on at once (rows of one dataset always run in order).",
)
@click.option(
    "--no-fold",
    is_flag=True,
    help="One call per row, instead of one call for consecutive rows of a dataset "
    "that move no file.",
)
@click.option(
    "--force-upload",
    is_flag=True,
    help="Send every file, even one the resource already holds (same size and hash).",
)
@click.option(
    "--touch",
    is_flag=True,
    help="When a file is unchanged, still record the refresh: set last_modified to now.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run whose journal is beside -o (default: the newest result of "
    "this batch): rows done are not run again, rows in doubt are looked up first.",
)
@click.option(
    "--keep-replaced",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Before a row replaces or deletes an uploaded file, download it into DIR "
    "(DIR/RESOURCE_ID/N/NAME), so that undo can put it back.",
)
@max_file_size_option
@trust_file_option
@yes_option
@allow_http_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; only the summary line.")
def run(
    batch_path: Path,
    target: str | None,
    api_key_file: Path | None,
    sheet: str | None,
    output: Path | None,
    files_from: tuple[Path, ...],
    schema_source: str,
    dry_run: bool,
    skip_invalid: bool,
    jobs: int,
    no_fold: bool,
    force_upload: bool,
    touch: bool,
    resume: bool,
    keep_replaced: Path | None,
    max_file_size: str | None,
    trusted_files: tuple[Path, ...],
    yes: bool,
    allow_http: bool,
    quiet: bool,
) -> None:
    """Validate a batch, then run its rows against the catalogue.

    Nothing is written if any row is invalid (unless --skip-invalid). The
    result workbook (-o, or BATCH-results-TIME.xlsx beside the batch) says
    what happened to every row. Exits 0 when every row is done, 1 when any
    row failed or did not run, 2 when the batch is invalid or the run could
    not start.
    """
    from loader.run import default_result_path, last_result_path

    catalogue = _writer(target, api_key_file, allow_http, confirm=not dry_run and not yes)
    url = catalogue.url
    options = {
        "sheet": sheet,
        "schema": resolve_schema(schema_source, url),
        "dry_run_only": dry_run,
        "skip_invalid": skip_invalid,
        "jobs": jobs,
        "fold": not no_fold,
        "force_upload": force_upload,
        "touch": touch,
        "resume": resume,
        "result_path": output
        or (last_result_path(batch_path) if resume else default_result_path(batch_path)),
        "max_file_size": _max_file_size(max_file_size, url),
        "files_from": files_from,
        "trusted_files": trusted_files,
        "keep_replaced": keep_replaced,
    }
    result = _run_with_progress(batch_path, catalogue, options, show=not quiet)
    _say_how_it_went(result, batch_path, url, quiet)
    sys.exit(result.exit_code)


@main.command()
@click.argument("result_path", metavar="RESULT", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--ckan",
    "target",
    envvar="CKAN_URL",
    metavar="URL|test|prod",
    help="The catalogue the run wrote to: a URL, or test / prod (default: $CKAN_URL).",
)
@api_key_file_option
@_output_to("The undo's result workbook (default: RESULT-undo-TIME.xlsx beside RESULT).")
@click.option("--dry-run", is_flag=True, help="Say what undoing each row would do; write nothing.")
@click.option(
    "--force", is_flag=True, help="Undo resources changed after the run too (their changes go)."
)
@yes_option
@allow_http_option
def undo(
    result_path: Path,
    target: str | None,
    api_key_file: Path | None,
    output: Path | None,
    dry_run: bool,
    force: bool,
    yes: bool,
    allow_http: bool,
) -> None:
    """Undo a run, from the journal beside its result workbook RESULT.

    RESULT names the run (its journal is RESULT.journal.jsonl); the workbook
    itself need not exist, as after a run that was killed.

    Resources the run created are deleted, those it changed get back what they
    held before it (their file too, if the run had --keep-replaced), those it
    deleted are created again (under a new id), its last row first. A resource
    changed after the run is left alone unless --force. Exits 0 when every row
    is undone, 1 when any is not, 2 when the undo cannot start.
    """
    from loader.undo import default_undo_path, undo_run

    catalogue = _writer(target, api_key_file, allow_http, confirm=not dry_run and not yes)
    undo_path = output or (None if dry_run else default_undo_path(result_path))
    with _stopping(undo_path) as stop:
        result = undo_run(
            result_path, catalogue, dry_run=dry_run, force=force, undo_path=undo_path, stop=stop
        )
    for outcome in result.outcomes:
        if dry_run or outcome.status in ("failed", "skipped"):
            say(f"Run row {outcome.row}: {outcome.error or outcome.action}", err=not dry_run)
    counts = ", ".join(f"{n} {status}" for status, n in result.counts().items()) or "nothing"
    what = "Dry run of the undo" if dry_run else "Undo"
    where = f" Results: {result.result_path}" if result.result_path else ""
    say(
        f"{what} of {result_path.name} on {catalogue.url}: "
        f"{plural(len(result.outcomes), 'row')} ({counts}) in {result.summary.duration:.1f} s."
        + where
    )
    sys.exit(result.exit_code)


def _writer(target: str | None, api_key_file: Path | None, allow_http: bool, confirm: bool) -> Any:
    """The catalogue to write to, with its token; asks first before writing to production."""
    from loader.client import Catalogue

    if not target:
        raise click.UsageError("say which catalogue: --ckan URL|test|prod, or set CKAN_URL")
    url = _catalogue_url(target)
    interactive = sys.stdin.isatty()
    api_key = _api_key(api_key_file, interactive)
    catalogue = Catalogue(url, api_key, allow_http=allow_http)
    if confirm:
        _confirm_production(url, interactive)
    return catalogue


def _say_how_it_went(result: RunResult, batch_path: Path, url: str, quiet: bool) -> None:
    """Problems and failed rows on stderr (always when something went wrong), then one line."""
    if not quiet or result.exit_code:
        for problem in result.problems:
            say(problem.message, err=True)
        for outcome in result.outcomes:
            if outcome.status == "failed":
                say(f"Row {outcome.row}: {outcome.error}", err=True)
    counts = ", ".join(f"{n} {status}" for status, n in result.counts().items())
    what = "Dry run" if result.summary.dry_run else "Run"
    say(
        f"{what} of {batch_path.name} on {url}: {plural(len(result.outcomes), 'row')} "
        f"({counts}) in {result.summary.duration:.1f} s. Results: {result.result_path}"
    )


def _confirm_production(url: str, interactive: bool) -> None:
    """Ask before writing to production; unattended, --yes is the only way."""
    from loader.client import is_production

    if not is_production(url):
        return
    if not interactive:
        raise click.UsageError("writing to the production catalogue needs --yes when unattended")
    click.confirm(f"Write to the production catalogue {for_terminal(url)}?", abort=True, err=True)


def _run_with_progress(
    batch_path: Path, catalogue: Any, options: dict[str, Any], show: bool
) -> RunResult:
    """run_batch with a progress bar on a terminal, and Ctrl-C or SIGTERM handled."""
    from loader.run import run_batch

    with (
        _stopping(options["result_path"]) as stop,
        _progress(show and sys.stderr.isatty()) as progress,
    ):
        return run_batch(
            batch_path,
            catalogue,
            stop=stop,
            on_start=progress.start,
            on_outcome=progress.advance,
            on_bytes=progress.sent,
            **options,
        )


@contextlib.contextmanager
def _stopping(result_path: Path | None) -> Iterator[threading.Event]:
    """Ctrl-C or SIGTERM: the first sets the event (calls under way finish, the rest
    do not run), the second stops at once, the results so far written."""
    stop = threading.Event()
    handler = _Stopper(stop)
    previous = {number: signal.signal(number, handler) for number in _STOP_SIGNALS}
    try:
        yield stop
    except KeyboardInterrupt:
        say(f"Stopped at once. Results so far: {result_path}", err=True)
        # Threads may still wait on requests under way; everything is recorded, so do
        # not wait for them.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Stopper:
    """First Ctrl-C (or SIGTERM): finish the calls under way, then stop. Second: stop
    at once. Any more: ignored, so that the results are written whole."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.hard = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.hard:
            say("\nWriting the results; one moment...", err=True)
            return
        if self.stop.is_set():
            self.hard = True
            raise KeyboardInterrupt
        self.stop.set()
        say(
            "\nStopping after the calls under way finish (Ctrl-C again to stop at once)...",
            err=True,
        )


def _optional_api_key(api_key_file: Path | None) -> str | None:
    """For reads: the token from a file or $CKAN_API_KEY, if given (public datasets need none)."""
    if api_key_file is not None:
        return api_key_file.read_text(encoding="utf-8").strip() or None
    return os.environ.get("CKAN_API_KEY", "").strip() or None


def _api_key(api_key_file: Path | None, interactive: bool) -> str:
    """The token from a file, $CKAN_API_KEY or a prompt; never from the command line."""
    if api_key_file is not None:
        try:
            key = api_key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            raise click.UsageError(f"cannot read a token from {api_key_file}") from None
    else:
        key = os.environ.get("CKAN_API_KEY", "").strip()
    if not key and interactive:
        key = click.prompt(
            "API token (from your catalogue account page)", hide_input=True, err=True
        ).strip()
    if not key:
        raise click.UsageError("no API token: set CKAN_API_KEY or use --api-key-file")
    return key


class _Progress:
    """A progress bar that appears once the number of rows to run is known, and
    counts the bytes of uploads as they go (a long upload is not a frozen bar).

    Safe from worker threads. When disabled, or before `start`, it does nothing.
    """

    REDRAW = 0.25  # seconds between redraws for bytes alone

    def __init__(self, stack: contextlib.ExitStack, enabled: bool):
        self._stack = stack
        self._enabled = enabled
        self._bar: Any = None
        self._lock = threading.Lock()
        self._bytes = 0
        self._drawn = 0.0

    def start(self, total: int) -> None:
        if self._enabled and total:
            bar = click.progressbar(
                length=total, label="Rows", file=sys.stderr, item_show_func=self._uploaded
            )
            self._bar = self._stack.enter_context(bar)

    def advance(self, outcome: Outcome) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.update(1)

    def sent(self, count: int) -> None:
        with self._lock:
            self._bytes += count
            now = time.monotonic()
            if self._bar is not None and now - self._drawn >= self.REDRAW:
                self._drawn = now
                self._bar.render_progress()

    def _uploaded(self, _item: object) -> str | None:
        return f"{self._bytes / (1 << 20):.1f} MB uploaded" if self._bytes else None


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[_Progress]:
    """A progress bar for one run, closed however the run ends."""
    with contextlib.ExitStack() as stack:
        yield _Progress(stack, enabled)


@main.command()
@click.argument(
    "folder",
    required=False,
    default=".",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "--ckan",
    "target",
    envvar="CKAN_URL",
    metavar="URL|test|prod",
    help="The catalogue to preview and run against (default: $CKAN_URL; without one, "
    "batches can only be checked).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="The port to listen on at 127.0.0.1 (0: any free port).",
)
@click.option("--no-browser", is_flag=True, help="Print the page's address; do not open it.")
def serve(folder: Path, target: str | None, port: int, no_browser: bool) -> None:
    """Start a page in the browser to check, preview and run the batches in FOLDER,
    export resources and list what is overdue.

    It listens on 127.0.0.1 only, and answers only the address it prints
    (which carries a secret). The token is entered on the page, or taken
    from $CKAN_API_KEY; it stays in the server's memory.
    """
    from loader.serve.server import serve as serve_page

    url = _catalogue_url(target) if target else None
    api_key = os.environ.get("CKAN_API_KEY", "").strip() or None
    serve_page(folder, url, api_key, port=port, open_browser=not no_browser, say=click.echo)


# -- reading the catalogue: export and due ------------------------------------------


def read_options(command: F) -> F:
    """--ckan, --api-key-file (optional), --organization and --package, for reads."""
    for option in reversed(
        [
            click.option(
                "--ckan",
                "target",
                envvar="CKAN_URL",
                metavar="URL|test|prod",
                help="The catalogue to read: a URL, or test / prod (default: $CKAN_URL).",
            ),
            click.option(
                "--api-key-file",
                type=click.Path(dir_okay=False, exists=True, path_type=Path),
                help="A file holding the API token (otherwise $CKAN_API_KEY); needed only "
                "for private datasets.",
            ),
            click.option(
                "--organization",
                "organizations",
                multiple=True,
                metavar="NAME",
                help="Every dataset of this organization (name or id); repeat for more.",
            ),
            click.option(
                "--package",
                "packages",
                multiple=True,
                metavar="NAME",
                help="This dataset (name or id); repeat for more.",
            ),
        ]
    ):
        command = option(command)
    return command


def _reader(target: str | None, api_key_file: Path | None, names: tuple[str, ...]) -> Any:
    """The catalogue to read, once the options say what to read."""
    from loader.client import Catalogue

    if not target:
        raise click.UsageError("say which catalogue: --ckan URL|test|prod, or set CKAN_URL")
    if not names:
        raise click.UsageError("say what to read: --organization NAME or --package NAME")
    return Catalogue(_catalogue_url(target), _optional_api_key(api_key_file))


@main.command("export")
@read_options
@_output_to("The batch to write (.xlsx or .csv; default: bcdc-export-TIME.xlsx here).")
@schema_option
def export_command(
    target: str | None,
    api_key_file: Path | None,
    organizations: tuple[str, ...],
    packages: tuple[str, ...],
    output: Path | None,
    schema_source: str,
) -> None:
    """Write the resources the catalogue holds now as a batch to edit and run back.

    One patch row per resource, named by resource_id, with every field's
    current value. Run back unchanged, every row is "no change"; edit a cell
    and only that field changes. Exits 0, or 2 when a name is not found.
    """
    from datetime import datetime

    from loader.export import export_batch

    catalogue = _reader(target, api_key_file, organizations + packages)
    if output is None:
        output = Path(f"bcdc-export-{datetime.now():%Y%m%d-%H%M%S}.xlsx")
    if output.suffix.lower() not in (".xlsx", ".csv"):
        raise click.BadParameter(f"{output}: use a .xlsx or .csv name", param_hint="--output")
    result = export_batch(
        catalogue,
        output,
        organizations=organizations,
        packages=packages,
        schema=resolve_schema(schema_source, catalogue.url),
    )
    say(
        f"Exported {plural(len(result.rows), 'resource')} of "
        f"{plural(result.packages, 'dataset')} from {catalogue.url} to {result.path}"
    )
    if result.problems:
        say(
            f"{plural(len(result.problems), 'value')} held by the catalogue break the loader's "
            f"rules; fix them before running it back (bcdc-loader validate {result.path}):",
            err=True,
        )
        for problem in result.problems:
            say(f"  {problem.message}", err=True)


@main.command("due")
@read_options
@_output_to("Also write the overdue resources as a batch ready to fill (.xlsx or .csv).")
def due_command(
    target: str | None,
    api_key_file: Path | None,
    organizations: tuple[str, ...],
    packages: tuple[str, ...],
    output: Path | None,
) -> None:
    """List the resources overdue for a refresh by their resource_update_cycle.

    A resource is due one cycle after its last_modified (else its created
    date, else the dataset's metadata_modified); continual, asNeeded,
    irregular, notPlanned and unknown are never due. With -o, writes one patch
    row per overdue resource, ready for an upload. Exits 0 when nothing is due,
    1 when something is, 2 when a name is not found.
    """
    from loader.due import due_report, write_due

    catalogue = _reader(target, api_key_file, organizations + packages)
    if output is not None and output.suffix.lower() not in (".xlsx", ".csv"):
        raise click.BadParameter(f"{output}: use a .xlsx or .csv name", param_hint="--output")
    due = due_report(catalogue, organizations=organizations, packages=packages)
    if due:
        say(f"{'days':>5}  {'due':10}  {'cycle':11}  {'dataset':30}  resource")
    for d in due:
        say(
            f"{d.days_overdue:>5}  {d.due_date.isoformat():10}  {d.cycle:11}  "
            f"{d.package:30}  {d.name} ({d.resource_id})"
        )
    say(f"{plural(len(due), 'resource')} overdue." if due else "Nothing is due.")
    if output is not None:
        write_due(output, due)
        click.echo(f"Wrote {output}")
    sys.exit(1 if due else 0)
