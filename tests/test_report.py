"""The result workbook: the editor's batch, each row's outcome, nothing executable."""

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pytest
from batches import DOCUMENT, write_batch

from loader import spreadsheet
from loader.model import Batch, Outcome, Row, RunSummary
from loader.pipeline import report
from loader.pipeline.read import read_batch
from loader.pipeline.record import Recorder
from loader.pipeline.report import write_results
from loader.pipeline.validate import validate_batch
from loader.schema import load_schema

START = dt.datetime(2025, 3, 1, 9, 0, 0, tzinfo=dt.UTC)
SUMMARY = RunSummary(
    mode="run",
    started=START,
    ended=START + dt.timedelta(seconds=42.5),
    loader_version="0.1.0",
    target_url="http://localhost:5000",
    user="editor",
)


def make_batch(tmp_path: Path) -> Batch:
    return Batch(
        path=tmp_path / "batch.xlsx",
        sheet="Batch",
        headers=["Op", "Dataset", "Resource name", "Format"],
        columns=["op", "package", "name", "format"],
        rows=[
            Row(2, {"op": "patch", "package": "water", "name": "Sites", "format": "csv"}),
            Row(4, {"op": "patch", "package": "water", "name": '=HYPERLINK("x")', "format": "CSV"}),
            Row(5, {"op": "delete", "package": "air", "name": "+Old -1 @x"}),
        ],
    )


OUTCOMES = [
    Outcome(
        2,
        "done",
        action="patched",
        resource_id="r-1",
        package_id="p-1",
        resource_url="http://localhost:5000/dataset/water/resource/r-1",
    ),
    Outcome(
        4,
        "failed",
        action="patch",
        error="format: Value must be one of [...]",
        field_errors={"format": "Value must be one of [...]"},
    ),
]


@pytest.fixture
def workbook(tmp_path):
    path = write_results(tmp_path / "out" / "result.xlsx", make_batch(tmp_path), OUTCOMES, SUMMARY)
    return path, openpyxl.load_workbook(path)


def test_results_repeat_the_editors_columns_with_resource_id_then_the_outcome(workbook):
    _, wb = workbook
    ws = wb["Results"]
    header = [c.value for c in ws[1]]
    assert header == [
        "Op",
        "Dataset",
        "resource_id",
        "Resource name",
        "Format",
        "status",
        "action",
        "package_id",
        "resource_url",
        "error",
        "code",
        "datastore",
    ]
    assert [c.value for c in ws[2]][:8] == [
        "patch",
        "water",
        "r-1",
        "Sites",
        "csv",
        "done",
        "patched",
        "p-1",
    ]
    assert [ws.cell(row=r, column=6).value for r in (2, 3, 4)] == ["done", "failed", "not run"]
    assert ws["C3"].value is None  # row 4 resolved nothing: no id to fill in
    assert ws.freeze_panes == "A2"


def test_the_resource_link_is_a_real_hyperlink_not_a_formula(workbook):
    _, wb = workbook
    cell = wb["Results"]["I2"]
    assert cell.value == "http://localhost:5000/dataset/water/resource/r-1"
    assert cell.hyperlink.target == cell.value
    assert cell.data_type == "s"


def test_offending_cells_are_highlighted_with_the_message_as_comment(workbook):
    _, wb = workbook
    ws = wb["Results"]
    bad = ws["E3"]
    assert bad.fill.fgColor.rgb.endswith("FFC7CE")
    assert bad.comment.text == "Value must be one of [...]"
    assert ws["E2"].comment is None
    assert ws["J3"].value == "format: Value must be one of [...]"
    assert ws["F3"].fill.fgColor.rgb.endswith("FFC7CE")


def test_text_that_looks_like_a_formula_stays_text(workbook):
    path, wb = workbook
    ws = wb["Results"]
    assert ws["D3"].value == '=HYPERLINK("x")' and ws["D3"].data_type == "s"
    assert ws["D4"].value == "+Old -1 @x" and ws["D4"].data_type == "s"
    with zipfile.ZipFile(path) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<f " not in sheet


def test_summary_counts_and_context(workbook):
    _, wb = workbook
    values = {r[0].value: r[1].value for r in wb["Summary"].iter_rows(min_row=2)}
    assert values["Rows"] == 3
    assert values["Rows done"] == 1
    assert values["Rows failed"] == 1
    assert values["Rows not run"] == 1
    assert values["Rows invalid"] == 0
    assert values["Target catalogue"] == "http://localhost:5000"
    assert values["User"] == "editor"
    assert values["Duration (seconds)"] == 42.5
    assert values["Started"] == "2025-03-01T09:00:00+00:00"
    assert values["Loader version"] == "0.1.0"
    assert values["Mode"] == "run"


def test_an_interrupted_write_leaves_the_old_file_and_no_debris(tmp_path, monkeypatch):
    path = tmp_path / "result.xlsx"
    path.write_bytes(b"previous result")

    def broken_save(self, filename):
        Path(filename).write_bytes(b"half a workbook")
        raise KeyboardInterrupt

    monkeypatch.setattr(openpyxl.Workbook, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        write_results(path, make_batch(tmp_path), OUTCOMES, SUMMARY)
    assert path.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.xlsx"]


def test_validation_problems_become_invalid_outcomes(tmp_path):
    schema = load_schema()
    path = write_batch(
        tmp_path,
        {**DOCUMENT, "format": "CSV", "resource_type": "dataset"},
        {**DOCUMENT, "name": "Fine"},
    )
    batch = read_batch(path)
    problems, checked = validate_batch(batch, schema)
    recorder = Recorder(row.number for row in batch.rows)
    recorder.record_problems(problems)
    recorder.record_ready(checked)
    outcomes = recorder.close("")
    assert [(o.row, o.status) for o in outcomes] == [(2, "invalid"), (3, "not run")]
    assert set(outcomes[0].field_errors) == {"format", "resource_type"}
    assert outcomes[0].error.count("\n") == 1
    assert outcomes[1].action == "create"

    out = write_results(
        tmp_path / "r.xlsx",
        batch,
        outcomes,
        RunSummary("validate", START, START, "0.1.0"),
    )
    ws = openpyxl.load_workbook(out)["Results"]
    fmt = report.result_columns(batch)[1].index("format") + 1
    assert "did you mean 'csv'?" in ws.cell(row=2, column=fmt).comment.text
    assert ws.cell(row=3, column=fmt).comment is None


def test_a_result_is_read_back_as_its_batch_with_the_ids_filled_in(workbook):
    path, _ = workbook
    batch = read_batch(path, sheet="Results")
    assert batch.from_result
    assert batch.columns == ["op", "package", "resource_id", "name", "format"]
    assert batch.rows[0].values == {
        "op": "patch",
        "package": "water",
        "resource_id": "r-1",
        "name": "Sites",
        "format": "csv",
    }
    assert "resource_id" not in batch.rows[1].values


def test_a_batch_with_resource_id_keeps_one_such_column(tmp_path):
    path = write_batch(tmp_path, {"op": "delete", "resource_id": "", "package": "p", "name": "n"})
    batch = read_batch(path)
    outcome = Outcome(2, "done", action="deleted", resource_id="r-9", package_id="p-1")
    out = write_results(tmp_path / "r.xlsx", batch, [outcome], SUMMARY)
    ws = openpyxl.load_workbook(out)["Results"]
    header = [c.value for c in ws[1]]
    assert header.count("resource_id") == 1
    assert ws.cell(row=2, column=header.index("resource_id") + 1).value == "r-9"


def test_put_strips_characters_excel_cannot_hold():
    cell = openpyxl.Workbook().active["A1"]
    spreadsheet.put(cell, "bell\x07 inside")
    assert cell.value == "bell inside"


def test_the_action_cuts_a_name_of_10000_characters(tmp_path):
    from fake_catalogue import FakeCatalogue

    from loader.options import RunOptions
    from loader.run import run_batch

    catalogue = FakeCatalogue()
    catalogue.add_package(DOCUMENT["package"])
    name = "N" * 10_000
    batch = write_batch(tmp_path, {**DOCUMENT, "name": name})
    out = tmp_path / "out.xlsx"

    dry = run_batch(batch, catalogue, RunOptions(dry_run=True), result_path=out)
    done = run_batch(batch, catalogue)

    for outcome in (dry.outcomes[0], done.outcomes[0]):
        assert len(outcome.action) < 200, outcome.action
        assert outcome.action.endswith("N... (10,000 characters)'")
    action = dict(
        zip(*list(openpyxl.load_workbook(out)["Results"].iter_rows(values_only=True)), strict=True)
    )["action"]
    assert action == dry.outcomes[0].action
