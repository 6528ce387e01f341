"""PostgreSQL: started if stopped (and remembered, so `down` stops only what `up`
started), the catalogue's database, and the DataStore's database with its two users."""

from __future__ import annotations

import shutil
from collections.abc import Iterable

from .common import STATE, Line, apt_install, run, say

MARKER = STATE / "postgres-started-by-us"
DB_USER = "bcdc_test_catalogue"
# The DataStore writes with one user and answers datastore_search_sql with another,
# which may only read (CKAN's `datastore set-permissions` script grants that).
DATASTORE_WRITER = "bcdc_test_datastore"
DATASTORE_READER = "bcdc_test_datastore_ro"
# A local, loopback-only test database: these passwords protect nothing.
PASSWORDS = {user: user for user in (DB_USER, DATASTORE_WRITER, DATASTORE_READER)}


def url(user: str, database: str) -> str:
    return f"postgresql://{user}:{PASSWORDS[user]}@127.0.0.1/{database}"


def psql(sql: str, database: str = "postgres") -> str:
    cmd = ["runuser", "-u", "postgres", "--", "psql", "-d", database, "-tAc", sql]
    return run(cmd, quiet=True).stdout.strip()


def psql_script(script: str) -> str:
    """Run a whole SQL script as postgres, stopping at its first error."""
    cmd = ["runuser", "-u", "postgres", "--", "psql", "-q", "-tA", "-v", "ON_ERROR_STOP=1"]
    return run(cmd, quiet=True, input=script).stdout


def ask(*questions: tuple[str, str]) -> list[str]:
    """Answers to (database, query) pairs, each query giving one value, in one psql run
    (a psql start costs about as much as the queries that `up` asks when all is up)."""
    script = "".join(f"\\connect {database}\n{sql};\n" for database, sql in questions)
    return psql_script(script).splitlines()


def _start_cluster() -> None:
    if not shutil.which("pg_lsclusters"):
        apt_install("postgresql")
    listed = run(["pg_lsclusters", "-h"], quiet=True).stdout.splitlines()
    clusters = [row.split() for row in listed]
    if not clusters:
        raise SystemExit("[ckan] PostgreSQL is installed but has no cluster (pg_createcluster)")
    version, name, _port, status = clusters[0][:4]
    if status != "online":
        say(f"starting PostgreSQL {version}/{name}")
        run(["pg_ctlcluster", version, name, "start"], quiet=True)
        MARKER.write_text(f"{version} {name}\n")


def ensure_postgres(line: Line) -> None:
    """PostgreSQL up, with the line's users and databases."""
    _start_cluster()
    owners = {line.database: DB_USER, line.datastore_database: DATASTORE_WRITER}
    roles, present = (
        set(answer.split())
        for answer in ask(
            ("postgres", _names_present("rolname", "pg_roles", PASSWORDS)),
            ("postgres", _names_present("datname", "pg_database", owners)),
        )
    )
    for user in PASSWORDS.keys() - roles:
        psql(f"CREATE ROLE {user} LOGIN PASSWORD '{PASSWORDS[user]}'")
    for database in owners.keys() - present:
        say(f"creating database {database}")
        psql(
            f"CREATE DATABASE {database} OWNER {owners[database]} "
            "ENCODING 'utf-8' TEMPLATE template0"
        )


def _names_present(column: str, catalog: str, names: Iterable[str]) -> str:
    listed = ", ".join(f"'{name}'" for name in names)
    return f"SELECT string_agg({column}, ' ') FROM {catalog} WHERE {column} IN ({listed})"


def stop_if_started() -> None:
    if MARKER.exists():
        version, name = MARKER.read_text().split()
        run(["pg_ctlcluster", version, name, "stop"], quiet=True)
        MARKER.unlink()
        say(f"PostgreSQL {version}/{name} stopped (it was started by `up`)")
