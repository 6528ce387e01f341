"""Keep a command running: start it again whenever it exits, until told to stop.

    python3 supervise.py [--copies N] COMMAND [ARG...]

With --copies N, N copies run side by side, each watched on its own (the local
catalogue runs several `ckan jobs worker`s, as a production catalogue does, so
that the loads a test session queues do not wait minutes behind each other).

SIGTERM or SIGINT passes SIGTERM on to every copy (a `ckan jobs worker` then
finishes the job it is running) and ends the supervision once they have exited,
or after PATIENCE seconds, when what is left is killed. A copy that keeps dying
at once is started again less and less often (1, 2, 4 ... up to 30 s apart).
Their output and these lines go to stdout.

Each copy runs in a process group of its own, and when a copy dies, what it had
started dies with it: a `ckan jobs worker` (rq 2) runs a scheduler process that,
orphaned, keeps the dead worker's Redis connection open, and Redis then hands
the next job to that connection, where it waits a minute or two before rq notices.

Standard library only; runs as a script, apart from the rest of the package.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

QUICK = 10.0  # seconds: a copy that dies sooner than this is failing to start
PATIENCE = 50.0  # seconds a copy has to finish its job once asked to stop


def say(message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} [supervise] {message}", flush=True)


@dataclass
class Copy:
    """One running copy of the command, and when to start it again once it dies."""

    process: subprocess.Popen | None = None
    started: float = 0.0
    failures: int = 0
    restart_at: float = 0.0

    def start(self, command: list[str]) -> None:
        self.process = subprocess.Popen(command, start_new_session=True)
        self.started = time.monotonic()
        say(f"started {' '.join(command[-2:])} (pid {self.process.pid})")

    def reap(self) -> None:
        """If the copy has exited: kill what it left and plan its next start."""
        if self.process is None or self.process.poll() is None:
            return
        code, pid = self.process.returncode, self.process.pid
        kill_group(pid)
        self.process = None
        ran = time.monotonic() - self.started
        self.failures = self.failures + 1 if ran < QUICK else 0
        delay = min(30, 2 ** (self.failures - 1)) if self.failures else 1
        self.restart_at = time.monotonic() + delay
        say(f"it exited with code {code} after {ran:.1f} s; starting it again in {delay} s")

    def ask_to_stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)


def kill_group(pid: int) -> None:
    """Kill what is left of the process group a copy led (its own children)."""
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


def stop_all(copies: list[Copy]) -> None:
    """Wait for each copy to exit (up to PATIENCE seconds in all), then kill the rest."""
    deadline = time.monotonic() + PATIENCE
    for copy in copies:
        if copy.process is None:
            continue
        with contextlib.suppress(subprocess.TimeoutExpired):
            copy.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        kill_group(copy.process.pid)
        copy.process.wait()


def supervise(command: list[str], count: int = 1) -> int:
    copies = [Copy() for _ in range(count)]
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for copy in copies:
            copy.ask_to_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        for copy in copies:
            copy.reap()
            if copy.process is None and time.monotonic() >= copy.restart_at and not stopping:
                copy.start(command)
        time.sleep(0.1)
    for copy in copies:
        copy.ask_to_stop()  # one started while the signal was being handled
    stop_all(copies)
    say("stopped")
    return 0


def main(arguments: list[str]) -> int:
    count = 1
    if arguments[:1] == ["--copies"] and len(arguments) > 1:
        count, arguments = int(arguments[1]), arguments[2:]
    if not arguments or count < 1:
        raise SystemExit(__doc__)
    return supervise(arguments, count)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
