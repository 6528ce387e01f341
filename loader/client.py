"""The one way to the catalogue: a thin wrapper around ckanapi.

It adds what the loader needs and ckanapi leaves to its callers: timeouts,
retries of reads (never of writes: a repeated create makes a duplicate),
uploads streamed from disk instead of read into memory, and the catalogue's
errors turned into this module's exception classes, so that no other module
imports ckanapi or requests.
"""

from __future__ import annotations

import ast
import ipaddress
import json
import mimetypes
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

import ckanapi
import requests
from requests_toolbelt.multipart.encoder import MultipartEncoder

from loader import __version__
from loader.errors import UnsafeTarget

USER_AGENT = f"bcdc-loader/{__version__}"
HOSTS = {
    "prod": "https://catalogue.data.gov.bc.ca",
    "test": "https://cat.data.gov.bc.ca",
}
PRODUCTION_HOST = "catalogue.data.gov.bc.ca"
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 300  # a large upload is acknowledged only once stored
READ_RETRIES = 3


class CatalogueError(Exception):
    """The catalogue refused or could not answer a call."""

    def __init__(self, message: str, field_errors: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}
        # set when a two-step write failed after its first step had saved the resource
        self.partial_resource: dict[str, Any] | None = None


class NotFound(CatalogueError):
    """The thing named does not exist (or is invisible to this user)."""


class NotAuthorized(CatalogueError):
    """The token's user may not do this."""


class Invalid(CatalogueError):
    """The catalogue's own validation refused the values; see field_errors."""


class Unreachable(CatalogueError):
    """No answer: connection refused, dropped or timed out.

    `maybe_saved` is False only when the request never left (no connection
    could be made); after that, a write may or may not have been saved.
    """

    maybe_saved = True


@dataclass(frozen=True)
class Permissions:
    """Where the token's user may change datasets (and so their resources)."""

    user: str
    anywhere: bool = False  # a sysadmin
    organizations: frozenset[str] = frozenset()  # ids of organizations it edits
    datasets: frozenset[str] = frozenset()  # ids of datasets it edits as a collaborator

    def may_write(self, package: dict[str, Any]) -> bool:
        """Whether the user may change this dataset's resources."""
        return (
            self.anywhere
            or package.get("owner_org") in self.organizations
            or package.get("id") in self.datasets
        )


# multipart file fields: {field name: (file name, stream, content type)}
Files = dict[str, tuple[str, BinaryIO, str]]


class CatalogueAPI(Protocol):
    """What the loader asks of a catalogue. `Catalogue` is the real one; the tests'
    in-memory fake satisfies the same contract."""

    url: str

    def user(self) -> dict[str, Any]: ...
    def permissions(self) -> Permissions: ...
    def package(self, name_or_id: str) -> dict[str, Any]: ...
    def resource(self, resource_id: str) -> dict[str, Any]: ...
    def organization(self, name_or_id: str) -> dict[str, Any]: ...
    def dataset_schema(self, dataset_type: str = ...) -> dict[str, Any]: ...
    def resource_page(self, package_type: str, package_name: str, resource_id: str) -> str: ...
    def write_resource(
        self, action: str, data: dict[str, Any], upload: Path | None = ...
    ) -> dict[str, Any]: ...
    def delete_resource(self, resource_id: str) -> None: ...


class _StreamingCKAN(ckanapi.RemoteCKAN):  # type: ignore[misc]
    """RemoteCKAN whose multipart uploads stream the file from disk."""

    def _request_fn(
        self,
        url: str,
        data: dict[str, Any],
        headers: dict[str, str],
        files: Files | None,
        requests_kwargs: dict[str, Any],
    ) -> tuple[int, str]:
        if not files:
            answer: tuple[int, str] = super()._request_fn(
                url, data, headers, files, requests_kwargs
            )
            return answer
        fields: dict[str, Any] = {_text(key): _text(value) for key, value in data.items()}
        fields.update(files)
        body = MultipartEncoder(fields=fields)
        headers = {**headers, "Content-Type": body.content_type}
        response = self.session.post(
            url, data=body, headers=headers, allow_redirects=False, **requests_kwargs
        )
        return response.status_code, response.text


def _text(value: str | bytes) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _field_errors(error_dict: dict[str, Any]) -> dict[str, str]:
    """Flatten CKAN's error_dict to {column: message}, dotted for grouped fields."""
    flat: dict[str, str] = {}
    for key, value in error_dict.items():
        if key.startswith("__"):
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for entry in value:
                for sub, message in _field_errors(entry).items():
                    flat[f"{key}.{sub}"] = message
        elif isinstance(value, dict):
            for sub, message in _field_errors(value).items():
                flat[f"{key}.{sub}"] = message
        elif isinstance(value, list):
            flat[key] = "; ".join(str(v) for v in value)
        else:
            flat[key] = str(value)
    return flat


def _translate(error: Exception, action: str) -> CatalogueError:
    if isinstance(error, ckanapi.NotFound):
        return NotFound(f"{action}: not found ({_detail(error)})")
    if isinstance(error, ckanapi.NotAuthorized):
        return NotAuthorized(f"{action}: not authorized ({_detail(error)})")
    if isinstance(error, ckanapi.ValidationError):
        fields = _field_errors(error.error_dict)
        summary = "; ".join(f"{k}: {v}" for k, v in fields.items())
        return Invalid(summary or "the catalogue refused the values without saying why", fields)
    if isinstance(error, requests.RequestException):
        unreachable = Unreachable(
            f"{action}: no answer from the catalogue ({type(error).__name__})"
        )
        never_sent = isinstance(error, requests.ConnectTimeout) or (
            isinstance(error, requests.ConnectionError)
            and "Failed to establish a new connection" in str(error)
        )
        unreachable.maybe_saved = not never_sent
        return unreachable
    return CatalogueError(f"{action}: {_detail(error)}")


def _detail(error: Exception) -> str:
    arg = error.args[0] if error.args else ""
    if isinstance(arg, dict):
        return str(arg.get("message") or arg)
    if isinstance(arg, str) and arg.startswith("["):
        # ckanapi's generic error is repr([url, status, body]); show status and message
        try:
            _url, status, body = ast.literal_eval(arg)
            message = json.loads(body).get("error", {}).get("message", "")
            return f"HTTP {status}: {message}".rstrip(": ")
        except (ValueError, SyntaxError, AttributeError, TypeError):
            pass
    return str(arg) or type(error).__name__


class Catalogue:
    """A CKAN catalogue reached with one API token.

    Safe to share between threads: each thread gets its own HTTP session.
    """

    def __init__(self, url: str, api_key: str | None = None, *, allow_http: bool = False):
        """Raises UnsafeTarget when a token would cross the network unencrypted: plain
        http to a host other than this machine, unless `allow_http`."""
        self.url = url.rstrip("/")
        if api_key and not allow_http and not secure_for_token(self.url):
            raise UnsafeTarget(
                f"{self.url} is plain http, so your API token would cross the network "
                "unencrypted; use its https:// address (or --allow-http if you must)"
            )
        self._api_key = api_key
        self._local = threading.local()

    def __repr__(self) -> str:  # never shows the token
        return f"Catalogue({self.url!r})"

    def _ckan(self) -> _StreamingCKAN:
        ckan = getattr(self._local, "ckan", None)
        if ckan is None:
            ckan = _StreamingCKAN(
                self.url, apikey=self._api_key, user_agent=USER_AGENT, session=requests.Session()
            )
            self._local.ckan = ckan
        return ckan

    def call(
        self,
        action: str,
        data: dict[str, Any] | None = None,
        *,
        files: Files | None = None,
        retry: bool = False,
    ) -> Any:
        """Call an action; reads may be retried on a dropped connection, writes never."""
        kwargs = {"timeout": (CONNECT_TIMEOUT, READ_TIMEOUT)}
        attempts = READ_RETRIES if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                return self._ckan().call_action(
                    action, data or {}, files=files, requests_kwargs=kwargs
                )
            except (ckanapi.CKANAPIError, requests.RequestException) as error:
                translated = self._without_token(_translate(error, action))
                if isinstance(translated, Unreachable) and attempt < attempts:
                    time.sleep(0.5 * 2**attempt)
                    continue
                raise translated from None
        raise AssertionError("unreachable")

    def _without_token(self, error: CatalogueError) -> CatalogueError:
        """The error with the token blanked out, should the answer have echoed it."""
        key = self._api_key
        if key and (key in error.message or any(key in v for v in error.field_errors.values())):
            error.message = error.message.replace(key, "[token]")
            error.args = (error.message,)
            error.field_errors = {
                k: v.replace(key, "[token]") for k, v in error.field_errors.items()
            }
        return error

    # --- reads ---------------------------------------------------------------

    def read(self, action: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """A read action whose answer is a dict (retried on a dropped connection)."""
        return _a_dict(action, self.call(action, data, retry=True))

    def user(self) -> dict[str, Any]:
        """The user the token belongs to."""
        return self.read("user_show")

    def permissions(self) -> Permissions:
        """Where the token's user may write: anywhere for a sysadmin, else the
        organizations it may update datasets of, and datasets it collaborates on."""
        user = self.user()
        name = str(user.get("name", ""))
        if user.get("sysadmin"):
            return Permissions(name, anywhere=True)
        who = user.get("id") or name
        query = {"id": who, "permission": "update_dataset", "include_dataset_count": False}
        organizations = self.call("organization_list_for_user", query, retry=True)
        try:
            shared = self.call(
                "package_collaborator_list_for_user", {"id": who, "capacity": "editor"}, retry=True
            )
        except CatalogueError:  # collaborators are switched off on this catalogue
            shared = []
        return Permissions(
            name,
            organizations=frozenset(o["id"] for o in organizations),
            datasets=frozenset(c["package_id"] for c in shared),
        )

    def package(self, name_or_id: str) -> dict[str, Any]:
        return self.read("package_show", {"id": name_or_id})

    def resource(self, resource_id: str) -> dict[str, Any]:
        return self.read("resource_show", {"id": resource_id})

    def organization(self, name_or_id: str) -> dict[str, Any]:
        return self.read("organization_show", {"id": name_or_id, "include_datasets": False})

    def dataset_schema(self, dataset_type: str = "bcdc_dataset") -> dict[str, Any]:
        return self.read("scheming_dataset_schema_show", {"type": dataset_type})

    def resource_page(self, package_type: str, package_name: str, resource_id: str) -> str:
        """The web page of a resource, as the catalogue links it (by dataset type)."""
        return f"{self.url}/{package_type}/{package_name}/resource/{resource_id}"

    # --- writes ----------------------------------------------------------------

    def write_resource(
        self, action: str, data: dict[str, Any], upload: Path | None = None
    ) -> dict[str, Any]:
        """resource_create / resource_update / resource_patch, with an optional upload.

        A multipart upload carries only text fields; structured values (lists
        and groups) follow in a second, JSON call on the same resource, since
        the catalogue does not read JSON inside form fields for them. If that
        second call fails, the error carries `partial_resource`.
        """
        if upload is None:
            return _a_dict(action, self.call(action, data))
        # The catalogue stamps last_modified on every upload; a value the editor
        # gives is sent afterwards so that it is the one kept.
        later = {k for k, v in data.items() if isinstance(v, (list, dict)) or k == "last_modified"}
        flat = {k: v for k, v in data.items() if k not in later}
        structured = {k: v for k, v in data.items() if k in later}
        content_type = mimetypes.guess_type(upload.name)[0] or "application/octet-stream"
        with upload.open("rb") as stream:
            files: Files = {"upload": (upload.name, stream, content_type)}
            resource = _a_dict(action, self.call(action, flat, files=files))
        if not structured:
            return resource
        try:
            patch = {"id": resource["id"], **structured}
            return _a_dict("resource_patch", self.call("resource_patch", patch))
        except CatalogueError as error:
            error.partial_resource = resource  # the file and text fields were saved
            raise

    def delete_resource(self, resource_id: str) -> None:
        self.call("resource_delete", {"id": resource_id})


def _a_dict(action: str, answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise CatalogueError(f"{action}: unexpected answer from the catalogue")
    return answer


def catalogue_url(target: str) -> str:
    """A catalogue's address from `prod`, `test` or a URL."""
    url = HOSTS.get(target.strip().lower(), target.strip())
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"'{target}' is neither prod, test nor an http(s) URL")
    return url.rstrip("/")


def host_of(url: str) -> str:
    """The host a URL names, as DNS reads it: lower case, without a trailing dot."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".").lower()


def is_production(url: str) -> bool:
    """Whether `url` is the production catalogue, however written (case, port, path,
    trailing dot, http or https)."""
    return host_of(url) == PRODUCTION_HOST


def is_loopback(url: str) -> bool:
    """Whether `url` names this machine (localhost, 127.0.0.0/8, ::1)."""
    host = host_of(url)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure_for_token(url: str) -> bool:
    """Whether a token may be sent to `url`: over https, or to this machine."""
    return urlsplit(url.strip()).scheme.lower() == "https" or is_loopback(url)
