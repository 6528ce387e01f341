"""Putting a dataset's resources in order from a batch, on the local catalogue (both CKAN
lines): the order read back from the catalogue, an export run back with its rows moved
changing nothing but the order, resources the batch creates put first, and undo."""

from __future__ import annotations

import openpyxl
import pytest

from integration.helpers import REQUIRED, editor, resources_of, write_batch
from integration.test_export import filled_package
from loader.export import export_batch
from loader.options import RunOptions, UndoOptions
from loader.run import run_batch
from loader.undo import undo_run

pytestmark = pytest.mark.catalogue


def names(catalogue, package_id: str) -> list[str]:
    return [r["name"] for r in resources_of(catalogue, package_id)]


def move_rows(path, order: list[str]) -> None:
    """Move an export's rows into `order` (by resource name), add a reorder row."""
    wb = openpyxl.load_workbook(path)
    ws = wb["Batch"]
    rows = [list(r) for r in ws.iter_rows(min_row=2, values_only=True)]
    header = [c.value for c in ws[1]]
    name = header.index("name")
    rows.sort(key=lambda r: order.index(r[name]))
    ws.delete_rows(2, ws.max_row)
    for row in rows:
        ws.append(row)
    package = rows[0][header.index("package")]
    ws.append([{"op": "reorder", "package": package}.get(h) for h in header])
    wb.save(path)


def test_an_export_run_back_with_its_rows_moved_changes_only_the_order(
    catalogue, make_package, tmp_path
):
    admin = catalogue.client("admin")
    package = filled_package(make_package, admin, tmp_path)
    before = {r["id"]: r for r in resources_of(catalogue, package["id"])}
    assert names(catalogue, package["id"]) == ["Map", "Notes", "Table"]
    path = tmp_path / "export.xlsx"
    export_batch(editor(catalogue), path, packages=[package["name"]])
    move_rows(path, ["Table", "Map", "Notes"])

    dry = run_batch(path, editor(catalogue), RunOptions(dry_run=True))
    assert [o.action for o in dry.outcomes] == [
        "no change",
        "no change",
        "no change",
        f"would put the resources of dataset '{package['name']}' in order: 'Map', 'Notes', "
        "'Table' -> 'Table', 'Map', 'Notes'",
    ]
    assert dry.tally() == {"would change nothing": 3, "would put a dataset's resources in order": 1}
    assert names(catalogue, package["id"]) == ["Map", "Notes", "Table"]

    result_path = tmp_path / "results.xlsx"
    run = run_batch(path, editor(catalogue), result_path=result_path)

    assert run.exit_code == 0, [o.error for o in run.outcomes]
    after = resources_of(catalogue, package["id"])
    assert [r["name"] for r in after] == ["Table", "Map", "Notes"]
    for resource in after:  # every field as it was: only the place differs
        old = before[resource["id"]]
        differ = {k for k in {*old, *resource} if old.get(k) != resource.get(k)}
        assert differ <= {"position"}, (resource["name"], differ)
    shown = admin.action.package_show(id=package["id"])
    assert shown["metadata_modified"] > package["metadata_modified"]  # the dataset was written

    undo = undo_run(result_path, editor(catalogue))
    assert undo.exit_code == 0, [o.error for o in undo.outcomes]
    assert names(catalogue, package["id"]) == ["Map", "Notes", "Table"]


def test_new_resources_first_and_the_rest_after_as_they_were(catalogue, make_package, tmp_path):
    admin = catalogue.client("admin")
    package = make_package()
    for name in ("2023", "Guide", "2024", "Licence"):
        admin.action.resource_create(
            package_id=package["id"], name=name, url=f"https://example.com/{name}", **REQUIRED
        )
    batch = write_batch(
        tmp_path,
        {"op": "reorder", "package": package["name"]},
        {"op": "create", "package": package["name"], "name": "2025",
         "url": "https://example.com/2025", **REQUIRED},
        {"op": "patch", "package": package["name"], "name": "2024", "description": "last year"},
        {"op": "delete", "package": package["name"], "name": "Licence"},
    )  # fmt: skip
    result_path = tmp_path / "results.xlsx"

    run = run_batch(batch, editor(catalogue), result_path=result_path)

    assert run.exit_code == 0, [o.error for o in run.outcomes]
    assert names(catalogue, package["id"]) == ["2025", "2024", "2023", "Guide"]
    assert run.outcomes[0].action == (
        f"put the resources of dataset '{package['name']}' in order: '2023', 'Guide', '2024', "
        "'2025' -> '2025', '2024', '2023', 'Guide'"
    )

    dry = undo_run(result_path, editor(catalogue), UndoOptions(dry_run=True))
    assert dry.exit_code == 0
    undo = undo_run(result_path, editor(catalogue))
    assert undo.exit_code == 0, [o.error for o in undo.outcomes]
    # the old order back; the deleted resource comes back at the end (a new id)
    assert names(catalogue, package["id"]) == ["2023", "Guide", "2024", "Licence"]
