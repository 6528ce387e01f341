"""The loader at the scale of a large organization: 1,000 datasets, 10,000 resources.

    make ckan-up
    .venv/bin/python benchmarks/bench_scale.py [--repeat 1]

On the organization benchmarks/scale_org.py makes (once; every resource
overdue), each command run as an editor runs it, a process of its own, timed
with its peak resident memory:

- `export --organization` to .xlsx and to .csv (10,000 rows);
- `due --organization -o` (every resource is overdue: 10,000 rows);
- a 10,000-row batch, the export with every row's description edited, run
  `--dry-run` and then for real with `--jobs 4` (1,000 datasets, each one
  planning read and one folded write).

On loopback. Figures are the minimum of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import openpyxl
import scale_org
import wire


def edited(export: Path, batch: Path, text: str) -> int:
    """The exported workbook with every row's description replaced; rows edited."""
    workbook = openpyxl.load_workbook(export)
    sheet = workbook["Batch"]
    column = next(cell.column for cell in sheet[1] if cell.value == "description")
    rows = 0
    for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
        cell.value = text
        rows += 1
    workbook.save(batch)
    return rows


def measure(site: wire.Site, organization: str, folder: Path) -> dict[str, wire.Ran]:
    ran: dict[str, wire.Ran] = {}
    for suffix in ("xlsx", "csv"):
        export = folder / f"export.{suffix}"
        export.unlink(missing_ok=True)
        ran[f"export to .{suffix}"] = wire.checked(
            wire.bcdc_loader(site, "export", "--organization", organization, "-o", str(export)),
            "export",
        )
    due = folder / "due.xlsx"
    due.unlink(missing_ok=True)
    ran["due -o (all overdue)"] = wire.checked(
        wire.bcdc_loader(site, "due", "--organization", organization, "-o", str(due)),
        "due",
        allowed=(0, 1),
    )
    batch = folder / "batch.xlsx"
    rows = edited(folder / "export.xlsx", batch, f"Edited at {time.time():.0f}")
    for label, options in ((f"run --dry-run ({rows} rows)", ["--dry-run"]),
                           (f"run --jobs 4 ({rows} rows)", ["--jobs", "4"])):  # fmt: skip
        result = folder / "results.xlsx"
        result.unlink(missing_ok=True)
        result.with_name(result.stem + ".journal.jsonl").unlink(missing_ok=True)
        ran[label] = wire.checked(
            wire.bcdc_loader(site, "run", str(batch), *options, "-q", "-o", str(result)), label
        )
    return ran


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs; figures are their minimum")
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--per-dataset", type=int, default=10)
    args = parser.parse_args()
    site = wire.Site.local()
    started = time.perf_counter()
    resources = args.datasets * args.per_dataset
    wire.header(site, f"an organization of {args.datasets:,} datasets, {resources:,} resources")
    organization = scale_org.ensure(site, args.datasets, args.per_dataset)
    folder = wire.DATA / f"scale-{args.datasets}x{args.per_dataset}"
    folder.mkdir(parents=True, exist_ok=True)
    runs = []
    for number in range(1, args.repeat + 1):
        print(f"run {number} ... (load average {wire.load()})", flush=True)
        runs.append(measure(site, organization, folder))
    print(f"\n{'':34}{'time':>10}{'peak memory':>14}   (min of {len(runs)} runs)")
    for label in runs[0]:
        seconds = min(r[label].seconds for r in runs)
        peak = min(r[label].peak_mib for r in runs)
        print(f"{label:34}{seconds:>8.1f} s{peak:>10.0f} MiB")
    print(f"\nlast run's summary: {runs[-1][next(reversed(runs[-1]))].out.strip()}")
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s; load average {wire.load()})")


if __name__ == "__main__":
    main()
