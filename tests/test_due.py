"""The due report: overdue resources by update cycle, and a batch ready to fill (fake catalogue)."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest
from fake_catalogue import FakeCatalogue
from freezegun import freeze_time

from loader.due import due_date, due_report, write_due
from loader.pipeline.read import read_batch
from loader.run import check_batch


def resource(name, cycle, **stamps):
    return {"name": name, "resource_update_cycle": cycle, **stamps}


@pytest.fixture
def catalogue():
    fake = FakeCatalogue()
    package = fake.add_package(
        "sites",
        resources=[
            resource("Monthly", "monthly", last_modified="2026-01-31T23:00:00"),
            resource("Weekly", "weekly", last_modified="2026-02-23T08:00:00"),
            resource("Annual", "annually", last_modified="2025-06-01T00:00:00"),
            resource("Never", "asNeeded", last_modified="2001-01-01T00:00:00"),
            resource("By creation", "daily", created="2026-02-27T12:00:00"),
        ],
    )
    package["metadata_modified"] = "2026-02-01T00:00:00"
    package["resources"].append({"id": "res-by-dataset", **resource("By dataset", "quarterly")})
    return fake


@pytest.mark.parametrize(
    "last, cycle, due",
    [
        ("2026-01-31", "monthly", "2026-02-28"),  # a calendar month, to the month's last day
        ("2024-01-31", "monthly", "2024-02-29"),
        ("2026-01-15", "quarterly", "2026-04-15"),
        ("2026-08-31", "biannually", "2027-02-28"),
        ("2026-03-01", "annually", "2027-03-01"),
        ("2026-03-01", "daily", "2026-03-02"),
        ("2026-03-01", "nightly", "2026-03-02"),
        ("2026-03-01", "weekly", "2026-03-08"),
        ("2026-03-01", "biweekly", "2026-03-15"),
        ("2026-03-01", "fortnightly", "2026-03-15"),
    ],
)
def test_cycle_lengths(last, cycle, due):
    assert due_date(dt.date.fromisoformat(last), cycle) == dt.date.fromisoformat(due)


@freeze_time("2026-03-01 09:00:00")
def test_overdue_resources_from_the_day_after_their_due_date(catalogue):
    due = due_report(catalogue, organizations=["water"])

    assert [(d.name, d.due_date.isoformat(), d.days_overdue, d.updated_from) for d in due] == [
        ("By creation", "2026-02-28", 1, "created"),
        ("Monthly", "2026-02-28", 1, "last_modified"),
    ]


@freeze_time("2026-05-02 00:30:00")
def test_the_dataset_date_is_the_last_resort_and_unscheduled_cycles_are_never_due(catalogue):
    due = {d.name: d for d in due_report(catalogue, packages=["sites"])}

    assert due["By dataset"].due_date == dt.date(2026, 5, 1)
    assert due["By dataset"].updated_from == "dataset metadata_modified"
    assert "Never" not in due and "Annual" not in due


@freeze_time("2026-03-01")
def test_the_report_is_a_batch_that_validates_once_an_upload_is_filled_in(catalogue, tmp_path):
    path = write_due(tmp_path / "due.xlsx", due_report(catalogue, packages=["sites"]))
    (tmp_path / "new.csv").write_text("a\n1\n")

    ws = openpyxl.load_workbook(path)["Batch"]
    header = [c.value for c in ws[1]]
    assert header[-4:] == ["last_updated", "due_date", "days_overdue", "datastore"]
    ws.cell(row=2, column=header.index("upload") + 1).value = "new.csv"
    ws.parent.save(path)

    batch = read_batch(path)
    assert batch.rows[0].values["op"] == "patch"
    assert "due_date" not in batch.columns and "datastore" not in batch.columns
    assert check_batch(path).exit_code == 0


@pytest.mark.parametrize(
    "stamps",
    [
        {"last_modified": "9999-12-31T00:00:00"},
        {"last_modified": "9999-12-31T23:00:00-08:00"},  # past the calendar once in UTC
        {"created": "9999-12-31T00:00:00"},
    ],
)
def test_a_date_at_the_end_of_the_calendar_is_never_due_and_breaks_nothing(stamps):
    from loader.due import overdue

    package = {
        "name": "sites",
        "metadata_modified": "2026-01-01T00:00:00",
        "resources": [{"id": "r1", **resource("Far", "monthly", **stamps)}],
    }
    assert overdue([package], dt.date(2026, 3, 1)) == []


def test_due_on_a_resource_stamped_9999_exits_0_without_a_traceback(monkeypatch):
    from click.testing import CliRunner

    from loader import due
    from loader.cli import main

    fake = FakeCatalogue()
    fake.add_package("sites", resources=[resource("Far", "monthly", last_modified="9999-12-31")])
    monkeypatch.setattr(due, "find_packages", lambda catalogue, o, p: fake.packages.values())
    result = CliRunner().invoke(main, ["due", "--ckan", "http://127.0.0.1:9", "--package", "sites"])
    assert result.exit_code == 0, result.output
    assert "Nothing is due." in result.output
