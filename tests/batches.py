"""Batch files written on the fly, for every test that needs one (offline or not)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl

# A complete, valid document resource; tests change one thing at a time.
DOCUMENT = {
    "op": "create",
    "package": "water-quality-monitoring",
    "name": "Sampling sites 2024",
    "url": "https://example.com/sites-2024.csv",
    "bcdc_type": "document",
    "resource_update_cycle": "annually",
    "format": "csv",
    "resource_storage_location": "web or ftp site",
    "resource_type": "data",
    "resource_access_method": "direct access",
}

GEOGRAPHIC = {
    **DOCUMENT,
    "name": "Sampling sites (map)",
    "url": "https://example.com/sites.geojson",
    "bcdc_type": "geographic",
    "format": "geojson",
    "spatial_datatype": "SDO_GEOMETRY",
    "projection_name": "epsg4326",
    "iso_topic_category": "inlandWaters,environment",
}


def write_batch(folder: Path, *rows: dict[str, Any], name: str = "batch.csv") -> Path:
    """A batch holding one row per dict, headed by every key any row uses (first-seen
    order): a workbook when `name` ends in .xlsx, else a UTF-8 CSV file."""
    header: list[str] = []
    for row in rows:
        header += [k for k in row if k not in header]
    cells = [[row.get(k, "") for k in header] for row in rows]
    path = folder / name
    if path.suffix.lower() == ".xlsx":
        return write_xlsx(path, header, cells)
    return write_csv(path, header, cells)


def write_xlsx(
    path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]], sheet: str = "Batch"
) -> Path:
    """A workbook with one sheet: the header row, then the rows as given."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    wb.save(path)
    return path


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]], **kwargs) -> Path:
    """A CSV file; kwargs go to open() (encoding, newline) and csv.writer (delimiter)."""
    delimiter = kwargs.pop("delimiter", ",")
    kwargs.setdefault("encoding", "utf-8")
    kwargs.setdefault("newline", "")
    with open(path, "w", **kwargs) as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def sparse_file(path: Path, size: int) -> Path:
    """A file of `size` bytes that takes no room on disk."""
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def operation(
    row: int,
    action: str,
    package: str = "p1",
    resource_id: str | None = None,
    after_row: int | None = None,
):
    """A planned operation on resource R<row> of dataset `package` (a create names the
    resource, any other changes its description), for tests past planning."""
    from loader.pipeline.operations import Action, Operation

    return Operation(
        row=row,
        action=Action(action),
        package_id=f"pkg-{package}",
        package_name=package,
        package_type="bcdc_dataset",
        resource_id=resource_id,
        resource_name=f"R{row}",
        after_row=after_row,
        fields={"name": f"R{row}"} if action == "create" else {"description": f"row {row}"},
    )
