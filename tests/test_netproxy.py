"""The benchmarks' network proxy: a delay per request, one uplink shared by all.

Timing assertions are bounded below by arithmetic (a proxy can make a request
slower than asked, never faster) and above only generously, so a busy machine
does not fail them.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import netproxy  # noqa: E402


class _Upstream(BaseHTTPRequestHandler):
    """Answers with the size and SHA-256 of the body it read (plain or chunked)."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._answer({"path": self.path})

    def do_POST(self) -> None:
        digest, size = hashlib.sha256(), 0
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            while length := int(self.rfile.readline().split(b";")[0], 16):
                piece = self.rfile.read(length)
                digest.update(piece)
                size += len(piece)
                self.rfile.readline()
            self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                piece = self.rfile.read(min(1 << 16, left))
                digest.update(piece)
                size += len(piece)
                left -= len(piece)
        self._answer({"size": size, "sha256": digest.hexdigest()})

    def _answer(self, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_uplink_is_one_queue_at_its_rate() -> None:
    link = netproxy.Uplink(1000.0)  # bytes a second
    assert link.reserve(500, now=0.0) == pytest.approx(0.5)
    # queued behind the first piece, whoever sends it
    assert link.reserve(500, now=0.1) == pytest.approx(1.0)
    # time the link stood idle is not saved up for a burst
    assert link.reserve(100, now=5.0) == pytest.approx(5.1)
    assert netproxy.Uplink(None).reserve(10**9, now=2.0) == 2.0


def test_every_request_waits_the_delay_and_the_connection_is_kept(upstream: str) -> None:
    with netproxy.running(upstream, delay=0.1, up_mbit=None) as proxy, requests.Session() as s:
        for n in range(4):
            started = time.perf_counter()
            answer = s.get(f"{proxy.url}/api/3/action/status_show?n={n}", timeout=10)
            took = time.perf_counter() - started
            assert answer.json() == {"path": f"/api/3/action/status_show?n={n}"}
            assert 0.1 <= took < 5
    assert [r["action"] for r in proxy.requests] == ["status_show"] * 4
    assert {r["connection"] for r in proxy.requests} == {1}  # one kept connection, 4 requests


def test_uploads_at_once_share_the_uplink_and_arrive_whole(upstream: str) -> None:
    body = os.urandom(500_000)
    answers: list[dict[str, object]] = []

    def upload(chunked: bool) -> None:
        data = (body[i : i + 50_000] for i in range(0, len(body), 50_000)) if chunked else body
        answer = requests.post(f"{proxy.url}/upload", data=data, timeout=30)
        answers.append(answer.json())

    # 8 Mbit/s is 1,000,000 bytes a second: two uploads of 500,000 bytes take a
    # second together, however they share it (alone, each would take half).
    with netproxy.running(upstream, delay=0.0, up_mbit=8) as proxy:
        started = time.perf_counter()
        uploads = [threading.Thread(target=upload, args=(chunked,)) for chunked in (False, True)]
        for thread in uploads:
            thread.start()
        for thread in uploads:
            thread.join()
        took = time.perf_counter() - started
    expected = {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    assert answers == [expected, expected]
    assert 0.95 <= took < 10
    assert sorted(r["up"] for r in proxy.requests) == [len(body)] * 2


def test_a_large_upload_streams_through_the_proxy_process(upstream: str) -> None:
    script = Path(netproxy.__file__)
    child = subprocess.Popen(
        [sys.executable, str(script), "--upstream", upstream, "--delay-ms", "0", "--up-mbit", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    url = child.stdout.readline().split()[-1]
    piece = os.urandom(1 << 20)
    try:
        answer = requests.post(f"{url}/upload", data=(piece for _ in range(256)), timeout=120)
        # the peak of the proxy's own memory (rusage would count the test process's
        # too: a child started by vfork and exec inherits its parent's peak)
        status = Path(f"/proc/{child.pid}/status").read_text()
        peak_kib = int(status.split("VmHWM:")[1].split()[0])
    finally:
        child.terminate()
        child.wait(10)
    assert answer.json()["size"] == 256 << 20
    assert child.returncode == 0
    # 256 MiB went through; the proxy process never held more than a few pieces of it
    assert peak_kib < 64 << 10
