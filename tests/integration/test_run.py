"""Running batches against the local catalogue, row by row, as an editor would."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime

import openpyxl
import pytest
import requests

from integration.helpers import (
    REQUIRED,
    create_operation,
    editor,
    resources_of,
    sheet_rows,
    write_batch,
)
from loader.model import RunSummary
from loader.options import Listeners, RunOptions
from loader.pipeline.execute import execute
from loader.pipeline.operations import Plan
from loader.pipeline.read import read_batch
from loader.pipeline.report import write_results
from loader.run import run_batch

pytestmark = pytest.mark.catalogue


def test_create_from_upload_and_url_then_read_the_result_workbook(
    catalogue, make_package, tmp_path
):
    package = make_package()
    data = tmp_path / "stations.csv"
    data.write_bytes(b"station,lat,lon\nA1,49.2,-123.1\n")
    batch = write_batch(
        tmp_path,
        *[
            {
                "op": "create",
                "package": package["name"],
                "name": "Stations",
                "upload": "stations.csv",
                **REQUIRED,
                "description": "Monitoring stations",
            },
            {
                "op": "create",
                "package": package["name"],
                "name": "Portal",
                "url": "https://example.com/portal",
                **{**REQUIRED, "format": "html", "resource_storage_location": "web or ftp site"},
            },
        ],
    )
    result_path = tmp_path / "results.xlsx"

    result = run_batch(batch, editor(catalogue), result_path=result_path)

    assert result.exit_code == 0, [o.error for o in result.outcomes]
    stored = {r["name"]: r for r in resources_of(catalogue, package["id"])}
    assert set(stored) == {"Stations", "Portal"}
    assert stored["Stations"]["url_type"] == "upload"
    assert requests.get(stored["Stations"]["url"], timeout=30).content == data.read_bytes()
    assert stored["Portal"]["url"] == "https://example.com/portal"

    rows = sheet_rows(result_path)
    assert [r["status"] for r in rows] == ["done", "done"]
    assert [r["name"] for r in rows] == ["Stations", "Portal"]
    assert rows[0]["resource_id"] == stored["Stations"]["id"]
    assert rows[1]["resource_id"] == stored["Portal"]["id"]
    assert rows[0]["package_id"] == package["id"]
    assert rows[0]["resource_url"] == (
        f"{catalogue.url}/bcdc_dataset/{package['name']}/resource/{stored['Stations']['id']}"
    )
    assert rows[0]["action"].startswith("created resource 'Stations'")
    assert rows[0]["error"] in (None, "")
    ws = openpyxl.load_workbook(result_path)["Results"]
    link_cell = next(c for c in ws[2] if c.value == rows[0]["resource_url"])
    assert link_cell.hyperlink is not None and link_cell.data_type == "s"
    summary = {
        r[0]: r[1]
        for r in openpyxl.load_workbook(result_path)["Summary"].iter_rows(values_only=True)
    }
    assert summary["Rows done"] == 2
    assert summary["Rows failed"] == 0
    assert catalogue.url in str(summary.values())
    assert catalogue.editor_name in str(summary.values())


def test_update_replaces_the_resource_and_keeps_its_file(catalogue, make_package, tmp_path):
    package = make_package()
    admin = catalogue.client("admin")
    data = tmp_path / "a.csv"
    data.write_bytes(b"x\n1\n")
    with data.open("rb") as stream:
        original = admin.action.resource_create(
            package_id=package["id"],
            name="Readings",
            upload=stream,
            description="old text",
            object_name="WHSE.READINGS",
            **REQUIRED,
        )
    batch = write_batch(
        tmp_path,
        *[
            {
                "op": "update",
                "package": package["name"],
                "name": "Readings",
                **{**REQUIRED, "resource_update_cycle": "weekly"},
            }
        ],
    )

    dry = run_batch(batch, editor(catalogue), RunOptions(dry_run=True))
    words = dry.outcomes[0].action
    assert "resource_update_cycle: 'monthly' -> 'weekly'" in words
    assert "description: 'old text' -> (cleared)" in words
    assert "object_name: 'WHSE.READINGS' -> (cleared)" in words

    result = run_batch(batch, editor(catalogue))

    assert result.exit_code == 0, result.outcomes[0].error
    after = admin.action.resource_show(id=original["id"])
    assert after["resource_update_cycle"] == "weekly"
    assert not after.get("description")
    assert not after.get("object_name")
    assert requests.get(after["url"], timeout=30).content == b"x\n1\n"


def test_patch_changes_only_given_fields_clears_and_replaces_the_file(
    catalogue, make_package, tmp_path
):
    package = make_package()
    admin = catalogue.client("admin")
    original = admin.action.resource_create(
        package_id=package["id"],
        name="Report",
        url="https://example.com/r.pdf",
        description="keep me",
        supplemental_info="drop me",
        **{**REQUIRED, "format": "pdf"},
    )
    new_file = tmp_path / "report-2026.pdf"
    new_file.write_bytes(b"%PDF-1.4 new")
    batch = write_batch(
        tmp_path,
        *[
            {
                "op": "patch",
                "resource_id": original["id"],
                "upload": "report-2026.pdf",
                "supplemental_info": "<clear>",
                "resource_update_cycle": "annually",
            }
        ],
    )

    result = run_batch(batch, editor(catalogue))

    assert result.exit_code == 0, result.outcomes[0].error
    after = admin.action.resource_show(id=original["id"])
    assert after["description"] == "keep me"
    assert after["supplemental_info"] == ""
    assert after["resource_update_cycle"] == "annually"
    assert after["url_type"] == "upload"
    assert requests.get(after["url"], timeout=30).content == b"%PDF-1.4 new"


def test_delete_and_upsert(catalogue, make_package, tmp_path):
    package = make_package()
    admin = catalogue.client("admin")
    doomed = admin.action.resource_create(
        package_id=package["id"], name="Old", url="https://example.com/old", **REQUIRED
    )
    upsert = {
        "op": "upsert",
        "package": package["name"],
        "name": "Monthly extract",
        "url": "https://example.com/2026-10.csv",
        **REQUIRED,
    }
    first = write_batch(
        tmp_path, *[{"op": "delete", "package": package["name"], "name": "Old"}, upsert]
    )

    assert run_batch(first, editor(catalogue)).exit_code == 0
    names = [r["name"] for r in resources_of(catalogue, package["id"])]
    assert names == ["Monthly extract"]
    assert doomed["id"] not in [r["id"] for r in resources_of(catalogue, package["id"])]

    second = write_batch(
        tmp_path, *[{**upsert, "url": "https://example.com/2026-11.csv"}], name="again.csv"
    )
    result = run_batch(second, editor(catalogue))

    assert result.exit_code == 0, result.outcomes[0].error
    stored = resources_of(catalogue, package["id"])
    assert [r["url"] for r in stored] == ["https://example.com/2026-11.csv"]
    assert result.outcomes[0].action.startswith("updated resource 'Monthly extract'")


def test_names_resolve_and_unresolvable_rows_fail_alone(catalogue, make_package, tmp_path):
    package = make_package()
    admin = catalogue.client("admin")
    for _ in range(2):
        admin.action.resource_create(
            package_id=package["id"], name="Twin", url="https://example.com/t", **REQUIRED
        )
    batch = write_batch(
        tmp_path,
        *[
            {"op": "patch", "package": "no-such-dataset", "name": "X", "description": "d"},
            {"op": "patch", "package": package["name"], "name": "Twin", "description": "d"},
            {"op": "patch", "package": package["name"], "name": "Nobody", "description": "d"},
            {
                "op": "patch",
                "package": package["id"],
                "organization": catalogue.other_organization,
                "name": "Twin",
                "description": "d",
            },
            {
                "op": "create",
                "package": package["id"],
                "organization": catalogue.editor_organization,
                "name": "Found by id",
                "url": "https://example.com/f",
                **REQUIRED,
            },
        ],
    )

    result = run_batch(batch, editor(catalogue))

    status = [o.status for o in result.outcomes]
    errors = [o.error for o in result.outcomes]
    assert status == ["failed", "failed", "failed", "failed", "done"]
    assert "dataset 'no-such-dataset' was not found" in errors[0]
    assert "2 resources" in errors[1] and "named 'Twin'" in errors[1]
    assert "no resource named 'Nobody'" in errors[2]
    assert f"not '{catalogue.other_organization}'" in errors[3]
    assert result.exit_code == 1
    assert "Found by id" in [r["name"] for r in resources_of(catalogue, package["id"])]


def test_a_row_can_target_what_an_earlier_row_creates(catalogue, make_package, tmp_path):
    package = make_package()
    batch = write_batch(
        tmp_path,
        *[
            {
                "op": "create",
                "package": package["name"],
                "name": "Draft",
                "url": "https://example.com/d",
                **REQUIRED,
            },
            {
                "op": "patch",
                "package": package["name"],
                "name": "Draft",
                "description": "now described",
            },
        ],
    )

    result = run_batch(batch, editor(catalogue))

    assert [o.status for o in result.outcomes] == ["done", "done"], result.outcomes
    assert result.outcomes[0].resource_id == result.outcomes[1].resource_id
    (stored,) = resources_of(catalogue, package["id"])
    assert stored["description"] == "now described"


def test_editor_refused_on_another_organization_and_the_rest_goes_on(
    catalogue, make_package, tmp_path
):
    theirs = make_package(organization=catalogue.other_organization)
    mine = make_package()
    batch = write_batch(
        tmp_path,
        *[
            {
                "op": "create",
                "package": theirs["name"],
                "name": "Intruder",
                "url": "https://example.com/i",
                **REQUIRED,
            },
            {
                "op": "create",
                "package": mine["name"],
                "name": "Welcome",
                "url": "https://example.com/w",
                **REQUIRED,
            },
        ],
    )

    result = run_batch(batch, editor(catalogue), RunOptions(jobs=2))

    assert [o.status for o in result.outcomes] == ["failed", "done"]
    # found when planning, so never sent
    assert result.outcomes[0].code == "may-not-write"
    assert "may not write to dataset" in result.outcomes[0].error
    assert resources_of(catalogue, theirs["id"]) == []
    assert [r["name"] for r in resources_of(catalogue, mine["id"])] == ["Welcome"]
    # sent anyway (the planner bypassed), the catalogue's own refusal reads the same way
    (outcome,) = execute(Plan([create_operation(theirs)], []), editor(catalogue))
    assert (outcome.status, outcome.code) == ("failed", "not-authorized")
    assert "not authorized" in outcome.error


def test_server_validation_errors_land_on_their_columns(catalogue, make_package, tmp_path):
    """A value only the server refuses (the loader's own check is bypassed on purpose)."""
    package = make_package()
    op = create_operation(package, format="CSV", temporal_extent=[{"beginning_date": "2024-13-01"}])

    (outcome,) = execute(Plan([op], []), editor(catalogue))

    assert outcome.status == "failed"
    assert set(outcome.field_errors) == {"format", "temporal_extent.beginning_date"}
    assert "Value must be one of" in outcome.field_errors["format"]
    assert resources_of(catalogue, package["id"]) == []


def test_dry_run_resolves_everything_and_writes_nothing(catalogue, make_package, tmp_path):
    package = make_package()
    admin = catalogue.client("admin")
    existing = admin.action.resource_create(
        package_id=package["id"],
        name="Existing",
        url="https://example.com/e",
        description="before",
        **REQUIRED,
    )
    before = admin.action.package_show(id=package["id"])
    batch = write_batch(
        tmp_path,
        *[
            {
                "op": "create",
                "package": package["name"],
                "name": "New one",
                "url": "https://example.com/n",
                **REQUIRED,
            },
            {"op": "patch", "package": package["name"], "name": "Existing", "description": "after"},
            {"op": "patch", "package": package["name"], "name": "Existing", "format": "csv"},
            {"op": "delete", "resource_id": existing["id"]},
        ],
    )
    result_path = tmp_path / "dry.xlsx"

    result = run_batch(batch, editor(catalogue), RunOptions(dry_run=True), result_path=result_path)

    assert result.exit_code == 0
    actions = [o.action for o in result.outcomes]
    assert actions[0] == "would create resource 'New one'"
    assert actions[1] == "would patch resource 'Existing': description: 'before' -> 'after'"
    assert actions[2] == "no change"
    assert actions[3] == "would delete resource 'Existing'"
    assert {o.status for o in result.outcomes} == {"not run"}
    after = admin.action.package_show(id=package["id"])
    assert after["resources"] == before["resources"]
    assert after["metadata_modified"] == before["metadata_modified"]
    assert [r["action"] for r in sheet_rows(result_path)] == actions


def test_invalid_batch_writes_nothing(catalogue, make_package, tmp_path):
    package = make_package()
    batch = write_batch(
        tmp_path,
        *[
            {
                "op": "create",
                "package": package["name"],
                "name": "Fine",
                "url": "https://example.com/f",
                **REQUIRED,
            },
            {
                "op": "create",
                "package": package["name"],
                "name": "Broken",
                "url": "https://example.com/b",
                **{**REQUIRED, "format": "CSV"},
            },
        ],
    )

    refused = run_batch(batch, editor(catalogue))
    assert refused.exit_code == 2
    assert [o.status for o in refused.outcomes] == ["not run", "invalid"]
    assert resources_of(catalogue, package["id"]) == []

    partial = run_batch(batch, editor(catalogue), RunOptions(skip_invalid=True))
    assert partial.exit_code == 1
    assert [o.status for o in partial.outcomes] == ["done", "invalid"]
    assert [r["name"] for r in resources_of(catalogue, package["id"])] == ["Fine"]


def test_result_workbook_marks_failed_cells(catalogue, make_package, tmp_path):
    package = make_package()
    op = create_operation(package, format="CSV")
    (outcome,) = execute(Plan([op], []), editor(catalogue))
    batch_path = write_batch(
        tmp_path,
        *[
            {
                "op": "create",
                "package": package["name"],
                "name": "Bad",
                "url": "https://example.com/b",
                **{**REQUIRED, "format": "CSV"},
            }
        ],
    )
    batch = read_batch(batch_path)
    now = datetime.now().astimezone()
    write_results(
        tmp_path / "r.xlsx",
        batch,
        [outcome],
        RunSummary(
            target_url=catalogue.url,
            user="x",
            started=now,
            ended=now,
            loader_version="t",
            dry_run=False,
            mode="run",
        ),
    )

    ws = openpyxl.load_workbook(tmp_path / "r.xlsx")["Results"]
    header = [c.value for c in ws[1]]
    format_cell = ws.cell(row=2, column=header.index("format") + 1)
    name_cell = ws.cell(row=2, column=header.index("name") + 1)
    assert format_cell.value == "CSV"
    assert format_cell.fill.fgColor.rgb != name_cell.fill.fgColor.rgb
    assert "Value must be one of" in format_cell.comment.text
    assert ws.cell(row=2, column=header.index("status") + 1).value == "failed"


def test_a_stopped_run_marks_the_rest_not_run_and_still_writes_results(
    catalogue, make_package, tmp_path
):
    package = make_package()
    rows = [
        {
            "op": "create",
            "package": package["name"],
            "name": f"Part {n}",
            "url": f"https://example.com/{n}",
            **REQUIRED,
        }
        for n in range(1, 5)
    ]
    batch = write_batch(tmp_path, *rows)
    stop = threading.Event()
    result_path = tmp_path / "stopped.xlsx"

    # Stop as a first Ctrl-C does, once the first row is done.
    result = run_batch(
        batch,
        editor(catalogue),
        RunOptions(fold=False),
        result_path=result_path,
        listeners=Listeners(on_outcome=lambda outcome: stop.set()),
        stop=stop,
    )

    assert [o.status for o in result.outcomes] == ["done", "not run", "not run", "not run"]
    assert result.exit_code == 1
    assert [r["name"] for r in resources_of(catalogue, package["id"])] == ["Part 1"]
    assert [r["status"] for r in sheet_rows(result_path)] == [o.status for o in result.outcomes]


def test_patching_one_part_of_a_group_keeps_the_other_parts(catalogue, make_package, tmp_path):
    package = make_package()
    admin = catalogue.client("admin")
    original = admin.action.resource_create(
        package_id=package["id"],
        name="Series",
        url="https://example.com/s",
        **REQUIRED,
        temporal_extent=[{"beginning_date": "2020-01-01", "end_date": "2020-12-31"}],
    )
    batch = write_batch(
        tmp_path,
        *[{"op": "patch", "resource_id": original["id"], "temporal_extent.end_date": "2025-12-31"}],
    )

    result = run_batch(batch, editor(catalogue))

    assert result.exit_code == 0, result.outcomes[0].error
    after = admin.action.resource_show(id=original["id"])
    assert after["temporal_extent"] == [{"beginning_date": "2020-01-01", "end_date": "2025-12-31"}]


def test_skip_invalid_skips_rows_that_need_an_invalid_row(catalogue, make_package, tmp_path):
    package = make_package()
    batch = write_batch(
        tmp_path,
        *[
            {
                "op": "create",
                "package": package["name"],
                "name": "Broken",
                "url": "https://example.com/b",
                **{**REQUIRED, "format": "CSV"},
            },
            {"op": "patch", "package": package["name"], "name": "Broken", "description": "d"},
        ],
    )

    result = run_batch(batch, editor(catalogue), RunOptions(skip_invalid=True))

    assert [o.status for o in result.outcomes] == ["invalid", "skipped"]
    assert "row 2, which creates this resource, does not run" in result.outcomes[1].error
    assert resources_of(catalogue, package["id"]) == []


def test_a_patch_that_would_leave_the_resource_incomplete_fails(catalogue, make_package, tmp_path):
    package = make_package()
    admin = catalogue.client("admin")
    original = admin.action.resource_create(
        package_id=package["id"], name="Layer", url="https://example.com/l", **REQUIRED
    )
    batch = write_batch(
        tmp_path,
        *[
            {
                "op": "patch",
                "resource_id": original["id"],
                "bcdc_type": "geographic",
                "projection_name": "epsg3005",
            }
        ],
    )

    result = run_batch(batch, editor(catalogue))

    assert result.outcomes[0].status == "failed"
    assert "would have no spatial_datatype, iso_topic_category" in result.outcomes[0].error
    assert admin.action.resource_show(id=original["id"])["bcdc_type"] == "document"


def test_an_upload_carries_lists_groups_and_the_editors_last_modified(
    catalogue, make_package, tmp_path
):
    package = make_package()
    (tmp_path / "sites.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    batch = write_batch(
        tmp_path,
        *[
            {
                "op": "create",
                "package": package["name"],
                "name": "Sites",
                "upload": "sites.geojson",
                **{**REQUIRED, "bcdc_type": "geographic", "format": "geojson"},
                "spatial_datatype": "NA",
                "projection_name": "epsg4326",
                "iso_topic_category": "inlandWaters,environment",
                "last_modified": "2025-01-31",
                "temporal_extent.beginning_date": "2024-01-01",
                "geographic_extent.north_bound_latitude": "60",
                "geographic_extent.south_bound_latitude": "48.3",
            },
        ],
    )

    result = run_batch(batch, editor(catalogue))

    assert result.exit_code == 0, result.outcomes[0].error
    (stored,) = resources_of(catalogue, package["id"])
    assert stored["url_type"] == "upload"
    assert sorted(stored["iso_topic_category"]) == ["environment", "inlandWaters"]
    assert stored["temporal_extent"] == [{"beginning_date": "2024-01-01"}]
    assert stored["geographic_extent"] == [
        {"north_bound_latitude": 60, "south_bound_latitude": 48.3}
    ]
    assert stored["last_modified"].startswith("2025-01-31")


def test_an_upload_whose_second_step_fails_names_the_saved_resource(
    catalogue, make_package, tmp_path
):
    package = make_package()
    data = tmp_path / "a.csv"
    data.write_bytes(b"a\n1\n")
    op = create_operation(package, temporal_extent=[{"beginning_date": "2024-13-01"}])
    op = dataclasses.replace(
        op, fields={k: v for k, v in op.fields.items() if k != "url"}, upload=data
    )

    (outcome,) = execute(Plan([op], []), editor(catalogue))

    (stored,) = resources_of(catalogue, package["id"])
    assert outcome.status == "failed"
    assert outcome.resource_id == stored["id"]
    assert f"saved to resource {stored['id']}, but not the rest" in outcome.error
    assert "temporal_extent.beginning_date" in outcome.field_errors
    assert requests.get(stored["url"], timeout=30).content == b"a\n1\n"
