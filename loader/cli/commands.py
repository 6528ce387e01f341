"""The commands: each parses its options, calls the library, prints and exits.

A LoaderError becomes one message on stderr and its exit code (2 for an
unusable batch or schema), without a traceback. Any other exception is a
fault in the loader: its message comes first on stderr, then the traceback
for whoever fixes it, and the exit code is 70, which means nothing else.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from loader import __version__
from loader.cli.access import (
    Reading,
    Writing,
    ask_token,
    named_target,
    resolve_schema,
    target_url,
)
from loader.cli.options import (
    CheckChoices,
    check_options,
    ckan_option,
    datastore_wait_option,
    output_option,
    reading,
    run_options,
    schema_option,
    writing,
)
from loader.cli.terminal import progress, say, stopping
from loader.errors import EXIT_UNEXPECTED, LoaderError
from loader.keychain import find_token
from loader.model import UNLOADED
from loader.options import RunOptions, UndoOptions
from loader.spreadsheet import output_path
from loader.text import plural, stamped_name

if TYPE_CHECKING:
    pass


class LoaderGroup(click.Group):
    """A click group that turns the loader's own errors into a message and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LoaderError as exc:
            say(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # a fault in the loader: its own exit code, told plainly
            say(
                f"Error: the loader failed unexpectedly ({type(exc).__name__}: {exc}). This "
                "is a fault in bcdc-loader, not in your batch; the details below help fix it.",
                err=True,
            )
            say("".join(traceback.format_exception(exc)).rstrip(), err=True)
            ctx.exit(EXIT_UNEXPECTED)


@click.group(cls=LoaderGroup)
@click.version_option(__version__, prog_name="bcdc-loader")
def main() -> None:
    """Load resources into the BC Data Catalogue from a spreadsheet: one row per resource."""


def _output_path(path: Path, param_hint: str) -> Path:
    """A file to write, named as the loader writes them (.xlsx or .csv)."""
    try:
        return output_path(path)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint=param_hint) from None


@main.command()
@click.argument(
    "paths", nargs=-1, type=click.Path(dir_okay=False, path_type=Path), metavar="[PATH]..."
)
@schema_option
@ckan_option(
    "The catalogue to read the live schema from (with --schema live).", from_environment=False
)
def template(paths: tuple[Path, ...], schema_source: str, target: str | None) -> None:
    """Write the batch template: a workbook (.xlsx) or a heading row (.csv).

    Without PATH, writes bcdc-loader-template.xlsx in the current folder.
    """
    from loader.template import write_template

    for path in paths:
        _output_path(path, "PATH")
    schema = resolve_schema(schema_source, target_url(target) if target else None)
    for path in paths or (Path("bcdc-loader-template.xlsx"),):
        write_template(path, schema)
        say(f"Wrote {path}")


@main.command()
@click.argument("batch_path", metavar="BATCH", type=click.Path(path_type=Path))
@check_options
@ckan_option(
    "The catalogue the batch is meant for: its upload limit applies, and --schema live "
    "reads its schema.",
    from_environment=False,
)
@output_option("Also write the result workbook (.xlsx) here.")
def validate(
    batch_path: Path, check: CheckChoices, target: str | None, output: Path | None
) -> None:
    """Check a batch without touching the catalogue; list every problem.

    Exits 0 when the batch is clean, 2 when it has problems or cannot be read,
    70 on an unexpected failure (a fault in the loader).
    """
    from loader.run import check_batch

    options = check.options_for(target_url(target) if target else None)
    result = check_batch(batch_path, options, result_path=output)
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
@writing(
    "The catalogue to write to: a URL, or test / prod for the BCDC hosts (default: $CKAN_URL)."
)
@check_options
@output_option("Also write the result workbook (.xlsx) here.")
@run_options
@datastore_wait_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; only the summary line.")
def run(
    batch_path: Path,
    access: Writing,
    check: CheckChoices,
    output: Path | None,
    run: RunOptions,
    datastore_wait: int,
    quiet: bool,
) -> None:
    """Validate a batch, then run its rows against the catalogue.

    Nothing is written if any row is invalid (unless --skip-invalid). The
    result workbook (-o, or BATCH-results-TIME.xlsx beside the batch) says
    what happened to every row, and to each file sent in the catalogue's
    DataStore. Exits 0 when every row is done and every file sent is loaded,
    1 when any row failed or did not run, 2 when the batch is invalid or the
    run could not start, 4 when every row is done but a file's DataStore load
    failed or had not finished when the wait ended, 70 on an unexpected
    failure (a fault in the loader).
    """
    from loader.run import default_result_path, last_result_path, run_batch

    catalogue = access.catalogue(dry_run=run.dry_run)
    options = dataclasses.replace(
        run, check=check.options_for(catalogue.url), datastore_wait=datastore_wait
    )
    result_path = output or (
        last_result_path(batch_path) if run.resume else default_result_path(batch_path)
    )
    with catalogue, stopping(result_path) as stop, progress(not quiet) as listeners:
        result = run_batch(
            batch_path, catalogue, options, result_path=result_path, listeners=listeners, stop=stop
        )
    if not quiet or result.exit_code:
        for problem in result.problems:
            say(problem.message, err=True)
        for outcome in result.outcomes:
            if outcome.status == "failed":
                say(f"Row {outcome.row}: {outcome.error}", err=True)
            elif outcome.load in UNLOADED:
                say(f"Row {outcome.row}: DataStore: {outcome.datastore}", err=True)
    what = "Dry run" if result.summary.dry_run else "Run"
    say(
        f"{what} of {batch_path.name} on {catalogue.url}: {plural(len(result.outcomes), 'row')} "
        f"({result.in_words()}) in {result.summary.duration:.1f} s. "
        f"Results: {result.result_path}"
    )
    sys.exit(result.exit_code)


@main.command()
@click.argument("result_path", metavar="RESULT", type=click.Path(dir_okay=False, path_type=Path))
@writing("The catalogue the run wrote to: a URL, or test / prod (default: $CKAN_URL).")
@output_option("The undo's result workbook (default: RESULT-undo-TIME.xlsx beside RESULT).")
@click.option("--dry-run", is_flag=True, help="Say what undoing each row would do; write nothing.")
@click.option(
    "--force", is_flag=True, help="Undo resources changed after the run too (their changes go)."
)
@datastore_wait_option
def undo(
    result_path: Path,
    access: Writing,
    output: Path | None,
    dry_run: bool,
    force: bool,
    datastore_wait: int,
) -> None:
    """Undo a run, from the journal beside its result workbook RESULT.

    RESULT names the run (its journal is RESULT.journal.jsonl); the workbook
    itself need not exist, as after a run that was killed.

    Resources the run created are deleted, those it changed get back what they
    held before it (their file too, if the run had --keep-replaced), those it
    deleted are created again (under a new id), its last row first. A resource
    changed after the run is left alone unless --force (what the catalogue's
    DataStore loader writes into a resource after loading its file is no such
    change). Exits 0 when every row is undone, 1 when any is not, 2 when the
    undo cannot start, 4 when every row is undone but a file put back did not
    load into the DataStore, 70 on an unexpected failure (a fault in the loader).
    """
    from loader.undo import default_undo_path, undo_run

    catalogue = access.catalogue(dry_run=dry_run)
    undo_path = output or (None if dry_run else default_undo_path(result_path))
    options = UndoOptions(dry_run=dry_run, force=force, datastore_wait=datastore_wait)
    with catalogue, stopping(undo_path) as stop:
        result = undo_run(result_path, catalogue, options, undo_path=undo_path, stop=stop)
    for outcome in result.outcomes:
        if dry_run or outcome.status in ("failed", "skipped"):
            say(f"Run row {outcome.row}: {outcome.error or outcome.action}", err=not dry_run)
    what = "Dry run of the undo" if dry_run else "Undo"
    where = f" Results: {result.result_path}" if result.result_path else ""
    say(
        f"{what} of {result_path.name} on {catalogue.url}: "
        f"{plural(len(result.outcomes), 'row')} ({result.in_words() or 'nothing'}) "
        f"in {result.summary.duration:.1f} s." + where
    )
    sys.exit(result.exit_code)


@main.command()
@click.argument(
    "folder",
    required=False,
    default=".",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@ckan_option(
    "The catalogue to preview and run against (default: $CKAN_URL; without one, "
    "batches can only be checked)."
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
    from $CKAN_API_KEY or the keychain (bcdc-loader login); it stays in the
    server's memory.
    """
    from loader.serve.server import serve as serve_page

    url = target_url(target) if target else None
    token = find_token(url) if url else None
    serve_page(
        folder,
        url,
        token.value if token else None,
        port=port,
        open_browser=not no_browser,
        say=click.echo,
        token_source=token.source if token else "",
    )


# -- the token in the keychain: login and logout ---------------------------------------


@main.command()
@ckan_option("The catalogue the token is for: a URL, or test / prod (default: $CKAN_URL).")
@click.option(
    "--allow-http",
    is_flag=True,
    help="Send the token over plain http to a host other than this machine (unencrypted).",
)
def login(target: str | None, allow_http: bool) -> None:
    """Keep your API token for a catalogue in this computer's keychain.

    Asks for the token (the typing is not shown), checks it with the
    catalogue (whose it is, which datasets it may change) and keeps it only
    when the catalogue accepts it, replacing one kept before. Every command
    for that catalogue then finds it there, after --api-key-file and
    $CKAN_API_KEY. Exits 0 when the token is kept, 2 when it is refused or
    there is no keychain (a server without a desktop session: use
    --api-key-file there).
    """
    from loader.client import Catalogue
    from loader.keychain import keychain_name, log_in, require_keychain

    url = named_target(target)
    key = require_keychain(url)  # before the editor types anything
    token = ask_token(url)()
    with Catalogue(url, token or None, allow_http=allow_http) as catalogue:
        key, account = log_in(url, token, catalogue)
    say(f"{url} accepts the token: {account.describe()}.")
    say(f"Kept in the keychain ({keychain_name()}) for {key}; remove it with `bcdc-loader logout`.")
    if os.environ.get("CKAN_API_KEY", "").strip():
        say("Note: CKAN_API_KEY is set, and is used before the keychain: unset it.", err=True)


@main.command()
@ckan_option("The catalogue whose token to remove: a URL, or test / prod (default: $CKAN_URL).")
def logout(target: str | None) -> None:
    """Remove your API token for a catalogue from this computer's keychain.

    Exits 0 whether or not one was kept, 2 when there is no keychain.
    """
    from loader.keychain import catalogue_key, forget_token

    url = named_target(target)
    if forget_token(url):
        say(f"Removed the token for {catalogue_key(url)} from the keychain.")
    else:
        say(f"The keychain held no token for {catalogue_key(url)}; nothing to remove.")


# -- reading the catalogue: export and due ------------------------------------------


@main.command("export")
@reading
@output_option("The batch to write (.xlsx or .csv; default: bcdc-export-TIME.xlsx here).")
@schema_option
def export_command(access: Reading, output: Path | None, schema_source: str) -> None:
    """Write the resources the catalogue holds now as a batch to edit and run back.

    One patch row per resource, named by resource_id, with every field's
    current value. Run back unchanged, every row is "no change"; edit a cell
    and only that field changes. Exits 0, or 2 when a name is not found, 70 on
    an unexpected failure (a fault in the loader).
    """
    from loader.export import export_batch

    catalogue = access.catalogue()
    output = _output_path(output or Path(stamped_name("bcdc-export")), "--output")
    with catalogue:
        result = export_batch(
            catalogue,
            output,
            organizations=access.organizations,
            packages=access.packages,
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
@reading
@output_option("Also write the overdue resources as a batch ready to fill (.xlsx or .csv).")
def due_command(access: Reading, output: Path | None) -> None:
    """List the resources overdue for a refresh by their resource_update_cycle.

    A resource is due one cycle after its last_modified (else its created
    date, else the dataset's metadata_modified); continual, asNeeded,
    irregular, notPlanned and unknown are never due. With -o, writes one patch
    row per overdue resource, ready for an upload. Exits 0 when nothing is due,
    1 when something is, 2 when a name is not found, 70 on an unexpected
    failure (a fault in the loader, never a sign that something is due).
    """
    from loader.due import due_report, write_due

    catalogue = access.catalogue()
    if output is not None:
        _output_path(output, "--output")
    with catalogue:
        due = due_report(catalogue, organizations=access.organizations, packages=access.packages)
    if due:
        say(f"{'days':>5}  {'due':10}  {'cycle':11}  {'dataset':30}  resource  [DataStore]")
    for d in due:
        say(
            f"{d.days_overdue:>5}  {d.due_date.isoformat():10}  {d.cycle:11}  "
            f"{d.package:30}  {d.name} ({d.resource_id})"
            + (f"  [{d.datastore}]" if d.datastore else "")
        )
    say(f"{plural(len(due), 'resource')} overdue." if due else "Nothing is due.")
    if output is not None:
        write_due(output, due)
        click.echo(f"Wrote {output}")
    sys.exit(1 if due else 0)
