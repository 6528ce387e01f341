"""Each line's CKAN environment (.ckan/LINE/venv), its ckan.ini and its databases' schemas."""

from __future__ import annotations

import hashlib
import json
import re
import sys

from . import postgres, redis_server
from .common import HERE, Line, run, say

PLUGIN_DIR = HERE / "ckanext-bcdc-testing"
SCHEMA_FILE = HERE / "bcdc_dataset.yaml"
# The formats the DataStore loader takes: the tabular ones of the BCDC format list.
LOADED_FORMATS = ("csv", "tsv", "xls", "xlsx")


def fingerprint(line: Line) -> str:
    """Changes whenever what the line's CKAN environment is built from changes."""
    digest = hashlib.sha256("\n".join([*line.requirements, line.xloader]).encode())
    for path in sorted(PLUGIN_DIR.rglob("*")):
        built = {"build", "__pycache__"} & set(path.parts) or path.parent.name.endswith("egg-info")
        if path.is_file() and not built:
            digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_venv(line: Line) -> bool:
    """Install CKAN, its extensions and the test plugin; True when anything changed."""
    stamp = line.venv / "bcdc-stamp"
    wanted = fingerprint(line)
    if stamp.exists() and stamp.read_text() == wanted:
        return False
    say(f"installing CKAN {line.name}, ckanext-scheming and ckanext-xloader into {line.venv}")
    if not (line.venv / "bin" / "python").exists():
        run([sys.executable, "-m", "venv", str(line.venv)], quiet=True)
    python = str(line.venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    run(pip + list(line.requirements), quiet=True)
    # its declared dependencies clash with CKAN's pins: see common.XLOADER_NEEDS
    run(pip + ["--no-deps", line.xloader], quiet=True)
    run(pip + ["--force-reinstall", "--no-deps", str(PLUGIN_DIR)], quiet=True)
    stamp.write_text(wanted)
    return True


def ckan(line: Line, *args: str, quiet: bool = True) -> str:
    return run([str(line.venv / "bin" / "ckan"), "-c", str(line.ini), *args], quiet=quiet).stdout


def ensure_config(line: Line) -> bool:
    """Write the line's ckan.ini; True when it changed."""
    database_url = postgres.url(postgres.DB_USER, line.database)
    settings = {
        "sqlalchemy.url": database_url,
        "ckan.site_url": line.url,  # the worker downloads uploads from here
        "ckan.site_id": line.site_id,
        "ckan.redis.url": redis_server.URL,
        "ckan.storage_path": str(line.state / "storage"),
        "ckan.max_resource_size": "2048",  # MB: the benchmarks upload a 1 GiB file
        # Nothing listens here: the search stand-in plugin answers instead.
        "solr_url": "http://127.0.0.1:8983/solr/none",
        "ckan.plugins": (
            "scheming_datasets bcdc_test_search bcdc_test_production_actions datastore xloader"
        ),
        "scheming.dataset_schemas": SCHEMA_FILE.as_uri(),
        "scheming.dataset_fallback": "false",
        "ckan.auth.create_user_via_web": "false",
        "ckan.datasets_per_page": "20",
        "ckan.datastore.write_url": postgres.url(
            postgres.DATASTORE_WRITER, line.datastore_database
        ),
        "ckan.datastore.read_url": postgres.url(postgres.DATASTORE_READER, line.datastore_database),
        # xloader's own job records (status, logs) live in the catalogue's database
        "ckanext.xloader.jobs_db.uri": database_url,
        "ckanext.xloader.formats": " ".join(LOADED_FORMATS),
        # Each gunicorn worker serves one request at a time: a small pool is enough, and
        # several lines and checkouts share one PostgreSQL (100 connections by default).
        "sqlalchemy.pool_size": "2",
        "ckan.datastore.sqlalchemy.pool_size": "2",
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
        line.ini.chmod(0o600)  # it holds the site's secrets (and the jobs' token)
    run(
        [ckan_cli, "config-tool", str(line.ini), *[f"{k}={v}" for k, v in settings.items()]],
        quiet=True,
    )
    stamp.write_text(wanted)
    return True


def ini_option(line: Line, key: str) -> str | None:
    """One [app:main] option of the line's ckan.ini, as written."""
    if not line.ini.exists():
        return None
    found = re.search(rf"^{re.escape(key)}\s*=\s*(.*)$", line.ini.read_text(), re.MULTILINE)
    return found.group(1).strip() if found else None


def set_ini_option(line: Line, key: str, value: str) -> None:
    """Set an [app:main] option without putting it on a command line (it may be a secret)."""
    text = line.ini.read_text()
    option = f"{key} = {value}"
    pattern = re.compile(rf"^{re.escape(key)}\s*=.*$", re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: option, text, count=1)
    else:
        text = text.replace("[app:main]\n", f"[app:main]\n{option}\n", 1)
    line.ini.chmod(0o600)
    line.ini.write_text(text)


def ensure_database_schema(line: Line) -> None:
    made, permitted = postgres.ask(
        (line.database, "SELECT to_regclass('public.package') IS NOT NULL"),
        # the permissions script also makes the DataStore's own view and functions
        (line.datastore_database, "SELECT to_regclass('public._table_metadata') IS NOT NULL"),
    )
    if made != "t":
        say(f"initialising the CKAN {line.name} database {line.database}")
        ckan(line, "db", "init")
    if permitted != "t":
        say(f"setting the DataStore permissions on {line.datastore_database}")
        postgres.psql_script(ckan(line, "datastore", "set-permissions"))
