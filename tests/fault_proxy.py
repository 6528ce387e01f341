"""A small HTTP proxy that sits in front of the local catalogue and misbehaves on cue.

Tests point the loader at `proxy.url`; every request is passed to the
catalogue unless a fault is queued for its action:

- `busy(action, status=503, retry_after=None)`: answer with that status without
  passing the request on (the catalogue never sees it);
- `lose_answer(action)`: pass the request on, let the catalogue save it, then
  close the connection without answering;
- `go_away()`: stop listening, so that new connections are refused (the
  catalogue is gone); `come_back()` listens again on the same port;
- `delay`: seconds to wait before passing each request on (to stop a run midway);
- `before(action, call)`: call `call()` before passing the next request of that
  action on (to let something happen in the catalogue between two requests).

Test infrastructure only; it listens on the loopback address.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class FaultProxy:
    def __init__(self, upstream: str, port: int = 0):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.faults: dict[str, deque[tuple[str, int, float | None]]] = defaultdict(deque)
        self.seen: list[str] = []  # actions in the order they arrived
        self.delay = 0.0
        self.hooks: dict[str, deque[Callable[[], object]]] = defaultdict(deque)
        self._lock = threading.Lock()
        # requests on their way to the catalogue: one cut off by go_away still arrives
        self._forwarding = 0
        self._forwarded = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self.port = port
        self.come_back()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def busy(self, action: str, status: int = 503, retry_after: float | None = None) -> None:
        self.faults[action].append(("busy", status, retry_after))

    def before(self, action: str, call: Callable[[], object]) -> None:
        self.hooks[action].append(call)

    def lose_answer(self, action: str) -> None:
        self.faults[action].append(("lose", 0, None))

    def go_away(self) -> None:
        """Stop listening and drop the connections kept open (the catalogue is gone)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._connections.clear()

    def come_back(self) -> None:
        """Listen again, once the requests cut off by go_away have reached the catalogue
        (else one could be saved after a resume has looked for it, and be made twice)."""
        with self._forwarded:
            self._forwarded.wait_for(lambda: self._forwarding == 0, timeout=60)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy._handle(self)

            def do_POST(self) -> None:
                proxy._handle(self)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def _next_fault(self, action: str) -> tuple[str, int, float | None] | None:
        with self._lock:
            self.seen.append(action)
            queue = self.faults.get(action)
            return queue.popleft() if queue else None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self._connections.add(handler.connection)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        action = handler.path.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        fault = self._next_fault(action)
        if fault and fault[0] == "busy":
            _answer(handler, fault[1], b'{"success": false}', fault[2])
            return
        with self._lock:
            self._forwarding += 1
        try:
            time.sleep(self.delay)
            with self._lock:
                hooks = self.hooks.get(action)
                hook = hooks.popleft() if hooks else None
            if hook is not None:
                hook()
            status, headers, data = self._forward(handler, body)
        finally:
            with self._forwarded:
                self._forwarding -= 1
                self._forwarded.notify_all()
        if fault and fault[0] == "lose":
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        handler.send_response(status)
        for key, value in headers:
            if key.lower() not in _HOP_BY_HOP:
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _forward(
        self, handler: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=300)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        connection.request(handler.command, handler.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, response.getheaders(), data


def _answer(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, retry_after: float | None
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    if retry_after is not None:
        handler.send_header("Retry-After", f"{retry_after:g}")
    handler.end_headers()
    handler.wfile.write(body)
