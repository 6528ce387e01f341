"""The pre-flight corpus: each kind of file that would break the DataStore load or
mislead the data's users, built in a temporary folder, and the message its row gets.

Every file is uploaded by one create row (row 2 of the batch) with the `format`
given; the message is the whole line `validate` prints for it.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import openpyxl
import pytest
from batches import DOCUMENT, GEOGRAPHIC, write_batch
from click.testing import CliRunner

from loader import problems
from loader.cli import main
from loader.pipeline.read import read_batch
from loader.pipeline.validate import contents, validate_batch
from loader.run import check_batch
from loader.schema import load_schema

SCHEMA = load_schema()
UPLOAD = {k: v for k, v in DOCUMENT.items() if k != "url"}


def xlsx(*rows: list, title: str = "Data") -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def zipped(**parts: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name.replace("_", "."), data)
    return out.getvalue()


def validate(folder: Path, name: str, data: bytes, format: str, **more: str):
    """Problems and ready rows of a batch whose one row uploads `data` as `name`."""
    (folder / name).write_bytes(data)
    row = {**UPLOAD, "upload": name, "format": format, **more}
    return validate_batch(read_batch(write_batch(folder, row)), SCHEMA)


LONG = "Dissolved oxygen concentration measured at the upstream weir station"
SITES = b"site,name\n1,Victoria\n2,Saanich\n"

# name: (file name, content, format, code, batch column, message)
BAD = {
    "empty file": (
        "empty.csv", b"", "csv", "upload-empty", "upload",
        "Row 2, column 'upload': 'empty.csv' is empty (0 bytes); there is nothing to load or "
        "to publish",
    ),
    "blank lines only": (
        "blank.csv", b"\r\n  \r\n\r\n", "csv", "upload-empty", "upload",
        "Row 2, column 'upload': 'blank.csv' is empty (it holds no text, or blank lines only); "
        "there is nothing to load or to publish",
    ),
    "UTF-8 and Windows-1252 mixed": (
        "sites.csv", "site,name\n1,Café\n".encode() + b"2,Caf\xe9 du lac\n", "csv",
        "upload-encoding", "upload",
        "Row 2, column 'upload': 'sites.csv': it mixes two text encodings: line 2 holds UTF-8 "
        "text ('1,Café'), but line 3 holds bytes that are not UTF-8 (0xE9 in "
        "'2,Caf\\xe9 du lac'), so one of them would load garbled. Fix line 3 (or every line "
        "with odd characters) and save the file as UTF-8",
    ),
    "bytes no encoding has": (
        "sites.csv", b"site,name\n1,ok\n2,\x81bad\n", "csv", "upload-encoding", "upload",
        "Row 2, column 'upload': 'sites.csv': line 3 holds 0x81 ('2,\\x81bad'), which is no "
        "character in UTF-8 or in Windows-1252, so the file cannot be read as text; save it "
        "as UTF-8 ('CSV UTF-8' in Excel)",
    ),
    "a NUL byte": (
        "sites.csv", b"site,name\n1,ok\n2,a\x00b\n", "csv", "upload-encoding", "upload",
        "Row 2, column 'upload': 'sites.csv': line 3 holds a NUL character (a zero byte), "
        "which the DataStore cannot store; the file may be damaged, or not text",
    ),
    "blank column names": (
        "sites.csv", b"site,,lat,\n1,x,48.1,\n", "csv", "upload-blank-heading", "upload",
        "Row 2, column 'upload': 'sites.csv': columns B and D of the heading row (line 1) have "
        "no name; the DataStore needs a name for every column: name it, or delete the column",
    ),
    "a column name twice": (
        "sites.csv", b"site,name, site\n1,x,2\n", "csv", "upload-duplicate-heading", "upload",
        "Row 2, column 'upload': 'sites.csv': columns A and C of the heading row (line 1) are "
        "both named 'site'; the DataStore needs a different name for each column: rename them",
    ),
    "names alike in their first 63 characters": (
        "sites.csv", f"{LONG} (mg/L),{LONG} (%)\n1,2\n".encode(), "csv",
        "upload-duplicate-heading", "upload",
        "Row 2, column 'upload': 'sites.csv': columns A and B of the heading row (line 1) are "
        "both named 'Dissolved oxygen concentration measured at the upstream weir st' (the "
        "DataStore keeps the first 63 characters of a name); the DataStore needs a different "
        "name for each column: rename them",
    ),
    "a row with a cell more": (
        "sites.csv", b"site,name\n1,Victoria\n2,Saanich, North\n3,Sooke\n", "csv",
        "upload-ragged-rows", "upload",
        "Row 2, column 'upload': 'sites.csv': line 3 has 3 cells, more than the 2 columns of "
        "the heading row (line 1); a value holding a comma needs quotes around it",
    ),
    "a row with a cell fewer": (
        "sites.csv", b"site,name,lat\n1,Victoria,48.4\n2,Saanich\n", "csv",
        "upload-ragged-rows", "upload",
        "Row 2, column 'upload': 'sites.csv': line 3 has 2 cells, fewer than the 3 columns of "
        "the heading row (line 1)",
    ),
    "many such rows, semicolons": (
        "sites.csv",
        b"a;b\n" + b"".join(b"%d;%d%s\n" % (i, i, b"" if i % 4 else b";x") for i in range(1, 60)),
        "csv", "upload-ragged-rows", "upload",
        "Row 2, column 'upload': 'sites.csv': line 5 has 3 cells, more than the 2 columns of "
        "the heading row (line 1); a value holding a semicolon needs quotes around it. So do 13 "
        "other lines (lines 9, 13, 17, 21, 25, ...)",
    ),
    "a row running over two lines": (
        "sites.csv", b'a,b,c\n1,"x\ny"\n2,3,4\n', "csv", "upload-ragged-rows", "upload",
        "Row 2, column 'upload': 'sites.csv': line 2 has 2 cells, fewer than the 3 columns of "
        "the heading row (line 1); it runs on to line 3: a quote opened on line 2 may never "
        "close",
    ),
    "a quote never closed": (
        "sites.csv", b'site,note\n1,ok\n2,"open\n3,x\n4,y\n', "csv", "upload-ragged-rows", "upload",
        "Row 2, column 'upload': 'sites.csv': line 3 opens a quoted cell that never closes, so "
        "everything after it, to the end of the file (line 5), would load as one cell: close "
        "the quote",
    ),
    "an Excel workbook declared csv": (
        "sites.csv", xlsx(["site", "name"], [1, "x"]), "csv", "upload-wrong-format", "format",
        "Row 2, column 'format': 'sites.csv' is an Excel workbook (.xlsx), but its format is "
        "'csv': set format to xlsx, or upload the csv file you meant",
    ),
    "a zip declared geojson": (
        "sites.geojson", zipped(sites_shp=b"x"), "geojson", "upload-wrong-format", "format",
        "Row 2, column 'format': 'sites.geojson' is a zip archive, but its format is 'geojson': "
        "set format to zip, or upload the geojson file you meant",
    ),
    "a PDF declared csv": (
        "report.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "csv", "upload-wrong-format", "format",
        "Row 2, column 'format': 'report.csv' is a PDF document, but its format is 'csv': set "
        "format to pdf, or upload the csv file you meant",
    ),
    "a web page saved as .csv": (
        "sites.csv", b"<!DOCTYPE html>\n<html><body>Not found</body></html>\n", "csv",
        "upload-wrong-format", "format",
        "Row 2, column 'format': 'sites.csv' is a web page (HTML), but its format is 'csv': "
        "set format to html, or upload the csv file you meant",
    ),
    "GeoJSON missing a comma": (
        "sites.geojson",
        b'{\n  "type": "FeatureCollection",\n  "features": [\n'
        b'    {"type": "Feature" "geometry": null}\n  ]\n}\n',
        "geojson", "upload-invalid-json", "upload",
        "Row 2, column 'upload': 'sites.geojson' is not valid JSON: line 4, column 24: '\"' is "
        "not allowed there (a comma or a closing brace missing before it?), in "
        "'{\"type\": \"Feature\" \"geometry\": null}'",
    ),
    "GeoJSON cut short": (
        "sites.geojson", b'{\n  "type": "FeatureCollection",\n  "features": [\n', "geojson",
        "upload-invalid-json", "upload",
        "Row 2, column 'upload': 'sites.geojson' is not valid JSON: at the end of the file: the "
        "file ends before the JSON does (cut short, or a bracket never closed)",
    ),
    "two JSON texts in one file": (
        "sites.json", b'{"a": 1}\n{"a": 2}\n', "json", "upload-invalid-json", "upload",
        "Row 2, column 'upload': 'sites.json' is not valid JSON: line 2, column 1: more follows "
        "the end of the JSON, from '{\"a\": 2}' (two JSON texts in one file?)",
    ),
    "a workbook whose heading has a blank": (
        "sites.xlsx", xlsx(["site", None, "lat"], [1, "x", 48.1]), "xlsx",
        "upload-blank-heading", "upload",
        "Row 2, column 'upload': 'sites.xlsx': column B of the heading row (row 1 of sheet "
        "'Data') has no name; the DataStore needs a name for every column: name it, or delete "
        "the column",
    ),
    "a workbook with an empty first sheet": (
        "sites.xlsx", xlsx(), "xlsx", "upload-empty", "upload",
        "Row 2, column 'upload': 'sites.xlsx' is empty (its first sheet, 'Data', holds no "
        "values); there is nothing to load or to publish",
    ),
}  # fmt: skip

WARNED = {
    "Windows-1252 (Latin-1) text": (
        "sites.csv", b"site,name\n1,Victoria\n2,Caf\xe9 du lac\n", "csv", "upload-other-encoding",
        "Row 2, column 'upload' (warning): 'sites.csv' is saved as Windows-1252 text, not UTF-8 "
        "(line 3: '2,Café du lac'). The DataStore reads it, but people and programs that expect "
        "UTF-8 will see garbled letters in the file; save it as UTF-8 ('CSV UTF-8' in Excel)",
    ),
    "UTF-16 text": (
        "sites.csv", "site,name\n1,Café\n".encode("utf-16"), "csv", "upload-other-encoding",
        "Row 2, column 'upload' (warning): 'sites.csv' is saved as UTF-16 text, not UTF-8. The "
        "DataStore reads it, but people and programs that expect UTF-8 will see garbled letters "
        "in the file; save it as UTF-8 ('CSV UTF-8' in Excel)",
    ),
    "a heading row of numbers": (
        "sites.csv", b"2019,2020,2021\n4,5,6\n", "csv", "upload-no-heading",
        "Row 2, column 'upload' (warning): 'sites.csv': the heading row (line 1) holds only "
        "numbers (2019, 2020, 2021); the DataStore takes it for the column names. If it is "
        "data, add a heading row above it",
    ),
    "a heading row and nothing under it": (
        "sites.csv", b"site,name\n", "csv", "upload-no-rows",
        "Row 2, column 'upload' (warning): 'sites.csv' has a heading row (line 1) but no rows "
        "under it; the data preview would show an empty table",
    ),
}  # fmt: skip

GOOD = {
    "UTF-8 CSV, CRLF": ("sites.csv", SITES.replace(b"\n", b"\r\n"), "csv"),
    "UTF-8 with a byte-order mark": ("sites.csv", "\ufeffa,b\n1,Café\n".encode(), "csv"),
    "TSV": ("sites.tsv", b"site\tname\n1\tVictoria, BC\n", "tsv"),
    # the DataStore loader passes over a line with fewer values than most (one less is kept)
    "a title line above the table": ("sites.csv", b"Sites 2024\n\nid,site,name\n1,2,3\n", "csv"),
    "cells holding line breaks": ("sites.csv", b'site,note\n1,"two\nlines"\n2,x\n', "csv"),
    "old Mac line ends": ("sites.csv", SITES.replace(b"\n", b"\r"), "csv"),
    "no line break at the end": ("sites.csv", SITES.rstrip(), "csv"),
    "an xlsx declared xlsx": ("sites.xlsx", xlsx(["site", "name"], [1, "Victoria"]), "xlsx"),
    "an xlsx with a title row": ("t.xlsx", xlsx(["Sites"], [], ["a", "b", "c"], [1, 2, 3]), "xlsx"),
    "GeoJSON": (
        "sites.geojson",
        b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
        b'{"name": "Caf\xc3\xa9"}, "geometry": {"type": "Point", "coordinates": [-123.4, 48.4]}}]}',
        "geojson",
    ),
    "JSON with a byte-order mark": ("a.json", b'\xef\xbb\xbf{"a": [1, 2]}', "json"),
    "a PDF declared pdf": ("report.pdf", b"%PDF-1.7\n", "pdf"),
    "a zip declared zip": ("shapes.zip", zipped(sites_shp=b"x", sites_dbf=b"y"), "zip"),
    "a zip declared shp": ("shapes.zip", zipped(sites_shp=b"x"), "shp"),
    "a CSV declared txt": ("sites.txt", SITES, "txt"),
    "anything declared other": ("thing.bin", b"\x00\x01\x02", "other"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_each_bad_file_is_an_error_of_its_row(tmp_path, case):
    name, data, format, code, column, message = BAD[case]
    found, ready = validate(tmp_path, name, data, format)
    assert [(p.code, p.row, p.column, p.warning) for p in found] == [(code, 2, column, False)]
    assert found[0].message == message
    assert ready == []


@pytest.mark.parametrize("case", WARNED, ids=list(WARNED))
def test_files_that_load_but_may_mislead_get_a_warning_and_the_row_stays_ready(tmp_path, case):
    name, data, format, code, message = WARNED[case]
    found, ready = validate(tmp_path, name, data, format)
    assert [(p.code, p.row, p.column, p.warning) for p in found] == [(code, 2, "upload", True)]
    assert found[0].message == message
    assert [r.number for r in ready] == [2]


@pytest.mark.parametrize("case", GOOD, ids=list(GOOD))
def test_good_files_pass(tmp_path, case):
    name, data, format = GOOD[case]
    found, ready = validate(tmp_path, name, data, format)
    assert found == []
    assert [r.number for r in ready] == [2]


def test_every_code_of_a_file_is_in_the_corpus():
    shown = {case[3] for case in BAD.values()} | {case[3] for case in WARNED.values()}
    raised_here = {c for c in problems.REGISTRY if c.startswith("upload-")} - {
        "upload-missing", "upload-not-file", "upload-too-large", "upload-and-url",
        "upload-outside", "upload-unreadable", "upload-windows-path",
    }  # fmt: skip
    assert shown == raised_here
    assert {p.code for p in problems.REGISTRY.values() if p.warning} == {
        "upload-other-encoding",
        "upload-no-heading",
        "upload-no-rows",
    }


def test_a_workbook_is_named_by_its_own_row_numbers_and_a_damaged_one_is_refused(tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "Data"
    for cell, value in {"A3": "site", "C3": "lat", "A4": 1, "B4": 2, "C4": 3}.items():
        book.active[cell] = value
    book.save(tmp_path / "sites.xlsx")
    found, _ = validate(tmp_path, "sites.xlsx", (tmp_path / "sites.xlsx").read_bytes(), "xlsx")
    assert [p.message.split(": ", 1)[1] for p in found] == [
        "'sites.xlsx': column B of the heading row (row 3 of sheet 'Data') has no name; the "
        "DataStore needs a name for every column: name it, or delete the column"
    ]
    whole = (tmp_path / "sites.xlsx").read_bytes()
    found, _ = validate(tmp_path, "cut.xlsx", whole[: len(whole) // 2], "xlsx")
    assert [p.message.split(": ", 1)[1] for p in found] == [
        "'cut.xlsx' is a damaged or incomplete zip archive, but its format is 'xlsx': upload "
        "the xlsx file you meant"
    ]


def test_without_a_format_the_name_says_what_the_file_should_be(tmp_path):
    (tmp_path / "sites.csv").write_bytes(xlsx(["a"], [1]))
    row = {"op": "patch", "resource_id": "3f1c0a9e", "upload": "sites.csv"}
    found, _ = validate_batch(read_batch(write_batch(tmp_path, row)), SCHEMA)
    assert [p.message for p in found] == [
        "Row 2, column 'format': 'sites.csv' is an Excel workbook (.xlsx), but its name ends in "
        ".csv: set format to xlsx, or upload the csv file you meant (the batch has no such "
        "column yet: add it)"
    ]


def test_every_problem_of_the_batch_is_reported_at_once(tmp_path):
    (tmp_path / "ragged.csv").write_bytes(b"a,b\n1,2,3\n")
    (tmp_path / "book.csv").write_bytes(xlsx(["a"], [1]))
    (tmp_path / "old.csv").write_bytes(b"a\ncaf\xe9\n")
    rows = [
        {**UPLOAD, "upload": "ragged.csv", "resource_update_cycle": "sometimes"},
        {**UPLOAD, "name": "B", "upload": "book.csv"},
        {**UPLOAD, "name": "C", "upload": "old.csv"},
        {**GEOGRAPHIC, "name": "D", "projection_name": ""},
    ]
    found, ready = validate_batch(read_batch(write_batch(tmp_path, *rows)), SCHEMA)
    assert [(p.code, p.row, p.column) for p in found] == [
        ("upload-ragged-rows", 2, "upload"),
        ("invalid-choice", 2, "resource_update_cycle"),
        ("upload-wrong-format", 3, "format"),
        ("upload-other-encoding", 4, "upload"),
        ("conditional-required", 5, "projection_name"),
    ]
    assert [r.number for r in ready] == [4]


def test_a_file_two_rows_upload_is_read_once(tmp_path, monkeypatch):
    reads: list[Path] = []
    real = contents.table_findings
    monkeypatch.setattr(contents, "table_findings", lambda p, *a: reads.append(p) or real(p))
    (tmp_path / "shared.csv").write_bytes(b"a,b\n1\n")
    rows = [{**UPLOAD, "upload": "shared.csv"}, {**UPLOAD, "name": "B", "upload": "./shared.csv"}]
    found, _ = validate_batch(read_batch(write_batch(tmp_path, *rows)), SCHEMA)
    assert len(reads) == 1
    assert [(p.code, p.row) for p in found] == [
        ("upload-ragged-rows", 2),
        ("upload-ragged-rows", 3),
    ]
    assert "'./shared.csv': line 2 has 1 cell" in found[1].message


def test_a_file_is_looked_inside_only_once_its_path_is_fine(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "batch").mkdir()
    (tmp_path / "elsewhere" / "bad.csv").write_bytes(b"")
    row = {**UPLOAD, "upload": "../elsewhere/bad.csv"}
    found, _ = validate_batch(read_batch(write_batch(tmp_path / "batch", row)), SCHEMA)
    assert [p.code for p in found] == ["upload-outside"]


def test_a_trusted_file_is_not_looked_inside(tmp_path):
    (tmp_path / "odd.csv").write_bytes(b"a,b\n1,2,3\n")
    (tmp_path / "other.csv").write_bytes(b"a,b\n1,2,3\n")
    rows = [{**UPLOAD, "upload": "odd.csv"}, {**UPLOAD, "name": "B", "upload": "other.csv"}]
    batch = read_batch(write_batch(tmp_path, *rows))
    found, ready = validate_batch(batch, SCHEMA, trusted_files=[tmp_path / "odd.csv"])
    assert [(p.code, p.row) for p in found] == [("upload-ragged-rows", 3)]
    assert [r.number for r in ready] == [2]


def test_chunk_boundaries_do_not_matter(tmp_path, monkeypatch):
    """Lines, UTF-8 characters and JSON tokens cut by a chunk's end read as whole."""
    monkeypatch.setattr(contents, "CHUNK", 7)
    text = "site,name\n" + "".join(f"{i},Café Ünïcödé\n" for i in range(40))
    found, _ = validate(tmp_path, "sites.csv", text.encode() + b"41,x,y\n", "csv")
    assert [p.message.split(": ", 1)[1] for p in found] == [
        "'sites.csv': line 42 has 3 cells, more than the 2 columns of the heading row "
        "(line 1); a value holding a comma needs quotes around it"
    ]
    data = b'{"features": [\n' + b'{"name": "Caf\xc3\xa9"},\n' * 30 + b'{"name": tru}]}'
    found, _ = validate(tmp_path, "sites.json", data, "json")
    assert [p.message.split(": ", 1)[1] for p in found] == [
        "'sites.json' is not valid JSON: line 32, column 13: '}' is not allowed there, in "
        "'{\"name\": tru}]}'"
    ]
    latin = b"a,b\n" + b"1,x\n" * 20 + b"2,Caf\xe9\n" + "3,Café\n".encode()
    found, _ = validate(tmp_path, "late.csv", latin, "csv")
    assert [p.code for p in found] == ["upload-encoding"]
    assert "line 23 holds UTF-8 text ('3,Café'), but line 22 holds bytes" in found[0].message


def test_the_bytes_read_can_be_hashed_in_the_same_pass(tmp_path, monkeypatch):
    import hashlib

    from loader.pipeline.files import file_facts

    monkeypatch.setattr(contents, "CHUNK", 1000)
    for name, data, format in [GOOD["UTF-8 with a byte-order mark"], GOOD["GeoJSON"]]:
        path = tmp_path / name
        path.write_bytes(data if format != "csv" else data + b"2,x\n" * 500)
        digest = hashlib.sha256()
        assert contents.look_inside(path, format, on_chunk=digest.update) == []
        assert digest.hexdigest() == file_facts(path).sha256


def test_encoding_problems_name_the_line_with_old_mac_line_ends(tmp_path):
    found, _ = validate(tmp_path, "mac.csv", b"a,b\r1,x\r2,\x81\r", "csv")
    assert "line 3 holds 0x81" in found[0].message


def test_a_character_cut_off_at_the_end_and_bytes_after_a_nul_are_read_on(tmp_path):
    found, _ = validate(tmp_path, "cut.csv", "a,b\n1,é\n2,".encode() + b"\xc3", "csv")
    assert [p.code for p in found] == ["upload-encoding"]
    assert "line 3 holds bytes that are not UTF-8 (0xC3" in found[0].message
    found, _ = validate(tmp_path, "nul.csv", b"a,b\n1,\x00\n2,\xff\n3,4,5\n", "csv")
    assert [p.code for p in found] == ["upload-encoding", "upload-ragged-rows"]


def test_a_line_too_long_to_be_a_row(tmp_path, monkeypatch):
    monkeypatch.setattr(contents, "CHUNK", 1024)
    monkeypatch.setattr(contents, "MAX_LINE", 4096)
    found, _ = validate(tmp_path, "one.csv", b"a,b\n1,2\n" + b"x" * 10_000, "csv")
    assert [p.message.split(": ", 1)[1] for p in found] == [
        "'one.csv': line 3 runs on for more than 4,096 characters without a line break, so "
        "the file is not a table"
    ]


def test_warnings_do_not_stop_a_run(tmp_path):
    from fake_catalogue import FakeCatalogue

    from loader.run import run_batch

    catalogue = FakeCatalogue()
    catalogue.add_package(DOCUMENT["package"])
    (tmp_path / "old.csv").write_bytes(b"site,name\n1,Caf\xe9\n")
    path = write_batch(tmp_path, {**UPLOAD, "upload": "old.csv"})

    checked = check_batch(path)
    ran = run_batch(path, catalogue)

    assert checked.exit_code == 0 and [p.code for p in checked.problems] == [
        "upload-other-encoding"
    ]
    assert ran.exit_code == 0 and [o.status for o in ran.outcomes] == ["done"]


def test_validate_prints_each_message_and_counts_warnings_apart(tmp_path):
    (tmp_path / "book.csv").write_bytes(xlsx(["site"], [1]))
    (tmp_path / "old.csv").write_bytes(b"site,name\n1,Caf\xe9\n")
    (tmp_path / "ragged.csv").write_bytes(b"site,name\n1,Victoria\n2,Saanich, North\n")
    rows = [
        {**UPLOAD, "upload": "book.csv"},
        {**UPLOAD, "name": "B", "upload": "old.csv"},
        {**UPLOAD, "name": "C", "upload": "ragged.csv"},
    ]
    path = write_batch(tmp_path, *rows)
    runner = CliRunner()

    result = runner.invoke(main, ["validate", str(path)])
    trusting = runner.invoke(
        main,
        ["validate", str(path), "--trust-file", str(tmp_path / "book.csv"),
         "--trust-file", str(tmp_path / "ragged.csv")],
    )  # fmt: skip

    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "Row 2, column 'format': 'book.csv' is an Excel workbook (.xlsx), but its format is "
        "'csv': set format to xlsx, or upload the csv file you meant",
        "Row 3, column 'upload' (warning): 'old.csv' is saved as Windows-1252 text, not UTF-8 "
        "(line 2: '1,Café'). The DataStore reads it, but people and programs that expect UTF-8 "
        "will see garbled letters in the file; save it as UTF-8 ('CSV UTF-8' in Excel)",
        "Row 4, column 'upload': 'ragged.csv': line 3 has 3 cells, more than the 2 columns of "
        "the heading row (line 1); a value holding a comma needs quotes around it",
        "batch.csv: 3 rows, 1 ready, 2 with problems (2 problems); 1 warning.",
    ]
    assert trusting.exit_code == 0
    assert trusting.output.splitlines()[-1] == (
        "batch.csv: 3 rows, 3 ready, 0 with problems (0 problems); 1 warning."
    )


def _table(rng, rows: int) -> bytes:
    """A table of 3 columns with, here and there past the heading's sample, what a
    reader reads its own way: ragged and blank lines, quotes (some spanning lines,
    one perhaps never closed), carriage returns, a separator inside quotes."""
    end = rng.choice(["\n", "\r\n"])
    lines = ["site,name,value"]
    for n in range(rows):
        kind = rng.random()
        if kind < 0.01:
            lines.append(f"{n},short")
        elif kind < 0.02:
            lines.append(f"{n},too,many,cells")
        elif kind < 0.03:
            lines.append(rng.choice(["", " ", ",,", "\r"]))
        elif kind < 0.035:
            lines.append(f'{n},"quoted, with a comma",x')
        elif kind < 0.04:
            lines.append(f'{n},"runs on{end}to the next line",x')
        elif kind < 0.042:
            lines.append(f"{n},a\rb,x")
        elif kind < 0.043:
            lines.append(f'{n},"never closed,x')
        else:
            lines.append(f"{n},Café {rng.randrange(10**6)},{rng.random():.6f}")
    return (end.join(lines) + rng.choice([end, ""])).encode()


@pytest.mark.parametrize("seed", range(40))
def test_plain_chunks_checked_without_the_reader_say_what_the_reader_says(
    tmp_path, monkeypatch, seed
):
    import random

    rng = random.Random(seed)
    monkeypatch.setattr(contents, "CHUNK", rng.choice([512, 4096, 1 << 20]))
    path = tmp_path / "table.csv"
    path.write_bytes(_table(rng, rng.choice([150, 600, 3000])))
    quick = contents.table_findings(path)
    monkeypatch.setattr(contents, "_plain", lambda joined, lines: False)  # the reader only

    assert quick == contents.table_findings(path)


def test_a_long_plain_table_names_each_ragged_line_past_the_sample(tmp_path):
    rows = [f"{n},x,y" for n in range(300)]
    rows[150], rows[250] = "150,x", "250,x,y,z"
    path = tmp_path / "long.csv"
    path.write_text("a,b,c\n" + "\n".join(rows) + "\n")

    (found,) = contents.table_findings(path)

    assert found.values["detail"] == (
        "line 152 has 2 cells, fewer than the 3 columns of the heading row (line 1). So "
        "do 1 other line (lines 252)"
    )
