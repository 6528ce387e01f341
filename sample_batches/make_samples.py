"""Write the sample batches in this folder (run from the repository root).

    .venv/bin/python sample_batches/make_samples.py

new-resources.csv adds resources to the seeded local catalogue;
monthly-refresh.xlsx refreshes them and patches two. Both use upsert and
patch only, so running them again is safe. Run new-resources.csv first:
the patch rows of monthly-refresh.xlsx change resources it creates.
"""

from __future__ import annotations

import csv
from pathlib import Path

from loader.model import CLEAR
from loader.pipeline.report import put, save_atomically
from loader.schema import load_schema
from loader.template import template_columns, template_workbook

HERE = Path(__file__).resolve().parent
ORG = "information-management-cfd"

COMMON = {
    "resource_type": "data",
    "resource_access_method": "direct access",
}

NEW_RESOURCES = [
    {
        **COMMON,
        "op": "upsert",
        "package": "water-quality-monitoring",
        "organization": ORG,
        "name": "Sampling results 2024",
        "upload": "files/sampling-results-2024.csv",
        "bcdc_type": "document",
        "description": "Laboratory results for 2024 samples, one row per site, date and parameter.",
        "resource_update_cycle": "annually",
        "format": "csv",
        "resource_storage_location": "catalogue data store",
        "temporal_extent.beginning_date": "2024-01-01",
        "temporal_extent.end_date": "2024-12-31",
        "json_table_schema": (
            '{"fields": [{"name": "site_id", "type": "string"}, '
            '{"name": "sample_date", "type": "date"}, {"name": "parameter", "type": "string"}, '
            '{"name": "value", "type": "number"}, {"name": "unit", "type": "string"}]}'
        ),
    },
    {
        **COMMON,
        "op": "upsert",
        "package": "air-quality-stations",
        "organization": ORG,
        "name": "Station locations",
        "url": "https://example.gov.bc.ca/air/stations.geojson",
        "bcdc_type": "geographic",
        "description": "Where each continuous air quality monitoring station stands.",
        "supplemental_info": "Coordinates are surveyed to the station enclosure.",
        "resource_update_cycle": "monthly",
        "format": "geojson",
        "resource_storage_location": "web or ftp site",
        "spatial_datatype": "NA",
        "projection_name": "epsg4326",
        "iso_topic_category": "climatologyMeteorologyAtmosphere,environment",
        "geographic_extent.north_bound_latitude": "60",
        "geographic_extent.south_bound_latitude": "48.3",
        "geographic_extent.east_bound_longitude": "-114.03",
        "geographic_extent.west_bound_longitude": "-139.06",
    },
    {
        **COMMON,
        "op": "upsert",
        "package": "air-quality-stations",
        "name": "Hourly readings API",
        "url": "https://example.gov.bc.ca/api/air/v1/readings",
        "bcdc_type": "webservice",
        "description": "Hourly readings from every station, as JSON.",
        "resource_update_cycle": "continual",
        "format": "openapi-json",
        "resource_storage_location": "ministry or other database",
        "resource_access_method": "service",
        "projection_name": "epsg4326",
    },
]

MONTHLY_REFRESH = [
    {
        **COMMON,
        "op": "upsert",
        "package": "water-quality-monitoring",
        "organization": ORG,
        "name": "Monitoring sites",
        "upload": "files/monitoring-sites.csv",
        "bcdc_type": "document",
        "description": "Every active water quality monitoring site in the province.",
        "resource_update_cycle": "monthly",
        "format": "csv",
        "resource_storage_location": "catalogue data store",
        "last_modified": "2025-01-31",
    },
    {
        **COMMON,
        "op": "upsert",
        "package": "water-quality-monitoring",
        "organization": ORG,
        "name": "Monitoring sites (map)",
        "upload": "files/monitoring-sites.geojson",
        "bcdc_type": "geographic",
        "description": "The monitoring sites as points, for maps.",
        "resource_update_cycle": "monthly",
        "format": "geojson",
        "resource_storage_location": "catalogue data store",
        "spatial_datatype": "NA",
        "projection_name": "epsg4326",
        "iso_topic_category": "inlandWaters,environment",
        "temporal_extent.beginning_date": "1985-04-01",
        "geographic_extent.north_bound_latitude": "54.52",
        "geographic_extent.south_bound_latitude": "49.38",
        "geographic_extent.east_bound_longitude": "-117.28",
        "geographic_extent.west_bound_longitude": "-128.6",
        "preview_info.preview_latitude": "52",
        "preview_info.preview_longitude": "-123",
        "preview_info.preview_zoom_level": "5",
    },
    {
        **COMMON,
        "op": "upsert",
        "package": "air-quality-stations",
        "organization": ORG,
        "name": "Station list",
        "url": "https://example.gov.bc.ca/air/stations.csv",
        "bcdc_type": "document",
        "description": "Station names, codes and the pollutants each one measures.",
        "resource_update_cycle": "monthly",
        "format": "csv",
        "resource_storage_location": "web or ftp site",
    },
    {
        "op": "patch",
        "package": "water-quality-monitoring",
        "name": "Sampling results 2024",
        "description": "Laboratory results for 2024 samples (final, checked).",
        "last_modified": "2025-01-31T08:00:00",
    },
    {
        "op": "patch",
        "package": "air-quality-stations",
        "name": "Station locations",
        "supplemental_info": CLEAR,
        "resource_update_cycle": "weekly",
    },
]


def write_csv(path: Path, rows: list[dict]) -> None:
    """A CSV batch with only the columns the rows use, as Excel saves CSV UTF-8."""
    names = [c.name for c in template_columns(load_schema())]
    header = [n for n in names if any(n in r for r in rows)]
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows([r.get(n, "") for n in header] for r in rows)


def write_xlsx(path: Path, rows: list[dict]) -> None:
    """A batch on the template's Batch sheet, so the editor keeps dropdowns and help."""
    schema = load_schema()
    wb = template_workbook(schema)
    del wb["Examples"]
    ws = wb["Batch"]
    names = [c.name for c in template_columns(schema)]
    for number, row in enumerate(rows, start=2):
        for index, name in enumerate(names, start=1):
            if name in row:
                put(ws.cell(row=number, column=index), row[name])
    save_atomically(wb, path)


if __name__ == "__main__":
    write_csv(HERE / "new-resources.csv", NEW_RESOURCES)
    write_xlsx(HERE / "monthly-refresh.xlsx", MONTHLY_REFRESH)
    print("Wrote new-resources.csv and monthly-refresh.xlsx")
