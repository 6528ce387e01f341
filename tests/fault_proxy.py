"""A small HTTP proxy that sits in front of the local catalogue and misbehaves on cue.

Tests point the loader at `proxy.url`; every request is passed to the
catalogue unless a fault is queued for its action (and, when the fault names
a `marker`, the request's body holds it: a way to fault one row's call):

- `answer(action, status, body, content_type, retry_after, forward)`: answer
  with that status and body; with `forward`, only after passing the request on
  and letting the catalogue act on it (a server failing after saving), else
  without passing it on (the catalogue never sees it);
- `busy(action, status=503, retry_after=None)`: the same, with a small JSON body;
- `reset(action)`: read the request, then reset the connection without passing
  it on;
- `lose_answer(action)`: pass the request on, let the catalogue save it, then
  close the connection without answering;
- `hang(action, seconds)`: pass the request on, let the catalogue save it, then
  wait `seconds` before answering (past the client's read timeout);
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
import struct
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass(frozen=True)
class Fault:
    """What to do to one request of an action."""

    kind: str  # "answer", "reset", "lose" or "hang"
    status: int = 0
    body: bytes = b""
    content_type: str = ""
    retry_after: float | None = None
    forward: bool = False  # pass the request on first (the catalogue acts)
    seconds: float = 0.0
    marker: bytes | None = None  # only a request whose body holds this


class FaultProxy:
    def __init__(self, upstream: str, port: int = 0):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.faults: dict[str, deque[Fault]] = defaultdict(deque)
        self.seen: list[str] = []  # actions in the order they arrived
        self.requests: list[tuple[str, bytes]] = []  # (action, body), in the order they arrived
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

    def answer(
        self,
        action: str,
        status: int,
        body: bytes = b"",
        content_type: str = "",
        retry_after: float | None = None,
        *,
        forward: bool = False,
        marker: bytes | None = None,
    ) -> None:
        self.faults[action].append(
            Fault("answer", status, body, content_type, retry_after, forward, marker=marker)
        )

    def busy(self, action: str, status: int = 503, retry_after: float | None = None) -> None:
        self.answer(action, status, b'{"success": false}', "application/json", retry_after)

    def reset(self, action: str, marker: bytes | None = None) -> None:
        self.faults[action].append(Fault("reset", marker=marker))

    def lose_answer(self, action: str, marker: bytes | None = None) -> None:
        self.faults[action].append(Fault("lose", forward=True, marker=marker))

    def hang(self, action: str, seconds: float, marker: bytes | None = None) -> None:
        self.faults[action].append(Fault("hang", forward=True, seconds=seconds, marker=marker))

    def before(self, action: str, call: Callable[[], object]) -> None:
        self.hooks[action].append(call)

    def sent(self, action: str, marker: bytes) -> int:
        """How many requests of `action` whose body holds `marker` arrived."""
        with self._lock:
            return sum(a == action and marker in body for a, body in self.requests)

    def faults_left(self) -> list[Fault]:
        """Faults queued that no request has met yet."""
        with self._lock:
            return [fault for queue in self.faults.values() for fault in queue]

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

    def _next_fault(self, action: str, body: bytes) -> Fault | None:
        """The first fault queued for this action that this request matches (taken off)."""
        with self._lock:
            self.seen.append(action)
            self.requests.append((action, body))
            queue = self.faults.get(action) or deque()
            for fault in queue:
                if fault.marker is None or fault.marker in body:
                    queue.remove(fault)
                    return fault
            return None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self._connections.add(handler.connection)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        action = handler.path.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        fault = self._next_fault(action, body)
        if fault and fault.kind == "reset":
            _reset(handler)
            return
        if fault and fault.kind == "answer" and not fault.forward:
            _answer(handler, fault)
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
        if fault and fault.kind == "lose":
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault and fault.kind == "hang":
            time.sleep(fault.seconds)  # the client has given up by now
        if fault and fault.kind == "answer":
            _answer(handler, fault)
            return
        with contextlib.suppress(OSError):  # a client that gave up has closed its end
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


def _answer(handler: BaseHTTPRequestHandler, fault: Fault) -> None:
    handler.send_response(fault.status)
    if fault.content_type:
        handler.send_header("Content-Type", fault.content_type)
    handler.send_header("Content-Length", str(len(fault.body)))
    if fault.retry_after is not None:
        handler.send_header("Retry-After", f"{fault.retry_after:g}")
    handler.end_headers()
    handler.wfile.write(fault.body)


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Reset the connection (RST, not a polite close): the client sees it torn down."""
    handler.close_connection = True
    connection = handler.connection
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()
