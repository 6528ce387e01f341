"""The catalogue client's own behaviour, against small local sockets (no CKAN needed)."""

from __future__ import annotations

import socket

import pytest
from servers import loopback_server

from loader.client import (
    Busy,
    Catalogue,
    CatalogueError,
    Invalid,
    NotAuthorized,
    NotFound,
    UnknownAction,
    Unreachable,
    catalogue_url,
    is_production,
)


@pytest.fixture
def hangs_up():
    """A server that reads a request and closes the connection without answering."""
    with loopback_server(lambda conn: conn.recv(65536)) as url:
        yield url


def test_a_write_cut_off_after_sending_may_have_been_saved(hangs_up):
    with pytest.raises(Unreachable) as cut:
        Catalogue(hangs_up, "token").call("resource_create", {"package_id": "x"})
    assert cut.value.maybe_saved is True


def test_a_refused_connection_sent_nothing():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    waits: list[float] = []
    with pytest.raises(Unreachable) as refused:
        Catalogue(f"http://127.0.0.1:{port}", "token", sleep=waits.append).call(
            "resource_create", {}
        )
    assert refused.value.maybe_saved is False
    assert len(waits) == 4  # nothing was sent, so even a write is tried again


def test_the_token_never_shows_in_the_clients_repr():
    assert "s3cret" not in repr(Catalogue("https://cat.example", "s3cret"))


def test_catalogue_names():
    assert catalogue_url("prod") == "https://catalogue.data.gov.bc.ca"
    assert catalogue_url("TEST") == "https://cat.data.gov.bc.ca"
    assert catalogue_url("http://127.0.0.1:5055/") == "http://127.0.0.1:5055"
    assert is_production(catalogue_url("prod")) and not is_production(catalogue_url("test"))
    with pytest.raises(ValueError):
        catalogue_url("catalogue.data.gov.bc.ca")


def test_organization_packages_pages_through_the_search(monkeypatch):
    from loader.client import api

    monkeypatch.setattr(api, "SEARCH_PAGE", 2)
    datasets = [{"id": f"p{i}", "name": f"d{i}"} for i in range(5)]
    asked = []

    def read(self, action, data):
        asked.append((action, data["fq"], data["include_private"], data["start"], data["rows"]))
        page = datasets[data["start"] : data["start"] + data["rows"]]
        return {"count": len(datasets), "results": page}

    monkeypatch.setattr(Catalogue, "read", read)

    found = Catalogue("http://localhost:1").organization_packages("org-1")

    assert found == datasets
    assert [a[3] for a in asked] == [0, 2, 4]
    assert asked[0][:3] == ("package_search", "owner_org:org-1", True)


def test_upload_limits_of_the_bcdc_hosts():
    from loader.client import upload_limit

    assert upload_limit(catalogue_url("prod")) == upload_limit(catalogue_url("test")) == 150 << 20
    assert upload_limit("http://127.0.0.1:5055") is None


def test_an_upload_whose_file_shrinks_while_it_is_sent_fails_at_once(tmp_path):
    """Not a wait for bytes that never come: the read that finds the file short fails."""
    from loader.client.transport import FileChanged, SteadyFile

    path = tmp_path / "growing-log.csv"
    path.write_bytes(b"x" * 100_000)
    with path.open("rb") as stream:
        steady = SteadyFile(stream, path)
        assert len(steady.read(40_000)) == 40_000
        path.write_bytes(b"x" * 50_000)  # another program rewrites the file meanwhile
        with pytest.raises(FileChanged, match="changed while it was being sent"):
            while steady.read(8_192):
                pass


def test_a_file_gone_before_its_upload_is_a_failed_row_not_a_traceback(tmp_path, hangs_up):
    from loader.client import UploadFailed

    missing = tmp_path / "gone.csv"
    with pytest.raises(UploadFailed, match="cannot read the file"):
        Catalogue(hangs_up, "token").write_resource("resource_create", {"name": "x"}, missing)


# -- every answer that is not a success is one of the client's errors -----------------

SUCCESS = (200, "application/json", '{"success": true, "result": {"id": "r1"}}')


@pytest.fixture
def answers():
    """A server giving the answers put in `script` in turn, the last one for ever after;
    each is (status, content type, body[, extra headers])."""
    script: list[tuple] = []
    asked: list[bytes] = []

    def answer(conn):
        asked.append(conn.recv(65536))
        status, content_type, body, *extra = script.pop(0) if len(script) > 1 else script[0]
        headers = "".join(f"{k}: {v}\r\n" for k, v in (extra[0] if extra else {}).items())
        data = body.encode()
        conn.sendall(
            f"HTTP/1.1 {status} Whatever\r\nContent-Type: {content_type}\r\n{headers}"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )

    with loopback_server(answer) as url:
        yield url, script, asked


HTML = "<html><body><h1>Service Unavailable</h1></body></html>"


@pytest.mark.parametrize(
    "status, content_type, body",
    [
        (429, "application/json", '{"error": "busy"}'),
        (429, "text/html", HTML),
        (503, "application/json", '{"message": "try later"}'),
        (503, "text/plain", ""),
    ],
)
def test_a_busy_answer_of_any_shape_is_tried_again_after_its_retry_after(
    answers, status, content_type, body
):
    url, script, asked = answers
    script += [(status, content_type, body, {"Retry-After": "2"}), SUCCESS]
    waits: list[float] = []

    answer = Catalogue(url, "token", sleep=waits.append).call("resource_create", {"name": "x"})

    assert answer == {"id": "r1"}
    assert waits == [2.0]  # once, as long as Retry-After asked
    assert len(asked) == 2


def test_a_write_answered_busy_every_time_ends_busy_never_unexpected(answers):
    url, script, asked = answers
    script.append((429, "application/json", '{"error": "busy"}', {"Retry-After": "1"}))
    waits: list[float] = []
    with pytest.raises(Busy) as busy:
        Catalogue(url, "token", sleep=waits.append).call("resource_create", {"name": "x"})
    assert "busy (HTTP 429)" in busy.value.message and busy.value.retry_after == 1.0
    assert waits == [1.0] * 4 and len(asked) == 5


@pytest.mark.parametrize(
    "status, content_type, body, kind, words",
    [
        (502, "text/html", HTML, Unreachable, "HTTP 502 from its gateway"),
        (504, "text/plain", "", Unreachable, "HTTP 504 from its gateway"),
        (500, "text/html", HTML, CatalogueError, "HTTP 500 Internal Server Error (an HTML page)"),
        (500, "application/json", "{}", CatalogueError, "HTTP 500 Internal Server Error (JSON"),
        (500, "application/json", '{"error": "oops"}', CatalogueError, "HTTP 500: oops"),
        (413, "text/html", HTML, CatalogueError, "HTTP 413 Request Entity Too Large"),
        (413, "text/plain", "", CatalogueError, "(an empty answer)"),
        (200, "text/html", HTML, CatalogueError, "HTTP 200 OK (an HTML page)"),
        (200, "application/json", '{"success": false}', CatalogueError, "HTTP 200 OK (JSON"),
        (
            409,
            "application/json",
            '{"success": false, "error": {"__type": "Validation Error", "name": ["Missing"]}}',
            Invalid,
            "name: Missing",
        ),
        (
            404,
            "application/json",
            '{"success": false, "error": {"__type": "Not Found Error", "message": "Not found: x"}}',
            NotFound,
            "not found (x)",
        ),
        (
            403,
            "application/json",
            '{"success": false, "error": {"__type": "Authorization Error", "message": "no"}}',
            NotAuthorized,
            "not authorized (no)",
        ),
        (
            400,
            "application/json",
            '{"success": false, "error": {"__type": "Bad request", "message": "Bad request - '
            'Action name not known: z"}}',
            CatalogueError,
            "HTTP 400: Bad request - Action name not known: z",
        ),
        (  # what CKAN 2.10 and 2.12 really answer for an action they do not have
            400,
            "application/json;charset=utf-8",
            '"Bad request: Action name not known: update_resource_refresh_timestamp"',
            UnknownAction,
            "the catalogue has no such action",
        ),
    ],
)
def test_every_other_answer_shape_is_one_of_the_clients_errors(
    answers, status, content_type, body, kind, words
):
    url, script, _ = answers
    script.append((status, content_type, body))
    with pytest.raises(CatalogueError) as error:
        Catalogue(url, "token", sleep=lambda s: None).call("resource_create", {"name": "x"})
    assert type(error.value) is kind
    assert words in error.value.message
    # field errors go on their columns, the rest names the call
    assert kind is Invalid or error.value.message.startswith("resource_create: ")


def test_a_busy_answer_fails_a_row_as_no_other_error_never_as_unexpected(answers, tmp_path):
    """Through the executor: the row's code is the catalogue's answer, not a crash."""
    from loader.model import Status
    from loader.pipeline.execute import execute
    from loader.pipeline.operations import Action, Operation, Plan

    url, script, _ = answers
    script.append((429, "application/json", '{"error": "busy"}'))
    operation = Operation(1, Action.CREATE, "p1", "sites", "bcdc_dataset", None, "Sites",
                          fields={"name": "Sites", "url": "https://example.com/s"})  # fmt: skip

    (outcome,) = execute(Plan([operation], []), Catalogue(url, "token", sleep=lambda s: None))

    assert outcome.status == Status.FAILED
    assert outcome.code == "catalogue-error" and "busy (HTTP 429)" in outcome.error


def test_a_catalogue_closes_its_sessions(answers):
    url, script, _ = answers
    script.append(SUCCESS)
    with Catalogue(url) as catalogue:
        catalogue.call("status_show")
        sessions = list(catalogue._transport._clients.values())
        assert len(sessions) == 1
    assert catalogue._transport._clients == {}
    assert sessions[0].session is None  # ckanapi's close drops the closed session


def test_a_catalogue_without_the_refresh_action_gets_a_patch_of_last_modified(answers):
    """A plain CKAN answers the BC Data Catalogue's custom action with a bare JSON string."""
    url, script, asked = answers
    script.append(
        (400, "application/json", '"Bad request: Action name not known: update_resource_r"')
    )
    script.append(
        (200, "application/json", '{"success": true, "result": {"id": "r1", "last_modified": '
         '"2026-12-03T08:00:00"}}')
    )  # fmt: skip
    catalogue = Catalogue(url, "token", sleep=lambda s: None)
    stamped = catalogue.touch_resource("r1", "2026-12-03T08:00:00")
    assert stamped["last_modified"] == "2026-12-03T08:00:00"
    assert b"/update_resource_refresh_timestamp " in asked[0]
    assert b"/resource_patch " in asked[1]
