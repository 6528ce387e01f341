"""Redis, which holds CKAN's background job queues (the DataStore loads).

Debian's redis-server, installed when missing and started when stopped; `up`
remembers that it started it, so `down` stops only what `up` started. Every
checkout on a machine shares it: each line's queues carry its own `ckan.site_id`.
"""

from __future__ import annotations

import shutil
import socket
import time

from .common import STATE, apt_install, run, say

HOST, PORT = "127.0.0.1", 6379
URL = f"redis://{HOST}:{PORT}/0"
MARKER = STATE / "redis-started-by-us"


def answering() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis() -> None:
    if answering():
        return
    if not shutil.which("redis-server"):
        apt_install("redis-server")
        if answering():  # where installing a service also starts it
            return
    say("starting Redis")
    run(["service", "redis-server", "start"], quiet=True)
    MARKER.touch()
    deadline = time.monotonic() + 15
    while not answering():
        if time.monotonic() > deadline:
            raise SystemExit(
                f"[ckan] Redis did not answer on {HOST}:{PORT} within 15 s; "
                "see /var/log/redis/redis-server.log"
            )
        time.sleep(0.2)


def stop_if_started() -> None:
    if MARKER.exists():
        run(["service", "redis-server", "stop"], quiet=True)
        MARKER.unlink()
        say("Redis stopped (it was started by `up`)")
