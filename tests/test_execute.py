"""Executing operations: lanes, dependencies, interruption and the recorder (fake catalogue)."""

from __future__ import annotations

import dataclasses

import pytest
from batches import operation as op
from fake_catalogue import FakeCatalogue

from loader.client import Invalid, Unreachable
from loader.model import Outcome, Status
from loader.pipeline.calls import calls_for
from loader.pipeline.execute import execute
from loader.pipeline.operations import Action, Operation, Plan
from loader.pipeline.record import Recorder


@pytest.fixture
def catalogue():
    fake = FakeCatalogue()
    fake.add_package("p1")
    fake.add_package("p2")
    return fake


def test_rows_of_one_dataset_run_in_order_and_dependents_get_the_new_id(catalogue):
    plan = Plan([op(2, "create"), op(3, "create", package="p2"), op(4, "patch", after_row=2)], [])

    outcomes = {o.row: o for o in execute(plan, catalogue, jobs=2)}

    assert outcomes[2].action == "created resource 'R2'"
    assert outcomes[4].action == "patched resource 'R4'"
    assert outcomes[4].resource_id == outcomes[2].resource_id
    assert outcomes[4].resource_url == (
        f"https://catalogue.example/bcdc_dataset/p1/resource/{outcomes[2].resource_id}"
    )
    assert [c for c in catalogue.calls if c[1] == "R2"] == [
        ("resource_create", "R2"),
        ("resource_patch", "R2"),
    ]
    (stored,) = catalogue.package("p1")["resources"]
    assert stored["description"] == "row 4"


def test_a_failed_create_skips_the_rows_that_depend_on_it_and_the_rest_go_on(catalogue):
    catalogue.faults["R2"] = Invalid("format: Value must be one of", {"format": "Value must"})
    plan = Plan([op(2, "create"), op(3, "patch", after_row=2), op(4, "create")], [])

    outcomes = {o.row: o for o in execute(plan, catalogue)}

    assert outcomes[2].status == "failed"
    assert outcomes[2].code == "refused"
    assert outcomes[2].field_errors == {"format": "Value must"}
    assert outcomes[3].status == "skipped"
    assert "row 2, which creates this resource, did not succeed" in outcomes[3].error
    assert outcomes[4].status == "done"
    assert [r["name"] for r in catalogue.package("p1")["resources"]] == ["R4"]


def test_a_hard_interrupt_names_the_row_whose_call_was_under_way(catalogue):
    catalogue.faults["R3"] = KeyboardInterrupt()
    plan = Plan([op(2, "create"), op(3, "create"), op(4, "create")], [])
    recorder = Recorder([2, 3, 4])
    seen: list[Outcome] = []
    recorder.listen(seen.append)

    with pytest.raises(KeyboardInterrupt):
        execute(plan, catalogue, recorder, fold=False)

    assert [(o.row, o.status) for o in seen] == [(2, "done"), (3, "failed")]
    assert "may or may not have saved it" in seen[1].error
    assert seen[1].code == "interrupted"
    closed = recorder.close("the run was interrupted before this row")
    assert [(o.row, o.status) for o in closed] == [(2, "done"), (3, "failed"), (4, "not run")]
    assert closed[2].error == "the run was interrupted before this row"


def test_a_dropped_connection_says_the_write_may_have_been_saved(catalogue):
    catalogue.faults["R2"] = Unreachable("resource_create: no answer (ConnectionError)")

    (outcome,) = execute(Plan([op(2, "create")], []), catalogue)

    assert outcome.status == "failed"
    assert outcome.code == "no-answer"
    assert "may or may not have saved it" in outcome.error


def test_one_operation_is_one_call_and_a_noop_sends_nothing(catalogue):
    (stored,) = catalogue.add_package("p3", resources=[{"name": "Kept"}])["resources"]
    lane = [op(2, "noop", package="p3", resource_id=stored["id"]), op(3, "create", "p3")]

    calls = calls_for(lane)

    assert [(c.action, [o.row for o in c.operations]) for c in calls] == [
        ("", [2]),
        ("resource_create", [3]),
    ]
    outcomes = execute(Plan(lane, []), catalogue)
    assert [(o.row, o.status, o.action) for o in outcomes] == [
        (2, Status.DONE, "no change"),
        (3, Status.DONE, "created resource 'R3'"),
    ]
    assert catalogue.calls == [("resource_create", "R3")]


def test_the_recorder_closes_every_row_exactly_once():
    recorder = Recorder([2, 3, 4, 5])
    recorder.record(Outcome(3, Status.DONE, action="created resource 'A'"))
    recorder.sending([op(4, "create")])

    closed = recorder.close("the run was stopped before this row")

    assert [(o.row, o.status) for o in closed] == [
        (2, "not run"),
        (3, "done"),
        (4, "failed"),
        (5, "not run"),
    ]
    assert closed[2].code == "interrupted" and closed[2].action == "tried to create resource 'R4'"
    assert closed[0].code == "not-reached"
    assert recorder.counts() == {"not run": 2, "done": 1, "failed": 1}


# -- folding several rows of a dataset into one package_revise ----------------------


def patch_of(resource, row, **fields):
    return Operation(
        row=row,
        action=Action.PATCH,
        package_id="pkg-p3",
        package_name="p3",
        package_type="bcdc_dataset",
        resource_id=resource["id"],
        resource_name=resource["name"],
        fields=fields,
        package_modified=None,
    )


@pytest.fixture
def three(catalogue):
    package = catalogue.add_package("p3", resources=[{"name": n} for n in ("A", "B", "C")])
    return package, package["resources"]


def test_rows_without_files_fold_into_one_revise_in_sheet_order(catalogue, three):
    package, (a, b, c) = three
    lane = [
        patch_of(a, 2, description="first"),
        op(3, "create", package="p3"),
        patch_of(b, 4, description="second"),
        Operation(5, Action.DELETE, "pkg-p3", "p3", "bcdc_dataset", c["id"], "C"),
    ]
    lane = [dataclasses.replace(o, package_modified=package["metadata_modified"]) for o in lane]

    outcomes = execute(Plan(lane, []), catalogue)

    assert [(o.row, o.status) for o in outcomes] == [(r, "done") for r in (2, 3, 4, 5)]
    assert catalogue.calls.count(("package_revise", "A")) == 1
    assert not [c for c in catalogue.calls if c[0].startswith("resource_")]
    stored = catalogue.package("p3")["resources"]
    assert [(r["name"], r.get("description")) for r in stored] == [
        ("A", "first"),
        ("B", "second"),
        ("R3", None),
    ]
    assert outcomes[1].resource_id == stored[2]["id"]


def test_a_refused_fold_falls_back_to_one_call_per_row(catalogue, three):
    package, (a, b, _) = three
    catalogue.faults["B"] = Invalid("format: Value must be one of", {"format": "Value must"})
    lane = [patch_of(a, 2, description="fine"), patch_of(b, 3, format="CSV")]

    outcomes = execute(Plan(lane, []), catalogue)

    assert [(o.row, o.status) for o in outcomes] == [(2, "done"), (3, "failed")]
    assert outcomes[1].field_errors == {"format": "Value must"}
    assert ("resource_patch", "A") in catalogue.calls
    assert catalogue.package("p3")["resources"][0]["description"] == "fine"


def test_a_fold_never_overwrites_a_change_made_meanwhile(catalogue, three):
    package, (a, b, _) = three
    seen = package["metadata_modified"]
    lane = [patch_of(a, 2, description="x"), patch_of(b, 3, description="y")]
    lane = [dataclasses.replace(o, package_modified=seen) for o in lane]
    catalogue.write_resource("resource_patch", {"id": a["id"], "description": "someone else"})

    outcomes = execute(Plan(lane, []), catalogue)

    assert {o.code for o in outcomes} == {"dataset-changed"}
    assert "changed after this run read it" in outcomes[0].error
    assert catalogue.package("p3")["resources"][0]["description"] == "someone else"


def test_no_fold_sends_one_call_per_row(catalogue, three):
    _, (a, b, _) = three
    lane = [patch_of(a, 2, description="x"), patch_of(b, 3, description="y")]

    assert [c.action for c in calls_for(lane, fold=False)] == ["resource_patch"] * 2
    assert [c.action for c in calls_for(lane)] == ["package_revise"]
