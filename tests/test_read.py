"""Reading batch files: values as typed, row numbers as shown, clear file-level errors."""

import datetime as dt
import zipfile

import openpyxl
import pytest
from batches import write_csv, write_xlsx

from loader.errors import BatchError
from loader.pipeline.read import column_letter, read_batch

HEADER = ["op", "package", "name", "format"]


def test_xlsx_values_are_read_as_typed(tmp_path):
    path = write_xlsx(
        tmp_path / "b.xlsx",
        [
            "op",
            "package",
            "resource_id",
            "preview_info.preview_zoom_level",
            "geographic_extent.north_bound_latitude",
            "temporal_extent.beginning_date",
            "last_modified",
            "name",
        ],
        [
            [
                "patch",
                "my-data",
                "0042",
                1,
                49.25,
                dt.date(2024, 1, 31),
                dt.datetime(2024, 2, 1, 13, 30, 5),
                "  padded name  ",
            ]
        ],
    )
    batch = read_batch(path)
    assert batch.rows[0].values == {
        "op": "patch",
        "package": "my-data",
        "resource_id": "0042",
        "preview_info.preview_zoom_level": "1",
        "geographic_extent.north_bound_latitude": "49.25",
        "temporal_extent.beginning_date": "2024-01-31",
        "last_modified": "2024-02-01T13:30:05",
        "name": "padded name",
    }


def test_long_ids_typed_as_text_stay_untouched(tmp_path):
    path = write_xlsx(
        tmp_path / "b.xlsx", ["op", "resource_id"], [["delete", "1234567890123456789"]]
    )
    assert read_batch(path).rows[0].values["resource_id"] == "1234567890123456789"


def test_row_numbers_are_the_spreadsheets_and_blank_rows_are_skipped(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Batch"
    # header on row 3, a blank row and a whitespace-only row in between
    for col, text in enumerate(HEADER, start=2):
        ws.cell(row=3, column=col, value=text)
    ws.cell(row=4, column=2, value="patch")
    ws.cell(row=6, column=3, value="   ")
    ws.cell(row=7, column=2, value="delete")
    wb.save(tmp_path / "b.xlsx")
    batch = read_batch(tmp_path / "b.xlsx")
    assert [r.number for r in batch.rows] == [4, 7]
    assert batch.headers == HEADER
    assert batch.sheet == "Batch"


def test_header_variants_are_kept_for_the_editor(tmp_path):
    path = write_csv(
        tmp_path / "b.csv",
        ["OP", "Dataset", "Resource name", "Update cycle"],
        [["patch", "d", "n", "monthly"]],
    )
    batch = read_batch(path)
    assert batch.columns == ["op", "package", "name", "resource_update_cycle"]
    assert batch.header_for("resource_update_cycle") == "Update cycle"


def test_the_default_sheet_is_batch_else_the_first(tmp_path):
    path = write_xlsx(tmp_path / "b.xlsx", HEADER, [["patch", "d", "n", "csv"]], sheet="Loads")
    assert read_batch(path).sheet == "Loads"
    wb = openpyxl.load_workbook(path)
    wb.create_sheet("Batch").append(HEADER)
    wb["Batch"].append(["delete", "d", "x", ""])
    wb.save(path)
    assert read_batch(path).rows[0].values["op"] == "delete"
    assert read_batch(path, sheet="Loads").rows[0].values["op"] == "patch"


def test_a_missing_sheet_names_the_sheets_there_are(tmp_path):
    path = write_xlsx(tmp_path / "b.xlsx", HEADER, [["create"]])
    with pytest.raises(BatchError, match="no sheet 'Other'; its sheets are 'Batch'"):
        read_batch(path, sheet="Other")


@pytest.mark.parametrize(
    ("encoding", "newline", "bom"),
    [
        ("utf-8", "\r\n", True),  # Excel: "CSV UTF-8 (Comma delimited)"
        ("cp1252", "\r\n", False),  # Excel: "CSV (Comma delimited)" on Windows
        ("utf-8", "\n", False),  # LibreOffice default
    ],
)
def test_csv_as_excel_and_libreoffice_save_it(tmp_path, encoding, newline, bom):
    text = (
        "\r\n".join(
            [
                "op,package,name,description",
                'patch,water-quality-monitoring,Café sites,"Sites, with ""quotes"""',
                ",,,",
                "patch,water-quality-monitoring,Résumé,Line one",
            ]
        ).replace("\r\n", newline)
        + newline
    )
    data = text.encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    path = tmp_path / "b.csv"
    path.write_bytes(data)
    batch = read_batch(path)
    assert batch.columns == ["op", "package", "name", "description"]
    assert [r.number for r in batch.rows] == [2, 4]
    assert batch.rows[0].values["name"] == "Café sites"
    assert batch.rows[0].values["description"] == 'Sites, with "quotes"'
    assert batch.rows[1].values["name"] == "Résumé"


def test_csv_with_semicolons_and_line_breaks_in_cells(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text('op;package;name;description\npatch;d;n;"two\nlines"\ndelete;d;m;\n')
    batch = read_batch(path)
    assert batch.rows[0].values["description"] == "two\nlines"
    assert [r.number for r in batch.rows] == [2, 3]  # one record is one row


def test_unknown_columns_are_all_named_with_suggestions(tmp_path):
    path = write_csv(tmp_path / "b.csv", ["op", "package", "fromat", "colour"], [["patch"]])
    with pytest.raises(BatchError) as err:
        read_batch(path)
    message = str(err.value)
    assert "Column C, 'fromat', is not a column the loader knows; did you mean 'format'?" in message
    assert "Column D, 'colour', is not a column the loader knows." in message
    assert [p.code for p in err.value.problems] == ["unknown-column", "unknown-column"]


def test_duplicate_columns_are_refused(tmp_path):
    path = write_csv(tmp_path / "b.csv", ["op", "package", "format", "Format"], [["create"]])
    with pytest.raises(BatchError, match="Column D, 'Format', is the same column as 'format'"):
        read_batch(path)


def test_missing_op_column(tmp_path):
    path = write_csv(tmp_path / "b.csv", ["package", "name"], [["d", "n"]])
    with pytest.raises(BatchError, match="no 'op' column"):
        read_batch(path)


def test_missing_required_columns_for_create_rows(tmp_path):
    path = write_csv(tmp_path / "b.csv", ["op", "package", "name"], [["create", "d", "n"]])
    with pytest.raises(BatchError) as err:
        read_batch(path)
    assert "'bcdc_type'" in str(err.value) and "'format'" in str(err.value)
    assert "(row 2)" in str(err.value)


def test_a_patch_only_batch_needs_no_required_columns(tmp_path):
    path = write_csv(
        tmp_path / "b.csv", ["op", "resource_id", "description"], [["patch", "x", "y"]]
    )
    assert len(read_batch(path).rows) == 1


def test_values_without_a_heading_are_refused(tmp_path):
    path = write_csv(tmp_path / "b.csv", ["op", "package", ""], [["delete", "d", "oops"]])
    with pytest.raises(BatchError, match="Column C has no heading but holds values"):
        read_batch(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.xlsx", None, "does not exist"),
        ("broken.xlsx", b"this is not a zip", "Cannot read broken.xlsx as a workbook"),
        ("binary.csv", b"PK\x03\x04\x00\x00", "not a text"),
        ("batch.json", b"{}", "neither a workbook"),
        ("empty.csv", b"", "is empty"),
        ("header-only.csv", b"op,package\n", "no rows below it"),
    ],
)
def test_unusable_files_give_one_clear_message(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BatchError, match=message):
        read_batch(path)


def test_column_letters():
    assert [column_letter(i) for i in (0, 25, 26, 27, 701, 702, 16383, 18277)] == [
        "A",
        "Z",
        "AA",
        "AB",
        "ZZ",
        "AAA",
        "XFD",
        "ZZZ",
    ]
    assert column_letter(19_999) == "20000"  # only a CSV file reaches past ZZZ


def test_a_value_far_right_of_the_headings_in_a_csv_file_is_named_by_its_column(tmp_path):
    path = tmp_path / "wide.csv"
    # a CSV row holds at most what a spreadsheet row does (16,384 cells): XFD at most
    path.write_text("op,package,name\nupsert,p,n" + "," * 15_999 + "stray\n")
    with pytest.raises(BatchError, match="Column WQL has no heading but holds values"):
        read_batch(path)


def test_a_formula_never_computed_is_named_as_such_not_as_blank(tmp_path):
    """A script wrote the file: the formula has no saved value, so the cell reads blank."""
    from batches import DOCUMENT

    from loader.pipeline.validate import validate_batch
    from loader.schema import load_schema

    header = list(DOCUMENT)
    row = [DOCUMENT[k] for k in header]
    row[header.index("format")] = '=LOWER("CSV")'
    path = write_xlsx(tmp_path / "scripted.xlsx", header, [row])

    batch = read_batch(path)
    problems, checked = validate_batch(batch, load_schema())

    assert batch.rows[0].formulas == {"format"}
    assert [(p.code, p.row, p.column) for p in problems] == [("formula-not-computed", 2, "format")]
    assert "formula whose value was never computed" in problems[0].message
    assert checked == []


def test_a_formula_with_its_saved_value_reads_as_that_value(tmp_path):
    from openpyxl import load_workbook

    path = write_xlsx(tmp_path / "saved.xlsx", ["op", "package", "name"], [["patch", "p", "=1+1"]])
    # Give the formula a saved result, as a spreadsheet program does on saving.
    with zipfile.ZipFile(path) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    assert b"<f>1+1</f><v /></c>" in parts[sheet]
    parts[sheet] = parts[sheet].replace(b"<f>1+1</f><v /></c>", b"<f>1+1</f><v>2</v></c>")
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    assert load_workbook(path, data_only=True).active["C2"].value == 2

    batch = read_batch(path)

    assert batch.rows[0].values["name"] == "2"
    assert batch.rows[0].formulas == frozenset()


def test_the_loaders_own_columns_are_ignored_only_as_a_whole_set(tmp_path):
    result = ["status", "action", "package_id", "resource_url", "error", "code"]
    path = write_csv(
        tmp_path / "r.csv", [*HEADER, *result], [["patch", "p", "n", "csv", "done", "", "", "", ""]]
    )
    batch = read_batch(path)
    assert batch.columns == HEADER and batch.from_result

    due = write_csv(
        tmp_path / "d.csv",
        [*HEADER, "last_updated", "due_date", "days_overdue"],
        [["patch", "p", "n", "csv", "2026-01-01", "2026-02-01", "3"]],
    )
    assert read_batch(due).columns == HEADER and not read_batch(due).from_result

    lone = write_csv(tmp_path / "s.csv", [*HEADER, "status"], [["patch", "p", "n", "csv", "x"]])
    with pytest.raises(BatchError, match="'status', is not a column"):
        read_batch(lone)
