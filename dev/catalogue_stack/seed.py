"""What the local catalogue holds from the start, made through its action API.

Two users (bcdc-admin, a sysadmin; bcdc-editor, editor of one organization), two
organizations, three datasets, and one uploaded resource whose DataStore load
failed. Everything is looked for first, so seeding a seeded catalogue costs a
few reads.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
import urllib.error
import urllib.request
import uuid

from . import install, postgres
from .common import Line, say
from .processes import answering

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
# A file the DataStore loader refuses (two columns share a heading), uploaded to
# the first dataset: its last load failed, as happens on the real catalogue.
FAILED_LOAD_PACKAGE = PACKAGES[0][0]
FAILED_LOAD_NAME = "Field sheets 2023 (load failed)"
FAILED_LOAD_FILE = ("field-sheets-2023.csv", b"site,date,site\nA1,2023-05-02,A1\n")
XLOADER_TOKEN = "ckanext.xloader.api_token"

# The six choice fields every bcdc_dataset resource needs, with values the catalogue takes.
RESOURCE_REQUIRED = {
    "bcdc_type": "document",
    "resource_update_cycle": "monthly",
    "format": "csv",
    "resource_storage_location": "catalogue data store",
    "resource_type": "data",
    "resource_access_method": "direct access",
}


def _post(url: str, name: str, token: str, body: bytes, content_type: str) -> dict:
    request = urllib.request.Request(
        f"{url}/api/3/action/{name}",
        data=body,
        headers={"Content-Type": content_type, "Authorization": token},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)["result"]
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")
        raise LookupError(f"{name}: HTTP {error.code}: {text[:500]}") from None


def action(url: str, name: str, token: str, /, **data) -> dict:
    """Call one action of the catalogue at `url`; LookupError carries any HTTP error."""
    return _post(url, name, token, json.dumps(data).encode(), "application/json")


def upload(url: str, name: str, token: str, file: tuple[str, bytes], /, **fields: str) -> dict:
    """Call a resource action with a file (multipart form, as the web form sends it)."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    filename, content = file
    parts.append(
        f"--{boundary}\r\nContent-Disposition: form-data; "
        f'name="upload"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return _post(url, name, token, b"".join(parts), f"multipart/form-data; boundary={boundary}")


def wait_for_load(url: str, token: str, resource_id: str, timeout: float = 120) -> dict:
    """Ask `xloader_status` until the resource's load is complete or failed (or time is up)."""
    deadline = time.monotonic() + timeout
    while True:
        status = action(url, "xloader_status", token, resource_id=resource_id)
        if status["status"] in ("complete", "error") or time.monotonic() > deadline:
            return status
        time.sleep(0.3)


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


def ensure_admin(line: Line) -> dict:
    """The sysadmin and its token, made through the CLI (the API needs a token first)."""
    saved = load_credentials(line)
    if saved.get("sysadmin") and token_works(line, saved["sysadmin"]):
        return saved["sysadmin"]
    made = postgres.psql(f"SELECT 1 FROM \"user\" WHERE name = '{ADMIN}'", line.database) == "1"
    if not made:
        say(f"creating sysadmin {ADMIN}")
        install.ckan(
            line,
            "user",
            "add",
            ADMIN,
            f"email={ADMIN}@example.invalid",
            f"password={os.urandom(12).hex()}",
        )
    install.ckan(line, "sysadmin", "add", ADMIN)
    token = install.ckan(line, "user", "token", "add", ADMIN, "bcdc-loader-tests", "-q")
    return {"name": ADMIN, "token": token.strip().splitlines()[-1]}


def _token_is_known(line: Line, token: str) -> bool:
    """Whether the catalogue still takes this API token of the sysadmin's.

    Asked over HTTP when the server answers; before, its database is asked for
    the token's id (the `jti` of the JWT)."""
    if answering(line):
        return token_works(line, {"name": ADMIN, "token": token})
    try:
        payload = token.split(".")[1]
        jti = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]
    except (IndexError, ValueError, KeyError, TypeError):
        return False
    if not re.fullmatch(r"[\w-]+", str(jti)):
        return False
    return postgres.psql(f"SELECT 1 FROM api_token WHERE id = '{jti}'", line.database) == "1"


def ensure_xloader_token(line: Line) -> bool:
    """The API token the DataStore loader's jobs act with, in ckan.ini; True when new."""
    token = install.ini_option(line, XLOADER_TOKEN)
    if token and _token_is_known(line, token):
        return False
    say("making the DataStore loader's API token")
    token = install.ckan(line, "user", "token", "add", ADMIN, "xloader", "-q")
    install.set_ini_option(line, XLOADER_TOKEN, token.strip().splitlines()[-1])
    return True


def seed(line: Line, admin: dict) -> tuple[dict, str]:
    """Seed what is missing; the editor's name and token, and the failed resource's id."""
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
    packages = {}
    for name, title, owner in PACKAGES:
        try:
            packages[name] = action(url, "package_show", token, id=name)
        except LookupError as error:
            if "HTTP 404" not in str(error):
                raise
            say(f"creating dataset {name}")
            fields = dataset_fields(name, title, owner)
            packages[name] = action(url, "package_create", token, **fields)
    failed_load = _ensure_failed_load(line, token, packages[FAILED_LOAD_PACKAGE])
    return editor, failed_load


def _ensure_failed_load(line: Line, token: str, package: dict) -> str:
    """The id of the seeded resource whose DataStore load failed (made and loaded once)."""
    for resource in package["resources"]:
        if resource["name"] == FAILED_LOAD_NAME:
            return resource["id"]
    say(f"uploading {FAILED_LOAD_FILE[0]}, a file the DataStore loader refuses")
    fields = {"package_id": package["id"], "name": FAILED_LOAD_NAME, **RESOURCE_REQUIRED}
    resource = upload(line.url, "resource_create", token, FAILED_LOAD_FILE, **fields)
    status = wait_for_load(line.url, token, resource["id"])
    if status["status"] != "error":
        raise SystemExit(
            f"[ckan] the load of {FAILED_LOAD_FILE[0]} should fail but is {status['status']!r}; "
            f"see {line.worker_log}"
        )
    return resource["id"]


def load_credentials(line: Line) -> dict:
    try:
        return json.loads(line.credentials.read_text())
    except (OSError, ValueError):
        return {}


def save_credentials(line: Line, admin: dict, editor: dict, failed_load: str) -> None:
    data = {
        "url": line.url,
        "ckan_line": line.name,
        "database": line.database,
        "sysadmin": admin,
        "editor": editor,
        "editor_organization": ORGANIZATIONS[0][0],
        "organizations": [name for name, _ in ORGANIZATIONS],
        "packages": {name: owner for name, _, owner in PACKAGES},
        "failed_load_resource": failed_load,
    }
    line.credentials.touch(mode=0o600)
    line.credentials.write_text(json.dumps(data, indent=2))
