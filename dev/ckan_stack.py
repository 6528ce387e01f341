#!/usr/bin/env python3
"""Start, check and stop the local test catalogues (CKAN, its DataStore and a loader).

Two CKAN release lines can be installed and run side by side:

- 2.12 (CKAN 2.12.0), the current release;
- 2.10 (CKAN 2.10.11), the line closest to the production catalogue.

    python3 dev/ckan_stack.py up      # install what is missing, start, seed; idempotent
    python3 dev/ckan_stack.py status
    python3 dev/ckan_stack.py down    # stops every line, and only what `up` started
    python3 dev/ckan_stack.py worker-stop    # hold DataStore loads in the queue
    python3 dev/ckan_stack.py worker-start   # and let them run again

`up`, `status` and the worker commands act on the lines named in BCDC_CKAN_LINE
(`2.12`, `2.10`, `2.12,2.10` or `all`; default 2.12). Each line has its own
state folder .ckan/LINE/ (ignored by git: CKAN's virtual environment, ckan.ini,
uploads, the server's and the worker's pid and log, and credentials.json), its
own databases and its own port: 2.12 serves on BCDC_CKAN_PORT (default 5055),
2.10 on the port after it; the databases are bcdc_test_catalogue and
bcdc_test_catalogue_2_10, each with a DataStore database of the same name +
"_datastore" (rename them with BCDC_CKAN_DATABASE).

A line is: PostgreSQL (started if stopped), Redis (installed if missing,
started if stopped), gunicorn serving CKAN with ckanext-scheming, the
DataStore and ckanext-xloader, and a supervised `ckan jobs worker` that runs
the DataStore loads. The parts live in dev/catalogue_stack/.

credentials.json holds the URL and the API tokens of two users that tests and
the demo read, and the id of a resource whose DataStore load failed:

- bcdc-admin: a sysadmin;
- bcdc-editor: editor of the organization `information-management-cfd` only.

Standard library only, so it runs before any virtual environment exists.
"""

from __future__ import annotations

import os
import sys
import time

from catalogue_stack import install, postgres, processes, redis_server, seed
from catalogue_stack.common import LINES, STATE, Line, lines_named, say
from catalogue_stack.install import LOADED_FORMATS
from catalogue_stack.postgres import psql
from catalogue_stack.processes import (
    server_pid,
    start_worker,
    stop_server,
    stop_worker,
    worker_pid,
)
from catalogue_stack.seed import RESOURCE_REQUIRED, action, dataset_fields, wait_for_load

__all__ = [
    "LINE",
    "LINES",
    "LOADED_FORMATS",
    "RESOURCE_REQUIRED",
    "Line",
    "action",
    "dataset_fields",
    "lines_named",
    "psql",
    "server_pid",
    "start_worker",
    "stop_line",
    "stop_server",
    "stop_worker",
    "wait_for_load",
    "worker_pid",
]

# The line that scripts (demo, benchmarks) use: the first one BCDC_CKAN_LINE names.
LINE = lines_named(os.environ.get("BCDC_CKAN_LINE"))[0]


def up(line: Line) -> None:
    started = time.monotonic()
    line.state.mkdir(parents=True, exist_ok=True)
    kept = seed.load_credentials(line).get("database")
    if kept and kept != line.database:
        # without this, the line's server would be pointed at another checkout's database
        raise SystemExit(
            f"[ckan] {line.state} belongs to the database {kept}, not {line.database}: "
            f"set BCDC_CKAN_DATABASE as before, or remove {line.state} to start afresh"
        )
    postgres.ensure_postgres(line)
    redis_server.ensure_redis()
    changed = install.ensure_venv(line)
    changed = install.ensure_config(line) or changed
    install.ensure_database_schema(line)
    admin = seed.ensure_admin(line)
    changed = seed.ensure_xloader_token(line) or changed
    if processes.server_pid(line) is None and processes.answering(line):
        raise SystemExit(
            f"[ckan] something else already answers on {line.url}: stop it or set BCDC_CKAN_PORT"
        )
    if changed or processes.server_pid(line) is None or not processes.answering(line):
        stop_server(line)
        processes.start_server(line)
    if changed:
        stop_worker(line)  # it reads the same ckan.ini and code
    if processes.worker_pid(line) is None:
        say(f"starting the job worker of CKAN {line.name} (log: {line.worker_log})")
        start_worker(line)
    if not seed.token_works(line, admin):
        line.credentials.unlink(missing_ok=True)
        admin = seed.ensure_admin(line)
    editor, failed_load = seed.seed(line, admin)
    seed.save_credentials(line, admin, editor, failed_load)
    say(
        f"CKAN {line.name} ready at {line.url} in {time.monotonic() - started:.1f} s "
        f"(credentials: {line.credentials})"
    )


def stop_line(line: Line) -> None:
    """Stop the line's server and worker (PostgreSQL and Redis stay: others may use them)."""
    if stop_server(line):
        say(f"CKAN {line.name} server stopped")
    if stop_worker(line):
        say(f"CKAN {line.name} job worker stopped")


def down() -> None:
    for line in LINES.values():
        stop_line(line)
    redis_server.stop_if_started()
    postgres.stop_if_started()


def status(line: Line) -> bool:
    pid = processes.server_pid(line)
    state = "answering" if processes.answering(line) else "not answering"
    say(f"CKAN {line.name} at {line.url}: {state}" + (f" (gunicorn pid {pid})" if pid else ""))
    worker = processes.worker_pid(line)
    say(f"CKAN {line.name} job worker: " + (f"running (pid {worker})" if worker else "stopped"))
    return bool(pid) and state == "answering" and bool(worker)


def main(argv: list[str]) -> None:
    commands = ("up", "down", "status", "worker-stop", "worker-start")
    if len(argv) != 2 or argv[1] not in commands:
        raise SystemExit(f"usage: {argv[0]} {{{'|'.join(commands)}}}  (lines: BCDC_CKAN_LINE)")
    if argv[1] == "down":
        down()
        return
    lines = lines_named(os.environ.get("BCDC_CKAN_LINE"))
    if argv[1] == "up":
        STATE.mkdir(parents=True, exist_ok=True)
        for line in lines:
            up(line)
    elif argv[1] == "worker-stop":
        for line in lines:
            stop_worker(line)
            say(f"CKAN {line.name} job worker stopped: loads wait in the queue")
    elif argv[1] == "worker-start":
        for line in lines:
            start_worker(line)
            say(f"CKAN {line.name} job worker running")
    else:
        answered = [status(line) for line in lines]
        raise SystemExit(0 if all(answered) else 1)


if __name__ == "__main__":
    main(sys.argv)
