"""Read and validate a large .xlsx batch; compare with pandas.read_excel just reading it.

    .venv/bin/python benchmarks/bench_read_validate.py [--rows 50000] [--repeat 3]

Prints the figures; the committed output is benchmarks/results/read_validate.txt.
Target: reading and validating takes at most half the time pandas.read_excel
(default engine) takes only to read the same file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import openpyxl

from loader.pipeline.read import read_batch
from loader.pipeline.validate import validate_batch
from loader.schema import load_schema

COLUMNS = [
    "op",
    "package",
    "organization",
    "resource_id",
    "name",
    "url",
    "bcdc_type",
    "description",
    "resource_update_cycle",
    "last_modified",
    "temporal_extent.beginning_date",
    "temporal_extent.end_date",
    "format",
    "resource_storage_location",
    "spatial_datatype",
    "object_name",
    "projection_name",
    "iso_topic_category",
    "resource_type",
    "resource_access_method",
    "geographic_extent.north_bound_latitude",
    "geographic_extent.south_bound_latitude",
    "geographic_extent.east_bound_longitude",
    "geographic_extent.west_bound_longitude",
]


def make_batch(path: Path, rows: int, seed: int = 1) -> None:
    """A realistic batch: unique names and URLs, a third geographic, dates and numbers as cells."""
    rnd = random.Random(seed)
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Batch")
    ws.append(COLUMNS)
    for i in range(rows):
        geographic = i % 3 == 0
        patch = i % 10 == 9
        suffix = "geojson" if geographic else "csv"
        start = dt.date(2015, 1, 1) + dt.timedelta(days=rnd.randrange(3000))
        north = round(rnd.uniform(49.0, 60.0), 4)
        ws.append(
            [
                "patch" if patch else "upsert",
                f"dataset-{i % 400:04d}",
                "information-management-cfd" if i % 2 else None,
                None,
                f"Extract {i:06d}",
                f"https://data.example.gov.bc.ca/extracts/{i:06d}.{suffix}",
                "geographic" if geographic else "document",
                f"Monthly extract {i} of station readings, one row per reading.",
                rnd.choice(["monthly", "weekly", "quarterly", "annually"]),
                None,
                start,
                start + dt.timedelta(days=365),
                "geojson" if geographic else "csv",
                "web or ftp site",
                "SDO_GEOMETRY" if geographic else None,
                f"WHSE_ENVIRONMENT.TABLE_{i % 50}" if geographic else None,
                "epsg3005" if geographic else None,
                "inlandWaters,environment" if geographic else None,
                "data",
                "direct access",
                north if geographic else None,
                round(north - rnd.uniform(0.5, 1.5), 4) if geographic else None,
                round(rnd.uniform(-120.0, -114.0), 4) if geographic else None,
                round(rnd.uniform(-139.0, -121.0), 4) if geographic else None,
            ]
        )
    wb.save(path)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import pandas

    schema = load_schema()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "batch.xlsx"
        make_batch(path, args.rows)
        size = path.stat().st_size / 1e6

        result = {}

        def ours() -> None:
            batch = read_batch(path, schema=schema)
            result["problems"], result["checked"] = validate_batch(batch, schema)

        def read_only() -> None:
            read_batch(path, schema=schema)

        def pandas_read() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pandas announces a future default engine
                pandas.read_excel(path, sheet_name="Batch")

        ours_times = [timed(ours) for _ in range(args.repeat)]
        read_times = [timed(read_only) for _ in range(args.repeat)]
        pandas_times = [timed(pandas_read) for _ in range(max(1, args.repeat - 1))]

    best, base = min(ours_times), min(pandas_times)
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()}, "
        f"Python {platform.python_version()}, pandas {version('pandas')}, "
        f"openpyxl {version('openpyxl')}, python-calamine {version('python-calamine')}, "
        f"jsonschema {version('jsonschema')}"
    )
    print(f"batch: {args.rows} rows x {len(COLUMNS)} columns, {size:.1f} MB .xlsx")
    print(
        f"result: {len(result['checked'])} rows ready, {len(result['problems'])} problems "
        "(expected: all ready, none)"
    )
    print(
        f"bcdc-loader read + validate: best {best:.2f} s, "
        f"median {statistics.median(ours_times):.2f} s over {len(ours_times)} runs"
    )
    print(f"  of which read_batch alone:  best {min(read_times):.2f} s")
    print(
        f"pandas.read_excel, default engine (openpyxl for .xlsx), read only: best {base:.2f} s "
        f"over {len(pandas_times)} runs"
    )
    ratio = best / base
    verdict = "met" if ratio <= 0.5 else "NOT met"
    print(f"ratio: {ratio:.2f} of pandas' read time (target <= 0.50: {verdict})")
    sys.exit(0)


if __name__ == "__main__":
    main()
