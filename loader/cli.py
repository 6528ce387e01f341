"""The bcdc-loader command line: a thin layer over the library.

Every command parses its options, calls the library, prints and exits with
the right code. A LoaderError becomes one message on stderr and its exit
code (2 for an unusable batch or schema); nothing shows a traceback.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from loader import __version__
from loader.errors import LoaderError
from loader.model import RunSummary
from loader.read import read_batch
from loader.report import validation_outcomes, write_results
from loader.schema import Schema, load_schema, schema_from_scheming
from loader.template import write_template
from loader.validate import validate_batch

EXIT_CLEAN, EXIT_PROBLEMS = 0, 2


class LoaderGroup(click.Group):
    """A click group that turns the loader's own errors into a message and an exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LoaderError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=LoaderGroup)
@click.version_option(__version__, prog_name="bcdc-loader")
def main() -> None:
    """Load resources into the BC Data Catalogue from a spreadsheet: one row per resource."""


# -- options shared by commands -------------------------------------------------


def schema_options(command):
    """--schema bundled|live and --ckan URL."""
    command = click.option(
        "--ckan",
        "ckan_url",
        metavar="URL",
        help="The catalogue to read the live schema from (with --schema live).",
    )(command)
    return click.option(
        "--schema",
        "schema_source",
        type=click.Choice(["bundled", "live"]),
        default="bundled",
        show_default=True,
        help="Check against the schema shipped with the loader, or the catalogue's own.",
    )(command)


sheet_option = click.option(
    "--sheet", help="The workbook sheet holding the batch (default: 'Batch', else the first)."
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
        raise click.UsageError("--schema live needs the catalogue's address: --ckan URL")
    from loader.client import fetch_live_schema  # only live use needs the client

    return schema_from_scheming(fetch_live_schema(ckan_url), source=ckan_url)


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
        click.echo(f"Wrote {path}")


@main.command()
@click.argument("batch_path", metavar="BATCH", type=click.Path(path_type=Path))
@sheet_option
@output_option
@schema_options
def validate(
    batch_path: Path,
    sheet: str | None,
    output: Path | None,
    schema_source: str,
    ckan_url: str | None,
) -> None:
    """Check a batch without touching the catalogue; list every problem.

    Exits 0 when the batch is clean, 2 when it has problems or cannot be read.
    """
    started = datetime.now(UTC)
    schema = resolve_schema(schema_source, ckan_url)
    batch = read_batch(batch_path, sheet=sheet, schema=schema)
    problems, checked = validate_batch(batch, schema)
    for problem in problems:
        click.echo(problem.message)
    bad_rows = len({p.row for p in problems})
    click.echo(
        f"{batch_path.name}: {_count(len(batch.rows), 'row')}, {len(checked)} ready, "
        f"{bad_rows} with problems ({_count(len(problems), 'problem')})."
    )
    if output is not None:
        summary = RunSummary(
            mode="validate",
            started=started,
            ended=datetime.now(UTC),
            loader_version=__version__,
            target_url=ckan_url if schema_source == "live" else None,
        )
        write_results(output, batch, validation_outcomes(batch, problems, checked), summary)
        click.echo(f"Results written to {output}")
    sys.exit(EXIT_PROBLEMS if problems else EXIT_CLEAN)


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
