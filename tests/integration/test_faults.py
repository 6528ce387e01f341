"""Unattended runs lose nothing: faults between the loader and the local catalogue,
a loader stopped midway, and resuming.

A fault-injecting proxy of the tests' own (tests/fault_proxy.py) sits in front of
the real catalogue; the loader runs in-process or as a command of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from fault_proxy import FaultProxy

from integration.helpers import REQUIRED, resources_of, sheet_rows, write_batch
from loader.client import Catalogue
from loader.options import RunOptions
from loader.pipeline.journal import journal_path
from loader.run import run_batch

pytestmark = pytest.mark.catalogue


@pytest.fixture
def proxy(catalogue):
    proxy = FaultProxy(catalogue.url)
    yield proxy
    proxy.go_away()


def creates(package: dict, count: int, start: int = 1) -> list[dict[str, str]]:
    return [
        {
            "op": "create",
            "package": package["name"],
            "name": f"Part {n}",
            "url": f"https://example.com/part/{n}",
            **REQUIRED,
        }
        for n in range(start, start + count)
    ]


def names(catalogue, package) -> Counter[str]:
    return Counter(r["name"] for r in resources_of(catalogue, package["id"]))


def test_busy_answers_are_tried_again_and_every_row_lands_once(
    catalogue, make_package, proxy, tmp_path
):
    package = make_package()
    proxy.busy("resource_create", 503)
    proxy.busy("resource_create", 503)
    proxy.busy("resource_create", 429, retry_after=1)
    client = Catalogue(proxy.url, catalogue.editor_token)
    started = time.monotonic()

    result = run_batch(write_batch(tmp_path, *creates(package, 3)), client, RunOptions(fold=False))

    assert [o.status for o in result.outcomes] == ["done"] * 3, result.outcomes
    assert names(catalogue, package) == {"Part 1": 1, "Part 2": 1, "Part 3": 1}
    assert client.retries == 3
    assert time.monotonic() - started >= 1  # Retry-After was honoured


def test_a_lost_answer_is_looked_up_and_never_simply_sent_again(
    catalogue, make_package, proxy, tmp_path
):
    package = make_package()
    admin = catalogue.client("admin")
    kept = admin.action.resource_create(
        package_id=package["id"], name="Kept", url="https://example.com/k", **REQUIRED
    )
    proxy.lose_answer("resource_create")
    proxy.lose_answer("resource_patch")
    proxy.lose_answer("package_revise")
    rows = [
        *creates(package, 1),
        {"op": "patch", "resource_id": kept["id"], "description": "patched"},
    ]
    client = Catalogue(proxy.url, catalogue.editor_token)

    single = run_batch(write_batch(tmp_path, *rows), client, RunOptions(fold=False))
    folded = run_batch(write_batch(tmp_path, *creates(package, 2, start=2), name="b.csv"), client)

    assert [o.status for o in single.outcomes + folded.outcomes] == ["done"] * 4
    assert names(catalogue, package) == {"Kept": 1, "Part 1": 1, "Part 2": 1, "Part 3": 1}
    assert admin.action.resource_show(id=kept["id"])["description"] == "patched"
    assert single.outcomes[0].resource_id in {
        r["id"] for r in resources_of(catalogue, package["id"])
    }


def test_a_catalogue_gone_midway_leaves_rows_not_run_and_a_resume_finishes(
    catalogue, make_package, proxy, tmp_path
):
    package = make_package()
    batch = write_batch(tmp_path, *creates(package, 8))
    result_path = tmp_path / "results.xlsx"
    proxy.delay = 0.2
    client = Catalogue(proxy.url, catalogue.editor_token, sleep=lambda s: None)

    def leave_after_three() -> None:
        while proxy.seen.count("resource_create") < 3:
            time.sleep(0.02)
        proxy.go_away()

    threading.Thread(target=leave_after_three, daemon=True).start()
    first = run_batch(batch, client, RunOptions(fold=False), result_path=result_path)

    statuses = Counter(o.status for o in first.outcomes)
    in_doubt = [o for o in first.outcomes if o.status == "failed"]
    # at most the row whose request was cut off is in doubt; the rest were never sent
    assert len(in_doubt) <= 1 and all("may or may not" in o.error for o in in_doubt)
    assert statuses["done"] >= 2 and statuses["not run"] >= 4, first.outcomes
    assert any("stopped answering" in o.error for o in first.outcomes)

    proxy.come_back()
    proxy.delay = 0
    second = run_batch(batch, client, RunOptions(fold=False, resume=True), result_path=result_path)

    assert [o.status for o in second.outcomes] == ["done"] * 8, second.outcomes
    stored = {r["name"]: r["id"] for r in resources_of(catalogue, package["id"])}
    assert names(catalogue, package) == {f"Part {n}": 1 for n in range(1, 9)}
    assert [r["resource_id"] for r in sheet_rows(result_path)] == [
        stored[f"Part {n}"] for n in range(1, 9)
    ]


def test_a_resume_of_a_changed_batch_is_refused_naming_the_rows(catalogue, make_package, tmp_path):
    package = make_package()
    rows = creates(package, 3)
    batch = write_batch(tmp_path, *rows)
    result_path = tmp_path / "results.xlsx"
    client = Catalogue(catalogue.url, catalogue.editor_token)
    run_batch(batch, client, result_path=result_path, stop=_stopped())
    write_batch(tmp_path, rows[0], {**rows[1], "url": "https://example.com/other"}, rows[2])

    from loader.errors import CannotStart

    with pytest.raises(CannotStart, match=r"changed since the run being resumed \(row 3\)"):
        run_batch(batch, client, RunOptions(resume=True), result_path=result_path)


def test_a_resume_refuses_a_journal_of_another_catalogue_or_user(catalogue, make_package, tmp_path):
    from loader.errors import CannotStart

    package = make_package()
    batch = write_batch(tmp_path, *creates(package, 3))
    result_path = tmp_path / "results.xlsx"
    editor = Catalogue(catalogue.url, catalogue.editor_token)
    run_batch(batch, editor, result_path=result_path, stop=_stopped())  # nothing sent
    journal = journal_path(result_path)
    written = journal.read_text(encoding="utf-8")

    admin = Catalogue(catalogue.url, catalogue.admin_token)
    with pytest.raises(CannotStart, match=f"run being resumed was made by {catalogue.editor_name}"):
        run_batch(batch, admin, RunOptions(resume=True), result_path=result_path)
    journal.write_text(written.replace(catalogue.url, "https://cat.data.gov.bc.ca"), "utf-8")
    with pytest.raises(CannotStart, match="run being resumed wrote to https://cat.data.gov.bc.ca"):
        run_batch(batch, editor, RunOptions(resume=True), result_path=result_path)

    assert names(catalogue, package) == {}  # neither refused resume wrote anything
    assert journal.read_text(encoding="utf-8") == written.replace(
        catalogue.url, "https://cat.data.gov.bc.ca"
    )  # nor added to the journal


def _stopped() -> threading.Event:
    stop = threading.Event()
    stop.set()
    return stop


# -- stopping the loader itself, then resuming ------------------------------------------

LOADER = str(Path(sys.executable).parent / "bcdc-loader")


def _loader_run(batch: Path, proxy, catalogue) -> tuple[list[str], dict[str, str]]:
    """The loader as a process of its own, running `batch` one call a row through the
    proxy with the editor's token: its command (without -o) and environment."""
    command = [LOADER, "run", str(batch), "--ckan", proxy.url, "--no-fold", "-q"]
    return command, {**os.environ, "CKAN_API_KEY": catalogue.editor_token}


def _outcomes_on_disk(journal: Path) -> list[dict]:
    if not journal.exists():
        return []
    lines = journal.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    return [r for r in records if r["kind"] == "outcome"]


@pytest.mark.parametrize(
    ("how", "signals", "exit_code"),
    [
        ("kill -9", [signal.SIGKILL], -9),
        ("SIGTERM", [signal.SIGTERM], 1),
        ("one Ctrl-C", [signal.SIGINT], 1),
        ("two Ctrl-C", [signal.SIGINT, signal.SIGINT], 130),
    ],
)
def test_a_stopped_run_resumes_with_every_row_once(
    catalogue, make_package, proxy, tmp_path, how, signals, exit_code
):
    package = make_package()
    batch = write_batch(tmp_path, *creates(package, 10))
    result_path = tmp_path / "results.xlsx"
    journal = journal_path(result_path)
    proxy.delay = 0.3
    command, env = _loader_run(batch, proxy, catalogue)

    child = subprocess.Popen(
        [*command, "-o", str(result_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while len(_outcomes_on_disk(journal)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    for number in signals:
        child.send_signal(number)
        time.sleep(0.1)
    _, stderr = child.communicate(timeout=120)

    assert child.returncode == exit_code, stderr.decode()
    assert b"Traceback" not in stderr
    if how != "kill -9":
        assert result_path.exists()
        first = sheet_rows(result_path)
        assert len(first) == 10 and {r["status"] for r in first} <= {"done", "not run", "failed"}
        assert sum(r["status"] == "done" for r in first) >= 3
    if how == "two Ctrl-C":
        assert b"Stopped at once" in stderr
        assert all("may or may not" in r["error"] for r in first if r["status"] == "failed")

    proxy.delay = 0
    resumed = subprocess.run(
        [*command, "-o", str(result_path), "--resume"], env=env, capture_output=True, timeout=120
    )

    assert resumed.returncode == 0, resumed.stderr.decode()
    assert names(catalogue, package) == {f"Part {n}": 1 for n in range(1, 11)}
    stored = {r["name"]: r["id"] for r in resources_of(catalogue, package["id"])}
    final = sheet_rows(result_path)
    assert [(r["status"], r["resource_id"]) for r in final] == [
        ("done", stored[f"Part {n}"]) for n in range(1, 11)
    ]


def _in_flight(journal: Path) -> bool:
    """Whether the journal's last line is a request sent without its answer yet."""
    lines = journal.read_text(encoding="utf-8").splitlines() if journal.exists() else []
    return bool(lines) and json.loads(lines[-1])["kind"] == "sent"


def test_undo_after_a_killed_and_resumed_run_undoes_the_row_that_was_in_flight(
    catalogue, make_package, proxy, tmp_path
):
    package = make_package()
    batch = write_batch(tmp_path, *creates(package, 6))
    result_path = tmp_path / "results.xlsx"
    journal = journal_path(result_path)
    proxy.delay = 0.3
    command, env = _loader_run(batch, proxy, catalogue)

    child = subprocess.Popen([*command, "-o", str(result_path)], env=env)
    deadline = time.monotonic() + 60
    while not (len(_outcomes_on_disk(journal)) >= 2 and _in_flight(journal)):
        assert time.monotonic() < deadline and child.poll() is None
        time.sleep(0.01)
    child.kill()  # kill -9 while a create is on its way to the catalogue
    child.wait(timeout=30)
    proxy.delay = 0
    resumed = subprocess.run(
        [*command, "-o", str(result_path), "--resume"], env=env, capture_output=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert names(catalogue, package) == {f"Part {n}": 1 for n in range(1, 7)}

    undo = subprocess.run(
        [
            LOADER,
            "undo",
            str(result_path),
            "--ckan",
            proxy.url,
            "-o",
            str(tmp_path / "u.xlsx"),
        ],
        env=env,
        capture_output=True,
        timeout=120,
    )

    assert undo.returncode == 0, undo.stderr.decode()
    assert names(catalogue, package) == {}
    undone = sheet_rows(tmp_path / "u.xlsx")
    assert [(r["status"], r["name"]) for r in undone] == [
        ("done", f"Part {n}") for n in range(6, 0, -1)
    ]
