"""Executing operations: lanes, dependencies and interruption (the catalogue stubbed)."""

from __future__ import annotations

import threading

import pytest

from loader.client import Invalid, Unreachable
from loader.execute import execute
from loader.plan import Operation, Plan


class StubCatalogue:
    url = "https://catalogue.example"

    def __init__(self, fail_rows=(), interrupt_row=None, drop_row=None):
        self.fail_rows = set(fail_rows)
        self.drop_row = drop_row
        self.interrupt_row = interrupt_row
        self.calls: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def write_resource(self, action, data, upload=None):
        row = data["row_marker"]
        with self.lock:
            self.calls.append((action, row))
        if row == self.interrupt_row:
            raise KeyboardInterrupt
        if row == self.drop_row:
            raise Unreachable("resource_create: no answer from the catalogue (ConnectionError)")
        if row in self.fail_rows:
            raise Invalid("format: Value must be one of [...]", {"format": "Value must be one of"})
        return {"id": data.get("id") or f"res-{row}"}

    def delete_resource(self, resource_id):
        with self.lock:
            self.calls.append(("resource_delete", resource_id))

    def resource_page(self, package_type, package_name, resource_id):
        return f"{self.url}/{package_type}/{package_name}/resource/{resource_id}"


def op(row, action, package="p1", resource_id=None, after_row=None):
    return Operation(
        row=row,
        action=action,
        package_id=package,
        package_name=package,
        package_type="bcdc_dataset",
        resource_id=resource_id,
        resource_name=f"R{row}",
        after_row=after_row,
        fields={"row_marker": row},
    )


def test_rows_of_one_dataset_run_in_order_and_dependents_get_the_new_id():
    catalogue = StubCatalogue()
    plan = Plan([op(2, "create"), op(3, "create", package="p2"), op(4, "patch", after_row=2)], [])

    outcomes = {o.row: o for o in execute(plan, catalogue, jobs=2)}

    assert outcomes[2].action == "created resource 'R2'"
    assert outcomes[4].action == "patched resource 'R4'"
    assert outcomes[4].resource_id == "res-2"
    assert outcomes[4].resource_url == "https://catalogue.example/bcdc_dataset/p1/resource/res-2"
    p1_calls = [row for _, row in catalogue.calls if row in (2, 4)]
    assert p1_calls == [2, 4]


def test_a_failed_create_skips_the_rows_that_depend_on_it_and_the_rest_go_on():
    catalogue = StubCatalogue(fail_rows={2})
    plan = Plan([op(2, "create"), op(3, "patch", after_row=2), op(4, "create")], [])

    outcomes = {o.row: o for o in execute(plan, catalogue)}

    assert outcomes[2].status == "failed"
    assert outcomes[2].field_errors == {"format": "Value must be one of"}
    assert outcomes[3].status == "skipped"
    assert "row 2, which creates this resource, did not succeed" in outcomes[3].error
    assert outcomes[4].status == "done"


def test_a_hard_interrupt_names_the_row_whose_call_was_under_way():
    catalogue = StubCatalogue(interrupt_row=3)
    plan = Plan([op(2, "create"), op(3, "create"), op(4, "create")], [])
    seen = []

    with pytest.raises(KeyboardInterrupt):
        execute(plan, catalogue, on_outcome=seen.append)

    assert [(o.row, o.status) for o in seen] == [(2, "done"), (3, "failed")]
    assert "may or may not have saved it" in seen[1].error


def test_a_dropped_connection_says_the_write_may_have_been_saved():
    catalogue = StubCatalogue(drop_row=2)

    (outcome,) = execute(Plan([op(2, "create")], []), catalogue)

    assert outcome.status == "failed"
    assert "may or may not have saved it" in outcome.error
