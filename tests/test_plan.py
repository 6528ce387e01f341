"""Planning rows against a catalogue (a stand-in holding two datasets)."""

from __future__ import annotations

import pytest
from fake_catalogue import FakeCatalogue

from loader.model import CheckedRow, Op
from loader.pipeline.diff import same
from loader.pipeline.plan import Planner
from loader.schema import load_schema

SCHEMA = load_schema()


def stub_catalogue() -> FakeCatalogue:
    """Two datasets: rivers (organization water) with Gauges and two named Twin; lakes, empty."""
    fake = FakeCatalogue()
    fake.add_package(
        "rivers",
        organization="water",
        resources=[
            {"name": "Gauges", "url": "https://e.org/g", "description": "old", "format": "csv"},
            {"name": "Twin"},
            {"name": "Twin"},
        ],
    )
    fake.add_package("lakes", organization="shore")
    return fake


def row(number, op, package="rivers", name=None, resource_id=None, clear=(), **fields):
    if name and op != "delete":
        fields.setdefault("name", name)
    return CheckedRow(
        number,
        Op(op),
        package,
        fields.pop("organization", None),
        resource_id,
        name,
        None,
        fields,
        frozenset(clear),
    )


def plan(*rows):
    catalogue = stub_catalogue()
    return Planner(catalogue, SCHEMA).plan(rows), catalogue


def test_upsert_creates_when_absent_and_updates_when_present():
    result, _ = plan(
        row(2, "upsert", name="Gauges", url="https://e.org/g", format="csv"),
        row(3, "upsert", name="New", url="https://e.org/n", format="csv"),
    )
    first, second = result.operations
    assert (first.action, first.resource_id) == ("update", "res-1")
    assert [c.field for c in first.changes] == ["description"]  # update clears what it omits
    assert (second.action, second.resource_id) == ("create", None)


def test_a_later_row_targets_what_an_earlier_row_creates():
    result, _ = plan(
        row(2, "create", name="New", url="https://e.org/n"),
        row(3, "patch", name="New", description="d"),
        row(4, "delete", name="New"),
    )
    assert [(o.action, o.after_row) for o in result.operations] == [
        ("create", None),
        ("patch", 2),
        ("delete", 2),
    ]


def test_unresolvable_rows_fail_alone_and_say_why():
    result, _ = plan(
        row(2, "patch", package="nowhere", name="X", description="d"),
        row(3, "patch", name="Twin", description="d"),
        row(4, "create", name="Gauges", url="https://e.org/again"),
        row(5, "patch", name="Gauges", organization="elsewhere", description="d"),
        row(6, "patch", package="lakes", resource_id="res-1", description="d"),
        row(7, "patch", name="Gauges", description="new"),
    )
    errors = {f.row: f.error for f in result.failures}
    assert "dataset 'nowhere' was not found" in errors[2]
    assert "2 resources in dataset 'rivers' are named 'Twin' (res-2, res-3)" in errors[3]
    assert "already has a resource named 'Gauges'" in errors[4]
    assert "organization 'elsewhere' was not found" in errors[5]
    assert "resource id 'res-1' is not in dataset 'lakes'" in errors[6]
    assert [o.row for o in result.operations] == [7]


def test_patch_with_nothing_new_is_no_change_and_clear_empties():
    result, _ = plan(
        row(2, "patch", name="Gauges", description="old", format="csv"),
        row(3, "patch", name="Gauges", clear={"description"}),
    )
    assert result.operations[0].action == "noop"
    assert result.operations[1].fields["description"] == ""
    assert result.operations[1].describe() == (
        "would patch resource 'Gauges': description: 'old' -> (cleared)"
    )


def test_lanes_keep_sheet_order_within_a_dataset_and_look_ups_are_cached():
    result, catalogue = plan(
        row(2, "create", name="A", url="u"),
        row(3, "create", package="lakes", name="B", url="u"),
        row(4, "create", name="C", url="u"),
        row(5, "create", package="pkg-rivers", name="D", url="u"),
    )
    assert [[o.row for o in lane] for lane in result.lanes()] == [[2, 4, 5], [3]]
    assert catalogue.reads == 3  # once per name as written (rivers, lakes, pkg-rivers)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("2025-01-31", "2025-01-31T00:00:00", True),
        (["inlandWaters", "environment"], ["environment", "inlandWaters"], True),
        ("", None, True),
        ("52", 52.0, True),
        ('{"fields": []}', {"fields": []}, True),
        (
            [{"beginning_date": "2024-01-01", "end_date": ""}],
            [{"beginning_date": "2024-01-01"}],
            True,
        ),
        ("csv", "CSV", False),
        ("2025-01-31", "2025-02-01", False),
    ],
)
def test_values_compare_as_the_catalogue_stores_them(a, b, equal):
    assert same(a, b) is equal


def test_a_patch_merges_group_parts_into_the_current_group():
    catalogue = stub_catalogue()
    gauges = catalogue.packages["pkg-rivers"]["resources"][0]
    gauges["temporal_extent"] = [{"beginning_date": "2020-01-01", "end_date": "2020-12-31"}]
    planner = Planner(catalogue, SCHEMA)
    result = planner.plan(
        [
            row(2, "patch", name="Gauges", **{"temporal_extent.end_date": "2025-12-31"}),
            row(3, "patch", name="Gauges", clear={"temporal_extent.beginning_date"}),
            row(4, "patch", name="Gauges", clear={"temporal_extent.end_date"}),
        ]
    )
    sent = [o.fields["temporal_extent"] for o in result.operations]
    assert sent == [
        [{"beginning_date": "2020-01-01", "end_date": "2025-12-31"}],
        [{"end_date": "2025-12-31"}],
        [],
    ]


def test_rows_that_act_on_what_a_row_that_will_not_run_creates_are_skipped():
    catalogue = stub_catalogue()
    result = Planner(catalogue, SCHEMA).plan(
        [
            row(3, "create", package="nowhere", name="Lost", url="https://e.org/l"),
            row(4, "patch", name="Invalid one", description="d"),
            row(5, "patch", package="nowhere", name="Lost", description="d"),
        ],
        unmade={("rivers", "Invalid one"): 2},
    )
    status = {f.row: (f.status, f.error) for f in result.failures}
    assert status[3][0] == "failed"
    assert status[4] == ("skipped", "row 2, which creates this resource, does not run")
    # the dataset itself is missing, so row 5 fails on that first
    assert status[5][0] == "failed" and "'nowhere' was not found" in status[5][1]


def test_a_patch_must_leave_the_resource_whole():
    result, _ = plan(
        row(2, "patch", name="Gauges", bcdc_type="geographic", projection_name="epsg3005"),
        row(3, "patch", name="Gauges", bcdc_type="webservice", projection_name="epsg3005"),
    )
    (failure,) = result.failures
    assert failure.row == 2
    assert failure.error == (
        "after this patch the resource (geographic) would have no spatial_datatype, "
        "iso_topic_category; give them in the same row"
    )
    assert [o.row for o in result.operations] == [3]


# -- a dataset at a time, as its read comes back ------------------------------------


def test_planned_by_dataset_the_plans_together_are_the_whole_plan():
    catalogue = stub_catalogue()
    rows = [
        row(2, "patch", name="Gauges", description="new"),
        row(3, "create", package="lakes", name="Shore", url="https://e.org/s"),
        row(4, "patch", package="pkg-rivers", name="Gauges", description="newer"),
        row(5, "patch", package="nowhere", name="X", description="d"),
        row(6, "patch", package="lakes", name="Shore", description="d"),
    ]
    whole = Planner(stub_catalogue(), SCHEMA).plan(rows)

    plans = list(Planner(catalogue, SCHEMA).by_dataset(rows))

    # rivers, named by name and by id, is one dataset: planned once, rows in sheet order
    lanes = [[op.row for op in lane] for plan in plans for lane in plan.lanes()]
    assert sorted(lanes) == [[2, 4], [3, 6]]
    by_row = {op.row: op for plan in plans for op in plan.operations}
    assert by_row[4].changes == whole.operations[2].changes  # "newer" after row 2's "new"
    assert [(o.row, o.action) for o in sorted(by_row.values(), key=lambda o: o.row)] == [
        (o.row, o.action) for o in whole.operations
    ]
    failures = [f for plan in plans for f in plan.failures]
    assert [(f.row, f.error) for f in failures] == [(f.row, f.error) for f in whole.failures]


def test_a_row_naming_no_dataset_has_the_batch_planned_whole():
    catalogue = stub_catalogue()
    gauges = catalogue.packages["pkg-rivers"]["resources"][0]["id"]
    rows = [
        row(2, "patch", package="lakes", name="Nothing", description="d"),
        row(3, "patch", package=None, resource_id=gauges, description="d"),
    ]

    (plan,) = Planner(catalogue, SCHEMA).by_dataset(rows)

    assert [o.row for o in plan.operations] == [3]
    assert [f.row for f in plan.failures] == [2]


def test_each_dataset_is_handed_on_before_the_next_reads_are_back():
    """The first dataset planned goes on while a later dataset's read is still held."""
    import threading

    catalogue = stub_catalogue()
    released = threading.Event()
    read = catalogue.package

    def slow_lakes(name_or_id):
        if name_or_id == "lakes":
            assert released.wait(5), "the rivers plan was not handed on while lakes was read"
        return read(name_or_id)

    catalogue.package = slow_lakes
    rows = [
        row(2, "create", package="lakes", name="Shore", url="https://e.org/s"),
        row(3, "patch", name="Gauges", description="new"),
    ]
    planned = Planner(catalogue, SCHEMA).by_dataset(rows)

    first = next(planned)
    released.set()
    rest = list(planned)

    assert [op.row for op in first.operations] == [3]
    assert [op.row for plan in rest for op in plan.operations] == [2]
