"""The line's two long-running processes: the web server and the job worker.

The server is gunicorn serving CKAN. The worker is a few `ckan jobs worker`s
(they run the DataStore loads), kept running by supervise.py: each started again
when it dies, all stopped only by `stop_worker`. Tests stop and start it to hold loads in the
queue. Each writes its pid and log into the line's state folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .common import Line, say

WORKERS = 3  # gunicorn's
JOB_WORKERS = 3  # `ckan jobs worker`s: a test session queues a load with most CSV it uploads
SUPERVISE = Path(__file__).resolve().parent / "supervise.py"


def alive(pid: int) -> bool:
    """True while the process runs (one of our own children that exited is reaped)."""
    with contextlib.suppress(ChildProcessError):  # not our child: someone else reaps it
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _pid(pidfile: Path, expect: str = "") -> int | None:
    """The running process a pid file names (and, if given, whose command line has `expect`)."""
    try:
        pid = int(pidfile.read_text())
        if not alive(pid):
            return None
        if expect and expect not in Path(f"/proc/{pid}/cmdline").read_text():
            return None  # the pid was reused by another process
        return pid
    except (OSError, ValueError):
        return None


def _stop(pidfile: Path, pid: int | None, *, patience: float) -> bool:
    """SIGTERM to the process, SIGKILL to its whole group after `patience` seconds."""
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + patience
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)  # whatever is left of its process group
    pidfile.unlink(missing_ok=True)
    return True


# --- the web server ------------------------------------------------------------


def server_pid(line: Line) -> int | None:
    return _pid(line.pidfile)


def answering(line: Line) -> bool:
    try:
        url = f"{line.url}/api/3/action/status_show"
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.load(response)["success"]
    except (OSError, ValueError, KeyError):
        return False


def start_server(line: Line) -> None:
    wsgi = line.state / "wsgi.py"
    wsgi.write_text(
        "import os\n"
        "from ckan.cli import CKANConfigLoader\n"
        "from ckan.config.middleware import make_app\n"
        f"application = make_app(CKANConfigLoader({str(line.ini)!r}).get_config())\n"
    )
    say(f"starting CKAN {line.name} on {line.url} (gunicorn, {WORKERS} workers; log: {line.log})")
    with open(line.log, "ab") as log:
        process = subprocess.Popen(
            [
                str(line.venv / "bin" / "gunicorn"),
                "--workers",
                str(WORKERS),
                "--bind",
                f"127.0.0.1:{line.port}",
                "--timeout",
                "120",
                "--chdir",
                str(line.state),
                "wsgi:application",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    line.pidfile.write_text(str(process.pid))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.stderr.write(line.log.read_text()[-4000:])
            raise SystemExit("[ckan] the server exited during start-up (see the log above)")
        if answering(line):
            return
        time.sleep(0.5)
    raise SystemExit(f"[ckan] the server did not answer within 90 s; see {line.log}")


def stop_server(line: Line) -> bool:
    return _stop(line.pidfile, server_pid(line), patience=10)


# --- the job worker ------------------------------------------------------------


def worker_pid(line: Line) -> int | None:
    """The worker's supervisor, if it runs."""
    return _pid(line.worker_pidfile, expect=SUPERVISE.name)


def start_worker(line: Line) -> None:
    """Start the line's supervised `ckan jobs worker`s (nothing if they already run)."""
    if worker_pid(line) is not None:
        return
    command = [str(line.venv / "bin" / "ckan"), "-c", str(line.ini), "jobs", "worker"]
    with open(line.worker_log, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, str(SUPERVISE), "--copies", str(JOB_WORKERS), *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    line.worker_pidfile.write_text(str(process.pid))


def stop_worker(line: Line) -> bool:
    """Stop the workers; a load one is running is finished first (up to 60 s)."""
    return _stop(line.worker_pidfile, worker_pid(line), patience=60)
