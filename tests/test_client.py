"""The catalogue client's own behaviour, against small local sockets (no CKAN needed)."""

from __future__ import annotations

import socket
import threading

import pytest

from loader.client import Catalogue, Unreachable, catalogue_url, is_production


@pytest.fixture
def hangs_up():
    """A server that reads a request and closes the connection without answering."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    server.close()


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
