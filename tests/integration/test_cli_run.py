"""`bcdc-loader run` and `validate --schema live` from the command line, on the local catalogue."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from loader.cli import main

pytestmark = pytest.mark.catalogue

SAMPLES = Path(__file__).resolve().parents[2] / "sample_batches"
REQUIRED = "document,monthly,csv,web or ftp site,data,direct access"  # in HEADER's order
HEADER = (
    "op,package,name,url,bcdc_type,resource_update_cycle,format,"
    "resource_storage_location,resource_type,resource_access_method"
)


def invoke(args, token=None, url=None):
    env = {"CKAN_API_KEY": token or "", "CKAN_URL": url or ""}
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def test_run_loads_a_batch_and_keeps_the_token_out_of_everything(catalogue, make_package, tmp_path):
    package = make_package()
    batch = tmp_path / "batch.csv"
    batch.write_text(
        f"{HEADER}\n"
        f"create,{package['name']},Good,https://example.com/g,{REQUIRED}\n"
        f"patch,{package['name']},Missing,,,weekly,,,,\n"
    )
    output = tmp_path / "out.xlsx"

    result = invoke(["run", str(batch), "-o", str(output)], catalogue.editor_token, catalogue.url)

    assert result.exit_code == 1, result.output
    assert "2 rows (1 done, 1 failed)" in result.output
    assert "Row 3: no resource named 'Missing'" in result.output
    assert catalogue.editor_token not in result.output
    cells = [
        str(c.value)
        for ws in openpyxl.load_workbook(output).worksheets
        for row in ws.iter_rows()
        for c in row
    ]
    assert not any(catalogue.editor_token in c for c in cells)
    assert catalogue.editor_name in cells
    journal = output.with_name("out.journal.jsonl").read_text(encoding="utf-8")
    assert '"kind": "outcome"' in journal and package["id"] in journal
    assert catalogue.editor_token not in journal


def test_dry_run_from_the_command_line(catalogue, make_package, tmp_path):
    package = make_package()
    admin = catalogue.client("admin")
    kept = admin.action.resource_create(
        package_id=package["id"], name="Kept", url="https://example.com/k", **_required()
    )
    batch = tmp_path / "batch.csv"
    batch.write_text(
        f"{HEADER}\n"
        f"create,{package['name']},New,https://example.com/n,{REQUIRED}\n"
        f"patch,{package['name']},Kept,,,monthly,,,,\n"  # as it is: no change
        f"patch,{package['name']},Kept,,,weekly,,,,\n"
    )

    result = invoke(
        ["run", str(batch), "--dry-run", "--ckan", catalogue.url, "-o", str(tmp_path / "d.xlsx")],
        catalogue.editor_token,
    )

    assert result.exit_code == 0, result.output
    assert (
        "Dry run of batch.csv on " + catalogue.url + ": 3 rows (1 would change nothing, "
        "1 would be created, 1 would be patched)"
    ) in result.output
    resources = admin.action.package_show(id=package["id"])["resources"]
    assert [(r["name"], r["resource_update_cycle"]) for r in resources] == [("Kept", "monthly")]
    assert resources[0]["metadata_modified"] == kept["metadata_modified"]


def _required() -> dict[str, str]:
    names = HEADER.split(",")[4:]
    return dict(zip(names, REQUIRED.split(","), strict=True))


def test_invalid_batch_exits_2_and_writes_nothing(catalogue, make_package, tmp_path):
    package = make_package()
    batch = tmp_path / "batch.csv"
    bad = REQUIRED.replace(",csv,", ",CSV,")
    batch.write_text(f"{HEADER}\ncreate,{package['name']},New,https://example.com/n,{bad}\n")

    result = invoke(
        ["run", str(batch), "-o", str(tmp_path / "r.xlsx")], catalogue.editor_token, catalogue.url
    )

    assert result.exit_code == 2
    assert "column 'format'" in result.output
    assert catalogue.client("admin").action.package_show(id=package["id"])["resources"] == []


def test_run_refuses_to_start_without_a_token_or_without_yes_on_prod(tmp_path):
    batch = tmp_path / "batch.csv"
    batch.write_text(f"{HEADER}\ncreate,some-dataset,New,https://example.com/n,{REQUIRED}\n")

    no_token = invoke(["run", str(batch), "--ckan", "http://127.0.0.1:9"])
    assert no_token.exit_code == 2
    assert "no API token" in no_token.output

    prod = invoke(["run", str(batch), "--ckan", "prod"], token="not-a-real-token")
    assert prod.exit_code == 2
    assert "production catalogue needs --yes" in prod.output


def test_validate_against_the_live_schema(catalogue, tmp_path):
    batch = tmp_path / "new-resources.csv"
    shutil.copy(SAMPLES / "new-resources.csv", batch)
    shutil.copytree(SAMPLES / "files", tmp_path / "files")

    result = invoke(["validate", str(batch), "--schema", "live", "--ckan", catalogue.url])

    assert result.exit_code == 0, result.output
    assert "3 ready" in result.output


@pytest.mark.parametrize(
    ("url", "token", "message"),
    [
        (None, "not-a-real-token", "does not accept this API token"),
        ("http://127.0.0.1:9", "not-a-real-token", "cannot reach http://127.0.0.1:9"),
    ],
)
def test_a_refused_token_or_no_answer_stops_before_any_row(
    catalogue, tmp_path, url, token, message
):
    batch = tmp_path / "batch.csv"
    batch.write_text(f"{HEADER}\ncreate,some-dataset,New,https://example.com/n,{REQUIRED}\n")
    output = tmp_path / "r.xlsx"

    result = invoke(["run", str(batch), "-o", str(output)], token, url or catalogue.url)

    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    (row,) = openpyxl.load_workbook(output)["Results"].iter_rows(min_row=2, values_only=True)
    assert "not run" in row and any(message in str(v) for v in row)


def test_the_token_can_come_from_a_file(catalogue, make_package, tmp_path):
    package = make_package()
    batch = tmp_path / "batch.csv"
    batch.write_text(f"{HEADER}\ncreate,{package['name']},New,https://example.com/n,{REQUIRED}\n")
    key_file = tmp_path / "token.txt"
    key_file.write_text(catalogue.editor_token + "\n")

    result = invoke(
        ["run", str(batch), "--api-key-file", str(key_file), "-o", str(tmp_path / "r.xlsx")],
        url=catalogue.url,
    )

    assert result.exit_code == 0, result.output
    assert "1 row (1 done)" in result.output
