"""Where the local catalogue lives, its two CKAN lines, and how commands are run."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
HERE = ROOT / "dev" / "ckan"
STATE = Path(os.environ.get("BCDC_CKAN_STATE", ROOT / ".ckan"))
BASE_PORT = int(os.environ.get("BCDC_CKAN_PORT", "5055"))
# PostgreSQL and Redis are shared by every checkout on a machine: BCDC_CKAN_DATABASE
# keeps two checkouts' databases and job queues apart (2.12 uses the name, 2.10 the
# name + "_2_10").
DB_BASE = os.environ.get("BCDC_CKAN_DATABASE", "bcdc_test_catalogue")


@dataclass(frozen=True)
class Line:
    """One CKAN release line: what it is built from and where it lives."""

    name: str  # "2.12"
    requirements: tuple[str, ...]
    port: int
    database: str  # the two lines' database schemas differ: never share one
    xloader: str  # installed apart from `requirements`, without its declared dependencies

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
    def worker_pidfile(self) -> Path:
        return self.state / "worker.pid"

    @property
    def worker_log(self) -> Path:
        return self.state / "worker.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def datastore_database(self) -> str:
        return f"{self.database}_datastore"

    @property
    def site_id(self) -> str:
        """CKAN prefixes its Redis queue names with this: unique per checkout and line."""
        return self.database


# ckanext-xloader, the DataStore loader, is installed without the dependencies
# it declares: besides what it needs (below), 2.6.0 declares minimum versions of
# requests, urllib3, certifi, idna, six, zipp and python-dateutil above the exact
# versions CKAN pins (security floors), so pip refuses it next to either line.
# What it needs is installed in the same resolution as CKAN, keeping CKAN's pins.
# 2.10 gets 2.5.2, the same code: CKAN 2.10 loads plugins through pkg_resources,
# which refuses a plugin whose declared dependencies are unmet; 2.5.2 declares
# none. See dev/ckan/README.md.
XLOADER_NEEDS = ("tabulator==1.53.5", "Unidecode==1.4.0", "ckantoolkit==0.0.7")
COMMON = ("ckanext-scheming==3.1.0", "gunicorn==27.0.1", *XLOADER_NEEDS)

LINES = {
    "2.12": Line(
        "2.12",
        ("ckan[requirements]==2.12.0", *COMMON, "chardet==7.6.0"),
        BASE_PORT,
        DB_BASE,
        "ckanext-xloader==2.6.0",
    ),
    "2.10": Line(
        "2.10",
        ("ckan[requirements]==2.10.11", *COMMON, "chardet==5.2.0"),
        BASE_PORT + 1,
        f"{DB_BASE}_2_10",
        "ckanext-xloader==2.5.2",
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


def apt_install(package: str) -> None:
    """Install a Debian package (the project runs as root or as a user who may)."""
    say(f"installing {package} (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-q"], quiet=True, env=env)
    run(["apt-get", "install", "-y", "-q", package], quiet=True, env=env)
