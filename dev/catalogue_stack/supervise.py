"""Keep one command running: start it again whenever it exits, until told to stop.

    python3 supervise.py COMMAND [ARG...]

SIGTERM or SIGINT passes SIGTERM on to the command (a `ckan jobs worker` then
finishes the job it is running) and ends the supervision once the command has
exited. A command that keeps dying at once is started again less and less often
(1, 2, 4 ... up to 30 s apart). Its output and these lines go to stdout.

When the command dies, what it had started is killed too: a `ckan jobs worker`
(rq 2) runs a scheduler process that, orphaned, keeps the dead worker's Redis
connection open, and Redis then hands the next job to that connection, where it
waits a minute or two before rq notices.

Standard library only; runs as a script, apart from the rest of the package.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

QUICK = 10.0  # seconds: a command that dies sooner than this is failing to start


def say(message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} [supervise] {message}", flush=True)


def kill_leftovers() -> None:
    """Kill every other process of this process group (what a dead command left)."""
    me, group = os.getpid(), os.getpgrp()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            # pid (comm) state ppid pgrp ...: the name may hold spaces and brackets
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group:
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile


def supervise(command: list[str]) -> int:
    if os.getpgrp() != os.getpid():
        os.setsid()  # a group of its own, so that kill_leftovers kills only its command's
    stopping = False
    child: subprocess.Popen | None = None

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    failures = 0
    while not stopping:
        started = time.monotonic()
        child = subprocess.Popen(command)
        if stopping:  # the signal came while it was starting
            child.send_signal(signal.SIGTERM)
        say(f"started {' '.join(command[-2:])} (pid {child.pid})")
        code = child.wait()
        kill_leftovers()
        if stopping:
            break
        ran = time.monotonic() - started
        failures = failures + 1 if ran < QUICK else 0
        delay = min(30, 2 ** (failures - 1)) if failures else 1
        say(f"it exited with code {code} after {ran:.1f} s; starting it again in {delay} s")
        deadline = time.monotonic() + delay
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
    say("stopped")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    sys.exit(supervise(sys.argv[1:]))
