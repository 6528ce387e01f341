"""Small builders shared by the offline tests: batch files written on the fly."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

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


def write_xlsx(path: Path, header: Sequence[str], rows: Sequence[Sequence], sheet="Batch") -> Path:
    """A workbook with one sheet: the header row, then the rows as given."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    wb.save(path)
    return path


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence], **kwargs) -> Path:
    """A CSV file; kwargs go to open() (encoding, newline) and csv.writer (delimiter)."""
    delimiter = kwargs.pop("delimiter", ",")
    kwargs.setdefault("encoding", "utf-8")
    kwargs.setdefault("newline", "")
    with open(path, "w", **kwargs) as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def rows_from_dicts(dicts: Sequence[dict]) -> tuple[list[str], list[list[str]]]:
    """Header and rows covering every key used by any of the dicts."""
    header: list[str] = []
    for d in dicts:
        header.extend(k for k in d if k not in header)
    return header, [[d.get(k, "") for k in header] for d in dicts]


def batch_file(tmp_path: Path, *dicts: dict, name: str = "batch.csv") -> Path:
    """A CSV batch holding one row per dict."""
    header, rows = rows_from_dicts(dicts)
    return write_csv(tmp_path / name, header, rows)
