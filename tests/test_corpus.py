"""The malformed-batch corpus: files a hostile user, a script or a mangling spreadsheet
program might hand the loader, each refused with one clear message.

Every case goes through the command line twice, `validate` and `run --dry-run`
against a dead loopback port, and each refusal is checked for what an editor
would notice: the file, row and column named, exit code 2, no traceback, no
control character printed raw, and nothing written (no result workbook for a
file refused whole, and the catalogue never reached). Most files are built
here; tests/corpus/ holds the three that need other tools to make
(see tests/corpus/make_fixtures.py).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from batches import DOCUMENT, write_batch, write_csv, write_xlsx
from click.testing import CliRunner

from loader.cli import main
from loader.pipeline.journal import row_digest
from loader.pipeline.read import read_batch

CORPUS = Path(__file__).resolve().parent / "corpus"
HEADER = list(DOCUMENT)
ROW = [DOCUMENT[k] for k in HEADER]


@pytest.fixture(scope="module")
def dead_url() -> str:
    """A loopback address nothing listens on: a test that tried to connect would fail."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def refuse(path: Path, dead_url: str, *args: str) -> str:
    """Run `validate` and `run --dry-run` on the batch; both must refuse it with exit 2 and
    the same message, print no traceback and no raw control character, and write nothing.
    Returns stderr + stdout of validate."""
    runner = CliRunner()
    folder = path.parent
    before = sorted(folder.iterdir())
    out = folder / "results.xlsx"
    checked = runner.invoke(main, ["validate", str(path), "-o", str(out), *args])
    ran = runner.invoke(
        main,
        ["run", str(path), "--ckan", dead_url, "--dry-run", "-q", "-o", str(out), *args],
        env={"CKAN_API_KEY": "not-a-real-token"},
    )
    for result in (checked, ran):
        text = result.output + result.stderr
        assert result.exit_code == 2, text
        assert result.exception is None or isinstance(result.exception, SystemExit), text
        assert "Traceback" not in text
        assert not any(c in text for c in "\x00\x07\x1b\x9b\u202e")
        assert "cannot reach" not in text  # the run never went to the network
    assert sorted(folder.iterdir()) == before  # nothing written: the file was refused whole
    return checked.stderr + checked.stdout


def refuse_rows(path: Path, dead_url: str, *args: str) -> str:
    """Like `refuse`, for a batch refused row by row: the result workbook lists the rows
    (that is its job), but nothing reaches the catalogue."""
    runner = CliRunner()
    checked = runner.invoke(main, ["validate", str(path), *args])
    ran = runner.invoke(
        main,
        ["run", str(path), "--ckan", dead_url, "-q", "-o", str(path.parent / "r.xlsx"), *args],
        env={"CKAN_API_KEY": "not-a-real-token"},
    )
    for result in (checked, ran):
        text = result.output + result.stderr
        assert result.exit_code == 2, text
        assert "Traceback" not in text
        assert not any(c in text for c in "\x00\x07\x1b\x9b\u202e")
        assert "cannot reach" not in text
    summary = dict(
        openpyxl.load_workbook(path.parent / "r.xlsx")["Summary"].iter_rows(
            min_row=2, values_only=True
        )
    )
    assert summary["Rows done"] == 0 and summary["Rows invalid"] >= 1
    assert not summary["User"]  # the catalogue was never asked who the token is
    return checked.output


def valid_xlsx(folder: Path, name: str = "batch.xlsx") -> Path:
    return write_xlsx(folder / name, HEADER, [ROW])


# -- files that are not what they say, or not whole ---------------------------------


def test_a_corrupt_workbook(tmp_path, dead_url):
    path = tmp_path / "corrupt.xlsx"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 8)
    message = refuse(path, dead_url)
    assert "Cannot read corrupt.xlsx as a workbook: it is damaged or incomplete" in message


def test_a_truncated_workbook(tmp_path, dead_url):
    whole = valid_xlsx(tmp_path, "whole.xlsx").read_bytes()
    path = tmp_path / "truncated.xlsx"
    path.write_bytes(whole[: len(whole) // 2])
    (tmp_path / "whole.xlsx").unlink()
    message = refuse(path, dead_url)
    assert "Cannot read truncated.xlsx as a workbook: it is damaged or incomplete" in message


def test_a_password_protected_workbook(tmp_path, dead_url):
    path = tmp_path / "locked.xlsx"
    shutil.copy(CORPUS / "encrypted.xlsx", path)
    message = refuse(path, dead_url)
    assert "Cannot read locked.xlsx: it is protected by a password" in message


@pytest.mark.parametrize(
    ("fixture", "name"),
    [
        ("batch.xls", "batch.xls"),
        ("batch.ods", "batch.ods"),
        ("batch.xls", "renamed-xls.xlsx"),  # read as what it holds, not as its name says
        ("batch.ods", "renamed-ods.xlsx"),
    ],
)
def test_old_excel_and_opendocument_files_are_read_as_what_they_hold(tmp_path, fixture, name):
    path = tmp_path / name
    shutil.copy(CORPUS / fixture, path)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output + result.stderr
    assert result.output.strip() == f"{name}: 1 row, 1 ready, 0 with problems (0 problems)."


def test_a_workbook_named_csv_and_a_csv_named_xlsx(tmp_path, dead_url):
    workbook = tmp_path / "sheet.csv"
    valid_xlsx(tmp_path).rename(workbook)
    message = refuse(workbook, dead_url)
    assert "sheet.csv is not a text (CSV) file but a workbook (xlsx): rename it" in message
    workbook.unlink()
    text = write_csv(tmp_path / "text.xlsx", HEADER, [ROW])
    message = refuse(text, dead_url)
    assert "Cannot read text.xlsx as a workbook: it is not a spreadsheet file" in message


@pytest.mark.parametrize("name", ["empty.csv", "empty.xlsx"])
def test_an_empty_file(tmp_path, dead_url, name):
    path = tmp_path / name
    path.write_bytes(b"")
    message = refuse(path, dead_url)
    assert name in message
    assert "is empty" in message or "not a spreadsheet file" in message


def test_headings_only(tmp_path, dead_url):
    path = write_xlsx(tmp_path / "headings.xlsx", HEADER, [])
    message = refuse(path, dead_url)
    assert "The sheet 'Batch' of headings.xlsx has a heading row but no rows below it." in message


# -- what the spreadsheet shows is not what would be loaded ------------------------------


def test_merged_cells(tmp_path, dead_url):
    path = write_xlsx(tmp_path / "merged.xlsx", HEADER, [ROW, ["create", "", "Other", *ROW[3:]]])
    wb = openpyxl.load_workbook(path)
    wb["Batch"].merge_cells("B2:B3")  # one dataset typed once for two rows
    wb.save(path)
    message = refuse(path, dead_url)
    assert "sheet 'Batch' of merged.xlsx cannot be loaded as it is" in message
    assert "Cells B2:B3 are merged (rows 2 to 3, column B)" in message


def test_hidden_rows_and_columns(tmp_path, dead_url):
    path = write_xlsx(tmp_path / "hidden.xlsx", HEADER, [ROW, [*ROW[:2], "Secret", *ROW[3:]]])
    wb = openpyxl.load_workbook(path)
    wb["Batch"].row_dimensions[3].hidden = True
    wb["Batch"].column_dimensions["D"].hidden = True
    wb.save(path)
    message = refuse(path, dead_url)
    assert "Row 3 is hidden but holds values" in message
    assert "Column D ('url') is hidden" in message


def test_a_hidden_batch_sheet(tmp_path, dead_url):
    path = valid_xlsx(tmp_path, "hidden-sheet.xlsx")
    wb = openpyxl.load_workbook(path)
    wb.create_sheet("Notes")
    wb["Batch"].sheet_state = "hidden"
    wb.save(path)
    message = refuse(path, dead_url)
    assert "The sheet 'Batch' of hidden-sheet.xlsx is hidden" in message
    # named on purpose, it is read
    assert CliRunner().invoke(main, ["validate", str(path), "--sheet", "Batch"]).exit_code == 0


def test_a_formula_never_computed(tmp_path, dead_url):
    row = [*ROW]
    row[HEADER.index("format")] = '=LOWER("CSV")'
    path = write_xlsx(tmp_path / "scripted.xlsx", HEADER, [row])
    message = refuse_rows(path, dead_url)
    assert "Row 2, column 'format': this cell holds a formula whose value was never computed" in (
        message
    )


# -- cells ---------------------------------------------------------------------------


def test_a_cell_of_32767_characters_loads_and_longer_ones_are_named(tmp_path, dead_url):
    full = write_xlsx(tmp_path / "full.xlsx", [*HEADER, "description"], [[*ROW, "x" * 32_767]])
    assert CliRunner().invoke(main, ["validate", str(full)]).exit_code == 0
    full.unlink()
    path = write_batch(tmp_path, {**DOCUMENT, "description": "y" * 40_000})
    message = refuse_rows(path, dead_url)
    assert (
        "Row 2, column 'description': this cell holds 40,000 characters; a spreadsheet cell "
        "holds at most 32,767" in message
    )


def test_a_csv_cell_past_what_the_csv_reader_takes_names_its_line(tmp_path, dead_url):
    path = write_batch(tmp_path, DOCUMENT, {**DOCUMENT, "description": "y" * 200_000})
    message = refuse(path, dead_url)
    assert (
        "Cannot read batch.csv as CSV: line 3: a cell holds more than 131,072 characters, "
        "when a spreadsheet cell holds at most 32,767" in message
    )


def test_a_long_wrong_value_is_quoted_cut(tmp_path, dead_url):
    path = write_batch(tmp_path, {**DOCUMENT, "format": "z" * 32_767})
    message = refuse_rows(path, dead_url)
    assert "Row 2, column 'format': '" + "z" * 100 + "... (32,767 characters)'" in message
    assert max(len(line) for line in message.splitlines()) < 400


def test_control_characters_are_named_and_never_echoed_raw(tmp_path, dead_url):
    path = write_batch(
        tmp_path,
        {**DOCUMENT, "name": "\x1b]0;pwned\x07Sites", "format": "\x1b[31mcsv"},
        {**DOCUMENT, "name": "Sites \u202egnp.exe"},
    )
    message = refuse_rows(path, dead_url)
    assert (
        "Row 2, column 'name': this cell holds an invisible control character (\\x1b, "
        "character 1 of 15)" in message
    )
    assert "Row 2, column 'format': this cell holds an invisible control character" in message
    assert "Row 3, column 'name': this cell holds an invisible control character (\\u202e" in (
        message
    )


def test_a_url_of_a_zero_width_space_is_named_not_shown_blank(tmp_path, dead_url):
    path = write_batch(tmp_path, {**DOCUMENT, "url": "\u200b"})
    message = refuse_rows(path, dead_url)
    assert "Row 2, column 'url': this cell holds an invisible control character (\\u200b" in (
        message
    )


def test_a_control_character_in_a_heading_is_escaped(tmp_path, dead_url):
    path = write_csv(tmp_path / "b.csv", [*HEADER, "colour\x1b[2J"], [[*ROW, "x"]])
    message = refuse(path, dead_url)
    assert "'colour\\x1b[2J', is not a column the loader knows" in message


def test_nul_bytes_in_a_csv_are_named_by_row_and_column(tmp_path, dead_url):
    path = write_batch(tmp_path, DOCUMENT, {**DOCUMENT, "name": "Two", "description": "ab\x00c"})
    message = refuse_rows(path, dead_url)
    assert (
        "Row 3, column 'description': this cell holds an invisible control character (\\x00, "
        "character 3 of 4)" in message
    )


def test_a_csv_of_short_cells_past_the_cell_limit_is_refused_at_its_row(tmp_path, dead_url):
    # 12 MB of one-letter cells, well under the file size limit (a 104 MB one took 5.6 GB)
    path = tmp_path / "short.csv"
    path.write_text(",".join(HEADER) + "\n" + (",".join("x" * len(HEADER)) + "\n") * 600_000)
    message = refuse(path, dead_url)
    assert (
        "short.csv is too large to load: by row 500,001, with rows up to 10 cells wide, it "
        "makes a grid of 5,000,010 cells, when the loader reads up to 5,000,000. It was read "
        "no further and nothing was loaded; split it into smaller batches." in message
    )


def test_a_csv_mixing_utf8_and_cp1252_is_refused_at_the_line(tmp_path, dead_url):
    lines = [
        ",".join(HEADER).encode(),
        ",".join([*ROW[:2], "Café sites", *ROW[3:]]).encode("utf-8"),
        ",".join([*ROW[:2], "Résumé", *ROW[3:]]).encode("cp1252"),
    ]
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    message = refuse(path, dead_url)
    assert "mixed.csv mixes two text encodings: line 2 holds UTF-8 text (" in message
    assert "but line 3 holds bytes that are not UTF-8 (0xE9 in " in message


def test_a_csv_marked_utf8_holding_cp1252_is_refused(tmp_path, dead_url):
    text = ",".join(HEADER) + "\r\n" + ",".join([*ROW[:2], "Résumé", *ROW[3:]]) + "\r\n"
    path = tmp_path / "marked.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("cp1252"))
    message = refuse(path, dead_url)
    assert "marked.csv mixes two text encodings: line 1 holds UTF-8 text (its UTF-8 mark)" in (
        message
    )
    assert "line 2 holds bytes that are not UTF-8 (0xE9 in " in message


def test_a_csv_all_in_cp1252_is_still_read(tmp_path):
    text = ",".join(HEADER) + "\r\n" + ",".join([*ROW[:2], "Café sites", *ROW[3:]]) + "\r\n"
    path = tmp_path / "windows.csv"
    path.write_bytes(text.encode("cp1252"))
    assert CliRunner().invoke(main, ["validate", str(path)]).exit_code == 0


def test_a_url_of_spaces_only_is_blank_and_a_create_needs_one(tmp_path, dead_url):
    path = write_batch(tmp_path, {**DOCUMENT, "url": "     "}, name="spaces.xlsx")
    message = refuse_rows(path, dead_url)
    assert "Row 2, column 'url': a create row needs a url, or a file to upload" in message


# -- files to upload ---------------------------------------------------------------------


def upload_row(name: str, upload: str) -> dict[str, str]:
    return {**DOCUMENT, "name": name, "url": "", "upload": upload}


def test_uploads_that_are_no_file_say_so_row_by_row(tmp_path, dead_url, monkeypatch):
    (tmp_path / "folder").mkdir()
    (tmp_path / "locked.csv").write_text("a,b\n")
    (tmp_path / "locked.csv").chmod(0)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    path = write_batch(
        tmp_path,
        upload_row("A", "folder"),
        upload_row("B", "missing.csv"),
        upload_row("C", "locked.csv"),
        upload_row("D", "loop"),
    )
    if os.geteuid() == 0:  # root reads anything: pretend it may not
        real = os.access
        monkeypatch.setattr(
            os, "access", lambda p, mode: not str(p).endswith("locked.csv") and real(p, mode)
        )
    message = refuse_rows(path, dead_url)
    assert "Row 2, column 'upload': 'folder' is a folder or a special file, not a file" in message
    assert (
        f"Row 3, column 'upload': there is no file 'missing.csv' (looked for "
        f"{tmp_path.resolve() / 'missing.csv'})" in message
    )
    assert (
        "Row 4, column 'upload': 'locked.csv' cannot be read: you have no permission to read it"
        in message
    )
    assert "Row 5, column 'upload': 'loop' cannot be read: it is a symbolic link that leads" in (
        message
    )


# -- workbooks that would unpack past any real batch -------------------------------------


def _bomb(folder: Path, megabytes: int, name: str) -> Path:
    """A valid workbook plus a part of zeros: a few hundred KB that unpack to `megabytes`."""
    plain = io.BytesIO()
    write_xlsx(plain, HEADER, [ROW])  # type: ignore[arg-type]
    source = zipfile.ZipFile(plain)
    path = folder / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            out.writestr(info, source.read(info))
        with out.open("xl/sharedStrings.xml", "w") as part:
            zeros = bytes(1 << 20)
            for _ in range(megabytes):
                part.write(zeros)
    return path


def test_a_workbook_that_would_unpack_past_the_limit_is_refused_unopened(tmp_path, dead_url):
    path = _bomb(tmp_path, 210, "bomb.xlsx")
    message = refuse(path, dead_url)
    assert "bomb.xlsx would unpack to 210.0 MB" in message
    assert "the loader unpacks workbooks up to 200.0 MB. It was not opened." in message


def test_a_workbook_packed_far_tighter_than_a_real_one_is_refused(tmp_path, dead_url):
    path = _bomb(tmp_path, 20, "dense.xlsx")
    message = refuse(path, dead_url)
    assert "dense.xlsx would unpack to 20.0 MB" in message
    assert "a real workbook packs at most about 100 times" in message


def test_one_far_cell_is_refused_before_the_reader_lays_out_its_grid(tmp_path):
    """calamine would allocate 512 GB for this 9 KB file and abort the whole process:
    run it in a child process, so a regression cannot take the test session down."""
    path = valid_xlsx(tmp_path, "far.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["Batch"]["XFD1048576"] = " "
    wb.save(path)
    child = subprocess.run(
        [sys.executable, "-c", "from loader.cli import main; main()", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 2, child.stderr[-2000:]
    assert (
        "Sheet 'Batch' of far.xlsx reaches row 1,048,576 and column 16,384: a grid of "
        "17,179,869,184 cells, when the loader reads up to 5,000,000" in child.stderr
    )


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ("xl/sharedStrings.xml", "larger than its declared uncompressed size"),  # the reader
        ("xl/worksheets/sheet1.xml", "it is damaged or incomplete (Bad CRC-32"),  # the scan
    ],
)
def test_a_workbook_whose_directory_understates_a_part_is_refused(
    tmp_path, dead_url, part, message
):
    """The sizes checked are the declared ones; a part that unpacks past its declared
    size is refused there, so a lying directory gains nothing."""
    if part == "xl/sharedStrings.xml":
        path = _bomb(tmp_path, 30, "liar.xlsx")  # 30 MB of zeros, declared as 100 bytes
    else:
        path = valid_xlsx(tmp_path, "liar.xlsx")
    data = bytearray(path.read_bytes())
    name = part.encode()
    for signature, size_at, name_length_at, header in (
        (b"PK\x03\x04", 22, 26, 30),  # local header
        (b"PK\x01\x02", 24, 28, 46),  # central directory entry
    ):
        at = data.find(signature)
        while at >= 0:
            length = int.from_bytes(data[at + name_length_at : at + name_length_at + 2], "little")
            if data[at + header : at + header + length] == name:
                data[at + size_at : at + size_at + 4] = (100).to_bytes(4, "little")
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))
    refused = refuse(path, dead_url)
    assert "Cannot read liar.xlsx as a workbook: " in refused
    assert message in refused


def test_a_wide_but_short_sheet_is_measured_exactly_before_any_refusal(tmp_path):
    """The quick bound (400 rows read as up to 999, column AAA as up to 16,384) passes the
    limit; the exact measure (400 x 703) does not, so the sheet is read."""
    from loader.pipeline.workbook import MAX_CELLS, scan_sheet

    path = write_xlsx(tmp_path / "wide.xlsx", HEADER, [ROW] * 399)
    wb = openpyxl.load_workbook(path)
    wb["Batch"]["AAA400"] = "x"
    wb.save(path)

    scan = scan_sheet(path, "Batch")

    assert (scan.rows, scan.columns) == (400, 703) and scan.cells < MAX_CELLS
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert "Column AAA has no heading but holds values (row 400)" in result.stderr


def test_a_panic_in_the_reader_is_a_refusal_not_a_traceback(tmp_path, monkeypatch, dead_url):
    """A panic in calamine (Rust) reaches Python as a BaseException, past `except Exception`."""
    import python_calamine

    class PanicException(BaseException):  # as pyo3 names it
        pass

    def panics(path):
        raise PanicException("index out of bounds: the len is 3 but the index is 7\nbacktrace")

    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_path", panics)
    path = valid_xlsx(tmp_path, "odd.xlsx")
    message = refuse(path, dead_url)
    assert (
        "Cannot read odd.xlsx as a workbook: the reader broke on it (index out of bounds: "
        "the len is 3 but the index is 7)" in message
    )

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_path", interrupted)
    from loader.pipeline.read import read_batch

    with pytest.raises(KeyboardInterrupt):
        read_batch(path)


# -- addresses and journals a hostile hand could give ------------------------------------


def refuse_command(args: list[str], folder: Path) -> str:
    """Run a command that must be refused before it reaches any catalogue: exit 2, one
    message, no traceback, no raw control character, nothing written. Returns its
    output (stdout and stderr)."""
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    result = CliRunner().invoke(main, args, env={"CKAN_API_KEY": "not-a-real-token"})
    text = result.output + result.stderr
    assert result.exit_code == 2, text
    assert result.exception is None or isinstance(result.exception, SystemExit), text
    assert "Traceback" not in text
    assert not any(c in text for c in "\x00\x07\x1b\x9b\u202e")
    assert "cannot reach" not in text
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    return text


@pytest.mark.parametrize(
    "address",
    [
        "https://catalogue.data.gov.bc.ca\\@example.invalid:1/",  # connects to production
        "https://catalogue%2Edata.gov.bc.ca:1/",  # so does this, decoded
        "http://192.0.2.2:6063\\@127.0.0.1/",  # the token would go to 192.0.2.2 in clear
        "https://bcdc-editor:hunter2@cat.data.gov.bc.ca/",  # a password in the address
        "https://cat.data.gov.bc.ca\x1b[2J/",  # an escape sequence
        "https://cat.data.gov.bc.ca\u202e/",  # a right-to-left override
    ],
)
@pytest.mark.parametrize("command", ["run", "undo", "export", "due", "validate"])
def test_a_catalogue_address_no_person_writes_is_refused_by_every_command(
    tmp_path, address, command
):
    path = valid_xlsx(tmp_path)
    args = {
        "run": ["run", str(path), "--dry-run", "-q"],
        "undo": ["undo", str(tmp_path / "results.xlsx"), "--dry-run"],
        "export": ["export", "--package", "p", "-o", str(tmp_path / "e.xlsx")],
        "due": ["due", "--package", "p"],
        "validate": ["validate", str(path), "--schema", "live"],
    }[command]
    text = refuse_command([*args, "--ckan", address], tmp_path)
    assert "is not a plain catalogue address" in text


def _journal(folder: Path, *records: dict) -> Path:
    (folder / "results.journal.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records), encoding="utf-8"
    )
    return folder / "results.xlsx"


def test_a_journal_edited_to_name_another_catalogue_is_refused_on_resume(tmp_path, dead_url):
    path = valid_xlsx(tmp_path)
    rows = {"2": row_digest(read_batch(path).rows[0])}
    result = _journal(tmp_path, {"kind": "run", "target": "https://cat.data.gov.bc.ca",
                                 "rows": rows})  # fmt: skip
    text = refuse_command(
        ["run", str(path), "--ckan", dead_url, "-q", "-o", str(result), "--resume"], tmp_path
    )
    assert f"the run being resumed wrote to https://cat.data.gov.bc.ca, not {dead_url}" in text


@pytest.mark.parametrize(
    "records",
    [
        [{"kind": "run", "target": "{url}"}],  # no rows
        [{"kind": "sent", "rows": "2"}],
        [{"kind": "outcome", "row": 2, "status": "stolen"}],
        [["not", "a", "record"]],
    ],
    ids=["a run without rows", "rows that are text", "a status no run gives", "not a record"],
)
@pytest.mark.parametrize("command", ["run --resume", "undo"])
def test_a_journal_edited_into_nonsense_is_refused_naming_its_line(
    tmp_path, dead_url, records, command
):
    path = valid_xlsx(tmp_path)
    records = [json.loads(json.dumps(r).replace("{url}", dead_url)) for r in records]
    result = _journal(tmp_path, {"kind": "run", "target": dead_url, "rows": {}}, *records)
    args = (
        ["run", str(path), "-q", "-o", str(result), "--resume"]
        if command == "run --resume"
        else ["undo", str(result)]
    )
    text = refuse_command([*args, "--ckan", dead_url], tmp_path)
    assert "results.journal.jsonl is damaged at line 2" in text
