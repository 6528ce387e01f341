"""The catalogue client's own behaviour, against small local sockets (no CKAN needed)."""

from __future__ import annotations

import socket

import pytest
from servers import loopback_server

from loader.client import Catalogue, Unreachable, catalogue_url, is_production


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
    from loader import client

    monkeypatch.setattr(client, "SEARCH_PAGE", 2)
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
    from loader.client import FileChanged, _SteadyFile

    path = tmp_path / "growing-log.csv"
    path.write_bytes(b"x" * 100_000)
    with path.open("rb") as stream:
        steady = _SteadyFile(stream, path)
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
