"""The local catalogue's job worker is supervised: started again when it dies,
stopped (after the command it runs has stopped) when asked."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

SUPERVISE = Path(__file__).resolve().parent.parent / "dev" / "catalogue_stack" / "supervise.py"


def supervised(tmp_path: Path, script: str, copies: int = 1) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "starts.log"
    command = [sys.executable, "-c", script, str(log)]
    process = subprocess.Popen(
        [sys.executable, str(SUPERVISE), "--copies", str(copies), *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, log


def wait_for(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_command_that_dies_is_started_again(tmp_path):
    dies = "import sys; open(sys.argv[1], 'a').write('started\\n'); sys.exit(3)"
    process, log = supervised(tmp_path, dies)
    try:
        # dying at once, it is started again after 1 s, then 2 s
        wait_for(lambda: log.exists() and log.read_text().count("started") >= 3)
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=10)[0]
    assert process.returncode == 0
    assert "it exited with code 3" in output
    assert "starting it again in 1 s" in output and "starting it again in 2 s" in output


def test_sigterm_reaches_the_command_and_ends_the_supervision(tmp_path):
    runs = (
        "import signal, sys, time\n"
        "def stop(*_):\n"
        "    open(sys.argv[1], 'a').write('asked to stop\\n'); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "open(sys.argv[1], 'a').write('started\\n')\n"
        "time.sleep(60)\n"
    )
    process, log = supervised(tmp_path, runs)
    wait_for(lambda: log.exists() and "started" in log.read_text())

    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=10)[0]

    assert log.read_text() == "started\nasked to stop\n"  # stopped, not started again
    assert output.rstrip().endswith("[supervise] stopped")


def test_what_a_dead_command_started_dies_with_it(tmp_path):
    # like a job worker's scheduler process, orphaned when the worker is killed
    leaves_a_child = (
        "import subprocess, sys\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "open(sys.argv[1], 'a').write(f'{child.pid}\\n')\n"
        "sys.exit(3)\n"
    )
    process, log = supervised(tmp_path, leaves_a_child)
    try:
        wait_for(lambda: log.exists() and len(log.read_text().split()) >= 2)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
    first = int(log.read_text().split()[0])
    assert not running(first)


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; it waits for its new parent to reap it


def test_copies_run_side_by_side_and_all_stop(tmp_path):
    runs = (
        "import os, signal, sys, time\n"
        "def stop(*_):\n"
        "    open(sys.argv[1], 'a').write(f'stopped {os.getpid()}\\n'); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "open(sys.argv[1], 'a').write(f'started {os.getpid()}\\n')\n"
        "time.sleep(60)\n"
    )
    process, log = supervised(tmp_path, runs, copies=3)
    wait_for(lambda: log.exists() and log.read_text().count("started") == 3)

    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=10)

    lines = log.read_text().split("\n")
    started = {line.split()[1] for line in lines if line.startswith("started")}
    stopped = {line.split()[1] for line in lines if line.startswith("stopped")}
    assert len(started) == 3 and stopped == started
