#!/usr/bin/env python3
"""Start, check and stop the local test catalogues (CKAN + ckanext-scheming).

Two CKAN release lines can be installed and run side by side:

- 2.12 (CKAN 2.12.0), the current release;
- 2.10 (CKAN 2.10.11), the line closest to the production catalogue.

    python3 dev/ckan_stack.py up      # install what is missing, start, seed; idempotent
    python3 dev/ckan_stack.py status
    python3 dev/ckan_stack.py down    # stops every line's server, and only what `up` started

`up` and `status` act on the lines named in BCDC_CKAN_LINE (`2.12`, `2.10`,
`2.12,2.10` or `all`; default 2.12). Each line has its own state folder
.ckan/LINE/ (ignored by git: CKAN's virtual environment, ckan.ini,
uploads, the server log and credentials.json), its own database and its own
port: 2.12 serves on BCDC_CKAN_PORT (default 5055), 2.10 on the port after it;
the databases are bcdc_test_catalogue and bcdc_test_catalogue_2_10 (rename
them with BCDC_CKAN_DATABASE).

credentials.json holds the URL and the API tokens of two users that tests and
the demo read:

- bcdc-admin: a sysadmin;
- bcdc-editor: editor of the organization `information-management-cfd` only.

Standard library only, so it runs before any virtual environment exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "dev" / "ckan"
STATE = Path(os.environ.get("BCDC_CKAN_STATE", ROOT / ".ckan"))
PG_MARKER = STATE / "postgres-started-by-us"
BASE_PORT = int(os.environ.get("BCDC_CKAN_PORT", "5055"))
# PostgreSQL is shared by every checkout on a machine: BCDC_CKAN_DATABASE keeps
# two checkouts' databases apart (2.12 uses the name, 2.10 the name + "_2_10").
DB_BASE = os.environ.get("BCDC_CKAN_DATABASE", "bcdc_test_catalogue")

PLUGIN_DIR = HERE / "ckanext-bcdc-testing"
SCHEMA_FILE = HERE / "bcdc_dataset.yaml"
DB_USER = "bcdc_test_catalogue"
# A local, loopback-only test database: this password protects nothing.
DB_PASSWORD = "bcdc_test_catalogue"
WORKERS = 3


@dataclass(frozen=True)
class Line:
    """One CKAN release line: what it is built from and where it lives."""

    name: str  # "2.12"
    requirements: tuple[str, ...]
    port: int
    database: str  # the two lines' database schemas differ: never share one

    @property
    def state(self) -> Path:
        return STATE / self.name

    @property
    def venv(self) -> Path:
        return self.state / "venv"

    @property
    def ini(self) -> Path:
        return self.state / "ckan.ini"

    @property
    def credentials(self) -> Path:
        return self.state / "credentials.json"

    @property
    def pidfile(self) -> Path:
        return self.state / "server.pid"

    @property
    def log(self) -> Path:
        return self.state / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


LINES = {
    "2.12": Line(
        "2.12",
        ("ckan[requirements]==2.12.0", "ckanext-scheming==3.1.0", "gunicorn==27.0.1"),
        BASE_PORT,
        DB_BASE,
    ),
    "2.10": Line(
        "2.10",
        ("ckan[requirements]==2.10.11", "ckanext-scheming==3.1.0", "gunicorn==27.0.1"),
        BASE_PORT + 1,
        f"{DB_BASE}_2_10",
    ),
}
DEFAULT_LINE = "2.12"


def lines_named(setting: str | None) -> list[Line]:
    """The lines a setting such as "2.10", "2.12,2.10" or "all" names."""
    setting = (setting or DEFAULT_LINE).strip()
    names = list(LINES) if setting == "all" else [n.strip() for n in setting.split(",")]
    unknown = [n for n in names if n not in LINES]
    if unknown or not names:
        raise SystemExit(f"[ckan] unknown CKAN line {unknown}: choose from {', '.join(LINES)}")
    return [LINES[n] for n in names]


# The line that scripts (demo, benchmarks) use: the first one BCDC_CKAN_LINE names.
LINE = lines_named(os.environ.get("BCDC_CKAN_LINE"))[0]

ADMIN = "bcdc-admin"
EDITOR = "bcdc-editor"
ORGANIZATIONS = [
    ("information-management-cfd", "Information Management (CFD)"),
    ("forest-analysis-branch", "Forest Analysis Branch"),
]
PACKAGES = [
    ("water-quality-monitoring", "Water quality monitoring", "information-management-cfd"),
    ("air-quality-stations", "Air quality stations", "information-management-cfd"),
    ("forest-cover-inventory", "Forest cover inventory", "forest-analysis-branch"),
]


def say(message: str) -> None:
    print(f"[ckan] {message}", flush=True)


def run(cmd: list[str], *, quiet: bool = False, **kwargs) -> subprocess.CompletedProcess:
    """Run a command; on failure show its output and stop."""
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"[ckan] failed ({result.returncode}): {' '.join(cmd[:4])} ...")
    if not quiet and result.stdout.strip():
        print(result.stdout.strip())
    return result


# --- PostgreSQL -------------------------------------------------------------


def psql(sql: str, database: str = "postgres") -> str:
    cmd = ["runuser", "-u", "postgres", "--", "psql", "-d", database, "-tAc", sql]
    return run(cmd, quiet=True).stdout.strip()


def ensure_postgres(line: Line) -> None:
    if not shutil.which("pg_lsclusters"):
        say("installing PostgreSQL (apt-get)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-q"], quiet=True, env=env)
        run(["apt-get", "install", "-y", "-q", "postgresql"], quiet=True, env=env)
    listed = run(["pg_lsclusters", "-h"], quiet=True).stdout.splitlines()
    clusters = [row.split() for row in listed]
    if not clusters:
        raise SystemExit("[ckan] PostgreSQL is installed but has no cluster (pg_createcluster)")
    version, name, _port, status = clusters[0][:4]
    if status != "online":
        say(f"starting PostgreSQL {version}/{name}")
        run(["pg_ctlcluster", version, name, "start"], quiet=True)
        PG_MARKER.write_text(f"{version} {name}\n")
    if psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{DB_USER}'") != "1":
        psql(f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{DB_PASSWORD}'")
    if psql(f"SELECT 1 FROM pg_database WHERE datname = '{line.database}'") != "1":
        say(f"creating database {line.database}")
        psql(f"CREATE DATABASE {line.database} OWNER {DB_USER} ENCODING 'utf-8' TEMPLATE template0")


# --- CKAN's virtual environment and configuration ---------------------------


def fingerprint(line: Line) -> str:
    """Changes whenever what the line's CKAN environment is built from changes."""
    digest = hashlib.sha256("\n".join(line.requirements).encode())
    for path in sorted(PLUGIN_DIR.rglob("*")):
        built = {"build", "__pycache__"} & set(path.parts) or path.parent.name.endswith("egg-info")
        if path.is_file() and not built:
            digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_venv(line: Line) -> bool:
    """Install CKAN and the test plugin; True when anything changed."""
    stamp = line.venv / "bcdc-stamp"
    wanted = fingerprint(line)
    if stamp.exists() and stamp.read_text() == wanted:
        return False
    say(f"installing CKAN {line.name} and ckanext-scheming into {line.venv} (about a minute)")
    if not (line.venv / "bin" / "python").exists():
        run([sys.executable, "-m", "venv", str(line.venv)], quiet=True)
    pip = [
        str(line.venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    run(pip + list(line.requirements), quiet=True)
    run(pip + ["--force-reinstall", "--no-deps", str(PLUGIN_DIR)], quiet=True)
    stamp.write_text(wanted)
    return True


def ckan(line: Line, *args: str, quiet: bool = True) -> str:
    return run([str(line.venv / "bin" / "ckan"), "-c", str(line.ini), *args], quiet=quiet).stdout


def ensure_config(line: Line) -> bool:
    """Write the line's ckan.ini; True when it changed."""
    settings = {
        "sqlalchemy.url": f"postgresql://{DB_USER}:{DB_PASSWORD}@127.0.0.1/{line.database}",
        "ckan.site_url": line.url,
        "ckan.site_id": f"bcdc-test-catalogue-{line.name.replace('.', '-')}",
        "ckan.storage_path": str(line.state / "storage"),
        "ckan.max_resource_size": "2048",  # MB: the benchmarks upload a 1 GiB file
        # Nothing listens here: the search stand-in plugin answers instead.
        "solr_url": "http://127.0.0.1:8983/solr/none",
        "ckan.plugins": "scheming_datasets bcdc_test_search bcdc_test_production_actions",
        "scheming.dataset_schemas": SCHEMA_FILE.as_uri(),
        "scheming.dataset_fallback": "false",
        "ckan.auth.create_user_via_web": "false",
        "ckan.datasets_per_page": "20",
    }
    stamp = line.state / "ini-stamp"
    # the schema file is read at start-up: a change to it needs a restart too
    schema_digest = hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest()
    wanted = json.dumps([settings, schema_digest], sort_keys=True)
    if line.ini.exists() and stamp.exists() and stamp.read_text() == wanted:
        return False
    (line.state / "storage").mkdir(parents=True, exist_ok=True)
    ckan_cli = str(line.venv / "bin" / "ckan")
    if not line.ini.exists():
        run([ckan_cli, "generate", "config", str(line.ini)], quiet=True)
    run(
        [ckan_cli, "config-tool", str(line.ini), *[f"{k}={v}" for k, v in settings.items()]],
        quiet=True,
    )
    stamp.write_text(wanted)
    return True


def ensure_database_schema(line: Line) -> None:
    if psql("SELECT to_regclass('public.package') IS NOT NULL", line.database) != "t":
        say(f"initialising the CKAN {line.name} database {line.database}")
        ckan(line, "db", "init")


def ensure_admin(line: Line) -> dict:
    """The sysadmin and its token, made through the CLI (the API needs a token first)."""
    saved = load_credentials(line)
    if saved.get("sysadmin") and token_works(line, saved["sysadmin"]):
        return saved["sysadmin"]
    exists = psql(f"SELECT 1 FROM \"user\" WHERE name = '{ADMIN}'", line.database) == "1"
    if not exists:
        say(f"creating sysadmin {ADMIN}")
        ckan(
            line,
            "user",
            "add",
            ADMIN,
            f"email={ADMIN}@example.invalid",
            f"password={os.urandom(12).hex()}",
        )
    ckan(line, "sysadmin", "add", ADMIN)
    token = ckan(line, "user", "token", "add", ADMIN, "bcdc-loader-tests", "-q")
    return {"name": ADMIN, "token": token.strip().splitlines()[-1]}


# --- The server --------------------------------------------------------------


def server_pid(line: Line) -> int | None:
    try:
        pid = int(line.pidfile.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


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
    pid = server_pid(line)
    if pid is None:
        line.pidfile.unlink(missing_ok=True)
        return False
    os.killpg(pid, signal.SIGTERM)
    for _ in range(100):
        if server_pid(line) is None:
            break
        time.sleep(0.1)
    else:
        os.killpg(pid, signal.SIGKILL)
    line.pidfile.unlink(missing_ok=True)
    return True


# --- Seeding through the action API ------------------------------------------


def action(url: str, name: str, token: str, /, **data) -> dict:
    """Call one action of the catalogue at `url`; LookupError carries any HTTP error."""
    request = urllib.request.Request(
        f"{url}/api/3/action/{name}",
        data=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", "Authorization": token},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)["result"]
    except urllib.error.HTTPError as error:
        body = error.read().decode(errors="replace")
        raise LookupError(f"{name}: HTTP {error.code}: {body[:500]}") from None


def token_works(line: Line, user: dict) -> bool:
    if not answering(line):
        return True  # checked again once the server is up
    try:
        action(line.url, "api_token_list", user["token"], user_id=user["name"])
        return True
    except LookupError:
        return False


def exists(line: Line, name: str, token: str, /, **data) -> bool:
    try:
        action(line.url, name, token, **data)
        return True
    except LookupError as error:
        if "HTTP 404" in str(error):
            return False
        raise


def dataset_fields(name: str, title: str, owner_org: str) -> dict:
    """A bcdc_dataset with every field the schema requires."""
    return {
        "type": "bcdc_dataset",
        "name": name,
        "title": title,
        "owner_org": owner_org,
        "notes": f"{title}: a record of the local test catalogue.",
        "license_id": "OGL-UK-2.0",
        "publish_state": "DRAFT",
        "security_class": "LOW-PUBLIC",
        "view_audience": "Public",
        "download_audience": "Public",
        "metadata_visibility": "Public",
        "tag_string": "test,bcdc-loader",
        "resource_status": "onGoing",
        "contacts": [
            {"name": "Data Steward", "email": "steward@example.invalid", "role": "custodian"}
        ],
    }


# The six choice fields every bcdc_dataset resource needs, with values the catalogue takes.
RESOURCE_REQUIRED = {
    "bcdc_type": "document",
    "resource_update_cycle": "monthly",
    "format": "csv",
    "resource_storage_location": "catalogue data store",
    "resource_type": "data",
    "resource_access_method": "direct access",
}


def seed(line: Line, admin: dict) -> dict:
    token = admin["token"]
    url = line.url
    saved = load_credentials(line)
    editor = saved.get("editor")
    if not exists(line, "user_show", token, id=EDITOR):
        say(f"creating user {EDITOR}")
        action(
            url,
            "user_create",
            token,
            name=EDITOR,
            email=f"{EDITOR}@example.invalid",
            password=os.urandom(12).hex(),
        )
    if not editor or not token_works(line, editor):
        made = action(url, "api_token_create", token, user=EDITOR, name="bcdc-loader-tests")
        editor = {"name": EDITOR, "token": made["token"]}
    for name, title in ORGANIZATIONS:
        if not exists(line, "organization_show", token, id=name):
            say(f"creating organization {name}")
            try:
                action(url, "organization_create", token, name=name, title=title)
            except LookupError:
                # without a search server CKAN can answer 500 after saving it
                if not exists(line, "organization_show", token, id=name):
                    raise
    action(
        url,
        "organization_member_create",
        token,
        id=ORGANIZATIONS[0][0],
        username=EDITOR,
        role="editor",
    )
    for name, title, owner in PACKAGES:
        if not exists(line, "package_show", token, id=name):
            say(f"creating dataset {name}")
            action(url, "package_create", token, **dataset_fields(name, title, owner))
    return editor


def load_credentials(line: Line) -> dict:
    try:
        return json.loads(line.credentials.read_text())
    except (OSError, ValueError):
        return {}


def save_credentials(line: Line, admin: dict, editor: dict) -> None:
    data = {
        "url": line.url,
        "ckan_line": line.name,
        "database": line.database,
        "sysadmin": admin,
        "editor": editor,
        "editor_organization": ORGANIZATIONS[0][0],
        "organizations": [name for name, _ in ORGANIZATIONS],
        "packages": {name: owner for name, _, owner in PACKAGES},
    }
    line.credentials.touch(mode=0o600)
    line.credentials.write_text(json.dumps(data, indent=2))


# --- Commands ------------------------------------------------------------------


def up(line: Line) -> None:
    started = time.monotonic()
    line.state.mkdir(parents=True, exist_ok=True)
    ensure_postgres(line)
    changed = ensure_venv(line)
    changed = ensure_config(line) or changed
    ensure_database_schema(line)
    admin = ensure_admin(line)
    if server_pid(line) is None and answering(line):
        raise SystemExit(
            f"[ckan] something else already answers on {line.url}: stop it or set BCDC_CKAN_PORT"
        )
    if changed or server_pid(line) is None or not answering(line):
        stop_server(line)
        start_server(line)
    if not token_works(line, admin):
        line.credentials.unlink(missing_ok=True)
        admin = ensure_admin(line)
    editor = seed(line, admin)
    save_credentials(line, admin, editor)
    say(
        f"CKAN {line.name} ready at {line.url} in {time.monotonic() - started:.1f} s "
        f"(credentials: {line.credentials})"
    )


def down() -> None:
    for line in LINES.values():
        if stop_server(line):
            say(f"CKAN {line.name} server stopped")
    if PG_MARKER.exists():
        version, name = PG_MARKER.read_text().split()
        run(["pg_ctlcluster", version, name, "stop"], quiet=True)
        PG_MARKER.unlink()
        say(f"PostgreSQL {version}/{name} stopped (it was started by `up`)")


def status(line: Line) -> bool:
    pid = server_pid(line)
    state = "answering" if answering(line) else "not answering"
    say(f"CKAN {line.name} at {line.url}: {state}" + (f" (gunicorn pid {pid})" if pid else ""))
    return bool(pid) and state == "answering"


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[1] not in ("up", "down", "status"):
        raise SystemExit(f"usage: {argv[0]} {{up|down|status}}  (lines: BCDC_CKAN_LINE)")
    if argv[1] == "down":
        down()
        return
    lines = lines_named(os.environ.get("BCDC_CKAN_LINE"))
    if argv[1] == "up":
        STATE.mkdir(parents=True, exist_ok=True)
        for line in lines:
            up(line)
    else:
        answered = [status(line) for line in lines]
        raise SystemExit(0 if all(answered) else 1)


if __name__ == "__main__":
    main(sys.argv)
