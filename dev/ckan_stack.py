#!/usr/bin/env python3
"""Start, check and stop the local test catalogue (CKAN 2.12 + ckanext-scheming).

    python3 dev/ckan_stack.py up      # install what is missing, start, seed; idempotent
    python3 dev/ckan_stack.py status
    python3 dev/ckan_stack.py down    # stops only what `up` started

Everything lives under .ckan/ (ignored by git): CKAN's own virtual environment,
ckan.ini, uploads, the server log and credentials.json, which holds the URL and
the API tokens of two users that tests and the demo read:

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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "dev" / "ckan"
STATE = Path(os.environ.get("BCDC_CKAN_STATE", ROOT / ".ckan"))
VENV = STATE / "venv"
INI = STATE / "ckan.ini"
CREDENTIALS = STATE / "credentials.json"
PIDFILE = STATE / "server.pid"
LOG = STATE / "server.log"
PG_MARKER = STATE / "postgres-started-by-us"
PORT = int(os.environ.get("BCDC_CKAN_PORT", "5055"))
URL = f"http://127.0.0.1:{PORT}"

CKAN_REQUIREMENTS = [
    "ckan[requirements]==2.12.0",
    "ckanext-scheming==3.1.0",
    "gunicorn==27.0.1",
]
PLUGIN_DIR = HERE / "ckanext-bcdc-testing"
SCHEMA_FILE = HERE / "bcdc_dataset.yaml"
DB_NAME = "bcdc_test_catalogue"
DB_USER = "bcdc_test_catalogue"
# A local, loopback-only test database: this password protects nothing.
DB_PASSWORD = "bcdc_test_catalogue"
WORKERS = 3

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


def ensure_postgres() -> None:
    if not shutil.which("pg_lsclusters"):
        say("installing PostgreSQL (apt-get)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-q"], quiet=True, env=env)
        run(["apt-get", "install", "-y", "-q", "postgresql"], quiet=True, env=env)
    clusters = [
        line.split() for line in run(["pg_lsclusters", "-h"], quiet=True).stdout.splitlines()
    ]
    if not clusters:
        raise SystemExit("[ckan] PostgreSQL is installed but has no cluster (pg_createcluster)")
    version, name, _port, status = clusters[0][:4]
    if status != "online":
        say(f"starting PostgreSQL {version}/{name}")
        run(["pg_ctlcluster", version, name, "start"], quiet=True)
        PG_MARKER.write_text(f"{version} {name}\n")
    if psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{DB_USER}'") != "1":
        psql(f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{DB_PASSWORD}'")
    if psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'") != "1":
        say(f"creating database {DB_NAME}")
        psql(f"CREATE DATABASE {DB_NAME} OWNER {DB_USER} ENCODING 'utf-8' TEMPLATE template0")


# --- CKAN's virtual environment and configuration ---------------------------


def fingerprint() -> str:
    """Changes whenever what the CKAN environment is built from changes."""
    digest = hashlib.sha256("\n".join(CKAN_REQUIREMENTS).encode())
    for path in sorted(PLUGIN_DIR.rglob("*")):
        built = {"build", "__pycache__"} & set(path.parts) or path.parent.name.endswith("egg-info")
        if path.is_file() and not built:
            digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_venv() -> bool:
    """Install CKAN and the test plugin; True when anything changed."""
    stamp = VENV / "bcdc-stamp"
    wanted = fingerprint()
    if stamp.exists() and stamp.read_text() == wanted:
        return False
    say("installing CKAN 2.12 and ckanext-scheming into .ckan/venv (about a minute)")
    if not (VENV / "bin" / "python").exists():
        run([sys.executable, "-m", "venv", str(VENV)], quiet=True)
    pip = [
        str(VENV / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    run(pip + CKAN_REQUIREMENTS, quiet=True)
    run(pip + ["--force-reinstall", "--no-deps", str(PLUGIN_DIR)], quiet=True)
    stamp.write_text(wanted)
    return True


def ckan(*args: str, quiet: bool = True) -> str:
    return run([str(VENV / "bin" / "ckan"), "-c", str(INI), *args], quiet=quiet).stdout


def ensure_config() -> bool:
    """Write ckan.ini; True when it changed."""
    settings = {
        "sqlalchemy.url": f"postgresql://{DB_USER}:{DB_PASSWORD}@127.0.0.1/{DB_NAME}",
        "ckan.site_url": URL,
        "ckan.site_id": "bcdc-test-catalogue",
        "ckan.storage_path": str(STATE / "storage"),
        "ckan.max_resource_size": "2048",  # MB: the benchmarks upload a 1 GiB file
        # Nothing listens here: the search stand-in plugin answers instead.
        "solr_url": "http://127.0.0.1:8983/solr/none",
        "ckan.plugins": "scheming_datasets bcdc_test_search",
        "scheming.dataset_schemas": SCHEMA_FILE.as_uri(),
        "scheming.dataset_fallback": "false",
        "ckan.auth.create_user_via_web": "false",
        "ckan.datasets_per_page": "20",
    }
    stamp = STATE / "ini-stamp"
    # the schema file is read at start-up: a change to it needs a restart too
    schema_digest = hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest()
    wanted = json.dumps([settings, schema_digest], sort_keys=True)
    if INI.exists() and stamp.exists() and stamp.read_text() == wanted:
        return False
    (STATE / "storage").mkdir(parents=True, exist_ok=True)
    if not INI.exists():
        run([str(VENV / "bin" / "ckan"), "generate", "config", str(INI)], quiet=True)
    run(
        [
            str(VENV / "bin" / "ckan"),
            "config-tool",
            str(INI),
            *[f"{key}={value}" for key, value in settings.items()],
        ],
        quiet=True,
    )
    stamp.write_text(wanted)
    return True


def ensure_database_schema() -> None:
    if psql("SELECT to_regclass('public.package') IS NOT NULL", DB_NAME) != "t":
        say("initialising the CKAN database")
        ckan("db", "init")


def ensure_admin() -> dict:
    """The sysadmin and its token, made through the CLI (the API needs a token first)."""
    saved = load_credentials()
    if saved.get("sysadmin") and token_works(saved["sysadmin"]):
        return saved["sysadmin"]
    exists = psql(f"SELECT 1 FROM \"user\" WHERE name = '{ADMIN}'", DB_NAME) == "1"
    if not exists:
        say(f"creating sysadmin {ADMIN}")
        ckan(
            "user",
            "add",
            ADMIN,
            f"email={ADMIN}@example.invalid",
            f"password={os.urandom(12).hex()}",
        )
    ckan("sysadmin", "add", ADMIN)
    token = ckan("user", "token", "add", ADMIN, "bcdc-loader-tests", "-q").strip().splitlines()[-1]
    return {"name": ADMIN, "token": token}


# --- The server --------------------------------------------------------------


def server_pid() -> int | None:
    try:
        pid = int(PIDFILE.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def answering() -> bool:
    try:
        with urllib.request.urlopen(f"{URL}/api/3/action/status_show", timeout=2) as response:
            return json.load(response)["success"]
    except (OSError, ValueError, KeyError):
        return False


def start_server() -> None:
    wsgi = STATE / "wsgi.py"
    wsgi.write_text(
        "import os\n"
        "from ckan.cli import CKANConfigLoader\n"
        "from ckan.config.middleware import make_app\n"
        f"application = make_app(CKANConfigLoader({str(INI)!r}).get_config())\n"
    )
    say(f"starting CKAN on {URL} (gunicorn, {WORKERS} workers; log: {LOG})")
    with open(LOG, "ab") as log:
        process = subprocess.Popen(
            [
                str(VENV / "bin" / "gunicorn"),
                "--workers",
                str(WORKERS),
                "--bind",
                f"127.0.0.1:{PORT}",
                "--timeout",
                "120",
                "--chdir",
                str(STATE),
                "wsgi:application",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    PIDFILE.write_text(str(process.pid))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.stderr.write(LOG.read_text()[-4000:])
            raise SystemExit("[ckan] the server exited during start-up (see the log above)")
        if answering():
            return
        time.sleep(0.5)
    raise SystemExit(f"[ckan] the server did not answer within 90 s; see {LOG}")


def stop_server() -> bool:
    pid = server_pid()
    if pid is None:
        PIDFILE.unlink(missing_ok=True)
        return False
    os.killpg(pid, signal.SIGTERM)
    for _ in range(100):
        if server_pid() is None:
            break
        time.sleep(0.1)
    else:
        os.killpg(pid, signal.SIGKILL)
    PIDFILE.unlink(missing_ok=True)
    return True


# --- Seeding through the action API ------------------------------------------


def action(name: str, token: str, /, **data) -> dict:
    request = urllib.request.Request(
        f"{URL}/api/3/action/{name}",
        data=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", "Authorization": token},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)["result"]
    except urllib.error.HTTPError as error:
        body = error.read().decode(errors="replace")
        raise LookupError(f"{name}: HTTP {error.code}: {body[:500]}") from None


def token_works(user: dict) -> bool:
    if not answering():
        return True  # checked again once the server is up
    try:
        action("api_token_list", user["token"], user_id=user["name"])
        return True
    except LookupError:
        return False


def exists(name: str, token: str, /, **data) -> bool:
    try:
        action(name, token, **data)
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


def seed(admin: dict) -> dict:
    token = admin["token"]
    saved = load_credentials()
    editor = saved.get("editor")
    if not exists("user_show", token, id=EDITOR):
        say(f"creating user {EDITOR}")
        action(
            "user_create",
            token,
            name=EDITOR,
            email=f"{EDITOR}@example.invalid",
            password=os.urandom(12).hex(),
        )
    if not editor or not token_works(editor):
        editor = {
            "name": EDITOR,
            "token": action("api_token_create", token, user=EDITOR, name="bcdc-loader-tests")[
                "token"
            ],
        }
    for name, title in ORGANIZATIONS:
        if not exists("organization_show", token, id=name):
            say(f"creating organization {name}")
            action("organization_create", token, name=name, title=title)
    action(
        "organization_member_create", token, id=ORGANIZATIONS[0][0], username=EDITOR, role="editor"
    )
    for name, title, owner in PACKAGES:
        if not exists("package_show", token, id=name):
            say(f"creating dataset {name}")
            action("package_create", token, **dataset_fields(name, title, owner))
    return editor


def load_credentials() -> dict:
    try:
        return json.loads(CREDENTIALS.read_text())
    except (OSError, ValueError):
        return {}


def save_credentials(admin: dict, editor: dict) -> None:
    data = {
        "url": URL,
        "sysadmin": admin,
        "editor": editor,
        "editor_organization": ORGANIZATIONS[0][0],
        "organizations": [name for name, _ in ORGANIZATIONS],
        "packages": {name: owner for name, _, owner in PACKAGES},
    }
    CREDENTIALS.touch(mode=0o600)
    CREDENTIALS.write_text(json.dumps(data, indent=2))


# --- Commands ------------------------------------------------------------------


def up() -> None:
    started = time.monotonic()
    STATE.mkdir(parents=True, exist_ok=True)
    ensure_postgres()
    changed = ensure_venv()
    changed = ensure_config() or changed
    ensure_database_schema()
    admin = ensure_admin()
    if server_pid() is None and answering():
        raise SystemExit(
            f"[ckan] something else already answers on {URL}: stop it or set BCDC_CKAN_PORT"
        )
    if changed or server_pid() is None or not answering():
        stop_server()
        start_server()
    if not token_works(admin):
        CREDENTIALS.unlink(missing_ok=True)
        admin = ensure_admin()
    editor = seed(admin)
    save_credentials(admin, editor)
    say(f"ready at {URL} in {time.monotonic() - started:.1f} s (credentials: {CREDENTIALS})")


def down() -> None:
    if stop_server():
        say("server stopped")
    if PG_MARKER.exists():
        version, name = PG_MARKER.read_text().split()
        run(["pg_ctlcluster", version, name, "stop"], quiet=True)
        PG_MARKER.unlink()
        say(f"PostgreSQL {version}/{name} stopped (it was started by `up`)")


def status() -> None:
    pid = server_pid()
    state = "answering" if answering() else "not answering"
    say(f"{URL}: {state}" + (f" (gunicorn pid {pid})" if pid else ""))
    raise SystemExit(0 if pid and state == "answering" else 1)


if __name__ == "__main__":
    commands = {"up": up, "down": down, "status": status}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        raise SystemExit(f"usage: {sys.argv[0]} {{{'|'.join(commands)}}}")
    commands[sys.argv[1]]()
