"""The bcdc-loader command line: a thin layer over the library.

Every command parses its options, calls the library, prints and exits with
the right code. A LoaderError becomes one message on stderr and its exit
code (2 for an unusable batch or schema); nothing shows a traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import click

from loader import __version__
from loader.errors import LoaderError, SchemaError
from loader.schema import Schema, load_schema, schema_from_scheming
from loader.template import write_template
from loader.text import for_terminal

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
output_option = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the result workbook (.xlsx) here.",
)


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
def validate(
    batch_path: Path,
    sheet: str | None,
    output: Path | None,
    files_from: tuple[Path, ...],
    schema_source: str,
    ckan_url: str | None,
) -> None:
    """Check a batch without touching the catalogue; list every problem.

    Exits 0 when the batch is clean, 2 when it has problems or cannot be read.
    """
    from loader.run import check_batch

    schema = resolve_schema(schema_source, ckan_url)
    result = check_batch(
        batch_path, sheet=sheet, schema=schema, result_path=output, files_from=files_from
    )
    for problem in result.problems:
        say(problem.message)
    bad_rows = result.counts().get("invalid", 0)
    ready = len(result.outcomes) - bad_rows
    say(
        f"{batch_path.name}: {_count(len(result.outcomes), 'row')}, {ready} ready, "
        f"{bad_rows} with problems ({_count(len(result.problems), 'problem')})."
    )
    if output is not None:
        say(f"Results written to {output}")
    sys.exit(result.exit_code)


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


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
@click.option(
    "--api-key-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A file holding the API token (otherwise $CKAN_API_KEY, or a prompt).",
)
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
@click.option("--yes", is_flag=True, help="Do not ask before writing to the production catalogue.")
@click.option(
    "--allow-http",
    is_flag=True,
    help="Send the token over plain http to a host other than this machine (unencrypted).",
)
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
    from loader.client import Catalogue, is_production
    from loader.run import default_result_path

    if not target:
        raise click.UsageError("say which catalogue: --ckan URL|test|prod, or set CKAN_URL")
    url = _catalogue_url(target)
    interactive = sys.stdin.isatty()
    api_key = _api_key(api_key_file, interactive)
    catalogue = Catalogue(url, api_key, allow_http=allow_http)
    if is_production(url) and not dry_run and not yes:
        _confirm_production(url, interactive)
    options = {
        "sheet": sheet,
        "schema": resolve_schema(schema_source, url),
        "dry_run_only": dry_run,
        "skip_invalid": skip_invalid,
        "jobs": jobs,
        "result_path": output or default_result_path(batch_path),
        "files_from": files_from,
    }
    result = _run_with_progress(batch_path, catalogue, options, show=not quiet)
    if not quiet or result.exit_code:
        for problem in result.problems:
            say(problem.message, err=True)
        for outcome in result.outcomes:
            if outcome.status == "failed":
                say(f"Row {outcome.row}: {outcome.error}", err=True)
    counts = ", ".join(f"{n} {status}" for status, n in result.counts().items())
    what = "Dry run" if dry_run else "Run"
    say(
        f"{what} of {batch_path.name} on {url}: {_count(len(result.outcomes), 'row')} "
        f"({counts}) in {result.summary.duration:.1f} s. Results: {result.result_path}"
    )
    sys.exit(result.exit_code)


def _confirm_production(url: str, interactive: bool) -> None:
    """Ask before writing to production; unattended, --yes is the only way."""
    if not interactive:
        raise click.UsageError("writing to the production catalogue needs --yes when unattended")
    click.confirm(f"Write to the production catalogue {for_terminal(url)}?", abort=True, err=True)


def _run_with_progress(
    batch_path: Path, catalogue: Any, options: dict[str, Any], show: bool
) -> RunResult:
    """run_batch with a progress bar on a terminal and Ctrl-C handled as the README says."""
    from loader.run import run_batch

    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, _stop_on_interrupt(stop))
    try:
        with _progress(show and sys.stderr.isatty()) as progress:
            return run_batch(
                batch_path,
                catalogue,
                stop=stop,
                on_start=progress.start,
                on_outcome=progress.advance,
                **options,
            )
    except KeyboardInterrupt:
        say(f"Interrupted. Results so far: {options['result_path']}", err=True)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGINT, previous)


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


def _stop_on_interrupt(stop: threading.Event) -> Callable[[int, FrameType | None], None]:
    """First Ctrl-C: finish the calls under way, then stop. Second: stop at once."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        say(
            "\nStopping after the calls under way finish (Ctrl-C again to stop at once)...",
            err=True,
        )

    return handler


class _Progress:
    """A progress bar that appears once the number of rows to run is known.

    Safe from worker threads. When disabled, or before `start`, it does nothing.
    """

    def __init__(self, stack: contextlib.ExitStack, enabled: bool):
        self._stack = stack
        self._enabled = enabled
        self._bar: Any = None
        self._lock = threading.Lock()

    def start(self, total: int) -> None:
        if self._enabled and total:
            bar = click.progressbar(length=total, label="Rows", file=sys.stderr)
            self._bar = self._stack.enter_context(bar)

    def advance(self, outcome: Outcome) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.update(1)


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[_Progress]:
    """A progress bar for one run, closed however the run ends."""
    with contextlib.ExitStack() as stack:
        yield _Progress(stack, enabled)
