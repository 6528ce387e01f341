"""The Python API's offline half: check_batch and what a RunResult offers."""

from __future__ import annotations

import openpyxl
from batches import DOCUMENT, write_batch

from loader.options import CheckOptions, Listeners, RunOptions
from loader.run import check_batch


def test_check_batch_gives_every_row_one_outcome_and_a_data_frame(tmp_path):
    path = write_batch(
        tmp_path,
        {**DOCUMENT, "format": "CSV"},
        {**DOCUMENT, "name": "Fine"},
    )

    result = check_batch(path)
    frame = result.to_frame()

    assert result.exit_code == 2
    assert [(o.row, o.status, o.code) for o in result.outcomes] == [
        (2, "invalid", "invalid-choice"),
        (3, "not run", ""),
    ]
    assert list(frame["row"]) == [2, 3]
    assert list(frame["status"]) == ["invalid", "not run"]
    assert list(frame["format"]) == ["CSV", "csv"]
    assert frame.loc[0, "code"] == "invalid-choice"
    assert "did you mean 'csv'?" in frame.loc[0, "error"]
    # the Results sheet's columns, in its order: the outcome first
    assert list(frame.columns[:8]) == [
        "row", "status", "action", "error", "code", "datastore", "op", "package",
    ]  # fmt: skip
    assert list(frame.columns[-2:]) == ["resource_url", "package_id"]


def test_run_batch_reports_upload_bytes_and_leaves_the_catalogue_as_it_was(tmp_path):
    from fake_catalogue import FakeCatalogue

    from loader.run import run_batch

    catalogue = FakeCatalogue()
    catalogue.add_package(DOCUMENT["package"])
    (tmp_path / "data.csv").write_bytes(b"x" * 5000)
    row = {k: v for k, v in DOCUMENT.items() if k != "url"}
    path = write_batch(tmp_path, {**row, "upload": "data.csv"})
    heard: list[int] = []

    result = run_batch(path, catalogue, listeners=Listeners(on_bytes=heard.append))
    refused = run_batch(path, catalogue, RunOptions(check=CheckOptions(max_file_size=4999)))

    assert result.exit_code == 0 and sum(heard) == 5000
    assert catalogue.on_bytes is None
    assert refused.exit_code == 2 and refused.outcomes[0].code == "upload-too-large"


def _two_datasets():
    from fake_catalogue import FakeCatalogue

    catalogue = FakeCatalogue()
    catalogue.add_package("rivers")
    catalogue.add_package("lakes")
    return catalogue


def test_a_datasets_calls_start_while_another_dataset_is_still_being_read(tmp_path):
    import threading

    from loader.run import run_batch

    catalogue = _two_datasets()
    wrote = threading.Event()
    read, write = catalogue.package, catalogue.write_resource

    def package(name_or_id):
        if name_or_id == "lakes":  # held until the rivers row has been written
            assert wrote.wait(5), "no call went out while a dataset was still being read"
        return read(name_or_id)

    def write_resource(action, data, upload=None):
        saved = write(action, data, upload)
        wrote.set()
        return saved

    catalogue.package, catalogue.write_resource = package, write_resource
    path = write_batch(
        tmp_path,
        {**DOCUMENT, "package": "lakes", "name": "Shore"},
        {**DOCUMENT, "package": "rivers", "name": "Gauges"},
    )

    result = run_batch(path, catalogue, RunOptions(jobs=2))

    assert [(o.row, o.status) for o in result.outcomes] == [(2, "done"), (3, "done")]


def test_a_stop_while_datasets_are_read_leaves_the_rows_not_yet_planned_not_run(tmp_path):
    import threading

    from loader.run import run_batch

    catalogue = _two_datasets()
    stop = threading.Event()
    read, write = catalogue.package, catalogue.write_resource

    def package(name_or_id):
        if name_or_id == "lakes":
            assert stop.wait(5)
        return read(name_or_id)

    def write_resource(action, data, upload=None):
        saved = write(action, data, upload)
        stop.set()  # Stop pressed while the first call was under way
        return saved

    catalogue.package, catalogue.write_resource = package, write_resource
    path = write_batch(
        tmp_path,
        {**DOCUMENT, "package": "rivers", "name": "Gauges"},
        {**DOCUMENT, "package": "lakes", "name": "Shore"},
    )
    heard: list[int] = []

    result = run_batch(
        path, catalogue, RunOptions(jobs=2), listeners=Listeners(on_start=heard.append), stop=stop
    )

    assert heard == [2]
    assert [(o.row, o.status, o.code) for o in result.outcomes] == [
        (2, "done", ""),
        (3, "not run", "not-reached"),
    ]
    assert result.outcomes[1].error == "the run was stopped before this row"
    assert catalogue.calls == [("resource_create", "Gauges")]


def test_a_dry_run_counts_the_rows_by_what_they_would_do(tmp_path):
    from fake_catalogue import FakeCatalogue

    from loader.run import run_batch

    catalogue = FakeCatalogue()
    fields = {k: v for k, v in DOCUMENT.items() if k not in ("op", "package")}
    names = [f"Sites {n}" for n in range(5)]
    catalogue.add_package(DOCUMENT["package"], resources=[{**fields, "name": n} for n in names])
    same = [{"op": "patch", "package": DOCUMENT["package"], "name": n} for n in names]
    path = write_batch(
        tmp_path,
        *[{**row, "format": "csv"} for row in same[:2]],  # as it is: no change
        {**same[2], "description": "new words"},
        {**same[3], "description": "new words"},
        {**DOCUMENT, "name": "Brand new"},
        {"op": "patch", "package": "no-such-dataset", "name": "x", "description": "d"},
    )
    out = tmp_path / "dry.xlsx"

    dry = run_batch(path, catalogue, RunOptions(dry_run=True), result_path=out)

    assert dry.tally() == {
        "would change nothing": 2,
        "would be patched": 2,
        "would be created": 1,
        "failed": 1,
    }
    assert dry.counts() == {"not run": 5, "failed": 1}  # the statuses themselves are unchanged
    assert dry.exit_code == 1  # as before: a row failed
    summary = {
        r[0]: r[1] for r in openpyxl.load_workbook(out)["Summary"].iter_rows(values_only=True)
    }
    assert summary["Rows not run"] == 5
    assert summary["Rows that would change nothing"] == 2
    assert summary["Rows that would be patched"] == 2
    assert summary["Rows that would be created"] == 1
    assert "Rows that would be deleted" not in summary

    done = run_batch(path, catalogue, result_path=tmp_path / "run.xlsx")
    assert done.tally() == done.counts() == {"done": 5, "failed": 1}  # a run counts statuses
