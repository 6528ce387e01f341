"""What the journal costs: a run of 200 rows with the journal on and off.

    make ckan-up
    .venv/bin/python benchmarks/bench_journal.py

Each run creates 200 URL-only resources over 4 datasets, one call per row
(--no-fold, the most journal records a run of 200 rows can write), against
the local catalogue. Every journal line is flushed and synced to disk before
the loader goes on. The committed output is benchmarks/results/journal.txt.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

import ckanapi

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "dev"))

import ckan_stack  # noqa: E402

from loader.client import Catalogue  # noqa: E402
from loader.options import RunOptions  # noqa: E402
from loader.pipeline.journal import journal_path  # noqa: E402
from loader.pipeline.report import write_results  # noqa: E402
from loader.run import run_batch  # noqa: E402

ROWS, DATASETS = 200, 4


def main() -> None:
    credentials = json.loads(ckan_stack.LINE.credentials.read_text())
    url, token = credentials["url"], credentials["sysadmin"]["token"]
    ckan = ckanapi.RemoteCKAN(url, apikey=token)
    folder = Path(tempfile.mkdtemp(prefix="bcdc-bench-journal-"))
    made: list[str] = []
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    )
    print(f"catalogue: {url}; {ROWS} create rows over {DATASETS} datasets, one call a row")
    try:
        for journal in (False, True, False, True):
            names = []
            for _ in range(DATASETS):
                name = f"bench-{uuid.uuid4().hex[:10]}"
                fields = ckan_stack.dataset_fields(
                    name, "Journal benchmark", credentials["organizations"][0]
                )
                ckan.action.package_create(**fields)
                made.append(name)
                names.append(name)
            batch = folder / f"batch-{len(made)}.csv"
            lines = ["op,package,name,url," + ",".join(ckan_stack.RESOURCE_REQUIRED)]
            for n in range(ROWS):
                values = ",".join(ckan_stack.RESOURCE_REQUIRED.values())
                lines.append(
                    f"create,{names[n % DATASETS]},Row {n},https://example.com/{n},{values}"
                )
            batch.write_text("\n".join(lines) + "\n")
            result_path = folder / f"result-{len(made)}.xlsx"
            start = time.perf_counter()
            # without a result path there is no journal: the workbook is written here,
            # as the run would have written it, so that only the journal differs
            kept = result_path if journal else None
            result = run_batch(
                batch, Catalogue(url, token), RunOptions(fold=False), result_path=kept
            )
            if not journal:
                write_results(result_path, result.batch, result.outcomes, result.summary)
            seconds = time.perf_counter() - start
            assert result.exit_code == 0, result.outcomes[:3]
            path = journal_path(result_path)
            size = path.stat().st_size if path.exists() else 0
            words = f"journal on ({size:,} bytes)" if journal else "journal off"
            print(f"  {words:28} {seconds:6.1f} s")
    finally:
        for name in made:
            ckan.action.dataset_purge(id=name)


if __name__ == "__main__":
    main()
