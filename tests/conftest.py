"""Shared fixtures. Each CKAN line of the local catalogue is started once per session.

Tests that need it ask for the `catalogue` fixture (and carry the `catalogue`
mark). The fixture is parametrised over the CKAN lines named in
BCDC_CKAN_LINES (default "2.12,2.10"), so each such test runs once per line,
with ids like `[ckan2.10]`; pytest groups the tests by line, so one line is
started, used and stopped before the next. If a catalogue cannot be started
those tests fail; they never skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

# Never the machine's keychain: keyring's failing backend ("no keychain") for this process
# and every process a test starts, until a test sets a keychain of its own (keychains.py).
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "dev" / "ckan_stack.py"
sys.path.insert(0, str(STACK.parent))

import ckan_stack  # noqa: E402  (dev/ckan_stack.py: stdlib only)

LINES = [line.name for line in ckan_stack.lines_named(os.environ.get("BCDC_CKAN_LINES", "all"))]


@dataclass(frozen=True)
class Catalogue:
    """One running local catalogue (a CKAN line) and its two users."""

    line: str  # the CKAN release line: "2.12" or "2.10"
    database: str  # its PostgreSQL database, for tests that plant old records
    url: str
    admin_token: str
    editor_token: str
    editor_name: str
    editor_organization: str  # the only organization the editor may write to
    other_organization: str  # one the editor may not write to
    failed_load_resource: str = ""  # a seeded upload whose DataStore load failed

    def client(self, who: str = "admin"):
        """A ckanapi client for 'admin' (sysadmin) or 'editor'."""
        import ckanapi

        token = self.admin_token if who == "admin" else self.editor_token
        return ckanapi.RemoteCKAN(self.url, apikey=token, user_agent="bcdc-loader-tests")

    @contextmanager
    def worker_paused(self) -> Iterator[None]:
        """Hold DataStore loads in the queue (status `pending`) until the block ends."""
        line = ckan_stack.LINES[self.line]
        ckan_stack.stop_worker(line)
        try:
            yield
        finally:
            ckan_stack.start_worker(line)


@pytest.fixture(scope="session", params=LINES, ids=lambda line: f"ckan{line}")
def catalogue(request: pytest.FixtureRequest) -> Iterator[Catalogue]:
    line = ckan_stack.LINES[request.param]
    env = dict(os.environ, BCDC_CKAN_LINE=line.name)
    stack = [sys.executable, str(STACK)]
    # stop afterwards only what this session started
    was_running = ckan_stack.server_pid(line) is not None
    worker_was_running = ckan_stack.worker_pid(line) is not None
    up = subprocess.run([*stack, "up"], env=env, capture_output=True, text=True)
    if up.returncode != 0:
        pytest.fail(
            f"the local catalogue (CKAN {line.name}) could not start:\n"
            + up.stdout[-3000:]
            + up.stderr[-3000:],
            pytrace=False,
        )
    credentials = json.loads(line.credentials.read_text())
    organizations = credentials["organizations"]
    editor_org = credentials["editor_organization"]
    yield Catalogue(
        line=line.name,
        database=credentials["database"],
        url=credentials["url"],
        admin_token=credentials["sysadmin"]["token"],
        editor_token=credentials["editor"]["token"],
        editor_name=credentials["editor"]["name"],
        editor_organization=editor_org,
        other_organization=next(o for o in organizations if o != editor_org),
        failed_load_resource=credentials["failed_load_resource"],
    )
    if not was_running:
        ckan_stack.stop_server(line)
    if not worker_was_running:
        ckan_stack.stop_worker(line)


@pytest.fixture
def make_package(catalogue: Catalogue) -> Iterator[Callable[..., dict]]:
    """Create fresh bcdc_dataset records for one test; purged afterwards."""
    admin = catalogue.client("admin")
    made: list[str] = []

    def make(organization: str | None = None, **fields) -> dict:
        name = f"test-{uuid.uuid4().hex[:12]}"
        data = ckan_stack.dataset_fields(
            name, f"Test dataset {name}", organization or catalogue.editor_organization
        )
        package = admin.action.package_create(**{**data, **fields})
        made.append(package["id"])
        return package

    yield make
    for package_id in made:
        cancel_queued_loads(admin, package_id)
        purge(admin, package_id)


def purge(admin, package_id: str) -> None:
    """Purge a test's dataset; tried again if it lost a deadlock to a load under way."""
    import ckanapi

    for attempt in range(3):
        try:
            admin.action.dataset_purge(id=package_id)
            return
        except ckanapi.NotFound:
            return
        except ckanapi.CKANAPIError:
            if attempt == 2:
                raise
            time.sleep(1)


def cancel_queued_loads(admin, package_id: str) -> None:
    """Drop the DataStore loads still queued for a dataset about to be purged.

    A load whose resource is gone costs the worker several seconds (it waits and
    asks again), so loads left behind by one test would hold up the next ones'.
    """
    import ckanapi

    for job in admin.action.job_list():
        if package_id in (job.get("title") or ""):
            with contextlib.suppress(ckanapi.NotFound):  # it started meanwhile
                admin.action.job_cancel(id=job["id"])


@pytest.fixture(autouse=True)
def no_keychain() -> Iterator[None]:
    """Every test starts with no keychain, and leaves keyring as it found it."""
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)


@pytest.fixture
def keychain():
    """A keychain for this test: an in-memory one, as the system's would keep tokens."""
    from keychains import MemoryKeychain

    memory = MemoryKeychain()
    keyring.set_keyring(memory)
    return memory
