"""Export: the resources a catalogue holds now, as a batch to edit and run back.

One row per resource of the datasets asked for (by name, or every dataset of
an organization), in the template's layout: `op` is `patch`, the resource is
named by `resource_id` (with its dataset and organization beside it, which
the run checks), and every writable field holds its current value, written as
an editor would type it (`resource_cells`). A link resource keeps its URL; an
uploaded file's URL is the catalogue's own and is left out.

Why `patch`: a blank cell then keeps the field, so a cell emptied by accident
never erases anything (emptying takes `<clear>`), and a row nobody edited is
"no change": running the export back unchanged writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loader import problems
from loader.client import CatalogueAPI, CatalogueError, NotAuthorized, NotFound
from loader.csvtext import csv_bytes
from loader.datastore import states
from loader.errors import CatalogueReadError
from loader.model import DATASTORE_COLUMN, STATE_COLUMNS, Op, Problem
from loader.options import CheckOptions
from loader.run import check_batch
from loader.schema import Schema, load_schema, resource_cells
from loader.spreadsheet import BOLD, output_path, put, save_atomically
from loader.template import template_columns, template_workbook

EXPORT_OP = Op.PATCH


@dataclass(frozen=True)
class Export:
    """What an export wrote."""

    path: Path
    rows: list[dict[str, str]]  # {column: cell text}, one per resource
    packages: int  # datasets read
    # what the loader's checks say of the written batch: a resource whose current
    # values break today's rules (say an old `CSV` format) is an invalid row to fix
    problems: list[Problem]
    # each resource's DataStore state in words, by id (the `datastore` column)
    datastore: dict[str, str] = field(default_factory=dict)


def export_batch(
    catalogue: CatalogueAPI,
    path: Path | str,
    *,
    organizations: Iterable[str] = (),
    packages: Iterable[str] = (),
    schema: Schema | None = None,
) -> Export:
    """Write the resources of the datasets named, and of every dataset of the
    organizations named, as a batch of patch rows (.xlsx, or .csv).

    Private datasets are found only with a token that may see them. Raises
    CatalogueReadError when a name is not found, the catalogue does not answer,
    or there is nothing to export (a batch without rows is no batch).
    """
    schema = schema or load_schema()
    path = output_path(path)
    found = find_packages(catalogue, organizations, packages)
    rows = export_rows(schema, found)
    if not rows:
        empty = "datasets hold no resource" if found else "organizations hold no dataset"
        raise CatalogueReadError(f"These {empty}: there is nothing to export.")
    words = states(catalogue, (r for p in found for r in p.get("resources") or []))
    written = [{**row, DATASTORE_COLUMN: words.get(row["resource_id"], "")} for row in rows]
    write_rows(path, schema, written, extra=STATE_COLUMNS)
    problems = check_batch(path, CheckOptions(schema=schema)).problems
    return Export(path, rows, len(found), problems, words)


def find_packages(
    catalogue: CatalogueAPI, organizations: Iterable[str] = (), packages: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """The datasets named and every dataset of the organizations named, each once,
    with their resources."""
    found: dict[str, dict[str, Any]] = {}
    for name in organizations:
        organization = read("organization", catalogue.organization, name)
        listing = read("organization", catalogue.organization_packages, organization["id"])
        for package in listing:
            found.setdefault(package["id"], package)
    for name in packages:
        package = read("dataset", catalogue.package, name)
        found.setdefault(package["id"], package)
    return list(found.values())


def read(what: str, show: Callable[[str], Any], name: str) -> Any:
    """A look-up whose failure ends the command, in the editor's words."""
    try:
        return show(name)
    except NotFound:
        raise CatalogueReadError(problems.NOT_FOUND.message(what=what, name=name)) from None
    except NotAuthorized:
        raise CatalogueReadError(problems.NOT_VISIBLE.message(what=what, name=name)) from None
    except CatalogueError as error:
        message = problems.LOOK_UP_FAILED.message(what=what, name=name, detail=error.message)
        raise CatalogueReadError(message) from None


def export_rows(schema: Schema, packages: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """One patch row per resource, naming it by id, with its current values."""
    rows = []
    for package in packages:
        organization = (package.get("organization") or {}).get("name") or package.get("owner_org")
        for resource in package.get("resources") or []:
            cells = resource_cells(schema, resource)
            if resource.get("url_type") == "upload":
                cells.pop("url", None)  # the catalogue's own download link, not the editor's
            control = {
                "op": str(EXPORT_OP),
                "package": str(package["name"]),
                "organization": str(organization or ""),
                "resource_id": str(resource["id"]),
            }
            rows.append({**control, **cells})
    return rows


def write_rows(
    path: Path, schema: Schema, rows: list[dict[str, Any]], extra: Sequence[str] = ()
) -> Path:
    """Batch rows in the template's layout: its workbook (dropdowns, help,
    instructions) with the rows on the Batch sheet, or a CSV file (ValueError for
    any other name). `extra` columns (ones the reader ignores, such as a due
    report's dates) follow."""
    path = output_path(path)
    columns = [*(c.name for c in template_columns(schema)), *extra]
    if path.suffix.lower() == ".csv":
        # text from the catalogue may start like a formula: escaped (loader.csvtext)
        path.write_bytes(csv_bytes([columns, *([row.get(c, "") for c in columns] for row in rows)]))
        return path
    wb = template_workbook(schema)
    ws = wb["Batch"]
    for index, column in enumerate(extra, start=len(columns) - len(extra) + 1):
        put(ws.cell(row=1, column=index), column)
        ws.cell(row=1, column=index).font = BOLD
    for number, row in enumerate(rows, start=2):
        for index, column in enumerate(columns, start=1):
            if row.get(column) not in (None, ""):
                put(ws.cell(row=number, column=index), row[column])
    return save_atomically(wb, path)
