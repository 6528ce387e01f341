"""Shared fixtures. The local catalogue is started once per test session.

Tests that need it ask for the `catalogue` fixture (and carry the `catalogue`
mark). If the catalogue cannot be started those tests fail; they never skip.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "dev" / "ckan_stack.py"
sys.path.insert(0, str(STACK.parent))

import ckan_stack  # noqa: E402  (dev/ckan_stack.py: stdlib only)


@dataclass(frozen=True)
class Catalogue:
    """The running local catalogue and its two users."""

    url: str
    admin_token: str
    editor_token: str
    editor_name: str
    editor_organization: str  # the only organization the editor may write to
    other_organization: str  # one the editor may not write to

    def client(self, who: str = "admin"):
        """A ckanapi client for 'admin' (sysadmin) or 'editor'."""
        import ckanapi

        token = self.admin_token if who == "admin" else self.editor_token
        return ckanapi.RemoteCKAN(self.url, apikey=token, user_agent="bcdc-loader-tests")


@pytest.fixture(scope="session")
def catalogue() -> Iterator[Catalogue]:
    was_running = (
        subprocess.run([sys.executable, str(STACK), "status"], capture_output=True).returncode == 0
    )
    up = subprocess.run([sys.executable, str(STACK), "up"], capture_output=True, text=True)
    if up.returncode != 0:
        pytest.fail(
            "the local catalogue could not start:\n" + up.stdout[-3000:] + up.stderr[-3000:],
            pytrace=False,
        )
    credentials = json.loads(ckan_stack.CREDENTIALS.read_text())
    organizations = credentials["organizations"]
    editor_org = credentials["editor_organization"]
    yield Catalogue(
        url=credentials["url"],
        admin_token=credentials["sysadmin"]["token"],
        editor_token=credentials["editor"]["token"],
        editor_name=credentials["editor"]["name"],
        editor_organization=editor_org,
        other_organization=next(o for o in organizations if o != editor_org),
    )
    if not was_running:
        ckan_stack.stop_server()


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
        admin.action.dataset_purge(id=package_id)
