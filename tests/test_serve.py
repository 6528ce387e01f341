"""The page's rules, offline, through Flask's test client: who it answers, what it shows.

The browser tests (integration/test_serve_browser.py) drive the same page in
Chromium against the local catalogue; these check each rule on its own.
"""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from batches import DOCUMENT, sparse_file, write_batch
from fake_catalogue import FakeCatalogue

from loader.client import Invalid
from loader.serve import library
from loader.serve.app import create_app
from loader.serve.guard import cookie_name, host_is_loopback
from loader.serve.jobs import Job
from loader.serve.library import RowOutcome
from loader.serve.workspace import Workspace

SECRET = "s3cret-for-tests"
ORIGIN = {"Origin": "http://localhost"}
TOKEN = "tok-0123456789-never-shown"
NAMES = {"names": "sites", "organizations": "water"}  # what the export and due forms send


@pytest.fixture
def page(tmp_path):
    """A test client that has opened the secret address (so it holds the cookie)."""

    def make(folder=None, catalogue_url=None, api_key=None):
        workspace = Workspace(folder or tmp_path, catalogue_url, api_key)
        client = create_app(workspace, SECRET).test_client()
        assert client.get(f"/?secret={SECRET}").status_code == 303
        made.append(workspace)
        return client, workspace

    made: list[Workspace] = []
    yield make
    for workspace in made:
        workspace.close()


def test_a_request_without_the_secret_is_refused(tmp_path):
    client = create_app(Workspace(tmp_path, None), SECRET).test_client()
    for path in ("/", "/static/page.js", "/batch/abc", "/nothing-here", "/catalogue", "/due/x"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert b"the address that `bcdc-loader serve` printed" in response.data
    assert client.get("/?secret=wrong").status_code == 403
    for path, form in (("/token", {"api_key": "x"}), ("/export", NAMES), ("/due", NAMES)):
        assert client.post(path, data=form, headers=ORIGIN).status_code == 403, path


def test_the_secret_address_sets_a_strict_cookie_and_leaves_the_address_bar(tmp_path):
    client = create_app(Workspace(tmp_path, None), SECRET).test_client()
    response = client.get(f"/batch/abc?secret={SECRET}&x=1")
    assert response.status_code == 303
    assert response.headers["Location"] == "/batch/abc?x=1"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{cookie_name(SECRET)}={SECRET};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/").status_code == 200


def test_a_host_header_other_than_loopback_is_refused(page):
    client, _ = page()
    for host in ("127.0.0.1:8000", "[::1]:8000", "localhost:8000"):
        # the cookie jar knows only "localhost": the secret address opens the others
        assert client.get(f"/?secret={SECRET}", headers={"Host": host}).status_code == 303
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "10.0.0.1"):
        response = client.get("/", headers={"Host": host})
        assert response.status_code == 403, host
        assert b"loopback address" in response.data
        assert client.get("/catalogue", headers={"Host": host}).status_code == 403
        for path in ("/export", "/due"):
            origin = {"Host": host, "Origin": f"http://{host}"}
            assert client.post(path, data=NAMES, headers=origin).status_code == 403
    # not even the secret address itself opens the page under another name
    assert client.get(f"/?secret={SECRET}", headers={"Host": "evil.example"}).status_code == 403


@pytest.mark.parametrize(
    "host, expected",
    [
        ("127.0.0.1", True),
        ("localhost:5000", True),
        ("[::1]:80", True),
        ("LOCALHOST", True),
        ("127.0.0.2", True),  # all of 127/8 is this machine: no other site can be there
        ("localhost.evil.example", False),
        ("127.0.0.1.evil.example", False),
        ("[::2]:80", False),
    ],
)
def test_host_is_loopback(host, expected):
    assert host_is_loopback(host) is expected


def test_a_change_must_come_from_the_page_itself(page):
    client, workspace = page()
    form = {"api_key": TOKEN}
    assert client.post("/token", data=form).status_code == 403  # no Origin, no Referer
    for origin in ("http://evil.example", "null", "http://localhost.evil.example"):
        assert client.post("/token", data=form, headers={"Origin": origin}).status_code == 403
    cross = {"Referer": "http://evil.example/page"}
    assert client.post("/token", data=form, headers=cross).status_code == 403
    assert not workspace.access.has_token
    same = {"Referer": "http://localhost/batch/x"}
    assert client.post("/token", data=form, headers=same).status_code == 303
    assert workspace.access.has_token


def test_an_export_or_due_report_must_come_from_the_page_itself(page, held):
    client, workspace = page(catalogue_url=held.url)
    for path in ("/export", "/due"):
        assert client.post(path, data=NAMES).status_code == 403
        cross = {"Origin": "http://evil.example"}
        assert client.post(path, data=NAMES, headers=cross).status_code == 403
    assert held.reads == 0 and workspace.dropped_batches() == [] and not workspace.due_reports
    assert client.post("/due", data=NAMES, headers=ORIGIN).status_code == 303


def test_responses_forbid_framing_inline_script_and_caching(page):
    client, _ = page()
    headers = client.get("/").headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Frame-Options"] == "DENY"


def test_the_token_is_never_sent_back(page, monkeypatch):
    monkeypatch.setattr(library, "who", lambda catalogue: "bcdc-editor")
    client, workspace = page(catalogue_url="http://127.0.0.1:9")
    path = write_batch(workspace.folder, DOCUMENT)
    response = client.post("/token", data={"api_key": TOKEN, "next": "/"}, headers=ORIGIN)
    assert TOKEN.encode() not in response.data
    pages = [client.get("/").data]
    batch_id = workspace.folder_batches()[0].id
    pages.append(client.get(f"/batch/{batch_id}").data)
    pages.append(client.get("/catalogue").data)
    assert path.name.encode() in pages[0]
    assert b"you are <strong>bcdc-editor</strong>" in pages[1]
    assert all(TOKEN.encode() not in body for body in pages)
    assert TOKEN not in workspace.access.user and workspace.access.user == "bcdc-editor"


def test_a_token_the_catalogue_refuses_is_not_kept(page, monkeypatch):
    def refuse(catalogue):
        raise library.CatalogueError("user_show: not authorized")

    monkeypatch.setattr(library, "who", refuse)
    client, workspace = page(catalogue_url="http://127.0.0.1:9")
    client.post("/token", data={"api_key": TOKEN}, headers=ORIGIN)
    assert not workspace.access.has_token
    assert b"does not accept this token" in client.get("/").data


def test_a_refused_token_from_the_environment_is_dropped_and_the_page_asks(page, monkeypatch):
    def refuse(catalogue):
        raise library.CatalogueError("user_show: not authorized")

    monkeypatch.setattr(library, "who", refuse)
    client, workspace = page(catalogue_url="http://127.0.0.1:9", api_key=TOKEN)
    body = client.get("/").get_data(as_text=True)
    assert "The token from $CKAN_API_KEY was not accepted" in body
    assert 'type="password" id="api_key"' in body
    assert not workspace.access.has_token


def test_each_problem_is_shown_on_its_cell_and_cells_are_escaped(page):
    client, workspace = page()
    write_batch(
        workspace.folder,
        {**DOCUMENT, "resource_update_cycle": "sometimes", "description": "<script>x()</script>"},
    )
    entry = workspace.folder_batches()[0]
    body = client.get(f"/batch/{entry.id}").get_data(as_text=True)
    assert "1 row:" in body and "0 ready" in body and "1 with problems" in body
    cell = body.split('<td class="problem" data-column="resource_update_cycle">')[1]
    cell = cell.split("</td>")[0]
    assert "sometimes" in cell
    assert "invalid-choice" in cell
    assert "Row 2, column &#39;resource_update_cycle&#39;" in cell
    assert "&lt;script&gt;x()&lt;/script&gt;" in body
    assert "<script>x()" not in body
    assert 'id="preview-button" disabled' in body


@pytest.mark.parametrize("written", ["files/data.csv", "files\\data.csv"])
def test_a_dropped_batch_finds_the_files_dropped_with_it(page, written):
    client, workspace = page()
    elsewhere = workspace.folder / "elsewhere"
    elsewhere.mkdir()
    row = {**DOCUMENT, "upload": written}  # as written on Windows, too
    del row["url"]
    batch = write_batch(elsewhere, row)
    (elsewhere / "data.csv").write_text("a,b\n1,2\n")
    with batch.open("rb") as b, (elsewhere / "data.csv").open("rb") as f:
        response = client.post(
            "/drop",
            data={"batch": (b, "batch.csv"), "files": [(f, "data.csv")]},
            headers=ORIGIN,
            content_type="multipart/form-data",
        )
    assert response.status_code == 303
    entry = workspace.dropped_batches()[0]
    assert entry.ready, entry.checked.problems
    assert (workspace.dropped_folder / "files" / "data.csv").read_text() == "a,b\n1,2\n"
    assert entry.path.parent == workspace.dropped_folder
    assert workspace.scratch.name.startswith("bcdc-loader-serve-")


def test_the_folder_lists_every_file_the_reader_takes_as_a_batch(page):
    client, workspace = page()
    for name in ("a.xlsx", "b.csv", "c.tsv", "d.txt", "e.ods", "f.xls", "g.xlsm"):
        (workspace.folder / name).write_text("op\n")
    for name in ("notes.docx", "a-results-20260101-120000.xlsx", "~$a.xlsx", ".hidden.csv"):
        (workspace.folder / name).write_text("op\n")
    names = [entry.name for entry in workspace.folder_batches()]
    assert names == ["a.xlsx", "b.csv", "c.tsv", "d.txt", "e.ods", "f.xls", "g.xlsm"]
    assert "c.tsv" in client.get("/").get_data(as_text=True)


def test_the_checked_workbook_downloads(page):
    client, workspace = page()
    write_batch(workspace.folder, {**DOCUMENT, "format": "CSV"})
    entry = workspace.folder_batches()[0]
    client.get(f"/batch/{entry.id}")
    response = client.get(f"/batch/{entry.id}/checked.xlsx")
    assert response.status_code == 200
    assert response.data[:2] == b"PK"  # a zip: an xlsx
    assert "attachment" in response.headers["Content-Disposition"]


@pytest.mark.parametrize(
    "target", ["https://catalogue.data.gov.bc.ca", "https://cat.data.gov.bc.ca"]
)
def test_the_page_refuses_files_over_the_catalogues_upload_limit_as_the_command_line_does(
    page, target
):
    """150 MB for prod and test: a file over it is a problem on its cell before any run."""
    client, workspace = page(catalogue_url=target)
    sparse_file(workspace.folder / "big.csv", 151 << 20)
    (workspace.folder / "small.csv").write_text("a,b\n" + "1,2\n" * 249)  # 1,000 bytes
    row = {k: v for k, v in DOCUMENT.items() if k != "url"}
    write_batch(
        workspace.folder,
        {**row, "upload": "big.csv", "format": "other"},  # not text: no content to check
        {**row, "name": "Small", "upload": "small.csv"},
    )
    entry = workspace.folder_batches()[0]

    body = client.get(f"/batch/{entry.id}").get_data(as_text=True)

    assert "upload-too-large" in body and "over the 150.0 MB the catalogue takes" in body
    assert not entry.ready
    refused = client.post(f"/batch/{entry.id}/run", data={"confirm": "yes"}, headers=ORIGIN)
    assert refused.status_code == 409 and workspace.job(entry.id, "run") is None
    # another catalogue, no known limit: the same batch is ready, as on the command line
    client, workspace = page(folder=workspace.folder, catalogue_url="http://127.0.0.1:9")
    assert workspace.folder_batches()[0].ready is False  # not checked yet
    client.get(f"/batch/{entry.id}")
    assert workspace.folder_batches()[0].ready


def test_a_run_with_the_pages_options_refuses_a_file_over_the_limit_too(tmp_path):
    """The options the page runs with carry the limit: the run itself refuses the file,
    before it asks anything of the catalogue (here a dead loopback port)."""
    sparse_file(tmp_path / "big.csv", 151 << 20)
    row = {k: v for k, v in DOCUMENT.items() if k != "url"}
    path = write_batch(tmp_path, {**row, "upload": "big.csv"})
    job = Job("preview", "b1", rows=[2], sizes={})
    options = library.RunOptions(library.check_options("https://catalogue.data.gov.bc.ca"))

    with library.connect("http://127.0.0.1:9", TOKEN) as catalogue:
        outcomes, counts, code = library.run(path, catalogue, options, job, tmp_path / "out.xlsx")

    assert code == 2 and counts == {"invalid": 1}
    assert outcomes[0].status == "invalid" and "150.0 MB" in outcomes[0].error


def _fake_run(gate: threading.Event | None = None):
    """Stands in for library.run: two rows, the second waits on `gate` or the stop event."""
    calls = []
    limits = []  # the upload limit each run was given

    def run(path, catalogue, options, job, result_path):
        calls.append({"dry_run": options.dry_run, "api_key": catalogue._transport._api_key})
        limits.append(options.check.max_file_size)
        job.begin(2)
        job.finished_row(
            RowOutcome(2, "done", "created resource 'A'", "", "http://127.0.0.1:9/r/1")
        )
        while gate is not None and not gate.is_set() and not job.stop.is_set():
            time.sleep(0.01)
        third = RowOutcome(3, "not run", "", "the run was stopped before this row", None)
        if not job.stop.is_set():
            third = RowOutcome(3, "done", "created resource 'B'", "", "javascript:alert(1)")
        job.finished_row(third)
        result_path.write_bytes(b"PK fake")
        outcomes = [
            RowOutcome(2, "done", "created resource 'A'", "", "http://127.0.0.1:9/r/1"),
            third,
        ]
        return outcomes, {"done": 1 + (third.status == "done")}, 0

    run.limits = limits
    return run, calls


def _ready_batch(workspace):
    write_batch(workspace.folder, DOCUMENT, {**DOCUMENT, "name": "Other"})
    return workspace.folder_batches()[0]


def _wait(job, timeout=5.0):
    deadline = time.monotonic() + timeout
    while job.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not job.running


def test_a_run_reports_rows_live_and_stop_leaves_the_rest_not_run(page, monkeypatch):
    monkeypatch.setattr(library, "who", lambda catalogue: "bcdc-editor")
    gate = threading.Event()
    fake, calls = _fake_run(gate)
    monkeypatch.setattr(library, "run", fake)
    client, workspace = page(catalogue_url="http://127.0.0.1:9", api_key=TOKEN)
    entry = _ready_batch(workspace)

    assert client.post(f"/batch/{entry.id}/run", headers=ORIGIN).status_code == 303
    job = workspace.job(entry.id, "run")
    deadline = time.monotonic() + 5
    while not job.outcomes and time.monotonic() < deadline:
        time.sleep(0.01)
    live = client.get(f"/batch/{entry.id}/run.json").get_json()
    assert live["running"] and live["rows_text"] == "1 of 2 rows"
    assert [r["status"] for r in live["rows"]] == ["done"]
    # one job at a time
    assert client.post(f"/batch/{entry.id}/preview", headers=ORIGIN).status_code == 409

    client.post(f"/batch/{entry.id}/run/stop", headers=ORIGIN)
    _wait(job)
    final = client.get(f"/batch/{entry.id}/run.json").get_json()
    assert [r["status"] for r in final["rows"]] == ["done", "not run"]
    assert final["has_workbook"]
    assert client.get(f"/batch/{entry.id}/run.xlsx").data == b"PK fake"
    assert calls == [{"dry_run": False, "api_key": TOKEN}]


def test_only_web_addresses_become_links(page, monkeypatch):
    fake, _ = _fake_run()
    monkeypatch.setattr(library, "run", fake)
    monkeypatch.setattr(library, "who", lambda catalogue: "bcdc-editor")
    client, workspace = page(catalogue_url="http://127.0.0.1:9", api_key=TOKEN)
    entry = _ready_batch(workspace)
    client.post(f"/batch/{entry.id}/preview", headers=ORIGIN)
    _wait(workspace.job(entry.id, "preview"))
    rows = client.get(f"/batch/{entry.id}/preview.json").get_json()["rows"]
    assert [r["link"] for r in rows] == ["http://127.0.0.1:9/r/1", None]
    assert "javascript:" not in client.get(f"/batch/{entry.id}").get_data(as_text=True)


def test_production_asks_for_confirmation_before_a_run(page, monkeypatch):
    fake, calls = _fake_run()
    monkeypatch.setattr(library, "run", fake)
    monkeypatch.setattr(library, "who", lambda catalogue: "bcdc-editor")
    client, workspace = page(catalogue_url="https://catalogue.data.gov.bc.ca", api_key=TOKEN)
    entry = _ready_batch(workspace)
    body = client.get(f"/batch/{entry.id}").get_data(as_text=True)
    assert 'name="confirm" value="yes" required' in body

    refused = client.post(f"/batch/{entry.id}/run", headers=ORIGIN)
    assert refused.status_code == 409
    assert b"confirm writing to the production catalogue" in refused.data
    assert calls == []
    sent = client.post(f"/batch/{entry.id}/run", data={"confirm": "yes"}, headers=ORIGIN)
    assert sent.status_code == 303
    _wait(workspace.job(entry.id, "run"))
    assert calls == [{"dry_run": False, "api_key": TOKEN}]
    assert fake.limits == [150 << 20]  # production's upload limit, as on the command line


def test_a_long_batch_draws_a_page_of_rows_not_all_of_them(page):
    client, workspace = page()
    rows = [{**DOCUMENT, "name": f"R{n}"} for n in range(700)]
    rows[650] = {**rows[650], "format": "CSV"}
    write_batch(workspace.folder, *rows)
    entry = workspace.folder_batches()[0]
    body = client.get(f"/batch/{entry.id}").get_data(as_text=True)
    assert body.count('<tr data-row="') == 200  # one page
    assert "Showing rows 1 to 200 of 700 (page 1 of 4)." in body
    last = client.get(f"/batch/{entry.id}?page=4").get_data(as_text=True)
    assert last.count('<tr data-row="') == 100
    assert '<tr data-row="652" class="has-problem">' in last
    assert '<tr data-row="701" class="">' in last
    beyond = client.get(f"/batch/{entry.id}?page=99").get_data(as_text=True)
    assert "Showing rows 601 to 700 of 700 (page 4 of 4)." in beyond  # the nearest page
    bad = client.get(f"/batch/{entry.id}?only=problems").get_data(as_text=True)
    assert bad.count('<tr data-row="') == 1 and '<tr data-row="652"' in bad
    assert "Showing 1 row." in bad


def test_a_long_run_draws_and_polls_one_page_of_its_rows(page, monkeypatch):
    monkeypatch.setattr(library, "who", lambda catalogue: "bcdc-editor")
    gate = threading.Event()
    fake, _ = _fake_run(gate)
    monkeypatch.setattr(library, "run", fake)
    client, workspace = page(catalogue_url="http://127.0.0.1:9", api_key=TOKEN)
    entry = _ready_batch(workspace)
    client.post(f"/batch/{entry.id}/run", headers=ORIGIN)
    job = workspace.job(entry.id, "run")
    gate.set()
    _wait(job)
    done = next(iter(job.outcomes.values()))  # as if the batch held 450 rows, all done
    job.rows = list(range(2, 452))
    job.outcomes = {n: dataclasses.replace(done, row=n) for n in job.rows}

    body = client.get(f"/batch/{entry.id}?page=2").get_data(as_text=True)
    window = client.get(f"/batch/{entry.id}/run.json?since=0&first=202&last=401").get_json()

    drawn = body.split('id="run-table"')[1]
    assert drawn.count('<tr data-row="') == 200
    assert '<tr data-row="202">' in drawn and '<tr data-row="401">' in drawn
    assert 'data-first="202" data-last="401"' in body
    assert [r["row"] for r in window["rows"]] == list(range(202, 402))
    assert drawn.count('data-status="done"') == 200


def test_a_poll_gets_only_the_rows_finished_since_the_last(page, monkeypatch):
    monkeypatch.setattr(library, "who", lambda catalogue: "bcdc-editor")
    gate = threading.Event()
    fake, _ = _fake_run(gate)
    monkeypatch.setattr(library, "run", fake)
    client, workspace = page(catalogue_url="http://127.0.0.1:9", api_key=TOKEN)
    entry = _ready_batch(workspace)
    client.post(f"/batch/{entry.id}/run", headers=ORIGIN)
    job = workspace.job(entry.id, "run")
    deadline = time.monotonic() + 5
    while not job.outcomes and time.monotonic() < deadline:
        time.sleep(0.01)
    first = client.get(f"/batch/{entry.id}/run.json?since=0").get_json()
    assert [r["row"] for r in first["rows"]] == [2] and first["next"] == 1
    again = client.get(f"/batch/{entry.id}/run.json?since=1").get_json()
    assert again["rows"] == [] and again["running"]
    gate.set()
    _wait(job)
    final = client.get(f"/batch/{entry.id}/run.json?since=1").get_json()
    assert [r["row"] for r in final["rows"]] == [2, 3]  # all of them, once finished


def test_dropped_file_names_keep_their_spaces_and_stay_in_the_folder(page):
    client, workspace = page()
    row = {**DOCUMENT, "upload": "Sampling sites 2024.csv"}
    del row["url"]
    batch = write_batch(workspace.folder, row, name="my batch.csv")
    with batch.open("rb") as b:
        client.post(
            "/drop",
            data={
                "batch": (b, "my batch.csv"),
                "files": [
                    (io.BytesIO(b"a\n"), "Sampling sites 2024.csv"),
                    (io.BytesIO(b"x\n"), "../../escape.csv"),
                    (io.BytesIO(b"x\n"), ".hidden"),
                ],
            },
            headers=ORIGIN,
            content_type="multipart/form-data",
        )
    entry = workspace.dropped_batches()[0]
    assert entry.name == "my batch.csv" and entry.ready
    saved = sorted(p.name for p in workspace.dropped_folder.iterdir())
    assert saved == ["Sampling sites 2024.csv", "escape.csv", "my batch.csv"]
    assert not (workspace.scratch.parent / "escape.csv").exists()


@pytest.mark.parametrize("sent", ["//evil.example/", "/\\evil.example", "http://evil.example/"])
def test_the_token_form_returns_only_to_this_page(page, sent):
    client, _ = page()
    response = client.post("/token/forget", data={"next": sent}, headers=ORIGIN)
    assert response.headers["Location"] == "/"


class _CrossingStop(threading.Event):
    """A stop event whose setting lets the job's worker end at that very moment."""

    def __init__(self, job: Job):
        super().__init__()
        self.job = job
        self.ender: threading.Thread | None = None

    def set(self) -> None:
        self.ender = threading.Thread(target=self.job.end, args=("finished",))
        self.ender.start()
        self.ender.join(0.2)  # it ends now, unless the stop holds the job's lock
        super().set()


def test_a_job_that_ends_as_stop_is_pressed_stays_ended(page, monkeypatch):
    monkeypatch.setattr(library, "who", lambda catalogue: "bcdc-editor")
    fake, calls = _fake_run()
    monkeypatch.setattr(library, "run", fake)
    client, workspace = page(catalogue_url="http://127.0.0.1:9", api_key=TOKEN)
    entry = _ready_batch(workspace)
    job = Job("run", entry.id, rows=[2, 3], sizes={}, state="running")
    job.stop = crossing = _CrossingStop(job)
    workspace.jobs[(entry.id, "run")] = job

    client.post(f"/batch/{entry.id}/run/stop", headers=ORIGIN)
    assert crossing.ender is not None
    crossing.ender.join(5)
    assert job.state == "finished"  # not "stopping" for ever
    # ... so the page goes on: a preview starts
    assert client.post(f"/batch/{entry.id}/preview", headers=ORIGIN).status_code == 303
    _wait(workspace.job(entry.id, "preview"))
    assert calls == [{"dry_run": True, "api_key": TOKEN}]


def test_stop_after_the_end_changes_nothing():
    job = Job("run", "b", rows=[2], sizes={}, state="running")
    job.end("finished")
    assert job.request_stop() is False
    assert job.state == "finished" and not job.stop.is_set()


def test_a_datastore_load_that_ends_shows_its_row_again_and_is_counted():
    job = Job("run", "b", rows=[2, 3], sizes={2: 10}, state="running")
    job.begin(2)
    loading = RowOutcome(2, "done", "created resource 'A'", "", None, datastore="loading",
                         load="still loading", loading=True)  # fmt: skip
    job.heard_bytes(10)
    job.finished_row(loading)
    job.finished_row(RowOutcome(3, "done", "created resource 'B'", "", None))
    first = job.snapshot()
    assert "waiting for the catalogue to load 1 file into its DataStore" in first["summary"]

    job.load_changed(RowOutcome(2, "done", "created resource 'A'", "", None,
                                datastore="loaded 7 rows", load="loaded"))  # fmt: skip
    again = job.snapshot(since=first["next"])
    job.end("finished")

    assert [(r["row"], r["datastore"]) for r in again["rows"]] == [(2, "loaded 7 rows")]
    assert again["finished"] == 2 and job.bytes_done == 10  # counted once
    assert job.snapshot()["summary"].endswith(": 2 done; DataStore: 1 loaded.")


class _SlowUploads(FakeCatalogue):
    """Files stream in two halves, the second once `gate` opens, with the form around them."""

    FORM = 300  # bytes of the multipart form beyond the file

    def __init__(self, gate: threading.Event):
        super().__init__()
        self.gate = gate

    def write_resource(self, action, data, upload=None):
        listener = self.on_bytes
        if upload is not None and listener and data.get("name") not in self.faults:
            size = upload.size
            listener(size // 2)
            self.gate.wait(5)
            listener(size - size // 2 + self.FORM)
        self.on_bytes = None  # the fake's own count, all at once, is not wanted here
        try:
            return super().write_resource(action, data, upload)
        finally:
            self.on_bytes = listener


def test_the_bytes_bar_moves_as_files_stream(page, monkeypatch):
    gate = threading.Event()
    catalogue = _SlowUploads(gate)
    catalogue.add_package(DOCUMENT["package"])
    catalogue.faults["Refused"] = Invalid("format: not allowed", {"format": "not allowed"})
    monkeypatch.setattr(library, "connect", lambda url, key: catalogue)
    client, workspace = page(catalogue_url=catalogue.url, api_key=TOKEN)
    (workspace.folder / "data.csv").write_bytes(b"x" * 10_000)
    row = {k: v for k, v in DOCUMENT.items() if k != "url"}
    write_batch(
        workspace.folder,
        {**row, "upload": "data.csv"},
        {**row, "name": "Refused", "upload": "data.csv"},
    )
    entry = workspace.folder_batches()[0]
    client.post(f"/batch/{entry.id}/run", headers=ORIGIN)
    job = workspace.job(entry.id, "run")
    deadline = time.monotonic() + 5
    while job.bytes_streaming == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    live = client.get(f"/batch/{entry.id}/run.json").get_json()
    assert (live["bytes_done"], live["bytes_total"]) == (5_000, 20_000)
    assert live["bytes_text"] == "4.9 KB of 19.5 KB uploaded"
    assert live["rows"] == []  # half a file sent, no row finished yet

    gate.set()
    _wait(job)
    final = client.get(f"/batch/{entry.id}/run.json").get_json()
    assert [r["status"] for r in final["rows"]] == ["done", "failed"]
    assert final["bytes_done"] == 10_000  # the file, not the form around it
    assert final["bytes_text"] == (
        "9.8 KB of 19.5 KB uploaded; 9.8 KB not sent "
        "(a file the catalogue already holds, or a row not done)"
    )


# -- from the catalogue: export and the due report --------------------------------------

STORED = {k: v for k, v in DOCUMENT.items() if k not in ("op", "package")}


def _days_ago(days: int) -> str:
    """A timestamp as the catalogue keeps it: UTC, without a zone."""
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.fixture
def held(monkeypatch):
    """The in-memory catalogue the page reaches, holding two datasets of "water"."""
    catalogue = FakeCatalogue()
    catalogue.add_package(
        "sites",
        resources=[
            {**STORED, "name": "Sites <b>2024</b>", "resource_update_cycle": "daily"},
            {**STORED, "name": "Fresh", "last_modified": _days_ago(0)},
        ],
    )
    catalogue.packages["pkg-sites"]["resources"][0]["last_modified"] = _days_ago(30)
    catalogue.add_package("wells", resources=[{**STORED, "name": "Wells"}])
    monkeypatch.setattr(library, "connect", lambda url, key: catalogue)
    return catalogue


def test_the_page_keeps_one_catalogue_client_a_token_and_closes_them(page, held, monkeypatch):
    connected = []

    def connect(url, key):
        connected.append(key)
        return held

    monkeypatch.setattr(library, "connect", connect)
    monkeypatch.setattr(library, "who", lambda catalogue: "bcdc-editor")
    client, workspace = page(catalogue_url=held.url)
    for _ in range(2):
        client.post("/export", data={"what": "packages", "names": "sites"}, headers=ORIGIN)
        client.post("/due", data={"organizations": "water"}, headers=ORIGIN)
    client.post("/token", data={"api_key": TOKEN}, headers=ORIGIN)
    client.post("/export", data={"what": "packages", "names": "wells"}, headers=ORIGIN)

    assert connected == [None, TOKEN]  # as anyone, then with the token: once each
    workspace.close()
    assert held.closed == 2


def test_an_export_opens_as_a_batch_with_one_row_per_resource(page, held):
    client, workspace = page(catalogue_url=held.url)
    form = {"what": "packages", "names": "sites,\n wells"}
    response = client.post("/export", data=form, headers=ORIGIN)
    assert response.status_code == 303
    entry = workspace.dropped_batches()[0]
    assert entry.path.parent == workspace.dropped_folder
    assert entry.name.startswith("export-sites_wells-") and entry.ready
    body = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "3 resources of 2 datasets" in body
    assert "3 rows:" in body and "3 ready" in body
    assert "Sites &lt;b&gt;2024&lt;/b&gt;" in body and "<b>2024" not in body
    download = client.get(f"/batch/{entry.id}/batch.xlsx")
    assert download.status_code == 200 and download.data[:2] == b"PK"
    assert entry.name in download.headers["Content-Disposition"]


def test_an_export_by_organization_takes_every_dataset(page, held):
    client, workspace = page(catalogue_url=held.url)
    client.post("/export", data={"what": "organizations", "names": "water"}, headers=ORIGIN)
    assert workspace.dropped_batches()[0].checked.rows.__len__() == 3


def test_an_export_of_a_name_not_found_says_so_and_keeps_what_was_typed(page, held):
    client, workspace = page(catalogue_url=held.url)
    typed = "sites nowhere-<i>"
    response = client.post("/export", data={"names": typed}, headers=ORIGIN)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "nowhere-&lt;i&gt;" in body and "<i>" not in body
    assert 'id="export-problem"' in body and "not found" in body
    assert workspace.dropped_batches() == []


def test_export_and_due_need_a_catalogue(page):
    client, _ = page()
    body = client.get("/catalogue").get_data(as_text=True)
    assert 'id="export-button" disabled' in body and 'id="due-button" disabled' in body
    response = client.post("/due", data={"organizations": "water"}, headers=ORIGIN)
    assert response.status_code == 400
    assert b"No catalogue was chosen" in response.data


def test_the_due_report_lists_what_is_overdue_and_opens_as_a_batch(page, held):
    client, workspace = page(catalogue_url=held.url)
    response = client.post("/due", data={"organizations": "water"}, headers=ORIGIN)
    assert response.status_code == 303
    body = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "1 resource overdue." in body
    row = body.split("<tbody>")[1].split("</tr>")[0]
    assert "Sites &lt;b&gt;2024&lt;/b&gt;" in row and "<b>" not in row
    for cell in ("sites", "daily", "(last_modified)", ">29<"):
        assert cell in row, cell
    report = next(iter(workspace.due_reports.values()))
    assert report.entry is not None and report.entry.ready
    assert client.get(f"/batch/{report.entry.id}/batch.xlsx").data[:2] == b"PK"
    batch = client.get(f"/batch/{report.entry.id}").get_data(as_text=True)
    assert "1 overdue resource, a row each, ready for the new files" in batch
    assert "Due reports made on this page" in client.get("/catalogue").get_data(as_text=True)


def test_a_due_report_with_nothing_overdue_offers_no_batch(page, held):
    held.packages["pkg-sites"]["resources"].pop(0)
    client, workspace = page(catalogue_url=held.url)
    response = client.post("/due", data={"organizations": "water"}, headers=ORIGIN)
    body = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Nothing is overdue" in body and "due-download" not in body
    assert workspace.dropped_batches() == []


def test_a_batch_the_page_did_not_make_is_not_offered_as_a_download(page):
    client, workspace = page()
    write_batch(workspace.folder, DOCUMENT)
    entry = workspace.folder_batches()[0]
    assert client.get(f"/batch/{entry.id}/batch.xlsx").status_code == 404
    assert client.get("/due/nothing").status_code == 404


def test_an_export_with_nothing_in_it_says_so(page, held):
    held.add_organization("empty")
    held.add_package("bare")
    client, workspace = page(catalogue_url=held.url)
    for what, names, said in (
        ("organizations", "empty", "These organizations hold no dataset"),
        ("packages", "bare", "These datasets hold no resource"),
    ):
        response = client.post("/export", data={"what": what, "names": names}, headers=ORIGIN)
        assert response.status_code == 400
        assert f"{said}: there is nothing to export." in response.get_data(as_text=True)
    assert workspace.dropped_batches() == [] and list(workspace.dropped_folder.iterdir()) == []


def test_a_due_report_over_a_date_at_the_end_of_the_calendar_is_a_page_not_an_error(page, held):
    held.packages["pkg-wells"]["resources"][0].update(
        resource_update_cycle="monthly", last_modified="9999-12-31T00:00:00"
    )
    client, _ = page(catalogue_url=held.url)
    response = client.post("/due", data={"organizations": "water"}, headers=ORIGIN)
    assert response.status_code == 303
    body = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "1 resource overdue." in body and "Wells" not in body


@pytest.mark.parametrize(
    "next_page",
    [
        "/\t/evil.example",
        "/\n/evil.example",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "/ /x",
    ],
)
def test_the_token_form_returns_only_to_a_page_of_this_site(page, next_page, monkeypatch):
    monkeypatch.setattr(library, "who", lambda catalogue: "bcdc-editor")
    client, _ = page(catalogue_url="http://127.0.0.1:9")
    response = client.post("/token", data={"api_key": TOKEN, "next": next_page}, headers=ORIGIN)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_the_token_form_returns_to_the_page_it_was_sent_from(page, monkeypatch):
    monkeypatch.setattr(library, "who", lambda catalogue: "bcdc-editor")
    client, _ = page(catalogue_url="http://127.0.0.1:9")
    response = client.post(
        "/token", data={"api_key": TOKEN, "next": "/batch/abc-1#run"}, headers=ORIGIN
    )
    assert response.headers["Location"] == "/batch/abc-1#run"


def test_a_page_for_a_catalogue_over_plain_http_says_why_the_token_is_not_kept(page):
    remote = "http://192.0.2.1:5000"
    client, workspace = page(catalogue_url=remote, api_key=TOKEN)  # the token from the shell
    first = client.get("/")
    assert first.status_code == 200
    assert "plain http" in first.get_data(as_text=True)
    assert not workspace.access.has_token
    sent = client.post("/token", data={"api_key": TOKEN}, headers=ORIGIN)
    assert sent.status_code == 303
    body = client.get("/").get_data(as_text=True)
    assert "plain http" in body and TOKEN not in body
    assert not workspace.access.has_token


# -- the command line's options on the page: sheet, schema, workers ---------------------


def _two_sheets(folder):
    """A workbook whose first sheet is notes; the batch is on sheet 'Resources'."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "Notes"
    wb.active.append(["Read me first"])
    ws = wb.create_sheet("Resources")
    ws.append(list(DOCUMENT))
    ws.append(list(DOCUMENT.values()))
    ws.append([*list(DOCUMENT.values())[:2], "Other", *list(DOCUMENT.values())[3:]])
    wb.save(folder / "two.xlsx")
    return folder / "two.xlsx"


def test_the_sheet_to_read_is_chosen_on_the_page(page):
    client, workspace = page()
    _two_sheets(workspace.folder)
    entry = workspace.folder_batches()[0]
    first = client.get(f"/batch/{entry.id}").get_data(as_text=True)
    assert "sheet 'Notes' of two.xlsx cannot be used" in entry.unreadable  # the first: notes
    assert '<option value="Resources"' in first

    chosen = client.post(
        f"/batch/{entry.id}/options",
        data={"sheet": "Resources", "schema": "bundled"},
        headers=ORIGIN,
    )

    assert chosen.status_code == 303
    assert entry.ready and entry.checked.sheet == "Resources"
    body = client.get(f"/batch/{entry.id}").get_data(as_text=True)
    assert "2 rows:" in body and "sheet 'Resources'" in body
    assert '<option value="Resources" selected>' in body


def test_the_live_schema_needs_a_catalogue_and_is_read_from_it(page, monkeypatch):
    client, workspace = page()
    entry = _ready_batch(workspace)
    refused = client.post(f"/batch/{entry.id}/options", data={"schema": "live"}, headers=ORIGIN)
    assert refused.status_code == 400 and b"start bcdc-loader serve with --ckan" in refused.data
    assert entry.schema == "bundled"

    read = []

    def live(catalogue):
        read.append(catalogue.url)
        from loader.schema import load_schema

        return load_schema()

    monkeypatch.setattr(library, "live_schema", live)
    client, workspace = page(catalogue_url="http://127.0.0.1:9")
    entry = _ready_batch(workspace)
    for _ in range(2):
        assert (
            client.post(
                f"/batch/{entry.id}/options", data={"schema": "live"}, headers=ORIGIN
            ).status_code
            == 303
        )
    assert entry.schema == "live" and entry.ready
    assert read == ["http://127.0.0.1:9"]  # read once
    assert "against the catalogue&#39;s live schema" in client.get(f"/batch/{entry.id}").get_data(
        as_text=True
    )


@pytest.mark.parametrize("typed", ["0", "17", "two", "1.5", ""])
def test_workers_outside_the_command_lines_limits_are_refused(page, monkeypatch, typed):
    fake, calls = _fake_run()
    monkeypatch.setattr(library, "run", fake)
    monkeypatch.setattr(library, "who", lambda catalogue: "bcdc-editor")
    client, workspace = page(catalogue_url="http://127.0.0.1:9", api_key=TOKEN)
    entry = _ready_batch(workspace)

    refused = client.post(f"/batch/{entry.id}/run", data={"jobs": typed}, headers=ORIGIN)

    assert refused.status_code == 409
    assert b"Workers: a whole number from 1 to 16" in refused.data
    assert calls == []


def test_a_run_takes_the_workers_given_and_says_so(page, monkeypatch):
    given = []
    fake, _ = _fake_run()

    def run(path, catalogue, options, job, result_path):
        given.append((options.jobs, options.dry_run))
        return fake(path, catalogue, options, job, result_path)

    monkeypatch.setattr(library, "run", run)
    monkeypatch.setattr(library, "who", lambda catalogue: "bcdc-editor")
    client, workspace = page(catalogue_url="http://127.0.0.1:9", api_key=TOKEN)
    entry = _ready_batch(workspace)
    body = client.get(f"/batch/{entry.id}").get_data(as_text=True)
    assert 'name="jobs" min="1" max="16" step="1" value="1"' in body  # --jobs' default

    client.post(f"/batch/{entry.id}/run", data={"jobs": "4"}, headers=ORIGIN)
    _wait(workspace.job(entry.id, "run"))
    client.post(f"/batch/{entry.id}/preview", headers=ORIGIN)
    _wait(workspace.job(entry.id, "preview"))

    assert given == [(4, False), (1, True)]  # a preview writes nothing: one at a time
    summary = client.get(f"/batch/{entry.id}/run.json").get_json()["summary"]
    assert summary.startswith("Run (4 workers) finished in ")


def test_a_warning_is_shown_on_its_cell_and_the_batch_stays_ready(page):
    client, workspace = page()
    (workspace.folder / "sites.csv").write_bytes(b"site,name\n1,Victoria\n2,Caf\xe9 du lac\n")
    row = {**DOCUMENT, "upload": "sites.csv"}
    del row["url"]
    write_batch(workspace.folder, row)
    entry = workspace.folder_batches()[0]

    body = client.get(f"/batch/{entry.id}").get_data(as_text=True)

    assert entry.ready
    assert '<td class="warning" data-column="upload">' in body
    assert "upload-other-encoding" in body and "(warning)" in body
    assert "1 row:" in body and "1 ready" in body and "1 warning" in body
    assert 'class="problem"' not in body


def test_a_preview_counts_its_rows_by_what_they_would_do():
    job = Job("preview", "b1", rows=[2, 3, 4], sizes={})
    job.begin(3)
    for row, operation in ((2, "noop"), (3, "noop"), (4, "patch")):
        job.finished_row(RowOutcome(row, "not run", "", "", None, operation=operation))
    job.end("finished")
    assert job.snapshot()["summary"].endswith(": 2 would change nothing, 1 would be patched.")
