"""A run follows the DataStore load of each file it sends, on the local catalogue with
its DataStore and ckanext-xloader: what each row's `datastore` column says, against
what the catalogue says (`datastore_search`, `xloader_status`), and the exit code."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import ckan_stack
import pytest
from click.testing import CliRunner
from fault_proxy import FaultProxy

from integration.helpers import REQUIRED, finished_load, sheet_rows, write_batch
from loader.cli import main

pytestmark = pytest.mark.catalogue


def invoke(catalogue, *args: str, url: str | None = None):
    env = {"CKAN_API_KEY": catalogue.editor_token, "CKAN_URL": url or catalogue.url}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def table(rows: int, heading: str = "site,value") -> bytes:
    return (heading + "\n" + "".join(f"S{n},{n}\n" for n in range(rows))).encode()


def upload_row(package: dict, name: str, file: str, **fields: str) -> dict[str, str]:
    return {"op": "upsert", "package": package["name"], "name": name, "upload": file,
            **REQUIRED, **fields}  # fmt: skip


def total(catalogue, resource_id: str) -> int:
    found = catalogue.client("admin").action.datastore_search(resource_id=resource_id, limit=0)
    return found["total"]


def run(catalogue, tmp_path: Path, *rows: dict, wait: int = 90, extra: tuple[str, ...] = ()):
    """Run a batch of these rows; returns the command's result and the Results rows."""
    results = tmp_path / f"results-{len(list(tmp_path.glob('results-*.xlsx')))}.xlsx"
    batch = write_batch(tmp_path, *rows)
    ran = invoke(
        catalogue, "run", str(batch), "-o", str(results), "--datastore-wait", str(wait), *extra
    )
    return ran, sheet_rows(results)


def test_an_uploaded_csv_loads_and_its_row_says_how_many_rows(catalogue, make_package, tmp_path):
    package = make_package()
    (tmp_path / "readings.csv").write_bytes(table(1234))

    ran, (row,) = run(catalogue, tmp_path, upload_row(package, "Readings", "readings.csv"))

    assert ran.exit_code == 0, ran.output
    assert "1 row (1 done; DataStore: 1 loaded)" in ran.output
    assert row["status"] == "done"
    assert row["datastore"] == f"loaded {total(catalogue, row['resource_id']):,} rows"
    assert row["datastore"] == "loaded 1,234 rows"


def test_a_file_the_loader_fails_on_ends_with_its_reason(catalogue, make_package, tmp_path):
    package = make_package()
    (tmp_path / "ragged.csv").write_bytes(b"site,value\nS1,1\nS2,2,extra\n")
    trusted = ("--trust-file", str(tmp_path / "ragged.csv"))  # past the look inside files

    ran, (row,) = run(catalogue, tmp_path, upload_row(package, "Ragged", "ragged.csv"),
                      extra=trusted)  # fmt: skip

    assert ran.exit_code == 4, ran.output
    assert "1 row (1 done; DataStore: 1 load failed)" in ran.output
    assert row["status"] == "done"  # the file is stored: the row is not a false "failed"
    assert row["datastore"] == (
        "load failed: row 3 has more values than the 2 columns of the heading row (the extra "
        "value is 'extra'); a value holding a comma or a double quote must be wrapped in "
        "double quotes"
    )
    status = catalogue.client("editor").action.xloader_status(resource_id=row["resource_id"])
    assert row["error"] == f"DataStore loader: {status['error']}"  # the loader's own words


def test_a_load_not_finished_within_the_wait_is_still_loading(catalogue, make_package, tmp_path):
    package = make_package()
    (tmp_path / "readings.csv").write_bytes(table(5))

    with catalogue.worker_paused():
        ran, (row,) = run(catalogue, tmp_path, upload_row(package, "Readings", "readings.csv"),
                          wait=3)  # fmt: skip

    assert ran.exit_code == 4, ran.output
    assert "1 row (1 done; DataStore: 1 still loading)" in ran.output
    assert re.fullmatch(r"still loading after [3-5] s \(queued, not started\)", row["datastore"])
    seconds = float(re.search(r" in ([\d.]+) s\.", ran.output).group(1))
    assert seconds < 15  # the wait is bounded


@contextlib.contextmanager
def stored_file_away(catalogue, resource_id: str) -> Iterator[None]:
    """The catalogue cannot serve the resource's stored file while inside (the file is
    moved aside in its storage folder, then put back unchanged)."""
    ini = ckan_stack.LINES[catalogue.line].ini.read_text()
    storage = Path(re.search(r"^ckan\.storage_path\s*=\s*(.+)$", ini, re.M).group(1).strip())
    stored = storage / "resources" / resource_id[:3] / resource_id[3:6] / resource_id[6:]
    aside = stored.with_name(stored.name + ".aside")
    stored.rename(aside)
    try:
        yield
    finally:
        aside.rename(stored)


def test_an_unchanged_file_whose_last_load_failed_is_resubmitted_and_loads(
    catalogue, make_package, tmp_path
):
    """'Last load failed, file fine': the load of a good file fails for a reason outside
    the file (the catalogue could not serve its stored copy to its own loader), the
    real failure xloader records; the next run of the same file, unchanged, loads it."""
    package = make_package()
    (tmp_path / "sites.csv").write_bytes(table(3))
    row = upload_row(package, "Sites", "sites.csv")
    with contextlib.ExitStack() as aside:
        with catalogue.worker_paused():  # the load waits in the queue...
            first, (sent,) = run(catalogue, tmp_path, row, wait=0)
            resource_id = sent["resource_id"]
            aside.enter_context(stored_file_away(catalogue, resource_id))
        # ... and runs once the worker is back, while the stored file is away
        failed = finished_load(catalogue.client("admin"), resource_id)
    assert failed["status"] == "error" and "download" in failed["error"]

    ran, (again,) = run(catalogue, tmp_path, row)

    assert first.exit_code == 4 and ran.exit_code == 0, ran.output
    assert again["action"].startswith("no change (file unchanged); its last DataStore load failed")
    assert again["action"].endswith(": resubmitted it")
    assert again["datastore"] == f"loaded {total(catalogue, resource_id)} rows" == "loaded 3 rows"
    status = catalogue.client("admin").action.xloader_status(resource_id=resource_id)
    assert status["status"] == "complete" and status["job_id"] != failed["job_id"]


def test_a_load_finishing_between_an_upload_and_a_fold_does_not_refuse_it(
    catalogue, make_package, tmp_path
):
    """Uploads, then patch rows of the same dataset folded into one package_revise: the
    revise reaches the catalogue only once the upload's load has written into the
    resource (moving the dataset's metadata_modified), as happens in a monthly refresh."""
    package = make_package()
    admin = catalogue.client("admin")
    links = {**REQUIRED, "format": "html"}  # pages, not tables: nothing to load
    for name in ("Notes", "Map"):
        admin.action.resource_create(
            package_id=package["id"], name=name, url=f"https://example.com/{name}", **links
        )
    (tmp_path / "sites.csv").write_bytes(table(4))
    rows = [
        upload_row(package, "Sites", "sites.csv"),
        {"op": "patch", "package": package["name"], "name": "Notes", "description": "new"},
        {"op": "patch", "package": package["name"], "name": "Map", "description": "new"},
    ]
    proxy = FaultProxy(catalogue.url)
    made: list[str] = []

    def load_first() -> None:
        sites = next(r for r in admin.action.package_show(id=package["id"])["resources"]
                     if r["name"] == "Sites")  # fmt: skip
        made.append(sites["id"])
        finished_load(admin, sites["id"])

    proxy.before("package_revise", load_first)
    try:
        batch = write_batch(tmp_path, *rows)
        ran = invoke(catalogue, "run", str(batch), "-o", str(tmp_path / "r.xlsx"), url=proxy.url)
    finally:
        proxy.go_away()

    assert ran.exit_code == 0, ran.output
    assert proxy.seen.count("package_revise") == 2  # refused once, looked at, sent again
    shown = {r["name"]: r for r in admin.action.package_show(id=package["id"])["resources"]}
    assert shown["Notes"]["description"] == shown["Map"]["description"] == "new"
    assert shown["Sites"]["datastore_active"] is True and made == [shown["Sites"]["id"]]
    assert [r["datastore"] for r in sheet_rows(tmp_path / "r.xlsx")] == [
        "loaded 4 rows",
        None,
        None,
    ]
