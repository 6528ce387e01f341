"""The local catalogue's DataStore and its loader (ckanext-xloader), as a client meets them.

Uploads of a loadable format are loaded into the DataStore by a background job;
`xloader_status` tells how the last load went and `datastore_search` what was
loaded. These tests show the answers a client following a load relies on.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import ckan_stack
import pytest

from integration.helpers import REQUIRED, finished_load

pytestmark = pytest.mark.catalogue

HEADING = "site,sample_date,value\n"


def rows(count: int) -> bytes:
    lines = (f"S{n},2024-05-{n % 28 + 1:02d},{n}.5\n" for n in range(count))
    return (HEADING + "".join(lines)).encode()


def upload(client, package: dict, path: Path, content: bytes, name: str = "Readings") -> dict:
    path.write_bytes(content)
    with path.open("rb") as stream:
        return client.action.resource_create(
            package_id=package["id"], name=name, upload=stream, **REQUIRED
        )


def send_again(client, resource: dict, path: Path, **fields) -> dict:
    with path.open("rb") as stream:
        return client.action.resource_patch(id=resource["id"], upload=stream, **fields)


def total(client, resource_id: str) -> int:
    return client.action.datastore_search(resource_id=resource_id, limit=0)["total"]


def test_an_uploaded_csv_loads_and_datastore_search_counts_its_rows(
    catalogue, make_package, tmp_path
):
    editor = catalogue.client("editor")
    content = rows(25)
    resource = upload(editor, make_package(), tmp_path / "readings.csv", content)
    assert resource["datastore_active"] is False

    status = finished_load(editor, resource["id"])

    assert status["status"] == "complete"
    assert status["error"] == {}
    assert total(editor, resource["id"]) == 25
    loaded = editor.action.resource_show(id=resource["id"])
    assert loaded["datastore_active"] is True
    # the loader writes the file's MD5 into `hash` once it has loaded it
    assert loaded["hash"] == hashlib.md5(content).hexdigest()


def test_a_file_the_loader_cannot_read_ends_in_error_with_its_reason(
    catalogue, make_package, tmp_path
):
    editor = catalogue.client("editor")
    ragged = b"site,value\nS1,1\nS2,2,extra\n"
    resource = upload(editor, make_package(), tmp_path / "ragged.csv", ragged)

    status = finished_load(editor, resource["id"])

    assert status["status"] == "error"
    # the reason is a plain string here; the job record holds a traceback tail
    assert status["error"].startswith("Row 3 has more values than the 2 column(s) in the header.")
    assert status["task_info"]["error"]["message"].endswith(f"LoaderError({status['error']!r})")
    assert editor.action.resource_show(id=resource["id"])["datastore_active"] is False


def test_the_seeded_resource_is_one_whose_last_load_failed(catalogue):
    status = catalogue.client("editor").action.xloader_status(
        resource_id=catalogue.failed_load_resource
    )
    assert status["status"] == "error"
    assert "Duplicate column names are not supported" in status["error"]


def test_a_load_stays_pending_while_the_worker_is_paused_and_completes_after(
    catalogue, make_package, tmp_path
):
    editor = catalogue.client("editor")
    package = make_package()
    with catalogue.worker_paused():
        resource = upload(editor, package, tmp_path / "readings.csv", rows(7))
        seen = set()
        for _ in range(10):
            seen.add(editor.action.xloader_status(resource_id=resource["id"])["status"])
            time.sleep(0.2)
        assert seen == {"pending"}
        assert editor.action.resource_show(id=resource["id"])["datastore_active"] is False

    assert finished_load(editor, resource["id"])["status"] == "complete"
    assert total(editor, resource["id"]) == 7


def test_a_worker_that_died_is_started_again_and_loads(catalogue, make_package, tmp_path):
    line = ckan_stack.LINES[catalogue.line]
    supervisor = ckan_stack.worker_pid(line)

    def worker() -> int:
        children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
        return int(children[0])

    died = worker()
    os.kill(died, signal.SIGKILL)
    editor = catalogue.client("editor")
    resource = upload(editor, make_package(), tmp_path / "readings.csv", rows(3))

    assert finished_load(editor, resource["id"])["status"] == "complete"
    assert ckan_stack.worker_pid(line) == supervisor
    assert worker() != died


def test_the_same_file_sent_again_loads_again_unless_its_md5_is_in_hash(
    catalogue, make_package, tmp_path
):
    """Why the loader writes `sha256:<hex>` into `hash`: the DataStore loader skips a
    file whose MD5 equals `hash`, and says `complete` all the same."""
    admin = catalogue.client("admin")
    path = tmp_path / "readings.csv"
    content = rows(10)
    resource = upload(admin, make_package(), path, content)
    first = finished_load(admin, resource["id"])
    # one row gone from the DataStore shows whether the next load really loads
    admin.action.datastore_delete(resource_id=resource["id"], filters={"site": "S0"}, force=True)
    assert total(admin, resource["id"]) == 9

    send_again(admin, resource, path)  # `hash` still holds the file's MD5
    skipped = finished_load(admin, resource["id"], after=first["job_id"])
    assert skipped["status"] == "complete"
    assert total(admin, resource["id"]) == 9

    send_again(admin, resource, path, hash="sha256:" + hashlib.sha256(content).hexdigest())
    reloaded = finished_load(admin, resource["id"], after=skipped["job_id"])
    assert reloaded["status"] == "complete"
    assert total(admin, resource["id"]) == 10
    assert admin.action.resource_show(id=resource["id"])["hash"] == hashlib.md5(content).hexdigest()
