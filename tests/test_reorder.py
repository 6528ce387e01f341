"""A reorder row: the resources of its dataset in the order the batch's rows name them
(fake catalogue; on the real one, both CKAN lines: integration/test_reorder.py)."""

from __future__ import annotations

import pytest
from batches import DOCUMENT, write_batch
from fake_catalogue import FakeCatalogue

from loader.options import RunOptions
from loader.run import check_batch, run_batch
from loader.undo import undo_run

PACKAGE = DOCUMENT["package"]
FIELDS = {k: v for k, v in DOCUMENT.items() if k not in ("op", "package", "name")}
REORDER = {"op": "reorder", "package": PACKAGE}


@pytest.fixture
def catalogue() -> FakeCatalogue:
    fake = FakeCatalogue()
    names = ("Data 2023", "Data 2024", "Guide", "Licence")
    fake.add_package(PACKAGE, resources=[{**FIELDS, "name": n} for n in names])
    return fake


def order(catalogue: FakeCatalogue) -> list[str]:
    return [r["name"] for r in catalogue.package(PACKAGE)["resources"]]


def same(name: str) -> dict[str, str]:
    """A patch row that changes nothing: it only names the resource (and its place)."""
    return {"op": "patch", "package": PACKAGE, "name": name, "format": "csv"}


def test_the_rows_order_becomes_the_resources_order_in_one_call(catalogue, tmp_path):
    batch = write_batch(tmp_path, same("Guide"), same("Data 2024"), REORDER)

    dry = run_batch(batch, catalogue, RunOptions(dry_run=True))
    assert dry.outcomes[2].action == (
        f"would put the resources of dataset '{PACKAGE}' in order: 'Data 2023', 'Data 2024', "
        "'Guide', 'Licence' -> 'Guide', 'Data 2024', 'Data 2023', 'Licence'"
    )
    assert dry.tally() == {"would change nothing": 2, "would put a dataset's resources in order": 1}
    assert order(catalogue) == ["Data 2023", "Data 2024", "Guide", "Licence"]  # nothing sent

    run = run_batch(batch, catalogue, result_path=tmp_path / "results.xlsx")

    assert run.exit_code == 0, [o.error for o in run.outcomes]
    # named first, in the rows' order; the resources no row names after, as they were
    assert order(catalogue) == ["Guide", "Data 2024", "Data 2023", "Licence"]
    writes = [call for call in catalogue.calls if call[0] != "download"]
    assert writes == [("package_resource_reorder", PACKAGE)]
    assert run.outcomes[2].action.startswith(f"put the resources of dataset '{PACKAGE}' in order")
    assert run.outcomes[2].operation == "reorder"

    again = run_batch(batch, catalogue, RunOptions(dry_run=True))
    assert again.outcomes[2].action == "no change (the resources are already in this order)"


def test_a_resource_the_batch_creates_takes_its_rows_place(catalogue, tmp_path):
    batch = write_batch(
        tmp_path,
        REORDER,  # wherever it stands, it runs after the dataset's other rows
        {**DOCUMENT, "name": "Data 2025"},
        {"op": "delete", "package": PACKAGE, "name": "Licence"},  # names no place
        same("Data 2024"),
        same("Data 2025"),  # named twice: the first place counts
    )

    run = run_batch(batch, catalogue)

    assert run.exit_code == 0, [o.error for o in run.outcomes]
    assert order(catalogue) == ["Data 2025", "Data 2024", "Data 2023", "Guide"]
    assert [c[0] for c in catalogue.calls][-1] == "package_resource_reorder"


def test_undo_puts_the_old_order_back(catalogue, tmp_path):
    result_path = tmp_path / "results.xlsx"
    run = run_batch(
        write_batch(tmp_path, {**DOCUMENT, "name": "New"}, same("Licence"), REORDER),
        catalogue,
        result_path=result_path,
    )
    assert order(catalogue) == ["New", "Licence", "Data 2023", "Data 2024", "Guide"]
    assert run.exit_code == 0

    dry = undo_run(result_path, catalogue, _dry())
    assert [(o.row, o.action) for o in dry.outcomes] == [
        (
            4,
            f"would put the resources of dataset '{PACKAGE}' in order: 'New', 'Licence', "
            "'Data 2023', 'Data 2024', 'Guide' -> 'Data 2023', 'Data 2024', 'Guide', "
            "'Licence', 'New' (back to the order before row 4)",
        ),
        (2, "would delete resource 'New'"),
    ]

    undo = undo_run(result_path, catalogue)

    assert undo.exit_code == 0, [o.error for o in undo.outcomes]
    assert order(catalogue) == ["Data 2023", "Data 2024", "Guide", "Licence"]


def test_undo_leaves_an_order_changed_since_the_run_alone_unless_forced(catalogue, tmp_path):
    result_path = tmp_path / "results.xlsx"
    run_batch(write_batch(tmp_path, same("Licence"), REORDER), catalogue, result_path=result_path)
    ids = [r["id"] for r in catalogue.package(PACKAGE)["resources"]]
    catalogue.reorder_resources(f"pkg-{PACKAGE}", [ids[1]])  # someone moved one since

    undo = undo_run(result_path, catalogue)
    assert undo.exit_code == 1
    (refused,) = [o for o in undo.outcomes if o.row == 3]
    assert refused.code == "order-changed-after-run"

    forced = undo_run(result_path, catalogue, _forced())
    assert forced.exit_code == 0, [o.error for o in forced.outcomes]
    assert order(catalogue) == ["Data 2023", "Data 2024", "Guide", "Licence"]


@pytest.mark.parametrize(
    ("rows", "code", "column"),
    [
        ([REORDER, {**REORDER, "organization": "water"}], "duplicate-reorder", "package"),
        ([{**REORDER, "name": "Guide"}], "unexpected-value", "name"),
        ([{**REORDER, "description": "x"}], "unexpected-value", "description"),
        ([{"op": "reorder", "resource_id": "res-1"}], "missing-target", "package"),
    ],
)
def test_a_reorder_row_names_only_its_dataset_once(tmp_path, rows, code, column):
    result = check_batch(write_batch(tmp_path, *rows))
    found = [(p.code, p.column) for p in result.problems]
    assert (code, column) in found


def _dry():
    from loader.options import UndoOptions

    return UndoOptions(dry_run=True)


def _forced():
    from loader.options import UndoOptions

    return UndoOptions(force=True)


def test_a_resumed_run_still_orders_by_the_rows_the_first_run_did(catalogue, tmp_path):
    import threading

    from loader.options import Listeners

    batch = write_batch(
        tmp_path,
        {"op": "patch", "package": PACKAGE, "name": "Guide", "description": "read me"},
        {"op": "patch", "package": PACKAGE, "name": "Data 2024", "description": "latest"},
        REORDER,
    )
    result_path = tmp_path / "results.xlsx"
    stop = threading.Event()
    first = run_batch(
        batch,
        catalogue,
        result_path=result_path,
        listeners=Listeners(on_outcome=lambda _outcome: stop.set()),  # stop after the first call
        stop=stop,
    )
    assert [o.status for o in first.outcomes] == ["done", "done", "not run"]
    assert order(catalogue) == ["Data 2023", "Data 2024", "Guide", "Licence"]

    resumed = run_batch(batch, catalogue, RunOptions(resume=True), result_path=result_path)

    assert resumed.exit_code == 0, [o.error for o in resumed.outcomes]
    assert order(catalogue) == ["Guide", "Data 2024", "Data 2023", "Licence"]


def test_a_dataset_the_token_may_not_write_is_not_reordered(catalogue, tmp_path):
    from loader.client import Permissions

    catalogue.granted = Permissions("ed", organizations=frozenset({"org-elsewhere"}))
    batch = write_batch(tmp_path, same("Guide"), REORDER)

    dry = run_batch(batch, catalogue, RunOptions(dry_run=True))

    assert [(o.status, o.code) for o in dry.outcomes] == [
        ("not run", ""),
        ("failed", "may-not-write"),
    ]
    assert dry.outcomes[1].error == (
        f"would put its resources in order, but your token (ed) may not write to dataset "
        f"'{PACKAGE}' (organization 'water')"
    )
