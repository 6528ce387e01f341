"""Monthly refresh runs on the local catalogue: unchanged files, refreshes, folded calls."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import requests

from integration.helpers import (
    REQUIRED,
    create_operation,
    finished_load,
    resources_of,
    write_batch,
)
from loader.client import Catalogue
from loader.options import RunOptions
from loader.pipeline.execute import execute
from loader.pipeline.operations import Action, Operation, Plan
from loader.run import run_batch

pytestmark = pytest.mark.catalogue


class Counting(Catalogue):
    """The real client, noting every action it calls."""

    def __init__(self, url: str, api_key: str):
        super().__init__(url, api_key)
        self.actions: list[str] = []

    def call(self, action: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        self.actions.append(action)
        return super().call(action, data, **kwargs)


def counting(catalogue) -> Counting:
    return Counting(catalogue.url, catalogue.editor_token)


def test_an_unchanged_file_is_not_sent_again_and_a_changed_one_is(
    catalogue, make_package, tmp_path
):
    package = make_package()
    data = tmp_path / "monthly.csv"
    data.write_bytes(b"month,value\n2026-10,1\n")
    row = {"op": "upsert", "package": package["name"], "name": "Monthly", "upload": "monthly.csv"}
    batch = write_batch(tmp_path, {**row, **REQUIRED})
    admin = catalogue.client("admin")

    first = run_batch(batch, counting(catalogue))
    assert first.exit_code == 0, first.outcomes[0].error
    saved = first.outcomes[0].saved or {}
    assert saved["hash"].startswith("sha256:") and saved["size"] == data.stat().st_size
    # the DataStore then loads the file and writes its MD5 into `hash`: still the same file
    finished_load(admin, saved["id"])
    (stored,) = resources_of(catalogue, package["id"])
    assert stored["hash"] == hashlib.md5(data.read_bytes()).hexdigest()

    before = admin.action.package_show(id=package["id"])["metadata_modified"]
    client = counting(catalogue)
    again = run_batch(batch, client)
    assert again.outcomes[0].action == "no change (file unchanged)"
    assert not {"resource_update", "resource_patch", "package_revise"} & set(client.actions)
    assert admin.action.package_show(id=package["id"])["metadata_modified"] == before

    touched = run_batch(batch, counting(catalogue), RunOptions(touch=True))
    assert touched.outcomes[0].action.startswith("touched resource 'Monthly': last_modified")
    after_touch = admin.action.resource_show(id=stored["id"])
    assert after_touch["last_modified"] != stored["last_modified"]
    assert after_touch["hash"] == stored["hash"]

    data.write_bytes(b"month,value\n2026-11,2\n")
    changed = run_batch(batch, counting(catalogue))
    assert changed.outcomes[0].action.startswith("updated resource 'Monthly': new file")
    refreshed = admin.action.resource_show(id=stored["id"])
    assert requests.get(refreshed["url"], timeout=30).content == data.read_bytes()
    assert refreshed["hash"] != stored["hash"]

    forced = run_batch(batch, counting(catalogue), RunOptions(force_upload=True))
    assert f"new file {data}" in forced.outcomes[0].action


def test_rows_of_a_dataset_fold_into_one_call_in_sheet_order(catalogue, make_package, tmp_path):
    package = make_package()
    admin = catalogue.client("admin")
    for name in ("A", "B"):
        admin.action.resource_create(
            package_id=package["id"], name=name, url=f"https://example.com/{name}", **REQUIRED
        )
    rows = [
        {"op": "patch", "package": package["name"], "name": "A", "description": "first"},
        *[
            {
                "op": "create",
                "package": package["name"],
                "name": name,
                "url": f"https://example.com/{name}",
                **REQUIRED,
            }
            for name in ("C", "D")
        ],
        {"op": "delete", "package": package["name"], "name": "B"},
    ]
    client = counting(catalogue)

    result = run_batch(write_batch(tmp_path, *rows), client)

    assert result.exit_code == 0, [o.error for o in result.outcomes]
    assert client.actions.count("package_revise") == 1
    assert not [a for a in client.actions if a.startswith("resource_")]
    stored = resources_of(catalogue, package["id"])
    assert [(r["name"], r.get("description") or "") for r in stored] == [
        ("A", "first"),
        ("C", ""),
        ("D", ""),
    ]
    assert [o.resource_id for o in result.outcomes[1:3]] == [stored[1]["id"], stored[2]["id"]]

    unfolded = counting(catalogue)
    rerun = [{**rows[0], "description": "second"}, {**rows[0], "name": "C", "description": "c"}]
    run_batch(write_batch(tmp_path, *rerun, name="again.csv"), unfolded, RunOptions(fold=False))
    assert (
        unfolded.actions.count("resource_patch") == 2 and "package_revise" not in unfolded.actions
    )


def test_a_folded_call_the_server_refuses_ends_with_each_rows_own_outcome(catalogue, make_package):
    package = make_package()
    admin = catalogue.client("admin")
    a, b = (
        admin.action.resource_create(
            package_id=package["id"], name=name, url=f"https://example.com/{name}", **REQUIRED
        )
        for name in ("A", "B")
    )
    common = {
        "package_id": package["id"],
        "package_name": package["name"],
        "package_type": "bcdc_dataset",
    }
    # The loader's own checks would refuse "CSV"; built by hand to reach the server.
    created = create_operation(package)  # row 2
    good = Operation(
        3,
        Action.PATCH,
        resource_id=a["id"],
        resource_name="A",
        fields={"description": "kept"},
        **common,
    )
    bad = Operation(
        4, Action.PATCH, resource_id=b["id"], resource_name="B", fields={"format": "CSV"}, **common
    )
    client = counting(catalogue)

    outcomes = execute(Plan([created, good, bad], []), client)

    assert client.actions[:2] == ["package_show", "package_revise"]  # guard, then the fold
    assert [(o.row, o.status) for o in outcomes] == [(2, "done"), (3, "done"), (4, "failed")]
    assert "Value must be one of" in outcomes[2].field_errors["format"]
    stored = {r["name"]: r for r in resources_of(catalogue, package["id"])}
    assert stored["A"]["description"] == "kept"
    assert stored["B"]["format"] == "csv"
    assert "Bad" in stored


def test_a_fold_never_overwrites_a_change_someone_made_after_the_run_read_the_dataset(
    catalogue, make_package
):
    package = make_package()
    admin = catalogue.client("admin")
    a, b = (
        admin.action.resource_create(
            package_id=package["id"], name=name, url=f"https://example.com/{name}", **REQUIRED
        )
        for name in ("A", "B")
    )
    seen = admin.action.package_show(id=package["id"])["metadata_modified"]
    common = {
        "package_id": package["id"],
        "package_name": package["name"],
        "package_type": "bcdc_dataset",
        "package_modified": seen,  # what the planner read
    }
    lane = [
        Operation(2, Action.PATCH, resource_id=a["id"], resource_name="A", fields={"description": "ours"}, **common),  # noqa: E501
        Operation(3, Action.PATCH, resource_id=b["id"], resource_name="B", fields={"description": "ours"}, **common),  # noqa: E501
    ]  # fmt: skip
    admin.action.resource_patch(id=a["id"], description="someone else's")  # meanwhile
    client = counting(catalogue)

    outcomes = execute(Plan(lane, []), client)

    assert client.actions == ["package_revise"]
    assert [(o.status, o.code) for o in outcomes] == [("failed", "dataset-changed")] * 2
    assert f"dataset '{package['name']}' changed after this run read it" in outcomes[0].error
    stored = {r["name"]: r.get("description") for r in resources_of(catalogue, package["id"])}
    assert stored == {"A": "someone else's", "B": None}  # B untouched too
