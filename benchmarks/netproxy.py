#!/usr/bin/env python3
"""A network between a client and the local catalogue: a round trip per request,
and an office uplink.

    python benchmarks/netproxy.py --upstream http://127.0.0.1:5055 [--delay-ms 40]
        [--up-mbit 50] [--connect-delay-ms 0] [--port 0] [--log requests.jsonl]

It prints `listening on http://127.0.0.1:PORT` and passes every HTTP request
on to the upstream catalogue, after two changes that make loopback look like
an editor's machine reaching the catalogue across a network:

- every request waits a fixed delay (default 40 ms, a round trip): half
  before it is passed on, half before its answer comes back, as a request
  and its answer each cross the network once;
- request bodies (uploads) cross one uplink of a fixed rate (default
  50 Mbit/s), shared by every connection: two uploads at once each get half.
  Answers come back at loopback speed (downloads are not what a refresh is
  made of).

The delay belongs to the request, not to the connection: a client that keeps
its connection open (requests' sessions do, as a browser does) pays it once
per request, as on a real network; a new connection can be charged a
handshake on top (`--connect-delay-ms`, default 0). The client's connection
is kept open even when the catalogue's server closes its own after each
answer (gunicorn's sync workers do), as the reverse proxy in front of a
production catalogue keeps it.

Bodies are streamed in 64 KiB pieces in both directions, never held whole.
With `--log`, each request is written as a JSON line when its answer has
been passed back: connection number, method, path, action, content type,
bytes up and down, status, when it arrived and how long it took. Standard
library only; for benchmarks, on the loopback address.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

PIECE = 64 << 10  # bytes moved at a time
HEAD_LIMIT = 256 << 10  # the longest request or answer head taken
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection"}


class Uplink:
    """One link of a fixed rate shared by everything sent on it.

    Each piece queued is given the time at which its last byte will have
    crossed: after everything queued before it, at `rate` bytes a second. Time
    the link stood idle is not banked, so there are no bursts above the rate.
    """

    def __init__(self, rate: float | None):
        self.rate = rate  # bytes per second; None or 0: no limit
        self._free_at = 0.0

    def reserve(self, size: int, now: float) -> float:
        """When `size` bytes queued at `now` will have crossed the link."""
        if not self.rate:
            return now
        self._free_at = max(now, self._free_at) + size / self.rate
        return self._free_at


@dataclass
class Head:
    """The first line and headers of a request or an answer."""

    first: str
    headers: list[tuple[str, str]]

    def get(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def tokens(self, name: str) -> set[str]:
        return {t.strip().lower() for t in (self.get(name) or "").split(",") if t.strip()}

    def encode(self, connection: str) -> bytes:
        kept = [(k, v) for k, v in self.headers if k.lower() not in _HOP_BY_HOP]
        lines = [self.first, *(f"{k}: {v}" for k, v in kept), f"Connection: {connection}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def read_head(reader: asyncio.StreamReader) -> Head | None:
    """The next head on a connection; None when the peer closed it cleanly."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if error.partial.strip():
            raise ConnectionError("the connection closed inside a head") from None
        return None
    lines = raw.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return Head(lines[0], headers)


class NetProxy:
    """The proxy: call `start()` in a running event loop, then `url` is where to send."""

    def __init__(
        self,
        upstream: str,
        *,
        delay: float = 0.040,
        up_mbit: float | None = 50.0,
        connect_delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        log: IO[str] | None = None,
    ):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.delay = delay
        self.connect_delay = connect_delay
        self.uplink = Uplink(up_mbit * 1e6 / 8 if up_mbit else None)
        self.host, self.port = host, port
        self.log = log
        self.requests: list[dict[str, Any]] = []  # what `log` gets, kept in memory too
        self._connections = 0
        self._server: asyncio.Server | None = None
        self._serving: set[asyncio.Task[None]] = set()  # one per client connection

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=HEAD_LIMIT
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and end every connection (idle kept ones included)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in self._serving:
            task.cancel()
        await asyncio.gather(*self._serving, return_exceptions=True)

    async def _serve(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter):
        self._connections += 1
        number = self._connections
        task = asyncio.current_task()
        assert task is not None
        self._serving.add(task)
        try:
            if self.connect_delay:
                await asyncio.sleep(self.connect_delay)
            while await self._exchange(number, client_in, client_out):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        except asyncio.CancelledError:  # the proxy is stopping: an idle connection ends
            return
        finally:
            client_out.close()
            self._serving.discard(task)

    async def _exchange(
        self, number: int, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> bool:
        """Pass one request on and its answer back; whether the client's connection stays.

        Each request gets a connection of its own to the catalogue (on loopback
        that costs a fraction of a millisecond), so a connection the catalogue
        closed while idle is never written to."""
        request = await read_head(client_in)
        if request is None:
            return False
        started, at = time.monotonic(), time.time()
        await asyncio.sleep(self.delay / 2)  # the request crossing
        up_in, up_out = await asyncio.open_connection(*self.upstream, limit=HEAD_LIMIT)
        try:
            up_out.write(request.encode("close"))
            sent = await self._body(request, client_in, up_out, self.uplink)
            answer = await read_head(up_in)
            if answer is None:
                raise ConnectionError("the catalogue closed the connection without answering")
            await asyncio.sleep(self.delay / 2)  # the answer crossing
            keep = _keeps_alive(request)
            client_out.write(_reframed(answer, request).encode("keep-alive" if keep else "close"))
            received = await self._answer_body(request, answer, up_in, client_out)
        finally:
            up_out.close()
        self._record(number, request, answer, sent, received, started, at)
        return keep

    async def _body(
        self,
        head: Head,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        link: Uplink | None,
    ) -> int:
        """Pass a request's body on, through `link`; returns its size in bytes."""
        if "chunked" in head.tokens("transfer-encoding"):
            return await _copy_chunked(source, sink, link)
        return await _copy(source, sink, int(head.get("content-length") or 0), link)

    async def _answer_body(
        self, request: Head, answer: Head, source: asyncio.StreamReader, sink: asyncio.StreamWriter
    ) -> int:
        if not _has_body(request, answer):
            await sink.drain()
            return 0
        if "chunked" in answer.tokens("transfer-encoding"):
            return await _copy_chunked(source, sink, None)
        if answer.get("content-length") is not None:
            return await _copy(source, sink, int(answer.get("content-length") or 0), None)
        # no length: the body ends when the catalogue closes; the client gets it chunked
        size = 0
        while piece := await source.read(PIECE):
            size += len(piece)
            sink.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await sink.drain()
        sink.write(b"0\r\n\r\n")
        await sink.drain()
        return size

    def _record(
        self,
        number: int,
        request: Head,
        answer: Head,
        sent: int,
        received: int,
        started: float,
        at: float,
    ) -> None:
        method, _, rest = request.first.partition(" ")
        path = rest.rsplit(" ", 1)[0]
        action = path.split("?")[0].rsplit("/", 1)[-1] if "/api/" in path else ""
        record = {
            "connection": number,
            "method": method,
            "path": path,
            "action": action,
            "type": (request.get("content-type") or "").split(";")[0].strip(),
            "up": sent,
            "down": received,
            "status": int(answer.first.split()[1]),
            "at": round(at, 4),  # when the request arrived (seconds since the epoch)
            "seconds": round(time.monotonic() - started, 4),
        }
        self.requests.append(record)
        if self.log is not None:
            self.log.write(json.dumps(record) + "\n")
            self.log.flush()


def _keeps_alive(head: Head) -> bool:
    if "close" in head.tokens("connection"):
        return False
    return not head.first.upper().startswith("HTTP/1.0") and " HTTP/1.0" not in head.first


def _has_body(request: Head, answer: Head) -> bool:
    status = int(answer.first.split()[1])
    return not (request.first.startswith("HEAD ") or status in (204, 304) or status < 200)


def _reads_to_close(request: Head, answer: Head) -> bool:
    """Whether the answer's body ran until the catalogue closed the connection."""
    framed = "chunked" in answer.tokens("transfer-encoding") or answer.get("content-length")
    return _has_body(request, answer) and not framed


def _reframed(answer: Head, request: Head) -> Head:
    """The answer's head as the client gets it: chunked when its length is unknown."""
    if _reads_to_close(request, answer):
        return Head(answer.first, [*answer.headers, ("Transfer-Encoding", "chunked")])
    return answer


async def _send(sink: asyncio.StreamWriter, piece: bytes, link: Uplink | None) -> None:
    if link is not None and link.rate:
        loop = asyncio.get_running_loop()
        done = link.reserve(len(piece), loop.time())
        await asyncio.sleep(max(0.0, done - loop.time()))
    sink.write(piece)
    await sink.drain()


async def _copy(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, size: int, link: Uplink | None
) -> int:
    left = size
    while left:
        piece = await source.read(min(PIECE, left))
        if not piece:
            raise ConnectionError("the connection closed inside a body")
        left -= len(piece)
        await _send(sink, piece, link)
    return size


async def _copy_chunked(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, link: Uplink | None
) -> int:
    """Pass a chunked body on as it is framed; returns the size of its data."""
    size = 0
    while True:
        line = await source.readuntil(b"\r\n")
        length = int(line.split(b";")[0].strip() or b"0", 16)
        await _send(sink, line, link)
        if length == 0:
            while (trailer := await source.readuntil(b"\r\n")) != b"\r\n":
                await _send(sink, trailer, link)
            await _send(sink, b"\r\n", link)
            return size
        left = length + 2  # the data and its CRLF
        while left:
            piece = await source.read(min(PIECE, left))
            if not piece:
                raise ConnectionError("the connection closed inside a chunk")
            left -= len(piece)
            await _send(sink, piece, link)
        size += length


@contextlib.contextmanager
def running(upstream: str, **options: Any) -> Iterator[NetProxy]:
    """A proxy serving from a thread of this process, for as long as the block runs."""
    loop = asyncio.new_event_loop()
    proxy = NetProxy(upstream, **options)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(proxy.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="netproxy", daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield proxy
    finally:
        asyncio.run_coroutine_threadsafe(proxy.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextlib.contextmanager
def launched(
    upstream: str,
    *,
    delay_ms: float = 40,
    up_mbit: float = 50,
    connect_delay_ms: float = 0,
    log: Path | None = None,
) -> Iterator[str]:
    """A proxy in a process of its own (its work then takes nothing from the caller's
    interpreter); yields its URL. The process ends with the block."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--upstream",
        upstream,
        "--delay-ms",
        str(delay_ms),
        "--up-mbit",
        str(up_mbit),
        "--connect-delay-ms",
        str(connect_delay_ms),
    ]
    if log is not None:
        command += ["--log", str(log)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the proxy did not start: {line!r}")
        yield line.split()[-1]
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def read_log(path: Path) -> list[dict[str, Any]]:
    """The requests a proxy logged with `--log`."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = f"http://127.0.0.1:{os.environ.get('BCDC_CKAN_PORT', '5055')}"
    parser.add_argument("--upstream", default=default, help=f"the catalogue (default {default})")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    parser.add_argument("--delay-ms", type=float, default=40.0, help="added to every request")
    parser.add_argument("--up-mbit", type=float, default=50.0, help="uplink, 0 for no limit")
    parser.add_argument(
        "--connect-delay-ms", type=float, default=0.0, help="added to every new connection"
    )
    parser.add_argument("--log", type=Path, help="append one JSON line per request here")
    args = parser.parse_args(argv)

    async def serve() -> None:
        with contextlib.ExitStack() as stack:
            log = stack.enter_context(args.log.open("a")) if args.log else None
            proxy = NetProxy(
                args.upstream,
                delay=args.delay_ms / 1000,
                up_mbit=args.up_mbit or None,
                connect_delay=args.connect_delay_ms / 1000,
                port=args.port,
                log=log,
            )
            await proxy.start()
            print(f"listening on {proxy.url}", flush=True)
            stopped = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stopped.set)
            await stopped.wait()
            await proxy.close()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
