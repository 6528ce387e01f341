"""The result workbook: the editor's batch, each row's outcome, nothing executable."""

import csv
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
from loader.run import check_batch
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


def test_the_outcome_leads_then_the_editors_columns_with_resource_id_then_the_links(workbook):
    _, wb = workbook
    ws = wb["Results"]
    header = [c.value for c in ws[1]]
    assert header == [
        "status",
        "action",
        "error",
        "code",
        "datastore",
        "Op",
        "Dataset",
        "resource_id",
        "Resource name",
        "Format",
        "resource_url",
        "package_id",
    ]
    assert [c.value for c in ws[2]] == [
        "done",
        "patched",
        None,
        None,
        None,
        "patch",
        "water",
        "r-1",
        "Sites",
        "csv",
        "http://localhost:5000/dataset/water/resource/r-1",
        "p-1",
    ]
    assert [ws.cell(row=r, column=1).value for r in (2, 3, 4)] == ["done", "failed", "not run"]
    assert ws["H3"].value is None  # row 4 resolved nothing: no id to fill in


def test_the_heading_row_and_the_status_stay_in_view_and_every_column_filters(workbook):
    _, wb = workbook
    ws = wb["Results"]
    assert ws.freeze_panes == "B2"  # row 1 and column A frozen
    assert ws.auto_filter.ref == "A1:L4"
    assert ws["A2"].fill.fgColor.rgb.endswith("C6EFCE")  # done: green
    assert ws["A3"].fill.fgColor.rgb.endswith("FFC7CE")  # failed: red
    # the outcome's text columns are drawn narrower than the batch's may be
    assert ws.column_dimensions["B"].width <= 48 and ws.column_dimensions["C"].width <= 48


def test_the_resource_link_is_a_real_hyperlink_not_a_formula(workbook):
    _, wb = workbook
    cell = wb["Results"]["K2"]
    assert cell.value == "http://localhost:5000/dataset/water/resource/r-1"
    assert cell.hyperlink.target == cell.value
    assert cell.data_type == "s"


def test_offending_cells_are_highlighted_with_the_message_as_comment(workbook):
    _, wb = workbook
    ws = wb["Results"]
    bad = ws["J3"]
    assert bad.fill.fgColor.rgb.endswith("FFC7CE")
    assert bad.comment.text == "Value must be one of [...]"
    assert ws["J2"].comment is None
    assert ws["C3"].value == "format: Value must be one of [...]"
    assert ws["C3"].fill.fgColor.rgb.endswith("FFC7CE")


def test_text_that_looks_like_a_formula_stays_text(workbook):
    path, wb = workbook
    ws = wb["Results"]
    assert ws["I3"].value == '=HYPERLINK("x")' and ws["I3"].data_type == "s"
    assert ws["I4"].value == "+Old -1 @x" and ws["I4"].data_type == "s"
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
    fmt = report.sheet_columns(batch)[1].index("format") + 1
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


def test_a_warning_is_marked_on_its_cell_and_leaves_the_row_ready(tmp_path):
    (tmp_path / "sites.csv").write_bytes(b"site,name\n1,Victoria\n2,Caf\xe9 du lac\n")
    path = write_batch(
        tmp_path,
        {**DOCUMENT, "url": "", "upload": "sites.csv"},
        {**DOCUMENT, "name": "Fine"},
    )
    result = check_batch(path, result_path=tmp_path / "checked.xlsx")
    assert [p.code for p in result.problems] == ["upload-other-encoding"]
    assert result.exit_code == 0
    ws = openpyxl.load_workbook(tmp_path / "checked.xlsx")["Results"]
    header = [c.value for c in ws[1]]
    upload = ws.cell(row=2, column=header.index("upload") + 1)
    assert upload.value == "sites.csv"
    assert upload.fill.fgColor.rgb.endswith("FFEB9C")  # yellow: a warning, not a problem
    assert upload.comment.text.startswith("Warning: Row 2, column 'upload' (warning):")
    assert "Windows-1252" in upload.comment.text
    assert [ws.cell(row=r, column=1).value for r in (2, 3)] == ["not run", "not run"]
    assert ws.cell(row=2, column=header.index("error") + 1).value is None
    assert ws.cell(row=3, column=header.index("upload") + 1).comment is None


def test_the_results_sheet_saved_as_csv_reads_as_the_same_batch(workbook, tmp_path):
    path, wb = workbook
    # as a spreadsheet program saves the sheet: "CSV UTF-8", a byte-order mark, every
    # cell as its text (the hyperlink's address, blanks empty)
    saved = tmp_path / "results.csv"
    with saved.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        for row in wb["Results"].iter_rows(values_only=True):
            writer.writerow(["" if v is None else v for v in row])
    from_xlsx = read_batch(path, sheet="Results")
    from_csv = read_batch(saved)
    assert from_csv.from_result and from_xlsx.from_result
    assert (
        from_csv.columns == from_xlsx.columns == ["op", "package", "resource_id", "name", "format"]
    )
    assert [r.values for r in from_csv.rows] == [r.values for r in from_xlsx.rows]
    assert [r.number for r in from_csv.rows] == [r.number for r in from_xlsx.rows] == [2, 3, 4]
