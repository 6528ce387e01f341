"""The command line, offline: template and validate, their output and exit codes."""

import openpyxl
import pytest
from batches import DOCUMENT, sparse_file, write_batch, write_csv
from click.testing import CliRunner

from loader.cli import main


@pytest.fixture
def runner():
    return CliRunner()


def test_validate_a_clean_batch_exits_0(runner, tmp_path):
    path = write_batch(tmp_path, DOCUMENT)
    result = runner.invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "batch.csv: 1 row, 1 ready, 0 with problems (0 problems)."


def test_validate_lists_every_problem_and_exits_2(runner, tmp_path):
    path = write_batch(
        tmp_path,
        {**DOCUMENT, "format": "CSV"},
        {**DOCUMENT, "name": "Other", "bcdc_type": "geographic"},
    )
    result = runner.invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert lines[0] == (
        "Row 2, column 'format': 'CSV' is not one of the allowed values; did you mean 'csv'?"
    )
    assert sum(line.startswith("Row 3, column") for line in lines) == 3
    assert lines[-1] == "batch.csv: 2 rows, 0 ready, 2 with problems (4 problems)."


def test_validate_writes_the_result_workbook(runner, tmp_path):
    path = write_batch(tmp_path, {**DOCUMENT, "format": "CSV"}, {**DOCUMENT, "name": "B"})
    out = tmp_path / "result.xlsx"
    result = runner.invoke(main, ["validate", str(path), "-o", str(out)])
    assert result.exit_code == 2
    assert f"Results written to {out}" in result.output
    wb = openpyxl.load_workbook(out)
    ws = wb["Results"]
    header = [c.value for c in ws[1]]
    status = header.index("status") + 1
    assert [ws.cell(row=r, column=status).value for r in (2, 3)] == ["invalid", "not run"]
    fmt = header.index("format") + 1
    assert "did you mean 'csv'?" in ws.cell(row=2, column=fmt).comment.text
    summary = {r[0].value: r[1].value for r in wb["Summary"].iter_rows(min_row=2)}
    assert summary["Mode"] == "validate"
    assert summary["Rows invalid"] == 1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.xlsx", "does not exist"),
        (
            lambda p: write_csv(p / "b.csv", ["op", "package", "fromat"], [["patch"]]),
            "did you mean 'format'?",
        ),
        (
            lambda p: (p / "bad.xlsx").write_bytes(b"nope") and p / "bad.xlsx",
            "Cannot read bad.xlsx",
        ),
    ],
)
def test_unusable_batches_give_one_message_and_exit_2(runner, tmp_path, make, message):
    path = make(tmp_path)
    result = runner.invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert result.stderr.startswith("Error: ")


def test_missing_sheet(runner, tmp_path):
    path = tmp_path / "b.xlsx"
    openpyxl.Workbook().save(path)
    result = runner.invoke(main, ["validate", str(path), "--sheet", "Loads"])
    assert result.exit_code == 2
    assert "has no sheet 'Loads'" in result.stderr


def test_live_schema_needs_a_catalogue_address(runner, tmp_path):
    path = write_batch(tmp_path, DOCUMENT)
    result = runner.invoke(main, ["validate", str(path), "--schema", "live"])
    assert result.exit_code == 2
    assert "--ckan URL" in result.output + result.stderr


def test_template_writes_both_kinds(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["template", "t.xlsx", "t.csv"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["Wrote t.xlsx", "Wrote t.csv"]
    assert openpyxl.load_workbook("t.xlsx").sheetnames == [
        "Batch",
        "Examples",
        "Instructions",
        "Lists",
    ]
    result = runner.invoke(main, ["template"])
    assert result.output.strip() == "Wrote bcdc-loader-template.xlsx"


def test_template_refuses_other_suffixes(runner, tmp_path):
    result = runner.invoke(main, ["template", str(tmp_path / "t.ods")])
    assert result.exit_code == 2
    assert "use a .xlsx or .csv name" in result.output + result.stderr


def test_version(runner):
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and "bcdc-loader" in result.output


@pytest.mark.parametrize("name", ["new-resources.csv", "monthly-refresh.xlsx"])
def test_the_sample_batches_are_valid(runner, name):
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "sample_batches" / name
    result = runner.invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_validate_live_schema_takes_the_catalogue_names_as_run_does(runner, tmp_path, monkeypatch):
    """`--ckan test` names the test catalogue (here pointed at a dead loopback port)."""
    import socket

    from loader import client
    from loader.client import transport

    with socket.create_server(("127.0.0.1", 0)) as probe:
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setitem(client.HOSTS, "test", dead)
    monkeypatch.setattr(transport, "BACKOFF", 0.0)  # it tries again: do not wait in a test
    path = write_batch(tmp_path, DOCUMENT)

    result = runner.invoke(main, ["validate", str(path), "--schema", "live", "--ckan", "test"])

    assert result.exit_code == 2
    assert f"cannot read the schema of {dead}" in result.stderr
    assert "Traceback" not in result.output


def test_serve_refuses_a_catalogue_that_is_no_address(runner, tmp_path):
    result = runner.invoke(main, ["serve", str(tmp_path), "--ckan", "ftp://x", "--no-browser"])
    assert result.exit_code == 2
    assert "neither prod, test nor an http(s) URL" in result.output


def test_a_file_over_the_size_limit_makes_its_row_invalid(runner, tmp_path):
    sparse_file(tmp_path / "big.csv", 151 << 20)
    (tmp_path / "small.csv").write_text("a,b\n" + "1,2\n" * 249)  # 1,000 bytes
    row = {k: v for k, v in DOCUMENT.items() if k != "url"}
    big = {**row, "upload": "big.csv", "format": "other"}  # not text: no content to check
    path = write_batch(tmp_path, big, {**row, "name": "Small", "upload": "small.csv"})

    for_test = runner.invoke(main, ["validate", str(path), "--ckan", "test"])
    no_limit = runner.invoke(main, ["validate", str(path), "--ckan", "http://localhost:1"])
    tight = runner.invoke(main, ["validate", str(path), "--max-file-size", "0.5 KB"])
    unlimited = runner.invoke(
        main, ["validate", str(path), "--ckan", "prod", "--max-file-size", "none"]
    )

    assert for_test.exit_code == 2
    assert for_test.output.splitlines()[0] == (
        "Row 2, column 'upload': 'big.csv' is 151.0 MB, over the 150.0 MB the catalogue takes; "
        "publish it elsewhere and give its URL, or split it"
    )
    assert "1 ready, 1 with problems" in for_test.output
    assert no_limit.exit_code == 0 and unlimited.exit_code == 0
    assert tight.exit_code == 2 and "2 with problems" in tight.output
    bad = runner.invoke(main, ["validate", str(path), "--max-file-size", "lots"])
    assert bad.exit_code == 2 and "not a size such as 150MB" in bad.output


def test_every_file_the_loader_writes_is_named_xlsx_or_csv(runner, tmp_path):
    from loader.due import write_due
    from loader.template import write_template

    reads = ["--ckan", "http://127.0.0.1:9", "--package", "p", "-o", str(tmp_path / "x.ods")]
    for command in ("export", "due"):
        result = runner.invoke(main, [command, *reads])
        assert result.exit_code == 2, result.output
        assert "use a .xlsx or .csv name" in result.output + result.stderr
    for write in (
        lambda: write_template(tmp_path / "t.ods"),
        lambda: write_due(tmp_path / "d", []),
    ):
        with pytest.raises(ValueError, match="use a .xlsx or .csv name"):
            write()
    assert list(tmp_path.iterdir()) == []


def test_files_the_loader_names_say_when_they_were_made(tmp_path):
    import re

    from loader.run import default_result_path
    from loader.undo import default_undo_path

    stamp = r"\d{8}-\d{6}\.xlsx"
    assert re.fullmatch(rf"b-results-{stamp}", default_result_path(tmp_path / "b.csv").name)
    assert re.fullmatch(rf"r-undo-{stamp}", default_undo_path(tmp_path / "r.xlsx").name)


@pytest.mark.parametrize(
    ("command", "module", "function"),
    [
        (["template", "t.xlsx"], "loader.template", "write_template"),
        (["validate", "b.csv"], "loader.run", "check_batch"),
        (["run", "b.csv", "--ckan", "http://127.0.0.1:9"], "loader.run", "run_batch"),
        (["undo", "r.xlsx", "--ckan", "http://127.0.0.1:9"], "loader.undo", "undo_run"),
        (
            ["export", "--ckan", "http://127.0.0.1:9", "--package", "p"],
            "loader.export",
            "export_batch",
        ),
        (["due", "--ckan", "http://127.0.0.1:9", "--package", "p"], "loader.due", "due_report"),
        (["serve", "--ckan", "http://127.0.0.1:9", "--no-browser"], "loader.serve.server", "serve"),
    ],
)
def test_an_unexpected_failure_has_its_own_exit_code_in_every_command(
    runner, tmp_path, monkeypatch, command, module, function
):
    """70 (a fault in the loader) is no code a command gives for anything else: a
    scheduler reading `due`'s 1 as "something is due" must not be told so by a crash."""
    import importlib

    def breaks(*args, **kwargs):
        raise RuntimeError("year 10000 is out of range")

    monkeypatch.setattr(importlib.import_module(module), function, breaks)
    monkeypatch.chdir(tmp_path)
    write_batch(tmp_path, DOCUMENT, name="b.csv")
    result = runner.invoke(main, command, env={"CKAN_API_KEY": "t"})
    assert result.exit_code == 70, result.output
    first = result.stderr.splitlines()[0]
    assert first.startswith("Error: the loader failed unexpectedly (RuntimeError: year 10000")
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().endswith("RuntimeError: year 10000 is out of range")
